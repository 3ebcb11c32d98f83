// Quotas at scale: what computing usage from the links (rather than keeping counters) costs, and what a
// /metrics scrape costs with storage per namespace, at QUOTA_BENCH_REPOS repositories (default 10,000)
// of QUOTA_BENCH_LINKS links each (default 10: 100,000 links) and one tag each, spread over
// QUOTA_BENCH_NAMESPACES namespaces (default 1: the worst case for a namespace's quota, every link in it).
// Each namespace's repositories link blobs from a pool of its own (so blobs are shared within it).
//
//   npm run build && node dist/bench/quota-scale.js
//   QUOTA_BENCH_DB=postgres (needs WHARF_TEST_POSTGRES_URL, a server where it may create a database)
//
// It fills a MetaStore in units of work (on PostgreSQL then ANALYZEs it), times each query of a push under a quota (median of
// QUOTA_BENCH_RUNS), then starts `wharf serve` on the same data and times /metrics scrapes.
import { systemClock } from '../src/config/clock.js';
import type { MetaStore, QuotaScope } from '../src/store/meta/meta-store.js';
import { openPostgresMetaStore } from '../src/store/meta/postgres-meta-store.js';
import { SqliteMetaStore } from '../src/store/meta/sqlite-meta-store.js';
import { createTestDatabase, type TestDatabase } from '../test/helpers/postgres.js';
import { startWharf } from '../test/helpers/server.js';
import { envInt, log, makeTempDir, nowMs, removeAllTempDirs } from './util.js';
import { join } from 'node:path';
import pg from 'pg';

const REPOS = envInt('QUOTA_BENCH_REPOS', 10_000);
const LINKS = envInt('QUOTA_BENCH_LINKS', 10);
const NAMESPACES = envInt('QUOTA_BENCH_NAMESPACES', 1);
const RUNS = envInt('QUOTA_BENCH_RUNS', 21);
const DB = process.env.QUOTA_BENCH_DB ?? 'sqlite';

const digest = (ns: number, n: number): string => `sha256:${ns.toString(16).padStart(8, '0')}${n.toString(16).padStart(56, '0')}`;

async function fill(m: MetaStore): Promise<number> {
  const perNs = Math.ceil(REPOS / NAMESPACES);
  const pool = perNs * LINKS / 2;
  const t0 = nowMs();
  for (let start = 0; start < REPOS; start += 500) {
    await m.tx(async (x) => {
      for (let i = start; i < Math.min(REPOS, start + 500); i++) {
        const ns = i % NAMESPACES;
        const id = await x.repositories.ensure(`ns${ns}/repo${i}`);
        for (let l = 0; l < LINKS; l++) {
          const n = (i * 7 + l * 131) % pool;
          await x.blobs.link(id, digest(ns, n), 1_000_000 + n);
        }
        const d = digest(ns, (i * 7) % pool);
        await x.manifests.put(id, { digest: d, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, artifactType: null, subject: null, annotations: null }, []);
        await x.tags.move(id, 'latest', d);
      }
    });
  }
  return (nowMs() - t0) / 1000;
}

async function median(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = nowMs();
    await fn();
    times.push(nowMs() - t);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[runs >> 1]! * 1000) / 1000;
}

async function main(): Promise<void> {
  const dataDir = makeTempDir('quota-scale');
  let db: TestDatabase | undefined;
  let m: MetaStore;
  if (DB === 'postgres') {
    db = await createTestDatabase();
    m = await openPostgresMetaStore({ url: db.url, maxConnections: 4, clock: systemClock });
  } else {
    m = new SqliteMetaStore({ path: join(dataDir, 'meta.db'), durable: false, clock: systemClock });
  }
  const out: Record<string, unknown> = { db: DB, repositories: REPOS, links: REPOS * LINKS, namespaces: NAMESPACES };
  try {
    log(`filling ${REPOS} repositories, ${REPOS * LINKS} links, ${NAMESPACES} namespace(s) on ${DB}`);
    out.fillSeconds = await fill(m);
    if (db) {
      // As autovacuum would have by now: plans for the table sizes there are, not for empty tables.
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query('ANALYZE');
      await c.end();
    }
    const ns: QuotaScope = { namespace: 'ns0', repository: null };
    const repo: QuotaScope = { namespace: 'ns0', repository: 'ns0/repo0' };
    const ms: Record<string, number> = {};
    ms['no quota: the one lookup (forRepository)'] = await median(RUNS, () => m.quotas.forRepository('ns0', 'ns0/repo0'));
    ms['namespace: holds(digest)'] = await median(RUNS, () => m.quotas.holds(ns, digest(0, 3)));
    ms['namespace: storedBytes'] = await median(RUNS, () => m.quotas.storedBytes(ns));
    ms['namespace: tagCount'] = await median(RUNS, () => m.quotas.tagCount(ns));
    ms['repository: storedBytes'] = await median(RUNS, () => m.quotas.storedBytes(repo));
    ms['repository: tagCount'] = await median(RUNS, () => m.quotas.tagCount(repo));
    ms['every namespace: bytesByNamespace (the metric)'] = await median(Math.min(RUNS, 5), () => m.quotas.bytesByNamespace());
    out.medianMs = ms;
    out.namespaceBytes = await m.quotas.storedBytes(ns);
  } finally {
    await m.close();
  }

  // /metrics on that data: the first scrape (the computation may be under way), then scrapes that find it done.
  const server = await startWharf({ dataDir, env: db ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url } : {}, timeoutMs: 60_000 });
  try {
    const scrape = async (): Promise<string> => (await fetch(`${server.url}/metrics`)).text();
    let t = nowMs();
    await scrape();
    const first = nowMs() - t;
    t = nowMs();
    while (!(await scrape()).includes('wharf_namespace_storage_bytes{namespace="ns0"}')) await new Promise((r) => setTimeout(r, 5));
    const computedWithin = nowMs() - t;
    out.scrape = { firstMs: Math.round(first * 10) / 10, storageShownAfterMs: Math.round(computedWithin), medianMs: await median(RUNS, scrape) };
  } finally {
    await server.stop();
    await db?.drop();
    removeAllTempDirs();
  }
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

await main();
