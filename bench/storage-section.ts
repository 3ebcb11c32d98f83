// The storage sections of issue 8, Wharf beside Debian's docker-registry (CNCF Distribution):
//   s3: both servers on one Ceph RGW (a bucket each): skopeo push/pull of the big image, Wharf's peak RSS;
//       Wharf twice for the pull — streaming through itself, and with storage.s3.redirect (307 to a
//       presigned URL, which is Distribution's default).
//   gc: a store of N small blobs, half garbage (linked, referenced by no manifest), filled over HTTP, then
//       collected — `wharf gc` online beside its idle running server, `docker-registry garbage-collect`
//       offline with the registry stopped, as Distribution requires — on fs and on S3.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startWharf, wharfBin, type WharfServer } from '../test/helpers/server.js';
import { startDistribution, type DistributionServer } from '../test/helpers/distribution.js';
import { body, sha256 } from '../test/helpers/push.js';
import { listKeys } from '../test/helpers/s3.js';
import { startUpload, uploadPutUrl } from './blob.js';
import { distributionS3Env, distributionS3Storage, wharfS3Env, type Rgw } from './ceph.js';
import { MANIFEST_ACCEPT, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST, type OciImage } from './images.js';
import type { Report, SectionWriter, Side } from './report.js';
import { RssMonitor } from './rss.js';
import { verifyPulled } from './server-section.js';
import { startServer, type BenchServer } from './servers.js';
import { skopeoPull, skopeoPush } from './skopeo.js';
import { assertLoopback, bodySnippet, errorMessage, log, makeTempDir, MiB, nowMs, removeTempDir, run, runOk } from './util.js';

// ---------------------------------------------------------------------------------------------- s3

export interface S3SectionOptions {
  runId: string;
  /** One freshly generated big image per repetition, and a tiny one for the warm-up. */
  big: OciImage[];
  warm: OciImage;
  transferTimeoutMs: number;
}

async function settle(): Promise<void> {
  await runOk('sync', [], { timeoutMs: 120000 });
}

export async function runS3Section(report: Report, rgw: Rgw, o: S3SectionOptions): Promise<void> {
  const reps = o.big.length;
  const gib = `${(o.big[0]!.totalBytes / 1024 / MiB).toFixed(1)} GiB`;
  const per = reps > 1 ? `, median of ${reps}` : '';
  const sec = report.section('S3 on Ceph RGW (one RGW, a bucket per server; each pull row runs both servers the same way)', ['Wharf', 'Distribution']);
  sec.define(
    { key: 'push', label: `skopeo push big (${gib}${per})`, unit: 's', better: 'lower', digits: 2 },
    // Wharf streams by default; Distribution redirects by default (redirect.disable: false).
    { key: 'pull', label: `skopeo pull big (${gib}${per}), streamed through the server`, unit: 's', better: 'lower', digits: 2 },
    { key: 'pull-redirect', label: `skopeo pull big (${gib}${per}), 307 to a presigned URL`, unit: 's', better: 'lower', digits: 2 },
    { key: 'rss-push', label: 'peak RSS during skopeo push big', unit: 'MiB', better: 'lower', aggregate: 'max' },
    { key: 'rss-overall', label: 'peak RSS overall (server process)', unit: 'MiB', better: 'lower', aggregate: 'max' },
  );
  const wharfData = makeTempDir('wharf-s3');
  const wharfBucket = await rgw.createBucket('bench-wharf');
  const distBucket = await rgw.createBucket('bench-dist');
  const started: BenchServer[] = [];
  try {
    const wharf = await startServer('wharf', 'Wharf (S3)', { wharfEnv: wharfS3Env(rgw, wharfBucket), wharfDataDir: wharfData });
    started.push(wharf);
    // A second process on the same database and bucket, differing only in redirecting blob GETs.
    const wharfRedirect = await startServer('wharf', 'Wharf (S3, redirect)', { wharfEnv: wharfS3Env(rgw, wharfBucket, { WHARF_STORAGE_S3_REDIRECT: 'true' }), wharfDataDir: wharfData });
    started.push(wharfRedirect);
    const dist = await startServer('distribution', 'Distribution (S3)', { distribution: { storage: distributionS3Storage(rgw, distBucket), env: distributionS3Env() } });
    started.push(dist);
    // And a second Distribution on its bucket that streams blobs itself, as Wharf does by default.
    const distStreaming = await startServer('distribution', 'Distribution (S3, redirect disabled)', {
      distribution: { storage: [...distributionS3Storage(rgw, distBucket), '  redirect:', '    disable: true'], env: distributionS3Env() },
    });
    started.push(distStreaming);
    const pushTo: [BenchServer, BenchServer] = [wharf, dist];
    const monitors = [new RssMonitor(wharf.pid), new RssMonitor(dist.pid)] as const;
    for (const m of monitors) m.start();
    const repo = (rep: number): string => `bench/s3-big-${o.runId}-${rep}`;

    // Untimed warm-up: the first bucket writes, connections and JIT land here.
    for (const srv of pushTo) {
      try {
        await skopeoPush(o.warm.dir, o.warm.tag, srv.host, `bench/s3-warm-${o.runId}`, o.transferTimeoutMs);
        const dest = makeTempDir('pull-warm');
        try { await skopeoPull(srv.host, `bench/s3-warm-${o.runId}`, o.warm.tag, dest, o.transferTimeoutMs); } finally { removeTempDir(dest); }
        log(`s3 warm-up: ${srv.label} ok`);
      } catch (err) {
        log(`s3 warm-up: ${srv.label} FAILED (the measured steps will report it): ${errorMessage(err)}`);
      }
    }

    const step = async (title: string, keys: string[], side: Side, fn: () => Promise<void>): Promise<boolean> => {
      log(`${title}`);
      try {
        await fn();
        return true;
      } catch (err) {
        log(`${title} FAILED: ${errorMessage(err)}`);
        for (const k of keys) sec.fail(k, side, errorMessage(err));
        return false;
      }
    };
    const pull = async (srv: BenchServer, key: string, side: Side, img: OciImage, rep: number): Promise<void> => {
      await step(`s3 pull big #${rep}: ${srv.label}`, [key], side, async () => {
        await settle();
        const dest = makeTempDir('pull-s3');
        try {
          const res = await skopeoPull(srv.host, repo(rep), img.tag, dest, o.transferTimeoutMs);
          verifyPulled(dest, img);
          sec.sample(key, side, res.ms / 1000, { mibPerSec: img.totalBytes / MiB / (res.ms / 1000), server: srv.label });
        } finally {
          removeTempDir(dest);
        }
      });
    };

    try {
      for (let rep = 0; rep < reps; rep++) {
        const img = o.big[rep]!;
        // One side at a time; the order alternates between repetitions.
        const order: Side[] = rep % 2 === 0 ? [0, 1] : [1, 0];
        const pushed = [false, false];
        for (const side of order) {
          const srv = pushTo[side];
          pushed[side] = await step(`s3 push big #${rep}: ${srv.label}`, ['push', 'rss-push'], side, async () => {
            await settle();
            monitors[side].beginWindow();
            let res;
            try {
              res = await skopeoPush(img.dir, img.tag, srv.host, repo(rep), o.transferTimeoutMs);
            } finally {
              sec.sample('rss-push', side, monitors[side].endWindow());
            }
            sec.sample('push', side, res.ms / 1000, { mibPerSec: img.totalBytes / MiB / (res.ms / 1000) });
          });
        }
        for (const side of order) {
          if (!pushed[side]) {
            for (const k of ['pull', 'pull-redirect']) sec.fail(k, side, 'skipped: the push failed');
            continue;
          }
          await pull(side === 0 ? wharf : distStreaming, 'pull', side, img, rep);
          await pull(side === 0 ? wharfRedirect : dist, 'pull-redirect', side, img, rep);
        }
      }
    } finally {
      for (const [side, m] of monitors.entries()) {
        m.stop();
        sec.sample('rss-overall', side as Side, m.overallMiB());
      }
    }
  } finally {
    for (const s of started.reverse()) {
      try { await s.stop(); } catch (err) { log(`stopping ${s.label}: ${errorMessage(err)}`); }
    }
    removeTempDir(wharfData);
  }
}

// ---------------------------------------------------------------------------------------------- gc

export interface GcSectionOptions {
  /** Blobs in the store on fs (half garbage); 0 skips. */
  fsBlobs: number;
  /** Blobs in the store on S3; 0 skips. */
  s3Blobs: number;
  /** Parallel uploads while filling. */
  concurrency: number;
  /** A fill that takes longer than this fails its side. */
  fillTimeoutMs: number;
  /** A collection that takes longer than this is killed. */
  gcTimeoutMs: number;
}

/** Bytes of each small blob. */
const BLOB_BYTES = 1024;
const LAYERS_PER_MANIFEST = 100;
const REPOS = 10;

interface Filled {
  /** Blobs uploaded (referenced + garbage + one config per repository). */
  uploaded: number;
  garbage: number;
  /** Manifests pushed (both servers keep each one as a blob too). */
  manifests: number;
  /** One manifest that must survive, with one of its layers, and one garbage blob. */
  keep: { repo: string; tag: string; digest: string; layer: string };
  gone: { repo: string; digest: string };
}

/** A server under the GC test, with what the collection needs to know of it. */
interface GcSubject {
  label: string;
  url: string;
  /** Blob objects in the store (files on fs, keys on S3), counted beneath the server. */
  countBlobs(): Promise<number>;
  /** Runs the collection (timed by the caller); returns the output. */
  collect(): Promise<{ ms: number; maxRssMiB: number; stdout: string }>;
  stop(): Promise<void>;
}

async function uploadSmallBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  // Distribution has no monolithic POST: POST, then PUT with the digest — the same two requests for both.
  const res = await fetch(uploadPutUrl(base, await startUpload(base, repo), digest), {
    method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: body(data),
  });
  if (res.status !== 201) throw new Error(`PUT blob ${digest} to ${repo} → ${res.status}: ${await bodySnippet(res)}`);
  await res.arrayBuffer();
  return digest;
}

/** Fills `n` blobs into `base`: half in manifests of LAYERS_PER_MANIFEST layers, half linked but unreferenced. */
async function fillStore(label: string, base: string, n: number, o: GcSectionOptions): Promise<Filled> {
  assertLoopback(base);
  const refCount = Math.floor(n / 2);
  const garbage = n - refCount;
  const configs: { digest: string; size: number }[] = [];
  // A config only in repositories that get a manifest (so that none is garbage).
  for (let r = 0; r < Math.min(REPOS, Math.ceil(refCount / LAYERS_PER_MANIFEST)); r++) {
    const data = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', bench: `gc-${r}`, rootfs: { type: 'layers', diff_ids: [] } }));
    configs.push({ digest: await uploadSmallBlob(base, `gc/r${r}`, data), size: data.length });
  }
  // Work items: groups of up to LAYERS_PER_MANIFEST blobs, referenced and garbage interleaved.
  type Item = { kind: 'ref' | 'garbage'; group: number; count: number };
  const items: Item[] = [];
  const groups = (total: number): number[] => Array.from({ length: Math.ceil(total / LAYERS_PER_MANIFEST) }, (_, i) => Math.min(LAYERS_PER_MANIFEST, total - i * LAYERS_PER_MANIFEST));
  const [refGroups, garbageGroups] = [groups(refCount), groups(garbage)];
  for (let i = 0; i < Math.max(refGroups.length, garbageGroups.length); i++) {
    if (i < refGroups.length) items.push({ kind: 'ref', group: i, count: refGroups[i]! });
    if (i < garbageGroups.length) items.push({ kind: 'garbage', group: i, count: garbageGroups[i]! });
  }
  let done = configs.length;
  let manifests = 0;
  let next = 0;
  let keep: Filled['keep'] | undefined;
  let gone: Filled['gone'] | undefined;
  const t0 = nowMs();
  const deadline = t0 + o.fillTimeoutMs;
  const progress = setInterval(() => {
    const s = (nowMs() - t0) / 1000;
    log(`gc fill ${label}: ${done}/${n + configs.length} blobs in ${s.toFixed(0)} s (${(done / s).toFixed(0)}/s)`);
  }, 15000);
  progress.unref();
  const worker = async (): Promise<void> => {
    for (;;) {
      const item = items[next++];
      if (!item) return;
      const r = item.group % REPOS;
      const repo = `gc/r${r}`;
      const layers: { mediaType: string; digest: string; size: number }[] = [];
      for (let i = 0; i < item.count; i++) {
        if (nowMs() > deadline) throw new Error(`the fill did not finish within ${o.fillTimeoutMs / 1000} s (${done} blobs uploaded)`);
        const data = randomBytes(BLOB_BYTES);
        layers.push({ mediaType: OCI_LAYER_TAR, digest: await uploadSmallBlob(base, repo, data), size: data.length });
        done++;
      }
      if (item.kind === 'garbage') {
        gone ??= { repo, digest: layers[0]!.digest };
        continue;
      }
      const tag = `m${item.group}`;
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, ...configs[r]! }, layers }));
      const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: body(manifest) });
      if (res.status !== 201) throw new Error(`PUT manifest ${repo}:${tag} → ${res.status}: ${await bodySnippet(res)}`);
      await res.arrayBuffer();
      manifests++;
      keep ??= { repo, tag, digest: sha256(manifest), layer: layers[layers.length - 1]!.digest };
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, worker));
  } finally {
    clearInterval(progress);
    next = items.length; // any other worker stops after its current group
  }
  log(`gc fill ${label}: ${done} blobs in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  return { uploaded: done, garbage, manifests, keep: keep!, gone: gone! };
}

/** Parses the `%M` (max RSS, KiB) that /usr/bin/time appended to stderr. */
function maxRssMiB(stderr: string): number {
  const m = /BENCH_MAXRSS_KB=(\d+)/.exec(stderr);
  if (!m) throw new Error(`no max RSS in the output: ${stderr.slice(-500)}`);
  return Number(m[1]) / 1024;
}

function countFsBlobs(dir: string, withDataFile: boolean): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const prefix of readdirSync(dir)) {
    for (const hex of readdirSync(join(dir, prefix))) {
      if (!withDataFile || existsSync(join(dir, prefix, hex, 'data'))) n++;
    }
  }
  return n;
}

async function wharfSubject(o: GcSectionOptions, rgw: Rgw | undefined): Promise<GcSubject> {
  const bucket = rgw ? await rgw.createBucket('bench-gc-wharf') : undefined;
  const s3Env = rgw && bucket ? wharfS3Env(rgw, bucket) : {};
  const srv: WharfServer = await startWharf({ env: { ...s3Env, WHARF_LOG_LEVEL: 'info' }, timeoutMs: 30000 });
  // startWharf JSON-parses every stdout line forever; under the fill that would cost this process CPU for Wharf only.
  srv.proc.stdout!.removeAllListeners('data');
  srv.proc.stdout!.resume();
  return {
    label: 'Wharf',
    url: srv.url,
    countBlobs: async () => rgw && bucket
      ? (await listKeys(rgw.client, bucket, 'blobs/')).length
      : countFsBlobs(join(srv.dataDir, 'blobs', 'sha256'), false),
    async collect() {
      // Online: beside the running (idle) server, grace period 0 so everything unreferenced goes now.
      const res = await run('/usr/bin/time', ['-f', 'BENCH_MAXRSS_KB=%M', process.execPath, wharfBin, 'gc', '--format', 'json', '--data', srv.dataDir], {
        env: { ...process.env, ...s3Env, WHARF_GC_GRACE_PERIOD: '0s', WHARF_LOG_LEVEL: 'warn' }, timeoutMs: o.gcTimeoutMs,
      });
      if (res.code !== 0) throw new Error(`wharf gc failed (code ${res.code}, signal ${res.signal}): ${res.stderr.slice(-2000)}`);
      return { ms: res.ms, maxRssMiB: maxRssMiB(res.stderr), stdout: res.stdout };
    },
    async stop() {
      try { await srv.stop(); } finally { srv.cleanup(); }
    },
  };
}

async function distributionSubject(o: GcSectionOptions, rgw: Rgw | undefined): Promise<GcSubject> {
  const bucket = rgw ? await rgw.createBucket('bench-gc-dist') : undefined;
  const storage = rgw && bucket ? distributionS3Storage(rgw, bucket) : undefined;
  const env = distributionS3Env();
  let srv: DistributionServer | undefined = await startDistribution({ storage, env });
  const dataDir = srv.dataDir;
  const configPath = srv.configPath;
  const subject: GcSubject = {
    label: 'Distribution',
    url: srv.url,
    countBlobs: async () => rgw && bucket
      ? (await listKeys(rgw.client, bucket, 'distribution/docker/registry/v2/blobs/')).filter((k) => k.endsWith('/data')).length
      : countFsBlobs(join(dataDir, 'storage', 'docker', 'registry', 'v2', 'blobs', 'sha256'), true),
    async collect() {
      // Offline, as Distribution requires: stop the registry, collect, start it again on the same store.
      await srv!.stop({ keepData: true });
      srv = undefined;
      const res = await run('/usr/bin/time', ['-f', 'BENCH_MAXRSS_KB=%M', 'docker-registry', 'garbage-collect', configPath], { env, timeoutMs: o.gcTimeoutMs, maxOutput: 16 * 1024 });
      if (res.code !== 0) throw new Error(`docker-registry garbage-collect failed (code ${res.code}, signal ${res.signal}): ${res.stderr.slice(-2000)}`);
      srv = await startDistribution({ storage, env, dataDir });
      subject.url = srv.url;
      return { ms: res.ms, maxRssMiB: maxRssMiB(res.stderr), stdout: res.stdout.slice(-2000) };
    },
    async stop() {
      if (srv) await srv.stop();
      removeTempDir(dataDir);
    },
  };
  return subject;
}

async function head(url: string, accept?: string): Promise<{ status: number; digest: string | null }> {
  const res = await fetch(url, { method: 'HEAD', headers: accept ? { Accept: accept } : {} });
  await res.arrayBuffer();
  return { status: res.status, digest: res.headers.get('docker-content-digest') };
}

async function gcOnStore(report: Report, driver: 'fs' | 's3', n: number, o: GcSectionOptions, rgw: Rgw | undefined): Promise<void> {
  const sec: SectionWriter = report.section(
    `Garbage collection on ${driver === 's3' ? 'S3 (Ceph RGW)' : 'fs'}: ${n} blobs of ${BLOB_BYTES} B, half garbage (Wharf online beside its server; Distribution offline)`,
    ['Wharf', 'Distribution'],
  );
  sec.define(
    { key: 'fill', label: `fill over HTTP (POST+PUT each, ${o.concurrency} in parallel; manifests of ${LAYERS_PER_MANIFEST} layers)`, unit: 's', better: 'lower', digits: 1 },
    { key: 'gc-time', label: 'garbage collection time', unit: 's', better: 'lower', digits: 2 },
    { key: 'gc-rss', label: 'garbage collection peak RSS (the collecting process)', unit: 'MiB', better: 'lower', aggregate: 'max' },
    { key: 'removed', label: `blob objects removed (garbage: ${n - Math.floor(n / 2)})`, unit: 'blobs', better: 'higher', digits: 0 },
    { key: 'left', label: `blob objects left (referenced: ${Math.floor(n / 2)} layers, their configs and manifests)`, unit: 'blobs', better: 'lower', digits: 0 },
  );
  const make = [wharfSubject, distributionSubject];
  // One side at a time: the whole store of one server is built, collected and removed before the other's.
  for (const side of [0, 1] as Side[]) {
    const name = side === 0 ? 'Wharf' : 'Distribution';
    let subject: GcSubject | undefined;
    try {
      subject = await make[side]!(o, rgw);
      log(`gc ${driver}: ${name} on ${subject.url}, filling ${n} blobs`);
      const t0 = nowMs();
      const filled = await fillStore(`${driver} ${name}`, subject.url, n, o);
      sec.sample('fill', side, (nowMs() - t0) / 1000);
      await settle();
      const before = await subject.countBlobs();
      const expected = filled.uploaded + filled.manifests;
      if (before !== expected) throw new Error(`the store holds ${before} blob objects after the fill, expected ${expected}`);
      log(`gc ${driver}: ${name} collecting (${before} blob objects)`);
      const res = await subject.collect();
      const after = await subject.countBlobs();
      const removed = before - after;
      log(`gc ${driver}: ${name} collected in ${(res.ms / 1000).toFixed(2)} s, peak RSS ${res.maxRssMiB.toFixed(1)} MiB, ${removed} removed, ${after} left`);
      sec.sample('gc-time', side, res.ms / 1000, { output: res.stdout.slice(-1500) });
      sec.sample('gc-rss', side, res.maxRssMiB);
      sec.sample('removed', side, removed);
      sec.sample('left', side, after);
      // "About half": every garbage blob and nothing else (1% slack for what a server might keep on purpose).
      if (Math.abs(removed - filled.garbage) > filled.garbage * 0.01) sec.fail('removed', side, `removed ${removed}, expected about ${filled.garbage}`);
      // A referenced image still pulls: its manifest and one layer answer HEAD.
      const k = filled.keep;
      const m = await head(`${subject.url}/v2/${k.repo}/manifests/${k.tag}`, MANIFEST_ACCEPT);
      const l = await head(`${subject.url}/v2/${k.repo}/blobs/${k.layer}`);
      if (m.status !== 200 || (m.digest !== null && m.digest !== k.digest) || l.status !== 200) {
        sec.fail('left', side, `after the collection ${k.repo}:${k.tag} answers ${m.status} (digest ${m.digest}) and its layer ${l.status}`);
      }
      const g = await head(`${subject.url}/v2/${filled.gone.repo}/blobs/${filled.gone.digest}`);
      sec.addDetail('left', side, { keptManifestHead: m.status, keptLayerHead: l.status, garbageBlobHead: g.status });
    } catch (err) {
      const msg = errorMessage(err);
      log(`gc ${driver}: ${name} FAILED: ${msg}`);
      for (const key of ['fill', 'gc-time', 'gc-rss', 'removed', 'left']) {
        if (sec.section.rows.find((r) => r.key === key)!.cells[side].samples.length === 0) sec.fail(key, side, msg);
      }
    } finally {
      if (subject) {
        try { await subject.stop(); } catch (err) { log(`stopping ${name}: ${errorMessage(err)}`); }
      }
    }
  }
}

export async function runGcSection(report: Report, rgw: Rgw | undefined, o: GcSectionOptions): Promise<void> {
  if (o.fsBlobs > 0) await gcOnStore(report, 'fs', o.fsBlobs, o, undefined);
  if (o.s3Blobs > 0) {
    if (!rgw) throw new Error('the S3 garbage collection needs Ceph RGW');
    await gcOnStore(report, 's3', o.s3Blobs, o, rgw);
  }
}
