// `npm run bench`: Wharf vs CNCF Distribution on loopback, filesystem storage, in one run.
// Then `wharf copy` vs `skopeo copy` against one Distribution registry (bench/client-section.ts).
//
// Environment knobs (all optional):
//   BENCH_BIG_MB          size of the big single-layer image and of the curl blob, MiB (default 1024)
//   BENCH_MULTI_LAYERS    layers in the multi-layer image, 16..32 MiB each (default 8)
//   BENCH_REPEAT          repetitions of each transfer (push/pull/PUT/GET), median reported (default 3);
//                         every repetition uses freshly generated content
//   BENCH_LOAD_SECONDS    duration of each request-rate test (default 10)
//   BENCH_WARMUP_SECONDS  untimed warm-up before each request-rate test (default 2)
//   BENCH_CONNECTIONS     concurrent connections for the request-rate tests (default 32)
//   BENCH_EXTRA_TAGS      tags added to the multi repository for tags/list (default 15)
//   BENCH_SUBJECT         wharf (default) | distribution — the latter runs Distribution on both sides,
//                         to check the harness itself (ratios should then be ~1)
//   BENCH_WHARF_LOG_LEVEL log level for Wharf (default info)
//   BENCH_RESULTS         where to write the JSON results (default bench/results/latest.json)
//   BENCH_SECTIONS        which sections to run, comma-separated: server, door, tokens, client, s3, gc, lifecycle (default all seven),
//                         and scale (not in the default: it writes bench/results/scale.json, see BENCH_SCALE_RESULTS);
//                         s3 and gc start one Ceph RGW (scripts/services/start-ceph-rgw.sh) for the run;
//                         scale starts one durable PostgreSQL (scripts/services/start-postgres.sh, PG_DURABLE=1)
//   BENCH_GC_BLOBS        small blobs in the garbage-collection store on fs, half garbage (default 100000; 0 skips)
//   BENCH_GC_S3_BLOBS     the same on S3 (default 20000; 0 skips)
//   BENCH_GC_CONCURRENCY  parallel uploads while filling a GC store (default 16)
//   BENCH_GC_FILL_SECONDS a fill slower than this fails its side (default 3600: Distribution fills 20,000 blobs on RGW in about half an hour)
//   BENCH_SCALE_REPOS     repositories in the scale section's pagination store (default 100000)
//   BENCH_SCALE_TAGS      tags in its one tagged repository (default 10000)
//   BENCH_SCALE_REQUESTS  sequential requests per pagination row, after a tenth as many untimed (default 200)
//   BENCH_SCALE_FILL_BATCH repositories or tags per unit of work while filling it (default 1000)
//   BENCH_METRICS_REPOS   repositories behind the lifecycle section's /metrics scrape row (default 10000)
//   BENCH_SCALE_RESULTS   where the scale section writes its JSON (default bench/results/scale.json); the other
//                         sections' file (BENCH_RESULTS) is written only when one of them ran
import { existsSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wharfBin } from '../test/helpers/server.js';
import { generateImage, writeRandomBlob } from './images.js';
import { Report } from './report.js';
import { runClientSection } from './client-section.js';
import { runServerSection, type Fixtures } from './server-section.js';
import { runAuthTlsSection } from './auth-tls-section.js';
import { runTokenSection } from './token-section.js';
import { startRgw, type Rgw } from './ceph.js';
import { runGcSection, runS3Section } from './storage-section.js';
import { stopAllPostgres } from './postgres.js';
import { startRoundRobinProxy } from './round-robin.js';
import { runLifecycleSection } from './lifecycle-section.js';
import { runScaleSection, type ScaleSectionInfo } from './scale-section.js';
import { startServer, type BenchServer, type ServerKind } from './servers.js';
import { envInt, errorMessage, killAllChildren, log, makeTempDir, MiB, nowMs, removeAllTempDirs, run, runOk } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/results/latest.json in the source tree (this file runs from dist/bench/). */
const resultsPath = process.env.BENCH_RESULTS || join(here, '..', '..', 'bench', 'results', 'latest.json');
const scaleResultsPath = process.env.BENCH_SCALE_RESULTS || join(here, '..', '..', 'bench', 'results', 'scale.json');

const cfg = {
  bigMiB: envInt('BENCH_BIG_MB', 1024),
  multiLayers: envInt('BENCH_MULTI_LAYERS', 8),
  repeat: envInt('BENCH_REPEAT', 3),
  loadSeconds: envInt('BENCH_LOAD_SECONDS', 10),
  warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 2, 0),
  connections: envInt('BENCH_CONNECTIONS', 32),
  extraTags: envInt('BENCH_EXTRA_TAGS', 15, 0),
  subject: (process.env.BENCH_SUBJECT ?? 'wharf') as ServerKind,
  sections: new Set((process.env.BENCH_SECTIONS ?? 'server,door,tokens,client,s3,gc,lifecycle').split(',').map((x) => x.trim())),
  gcBlobs: envInt('BENCH_GC_BLOBS', 100000, 0),
  gcS3Blobs: envInt('BENCH_GC_S3_BLOBS', 20000, 0),
  gcConcurrency: envInt('BENCH_GC_CONCURRENCY', 16),
  gcFillSeconds: envInt('BENCH_GC_FILL_SECONDS', 3600),
  scaleRepos: envInt('BENCH_SCALE_REPOS', 100000),
  scaleTags: envInt('BENCH_SCALE_TAGS', 10000),
  scaleRequests: envInt('BENCH_SCALE_REQUESTS', 200),
  scaleFillBatch: envInt('BENCH_SCALE_FILL_BATCH', 1000),
  metricsRepos: envInt('BENCH_METRICS_REPOS', 10000),
};
const KNOWN_SECTIONS = ['server', 'door', 'tokens', 'client', 's3', 'gc', 'lifecycle', 'scale'];

async function toolVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = { node: process.version };
  const tools: [string, string[]][] = [['skopeo', ['--version']], ['docker-registry', ['--version']], ['curl', ['--version']], ['unshare', ['--version']]];
  for (const [cmd, args] of tools) {
    const res = await run(cmd, args, { timeoutMs: 10000 }).catch((err: unknown) => { throw new Error(`${cmd} is required: ${errorMessage(err)}`); });
    if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${res.stderr}`);
    out[cmd] = res.stdout.split('\n')[0]!.trim();
  }
  return out;
}

/**
 * The warm-up image and blob, and the kinds asked for: the s3 section uses only the big images, the scale
 * section only the multi-layer ones; the server, door, tokens and client sections use all three kinds.
 */
async function generateFixtures(kinds: { big: boolean; multi: boolean; blob: boolean }): Promise<Fixtures> {
  const t0 = nowMs();
  const n = cfg.multiLayers;
  const sizes = Array.from({ length: n }, (_, i) => (16 + (n > 1 ? Math.round((16 * i) / (n - 1)) : 0)) * MiB);
  const blobDir = makeTempDir('blob');
  const warm = {
    image: await generateImage(makeTempDir('img-warm'), '1', [MiB, MiB]),
    blob: await writeRandomBlob(join(blobDir, 'warm.bin'), MiB),
  };
  const fx: Fixtures = { big: [], multi: [], blob: [], warm };
  for (let rep = 0; rep < cfg.repeat; rep++) {
    if (kinds.big) fx.big.push(await generateImage(makeTempDir('img-big'), '1', [cfg.bigMiB * MiB]));
    if (kinds.multi) fx.multi.push(await generateImage(makeTempDir('img-multi'), '1', sizes));
    if (kinds.blob) fx.blob.push(await writeRandomBlob(join(blobDir, `blob-${rep}.bin`), cfg.bigMiB * MiB));
  }
  // Get the fixtures onto disk now rather than during the first timed step.
  await runOk('sync', [], { timeoutMs: 300000 });
  const [big, multi, blob] = [fx.big[0], fx.multi[0], fx.blob[0]];
  log(`${cfg.repeat} fixture set(s) generated in ${((nowMs() - t0) / 1000).toFixed(1)} s:` +
    [big && ` big ${big.totalBytes} B`, multi && ` multi ${multi.layers.length} layers / ${multi.totalBytes} B`, blob && ` blob ${blob.size} B`].filter(Boolean).join(','));
  return fx;
}

async function main(): Promise<number> {
  const t0 = nowMs();
  if (cfg.subject !== 'wharf' && cfg.subject !== 'distribution') throw new Error(`BENCH_SUBJECT must be wharf or distribution, got ${cfg.subject}`);
  if (cfg.subject === 'wharf' && !existsSync(wharfBin)) {
    throw new Error(`${wharfBin} does not exist — build Wharf first (or set BENCH_SUBJECT=distribution to exercise the harness)`);
  }
  for (const s of cfg.sections) if (!KNOWN_SECTIONS.includes(s)) throw new Error(`unknown section ${s} in BENCH_SECTIONS (known: ${KNOWN_SECTIONS.join(', ')})`);
  const versions = await toolVersions();
  const loadBefore = loadavg();
  const report = new Report();
  const scaleReport = new Report();
  let scaleInfo: ScaleSectionInfo | undefined;
  const servers: BenchServer[] = [];
  let rgw: Rgw | undefined;
  let fatal: string | undefined;

  let cleaning: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    cleaning ??= (async () => {
      killAllChildren();
      for (const s of servers) {
        try { await s.stop(); } catch (err) { log(`stopping ${s.label}: ${errorMessage(err)}`); }
      }
      if (rgw) {
        try { await rgw.stop(); } catch (err) { log(`stopping Ceph: ${errorMessage(err)}`); }
      }
      await stopAllPostgres();
      removeAllTempDirs();
    })();
    return cleaning;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: stopping servers and removing temp files`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const needsAll = ['server', 'door', 'tokens', 'client'].some((x) => cfg.sections.has(x));
    const kinds = { big: needsAll || cfg.sections.has('s3'), multi: needsAll || cfg.sections.has('scale'), blob: needsAll };
    const fixtures = kinds.big || kinds.multi ? await generateFixtures(kinds) : undefined;
    const label0 = cfg.subject === 'wharf' ? 'Wharf' : 'Distribution (A)';
    const label1 = cfg.subject === 'wharf' ? 'Distribution' : 'Distribution (B)';
    const load = { connections: cfg.connections, durationS: cfg.loadSeconds, warmupS: cfg.warmupSeconds };
    // Any single transfer slower than 5 MiB/s (or 2 minutes, whichever is longer) is treated as hung.
    const transferTimeoutMs = Math.max(120000, cfg.bigMiB * 200);
    if (fixtures && cfg.sections.has('server')) {
      const pair = [await startServer(cfg.subject, label0), await startServer('distribution', label1)] as const;
      servers.push(...pair);
      await runServerSection(report, [pair[0], pair[1]], fixtures, { runId: Date.now().toString(36), load, extraTags: cfg.extraTags, transferTimeoutMs });
      for (const s of pair) await s.stop();
    }
    if (fixtures && cfg.sections.has('door')) {
      // Servers of its own, started per configuration (htpasswd; TLS; both).
      await runAuthTlsSection(report, [label0, label1], { image: fixtures.warm.image, blob: fixtures.blob }, { load, repeat: cfg.repeat, transferTimeoutMs });
    }
    if (fixtures && cfg.sections.has('tokens')) {
      // Its own servers: Wharf with auth.mode builtin; Distribution with htpasswd.
      await runTokenSection(report, fixtures.warm.image, { load });
    }
    if (fixtures && cfg.sections.has('client')) {
      // Client section: wharf copy vs skopeo copy against one fresh Distribution registry.
      const clientRegistry = await startServer('distribution', 'Distribution (client)');
      servers.push(clientRegistry);
      await runClientSection(report, clientRegistry, fixtures, { runId: Date.now().toString(36), transferTimeoutMs });
    }
    if (cfg.sections.has('s3') || (cfg.sections.has('gc') && cfg.gcS3Blobs > 0)) rgw = await startRgw();
    if (fixtures && rgw && cfg.sections.has('s3')) {
      await runS3Section(report, rgw, { runId: Date.now().toString(36), big: fixtures.big, warm: fixtures.warm.image, transferTimeoutMs });
    }
    if (cfg.sections.has('gc')) {
      await runGcSection(report, rgw, {
        fsBlobs: cfg.gcBlobs, s3Blobs: cfg.gcS3Blobs, concurrency: cfg.gcConcurrency,
        fillTimeoutMs: cfg.gcFillSeconds * 1000, gcTimeoutMs: 3600000,
      });
    }
    if (cfg.sections.has('lifecycle')) {
      // Its own servers (builtin auth) and a webhook receiver; no fixtures.
      await runLifecycleSection(report, {
        connections: cfg.connections, durationS: cfg.loadSeconds, warmupS: cfg.warmupSeconds, repeat: cfg.repeat,
        metricsRepos: cfg.metricsRepos, metricsRequests: cfg.scaleRequests, servers,
      });
    }
    if (fixtures && cfg.sections.has('scale')) {
      // Its own servers, its own PostgreSQL, and its own results file.
      scaleInfo = await runScaleSection(scaleReport, fixtures, {
        runId: Date.now().toString(36), load, extraTags: cfg.extraTags, transferTimeoutMs,
        repos: cfg.scaleRepos, tags: cfg.scaleTags, requests: cfg.scaleRequests, fillBatch: cfg.scaleFillBatch,
        startProxy: startRoundRobinProxy, servers,
      });
    }
  } catch (err) {
    fatal = errorMessage(err);
    log(`FATAL: ${fatal}`);
  } finally {
    await cleanup();
  }

  const serverLogs = Object.fromEntries(servers.map((s) => [s.label, s.logs()]));
  const errors = [...report.errors(), ...scaleReport.errors()];
  process.stdout.write(`\n${report.table()}${scaleReport.table()}\n`);
  if (errors.length > 0) {
    process.stdout.write('Errors:\n');
    for (const e of errors) process.stdout.write(`  - [${e.side}] ${e.metric}: ${e.error}\n`);
  }
  for (const [label, lines] of Object.entries(serverLogs)) {
    if (lines.length === 0) continue;
    process.stdout.write(`${label} logged ${lines.length}${lines.length >= 200 ? '+' : ''} warning/error lines (first 20; up to 200 in the JSON):\n`);
    for (const l of lines.slice(0, 20)) process.stdout.write(`  ${l.slice(0, 500)}\n`);
  }
  if (fatal) process.stdout.write(`FATAL: ${fatal}\n`);
  const seconds = (nowMs() - t0) / 1000;
  const meta = {
    date: new Date().toISOString(),
    durationSeconds: Math.round(seconds),
    // Other work on the machine skews everything; the load averages show whether there was any.
    host: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryMiB: Math.round(totalmem() / MiB), loadavgBefore: loadBefore, loadavgAfter: loadavg() },
    versions,
    settings: cfg,
    fatal: fatal ?? null,
    serverLogs,
  };
  const written: string[] = [];
  if (report.sections.length > 0 || !cfg.sections.has('scale')) {
    report.writeJson(resultsPath, meta);
    written.push(resultsPath);
  }
  if (cfg.sections.has('scale')) {
    scaleReport.writeJson(scaleResultsPath, { ...meta, scale: scaleInfo ?? null });
    written.push(scaleResultsPath);
  }
  process.stdout.write(`results written to ${written.join(' and ')} (run took ${seconds.toFixed(0)} s)\n`);
  return fatal || errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => { log(`FATAL: ${errorMessage(err)}`); removeAllTempDirs(); process.exit(1); },
);
