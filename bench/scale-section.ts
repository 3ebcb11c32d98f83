// The "scale" section: what the PostgreSQL MetaStore costs and what it buys. It starts one throw-away,
// durable PostgreSQL (bench/postgres.ts) for the section and stops it however the section ends.
//   1. Wharf on PostgreSQL against Wharf on SQLite (fs blobs on both): the single-process server rows
//      that touch the database (skopeo push of the multi-layer image; manifest HEAD/GET and tags/list
//      under load), with the server section's own helpers. Ratio >1: PostgreSQL is better.
//   2. Pagination at scale on both databases: BENCH_SCALE_REPOS repositories (one manifest each) and
//      BENCH_SCALE_TAGS tags in one repository, filled straight through the MetaStore (HTTP would take
//      hours; the catalog needs no blob bytes), then `wharf serve` on that data; sequential latency of
//      the first and a middle page of /v2/_catalog?n=100 and of tags/list?n=100, against a warm server.
//      The plans of the two listing queries (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite)
//      go into the JSON.
//   3. Two Wharf processes on one data directory (fs blobs) and one PostgreSQL, behind a round-robin
//      proxy, against one process: manifest GET (autocannon) and 1 MiB blob GET (ApacheBench, `ab` from
//      apache2-utils) under load, the one process both direct and behind the same proxy (so the proxy's
//      own cost shows).
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { systemClock } from '../src/config/clock.js';
import type { ManifestRecord, MetaStore } from '../src/store/meta/meta-store.js';
import { openPostgresMetaStore } from '../src/store/meta/postgres-meta-store.js';
import { SqliteMetaStore } from '../src/store/meta/sqlite-meta-store.js';
import { curlPutBlob } from './blob.js';
import { MANIFEST_ACCEPT, OCI_MANIFEST, type OciImage } from './images.js';
import { probe, runAbLoad, runLoad, type LoadSettings, type LoadSpec } from './load.js';
import { startPostgres, type Postgres } from './postgres.js';
import type { Report, SectionWriter, Side } from './report.js';
import type { StartProxy } from './round-robin.js';
import { procCpuSeconds } from './rss.js';
import { addExtraTags, alternatingSteps, rateLoads, settle, verifyPushed, warmUpServers, type Fixtures } from './server-section.js';
import { startServer, type BenchServer } from './servers.js';
import { skopeoPush } from './skopeo.js';
import { assertLoopback, errorMessage, log, makeTempDir, MiB, nowMs, removeTempDir } from './util.js';

export interface ScaleSectionOptions {
  runId: string;
  load: LoadSettings;
  /** Extra tags on the pushed multi-layer repository, for the tags/list rate (as in the server section). */
  extraTags: number;
  transferTimeoutMs: number;
  /** Repositories in the pagination store (BENCH_SCALE_REPOS). */
  repos: number;
  /** Tags in the pagination store's one tagged repository (BENCH_SCALE_TAGS). */
  tags: number;
  /** Sequential requests per pagination row (BENCH_SCALE_REQUESTS). */
  requests: number;
  /** Repositories (or tags) per unit of work while filling (BENCH_SCALE_FILL_BATCH). */
  fillBatch: number;
  /** The round-robin proxy for the two-process rows. */
  startProxy: StartProxy;
  /** Every server the section starts is added here, so that an interrupted run stops it and reports its logs. */
  servers: BenchServer[];
}

export interface ScaleSectionInfo {
  /** The PostgreSQL server's version and durability settings, as it reported them. */
  postgres: Record<string, string> | null;
  /** How Wharf ran SQLite. */
  sqlite: string;
  /** Query plans of the listing queries at scale, per database. */
  plans: Record<string, Record<string, string>>;
  /** How long each fill took, and its shape. */
  fill: Record<string, unknown>;
}

const PG = 'Wharf, PostgreSQL';
const SQLITE = 'Wharf, SQLite';
const PAGE = 100;
/** Latency goal for a listing page, from the issue that asked for this section. */
const GOAL_MS = 20;

// The pagination store's names: zero-padded, so that lexical order is numeric order and the middle is known.
const repoName = (i: number, width: number): string => `scale/r${String(i).padStart(width, '0')}`;
const tagName = (i: number, width: number): string => `t${String(i).padStart(width, '0')}`;
/** Sorts after every scale/r… name. */
const TAGGED_REPO = 'scale/tagged';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function startWharf(label: string, servers: BenchServer[], env: Record<string, string> = {}, dataDir?: string): Promise<BenchServer> {
  const srv = await startServer('wharf', label, { wharfEnv: env, ...(dataDir !== undefined ? { wharfDataDir: dataDir } : {}) });
  servers.push(srv);
  return srv;
}

const postgresEnv = (url: string): Record<string, string> => ({ WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: url });

export async function runScaleSection(report: Report, fx: Fixtures, opts: ScaleSectionOptions): Promise<ScaleSectionInfo> {
  const c = opts.load.connections;
  const m0 = fx.multi[0]!;
  const reps = fx.multi.length;
  const multi = `${m0.layers.length}×~${Math.round(m0.totalBytes / m0.layers.length / MiB)} MiB`;
  const rates = report.section('Scale 1: Wharf on PostgreSQL against Wharf on SQLite (fs blobs, one process each)', [PG, SQLITE]);
  rates.define(
    { key: 'skopeo-push-multi', label: `skopeo push multi (${multi}${reps > 1 ? `, median of ${reps}` : ''})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'manifest-head', label: `manifest HEAD by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'manifest-get', label: `manifest GET by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'tags-list', label: `tags/list (${opts.extraTags + 1} tags), ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
  );
  const pages = report.section(
    `Scale 2: pagination over ${opts.repos.toLocaleString('en-US')} repositories and ${opts.tags.toLocaleString('en-US')} tags (n=${PAGE}; ${opts.requests} sequential requests per row, warm server; goal < ${GOAL_MS} ms)`,
    [PG, SQLITE]);
  const latencyRows = [
    ['catalog-first', 'GET /v2/_catalog, first page'],
    ['catalog-middle', 'GET /v2/_catalog, middle page'],
    ['tags-first', `GET tags/list (${opts.tags} tags), first page`],
    ['tags-middle', `GET tags/list (${opts.tags} tags), middle page`],
  ] as const;
  pages.define(
    { key: 'fill-repos', label: `fill ${opts.repos} repositories (one manifest each) through the MetaStore`, unit: 's', better: 'lower', digits: 1 },
    { key: 'fill-tags', label: `fill ${opts.tags} tags in one repository through the MetaStore`, unit: 's', better: 'lower', digits: 1 },
    ...latencyRows.flatMap(([key, label]) => [
      { key: `${key}-p50`, label: `${label}: median`, unit: 'ms', better: 'lower' as const, digits: 2 },
      { key: `${key}-p99`, label: `${label}: p99`, unit: 'ms', better: 'lower' as const, digits: 2 },
    ]),
  );
  const TWO = 'two processes behind the proxy';
  const ONE = 'one process';
  const shared = report.section('Scale 3: two Wharf processes (one data directory for fs blobs, one PostgreSQL) behind a round-robin proxy against one process', [TWO, ONE]);
  shared.define(
    { key: 'manifest-get-direct', label: `manifest GET by tag, ${c} conns (right: one process, direct)`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'blob-get-direct', label: `blob GET 1 MiB (ApacheBench), ${c} conns (right: one process, direct)`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'manifest-get-proxied', label: `manifest GET by tag, ${c} conns (right: one process behind the same proxy)`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'blob-get-proxied', label: `blob GET 1 MiB (ApacheBench), ${c} conns (right: one process behind the same proxy)`, unit: 'req/s', better: 'higher', digits: 0 },
  );

  const info: ScaleSectionInfo = {
    postgres: null,
    sqlite: 'journal_mode=WAL, synchronous=FULL (storage.fsync: true, the default), in the data directory',
    plans: {},
    fill: {},
  };
  const failAll = (sec: SectionWriter, msg: string): void => {
    for (const r of sec.section.rows) for (const side of [0, 1] as const) sec.fail(r.key, side, msg);
  };
  let pgsql: Postgres;
  try {
    pgsql = await startPostgres();
  } catch (err) {
    const msg = `PostgreSQL did not start: ${errorMessage(err)}`;
    log(`scale: ${msg}`);
    for (const sec of [rates, pages, shared]) failAll(sec, msg);
    return info;
  }
  info.postgres = pgsql.durability;
  try {
    const parts: [string, SectionWriter, () => Promise<void>][] = [
      ['rates', rates, () => ratesPart(rates, pgsql, fx, opts)],
      ['pagination', pages, () => paginationPart(pages, pgsql, opts, info)],
      ['two processes', shared, () => twoProcessPart(shared, pgsql, fx, opts, opts.startProxy)],
    ];
    for (const [name, sec, part] of parts) {
      try {
        await part();
      } catch (err) {
        // A part's own steps record their failures; this is a failure of its setup.
        log(`scale ${name}: FAILED: ${errorMessage(err)}`);
        for (const r of sec.section.rows) for (const side of [0, 1] as const) if (r.cells[side].value === undefined) sec.fail(r.key, side, errorMessage(err));
      }
    }
  } finally {
    await pgsql.stop();
  }
  return info;
}

// ---- 1. the server rows on both databases -------------------------------------------------------------

async function ratesPart(sec: SectionWriter, pgsql: Postgres, fx: Fixtures, opts: ScaleSectionOptions): Promise<void> {
  const pair = [
    await startWharf(`${PG} (rates)`, opts.servers, postgresEnv(await pgsql.createDatabase('wharf_rates'))),
    await startWharf(`${SQLITE} (rates)`, opts.servers),
  ] as const;
  try {
    const repo = (rep: number): string => `bench/multi-${opts.runId}-${rep}`;
    const pushed = fx.multi.map(() => [false, false]);
    const steps = alternatingSteps(sec, pair);
    await warmUpServers(pair, fx.warm, opts.runId, opts.transferTimeoutMs);
    // One step per repetition: the order alternates by itself from one repetition to the next.
    for (const [rep, img] of fx.multi.entries()) {
      await steps.onBoth(`scale: skopeo push multi #${rep}`, ['skopeo-push-multi'], async (side, srv) => {
        await settle();
        const res = await skopeoPush(img.dir, img.tag, srv.host, repo(rep), opts.transferTimeoutMs);
        await verifyPushed(srv, repo(rep), img);
        pushed[rep]![side] = true;
        sec.sample('skopeo-push-multi', side, res.ms / 1000, { mibPerSec: img.totalBytes / MiB / (res.ms / 1000) });
      });
    }
    const m0 = fx.multi[0]!;
    const tagged = [false, false];
    await steps.onBoth('scale: tag multi', ['tags-list'], async (side, srv) => {
      if (!pushed[0]![side]) throw new Error('skipped: the first push to this server failed');
      await addExtraTags(srv, repo(0), m0, opts.extraTags);
      tagged[side] = true;
    });
    for (const l of rateLoads(repo(0), m0, opts.extraTags)) {
      await steps.onBoth(`scale: load ${l.key}`, [l.key], async (side, srv) => {
        if (!pushed[0]![side]) throw new Error('skipped: the first push to this server failed');
        if (l.key === 'tags-list' && !tagged[side]) throw new Error('skipped: tagging failed');
        const res = await runLoad(srv.url, await l.spec(srv), opts.load);
        sec.sample(l.key, side, res.reqPerSec, { ...res });
      });
    }
  } finally {
    for (const s of pair) await s.stop();
  }
}

// ---- 2. pagination at scale ---------------------------------------------------------------------------

interface FillResult { reposSeconds: number; tagsSeconds: number }

/**
 * BENCH_SCALE_REPOS repositories with one manifest record each, then TAGGED_REPO with one manifest and
 * BENCH_SCALE_TAGS tags on it, in units of work of `batch`. The manifest records are what the catalog
 * and tags/list read; no blob bytes or links are needed for them.
 */
async function fill(meta: MetaStore, opts: ScaleSectionOptions, label: string): Promise<FillResult> {
  const width = String(opts.repos).length;
  const record = (seed: string): ManifestRecord => ({
    digest: `sha256:${createHash('sha256').update(seed).digest('hex')}`,
    mediaType: OCI_MANIFEST, size: 428, artifactType: null, subject: null, annotations: null,
  });
  let t0 = nowMs();
  for (let start = 0; start < opts.repos; start += opts.fillBatch) {
    const end = Math.min(opts.repos, start + opts.fillBatch);
    await meta.tx(async (m) => {
      for (let i = start; i < end; i++) {
        const id = await m.repositories.ensure(repoName(i, width));
        await m.manifests.put(id, record(`scale-${i}`), []);
      }
    });
    if (end % (opts.fillBatch * 20) === 0) log(`scale: ${label}: ${end} repositories in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  }
  const reposSeconds = (nowMs() - t0) / 1000;
  t0 = nowMs();
  const tagged = record('scale-tagged');
  const repoId = await meta.tx(async (m) => {
    const id = await m.repositories.ensure(TAGGED_REPO);
    await m.manifests.put(id, tagged, []);
    return id;
  });
  const tw = String(opts.tags).length;
  for (let start = 0; start < opts.tags; start += opts.fillBatch) {
    const end = Math.min(opts.tags, start + opts.fillBatch);
    await meta.tx(async (m) => {
      for (let i = start; i < end; i++) await m.tags.move(repoId, tagName(i, tw), tagged.digest);
    });
  }
  const tagsSeconds = (nowMs() - t0) / 1000;
  log(`scale: ${label}: filled ${opts.repos} repositories in ${reposSeconds.toFixed(1)} s, ${opts.tags} tags in ${tagsSeconds.toFixed(1)} s`);
  return { reposSeconds, tagsSeconds };
}

interface Timed { status: number; body: string; link: string | undefined; ms: number }

/** One GET on a keep-alive connection, timed from the request to the last byte of the body. */
function timedGet(agent: http.Agent, url: URL): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const req = http.get(url, { agent, headers: { Accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.once('end', () => {
        const link = res.headers.link;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), link: Array.isArray(link) ? link[0] : link, ms: nowMs() - t0 });
      });
      res.once('error', reject);
    });
    req.once('error', reject);
  });
}

interface PageCheck { field: 'repositories' | 'tags'; first: string; last: string }

/** `count` sequential requests after `warm` untimed ones; every response must be the expected full page with a next Link. */
async function sequentialLatency(base: string, path: string, check: PageCheck, count: number, warm: number): Promise<Record<string, number>> {
  const url = assertLoopback(`${base}${path}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const ms: number[] = [];
    for (let i = 0; i < warm + count; i++) {
      const r = await timedGet(agent, url);
      if (r.status !== 200) throw new Error(`GET ${path} → ${r.status}: ${r.body.slice(0, 500)}`);
      if (i === 0) {
        const items = (JSON.parse(r.body) as Record<string, string[] | undefined>)[check.field] ?? [];
        if (items.length !== PAGE || items[0] !== check.first || items[PAGE - 1] !== check.last) {
          throw new Error(`GET ${path}: expected ${PAGE} ${check.field} from ${check.first} to ${check.last}, got ${items.length}: ${items[0]} … ${items[items.length - 1]}`);
        }
        if (!r.link?.includes('rel="next"')) throw new Error(`GET ${path}: no Link to the next page (${r.link})`);
      }
      if (i >= warm) ms.push(r.ms);
    }
    const sorted = [...ms].sort((a, b) => a - b);
    const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
    return { requests: count, p50Ms: percentile(sorted, 0.5), p90Ms: percentile(sorted, 0.9), p99Ms: percentile(sorted, 0.99), maxMs: sorted[sorted.length - 1]!, meanMs: mean };
  } finally {
    agent.destroy();
  }
}

// The listing statements as src/store/meta/sql-meta-store.ts has them (Q.listRepos, Q.listTags), for their plans.
const LIST_REPOS = `SELECT r.name FROM repositories r WHERE r.name > $1
  AND (EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) OR EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = r.id))
  ORDER BY r.name LIMIT $2`;
const LIST_TAGS = 'SELECT name FROM tags WHERE repo_id = $1 AND name > $2 ORDER BY name LIMIT $3';

/**
 * The plans of the two listing statements with the bench's middle-page parameters: on PostgreSQL with
 * EXPLAIN ANALYZE, once as a custom plan (literal values) and once as the generic plan a prepared
 * statement switches to after five runs (node-postgres prepares Wharf's statements); on SQLite with
 * EXPLAIN QUERY PLAN.
 */
async function capturePlans(pgsql: Postgres, pgUrl: string, sqlitePath: string, middleRepo: string, middleTag: string): Promise<Record<string, Record<string, string>>> {
  const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;
  const out: Record<string, Record<string, string>> = { postgres: {}, sqlite: {} };
  // EXECUTE takes no subqueries: the tagged repository's id as a literal.
  const idRow = /^\s*(\d+)\s*$/m.exec(await pgsql.psql(pgUrl, `SELECT id FROM repositories WHERE name = ${lit(TAGGED_REPO)}`));
  const repoIdSql = idRow ? idRow[1]! : '0';
  const pgQueries: [string, string, string][] = [
    ['catalog-first', LIST_REPOS, `'', ${PAGE + 1}`],
    ['catalog-middle', LIST_REPOS, `${lit(middleRepo)}, ${PAGE + 1}`],
    ['tags-first', LIST_TAGS, `${repoIdSql}, '', ${PAGE + 1}`],
    ['tags-middle', LIST_TAGS, `${repoIdSql}, ${lit(middleTag)}, ${PAGE + 1}`],
  ];
  for (const [name, sql, args] of pgQueries) {
    const types = sql === LIST_REPOS ? '(text, int)' : '(int, text, int)';
    try {
      out.postgres[`${name} (custom plan)`] = await pgsql.psql(pgUrl,
        `SET plan_cache_mode = force_custom_plan; PREPARE q${types} AS ${sql}; EXPLAIN (ANALYZE, BUFFERS) EXECUTE q(${args});`);
      out.postgres[`${name} (generic plan)`] = await pgsql.psql(pgUrl,
        `SET plan_cache_mode = force_generic_plan; PREPARE q${types} AS ${sql}; EXPLAIN (ANALYZE, BUFFERS) EXECUTE q(${args});`);
    } catch (err) {
      out.postgres[name] = `failed: ${errorMessage(err)}`;
    }
  }
  try {
    const db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
    try {
      const plan = (sql: string, ...params: unknown[]): string =>
        (db.prepare(`EXPLAIN QUERY PLAN ${sql.replace(/\$\d/g, '?')}`).all(...params) as { detail: string }[]).map((r) => r.detail).join('\n');
      out.sqlite.catalog = plan(LIST_REPOS, middleRepo, PAGE + 1);
      out.sqlite.tags = plan(LIST_TAGS, 0, middleTag, PAGE + 1);
    } finally {
      db.close();
    }
  } catch (err) {
    out.sqlite.error = `failed: ${errorMessage(err)}`;
  }
  return out;
}

async function paginationPart(sec: SectionWriter, pgsql: Postgres, opts: ScaleSectionOptions, info: ScaleSectionInfo): Promise<void> {
  if (opts.repos < 2 * PAGE + 2 || opts.tags < 2 * PAGE + 2) throw new Error(`BENCH_SCALE_REPOS and BENCH_SCALE_TAGS must be at least ${2 * PAGE + 2}`);
  const width = String(opts.repos).length;
  const tw = String(opts.tags).length;
  const midRepo = Math.floor(opts.repos / 2);
  const midTag = Math.floor(opts.tags / 2);

  // Fill both stores first, with no server running; then serve both and measure one side at a time.
  const sqliteDir = makeTempDir('scale-sqlite');
  const sqlitePath = join(sqliteDir, 'meta.db');
  const pgUrl = await pgsql.createDatabase('wharf_scale');
  const filled: [FillResult | undefined, FillResult | undefined] = [undefined, undefined];
  const fillers: [Side, string, () => Promise<MetaStore>][] = [
    [1, SQLITE, async () => new SqliteMetaStore({ path: sqlitePath, durable: true, clock: systemClock })],
    [0, PG, () => openPostgresMetaStore({ url: pgUrl, maxConnections: 2, clock: systemClock, applicationName: 'wharf-bench-fill' })],
  ];
  for (const [side, label, open] of fillers) {
    log(`scale: filling ${label}`);
    try {
      const meta = await open();
      try {
        const r = await fill(meta, opts, label);
        filled[side] = r;
        sec.sample('fill-repos', side, r.reposSeconds, { repositoriesPerSecond: opts.repos / r.reposSeconds, batch: opts.fillBatch });
        sec.sample('fill-tags', side, r.tagsSeconds, { tagsPerSecond: opts.tags / r.tagsSeconds, batch: opts.fillBatch });
      } finally {
        await meta.close();
      }
    } catch (err) {
      log(`scale: filling ${label} FAILED: ${errorMessage(err)}`);
      for (const r of sec.section.rows) sec.fail(r.key, side, `fill failed: ${errorMessage(err)}`);
    }
  }
  // What autovacuum would have done by itself a minute later: statistics for the planner, so that the
  // plans measured are a settled database's and not the ones of a freshly filled one.
  let analyzeSeconds: number | null = null;
  if (filled[0]) {
    const t0 = nowMs();
    await pgsql.psql(pgUrl, 'ANALYZE');
    analyzeSeconds = (nowMs() - t0) / 1000;
  }
  info.fill = { repositories: opts.repos, tags: opts.tags, batch: opts.fillBatch, postgres: filled[0] ?? null, postgresAnalyzeSeconds: analyzeSeconds, sqlite: filled[1] ?? null };

  const pair = [
    await startWharf(`${PG} (pagination)`, opts.servers, postgresEnv(pgUrl)),
    await startWharf(`${SQLITE} (pagination)`, opts.servers, {}, sqliteDir),
  ] as const;
  try {
    const steps = alternatingSteps(sec, pair);
    const cases: { key: string; path: string; check: PageCheck }[] = [
      { key: 'catalog-first', path: `/v2/_catalog?n=${PAGE}`, check: { field: 'repositories', first: repoName(0, width), last: repoName(PAGE - 1, width) } },
      {
        key: 'catalog-middle',
        path: `/v2/_catalog?n=${PAGE}&last=${encodeURIComponent(repoName(midRepo, width))}`,
        check: { field: 'repositories', first: repoName(midRepo + 1, width), last: repoName(midRepo + PAGE, width) },
      },
      { key: 'tags-first', path: `/v2/${TAGGED_REPO}/tags/list?n=${PAGE}`, check: { field: 'tags', first: tagName(0, tw), last: tagName(PAGE - 1, tw) } },
      {
        key: 'tags-middle',
        path: `/v2/${TAGGED_REPO}/tags/list?n=${PAGE}&last=${tagName(midTag, tw)}`,
        check: { field: 'tags', first: tagName(midTag + 1, tw), last: tagName(midTag + PAGE, tw) },
      },
    ];
    for (const cs of cases) {
      await steps.onBoth(`scale: ${cs.key}`, [`${cs.key}-p50`, `${cs.key}-p99`], async (side, srv) => {
        if (!filled[side]) throw new Error('skipped: the fill failed');
        const r = await sequentialLatency(srv.url, cs.path, cs.check, opts.requests, Math.max(20, Math.round(opts.requests / 10)));
        const detail = { ...r, path: cs.path, goalMs: GOAL_MS, goalMet: r.p50Ms < GOAL_MS && r.p99Ms < GOAL_MS };
        if (!detail.goalMet) log(`scale: ${cs.key} on ${srv.label}: median ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms — over the ${GOAL_MS} ms goal`);
        sec.sample(`${cs.key}-p50`, side, r.p50Ms, detail);
        sec.sample(`${cs.key}-p99`, side, r.p99Ms, detail);
      });
    }
    info.plans = await capturePlans(pgsql, pgUrl, sqlitePath, repoName(midRepo, width), tagName(midTag, tw));
  } finally {
    for (const s of pair) await s.stop();
    removeTempDir(sqliteDir);
  }
}

// ---- 3. two processes behind a proxy against one ------------------------------------------------------

/**
 * Two `wharf serve` on one data directory (fs blobs) and one PostgreSQL database, behind `startProxy`
 * (per-request round robin), against the first of them alone: directly, and behind the same proxy with
 * it as the only upstream. The proxy is a parameter so that any load balancer can stand in.
 */
async function twoProcessPart(sec: SectionWriter, pgsql: Postgres, fx: Fixtures, opts: ScaleSectionOptions, startProxy: StartProxy): Promise<void> {
  const url = await pgsql.createDatabase('wharf_shared');
  const dataDir = makeTempDir('scale-shared');
  const a = await startWharf('Wharf A (shared)', opts.servers, postgresEnv(url), dataDir);
  const b = await startWharf('Wharf B (shared)', opts.servers, postgresEnv(url), dataDir);
  const proxies: { stop(): Promise<void> }[] = [];
  try {
    const img: OciImage = fx.warm.image;
    const blob = fx.warm.blob;
    if (blob.size !== MiB) throw new Error(`the warm-up blob is ${blob.size} bytes, expected 1 MiB`);
    const repo = `bench/shared-${opts.runId}`;
    // Pushed through A; B must serve the same from the shared data directory and database.
    await skopeoPush(img.dir, img.tag, a.host, repo, opts.transferTimeoutMs);
    await curlPutBlob(a.url, repo, blob, opts.transferTimeoutMs);
    const two = await startProxy([a.url, b.url]);
    proxies.push(two);
    const one = await startProxy([a.url]);
    proxies.push(one);
    const manifest: LoadSpec = { method: 'GET', path: `/v2/${repo}/manifests/${img.tag}`, headers: { Accept: MANIFEST_ACCEPT }, expectBody: img.manifestJson };
    const blobSpec: LoadSpec = { method: 'GET', path: `/v2/${repo}/blobs/${blob.digest}`, headers: {} };
    const expectedBlobDigest = blob.digest;
    for (const base of [b.url, two.url, two.url, one.url]) {
      const res = await probe(base, blobSpec);
      const got = `sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`;
      if (got !== expectedBlobDigest) throw new Error(`GET blob via ${base}: digest ${got}, expected ${expectedBlobDigest}`);
      await (await probe(base, { ...manifest, method: 'HEAD' })).arrayBuffer();
    }

    const kinds = [['manifest', manifest], ['blob', blobSpec]] as const;
    for (const [n, [kind, spec]] of kinds.entries()) {
      const targets: { name: string; url: string; keys: [string, Side][]; pids: number[] }[] = [
        { name: 'two processes behind the proxy', url: two.url, keys: [[`${kind}-get-direct`, 0], [`${kind}-get-proxied`, 0]], pids: [a.pid, b.pid, ...(two.pid ? [two.pid] : [])] },
        { name: 'one process, direct', url: a.url, keys: [[`${kind}-get-direct`, 1]], pids: [a.pid, b.pid] },
        { name: 'one process behind the proxy', url: one.url, keys: [[`${kind}-get-proxied`, 1]], pids: [a.pid, b.pid, ...(one.pid ? [one.pid] : [])] },
      ];
      // Alternate the order between the two kinds, so that neither setup always runs first.
      for (const t of n % 2 === 0 ? targets : [...targets].reverse()) {
        log(`scale: ${kind} GET, ${t.name}`);
        try {
          const cpu0 = t.pids.map((p) => procCpuSeconds(p) ?? 0);
          // A 1 MiB body is more than autocannon can parse quickly: ApacheBench loads the blob rows (see load.ts).
          const res = kind === 'blob' ? await runAbLoad(t.url, spec, opts.load, blob.size) : await runLoad(t.url, spec, opts.load);
          const cpu = t.pids.map((p, i) => Number(((procCpuSeconds(p) ?? 0) - cpu0[i]!).toFixed(2)));
          // CPU seconds of Wharf A, Wharf B and the proxy (when one is in the path) over warm-up and run.
          const detail = { ...res, cpuSeconds: { wharfA: cpu[0], wharfB: cpu[1], ...(cpu[2] !== undefined ? { proxy: cpu[2] } : {}) }, ...(kind === 'blob' ? { mibPerSec: res.reqPerSec * blob.size / MiB } : {}) };
          for (const [key, side] of t.keys) sec.sample(key, side, res.reqPerSec, t.keys.length > 1 ? { ...detail, sameRunFor: t.keys.map(([k]) => k) } : detail);
        } catch (err) {
          log(`scale: ${kind} GET, ${t.name} FAILED: ${errorMessage(err)}`);
          for (const [key, side] of t.keys) sec.fail(key, side, errorMessage(err));
        }
      }
    }
  } finally {
    for (const p of proxies) await p.stop().catch((err: unknown) => log(`stopping the proxy: ${errorMessage(err)}`));
    for (const s of [a, b]) await s.stop();
    removeTempDir(dataDir);
  }
}
