// The "registry server" section: the same client workload against Wharf and Distribution, one side at a time.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { curlGetBlob, curlPutBlob } from './blob.js';
import { MANIFEST_ACCEPT, type BlobFile, type OciImage } from './images.js';
import { probe, runLoad, type LoadSettings, type LoadSpec } from './load.js';
import type { Report, SectionWriter, Side } from './report.js';
import { procCpuSeconds, RssMonitor } from './rss.js';
import type { BenchServer } from './servers.js';
import { skopeoPull, skopeoPush } from './skopeo.js';
import { errorMessage, log, makeTempDir, MiB, PULL_MULTI_ROUNDS, removeTempDir, runOk } from './util.js';

/**
 * One set of transfer fixtures per repetition: every repetition uploads content the servers have never
 * seen, so no server can short-cut a repeat upload by deduplicating against an earlier one.
 */
export interface Fixtures {
  big: OciImage[];
  multi: OciImage[];
  /** Raw random blobs of the big size, for the curl upload/download. */
  blob: BlobFile[];
  /** Tiny image and blob for an untimed warm-up round against each server. */
  warm: { image: OciImage; blob: BlobFile };
}

export interface ServerSectionOptions {
  runId: string;
  load: LoadSettings;
  /** Extra tags created on the multi-layer repository so tags/list has something to list. */
  extraTags: number;
  transferTimeoutMs: number;
}

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`;
}

/** Flushes dirty pages so one side's writes are not still being written back while the other side is timed. */
export async function settle(): Promise<void> {
  await runOk('sync', [], { timeoutMs: 120000 });
}

/** Checks a pulled OCI layout: same manifest digest, every blob present with the right size. */
export function verifyPulled(dir: string, img: OciImage): void {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests?: { digest?: string }[] };
  const digests = (index.manifests ?? []).map((m) => m.digest);
  if (!digests.includes(img.manifest.digest)) throw new Error(`pulled index.json has ${digests.join(', ')}, expected ${img.manifest.digest}`);
  for (const d of [img.config, ...img.layers]) {
    const p = join(dir, 'blobs', 'sha256', d.digest.slice('sha256:'.length));
    if (!existsSync(p) || statSync(p).size !== d.size) throw new Error(`pulled layout lacks ${d.digest} (${d.size} bytes)`);
  }
}

/** Runs one step on both sides of a section, strictly one side at a time (see alternatingSteps). */
export type OnBoth = (title: string, keys: string[], fn: (side: Side, srv: BenchServer) => Promise<void>) => Promise<void>;

/**
 * Steps over a pair of servers: the sides run strictly one at a time, and the order alternates from step
 * to step so that neither side is always first; `shift()` skips one turn (e.g. between repetitions). Each
 * step records the CPU the server and this (load-generating) process used, and a failure fails the
 * step's rows for that side only.
 */
export function alternatingSteps(sec: SectionWriter, servers: readonly [BenchServer, BenchServer]): { onBoth: OnBoth; shift(): void } {
  let stepNo = 0;
  const onBoth: OnBoth = async (title, keys, fn) => {
    const order: Side[] = stepNo++ % 2 === 0 ? [0, 1] : [1, 0];
    for (const side of order) {
      const srv = servers[side];
      log(`${title}: ${srv.label}`);
      const cpu0 = procCpuSeconds(srv.pid);
      const self0 = process.cpuUsage();
      try {
        await fn(side, srv);
        const cpu1 = procCpuSeconds(srv.pid);
        const self = process.cpuUsage(self0);
        const detail = {
          // CPU used by the server process and by this (load-generating) process during the step.
          serverCpuSeconds: cpu0 === undefined || cpu1 === undefined ? null : Number((cpu1 - cpu0).toFixed(2)),
          benchProcessCpuSeconds: Number(((self.user + self.system) / 1e6).toFixed(2)),
        };
        for (const k of keys) if (!k.startsWith('rss-')) sec.addDetail(k, side, detail);
      } catch (err) {
        const gone = procCpuSeconds(srv.pid) === undefined ? ' [the server process has exited]' : '';
        const msg = errorMessage(err) + gone;
        log(`${title}: ${srv.label} FAILED: ${msg}`);
        for (const k of keys) sec.fail(k, side, msg);
      }
    }
  };
  return { onBoth, shift: () => { stepNo++; } };
}

/**
 * Untimed warm-up of each server: first-use costs (binaries and libraries paged in, JIT, storage
 * directories created) land here instead of in the first measured repetition.
 */
export async function warmUpServers(servers: readonly BenchServer[], warm: Fixtures['warm'], runId: string, transferTimeoutMs: number): Promise<void> {
  for (const srv of servers) {
    try {
      const warmRepo = `bench/warmup-${runId}`;
      await curlPutBlob(srv.url, warmRepo, warm.blob, transferTimeoutMs);
      await curlGetBlob(srv.url, warmRepo, warm.blob, transferTimeoutMs);
      await skopeoPush(warm.image.dir, warm.image.tag, srv.host, warmRepo, transferTimeoutMs);
      const dest = makeTempDir('pull-warmup');
      try { await skopeoPull(srv.host, warmRepo, warm.image.tag, dest, transferTimeoutMs); } finally { removeTempDir(dest); }
      log(`warm-up: ${srv.label} ok`);
    } catch (err) {
      log(`warm-up: ${srv.label} FAILED (the measured steps will report it): ${errorMessage(err)}`);
    }
  }
}

/** After a `skopeo push --preserve-digests`: the server must have stored exactly the manifest pushed. */
export async function verifyPushed(srv: BenchServer, repo: string, img: OciImage): Promise<void> {
  const check = await probe(srv.url, { method: 'HEAD', path: `/v2/${repo}/manifests/${img.tag}`, headers: { Accept: MANIFEST_ACCEPT } });
  await check.arrayBuffer();
  const digest = check.headers.get('docker-content-digest');
  if (digest !== null && digest !== img.manifest.digest) throw new Error(`pushed manifest digest ${digest}, expected ${img.manifest.digest}`);
}

/** Tags t000, t001, … on the image's manifest (already pushed to `repo`), so tags/list has something to list. */
export async function addExtraTags(srv: BenchServer, repo: string, img: OciImage, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const tag = `t${String(i).padStart(3, '0')}`;
    const res = await fetch(`${srv.url}/v2/${repo}/manifests/${tag}`, {
      method: 'PUT', headers: { 'Content-Type': img.manifest.mediaType }, body: img.manifestJson,
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`PUT /v2/${repo}/manifests/${tag} → ${res.status}: ${text.slice(0, 2000)}`);
  }
}

/** The request-rate rows over one pushed image tagged `extraTags` more times: manifest HEAD and GET by tag, tags/list. */
export function rateLoads(repo: string, img: OciImage, extraTags: number): { key: 'manifest-head' | 'manifest-get' | 'tags-list'; spec: (srv: BenchServer) => Promise<LoadSpec> }[] {
  const manifestPath = `/v2/${repo}/manifests/${img.tag}`;
  return [
    { key: 'manifest-head', spec: async () => ({ method: 'HEAD', path: manifestPath, headers: { Accept: MANIFEST_ACCEPT } }) },
    { key: 'manifest-get', spec: async () => ({ method: 'GET', path: manifestPath, headers: { Accept: MANIFEST_ACCEPT }, expectBody: img.manifestJson }) },
    {
      key: 'tags-list',
      spec: async (srv) => {
        const spec: LoadSpec = { method: 'GET', path: `/v2/${repo}/tags/list`, headers: { Accept: 'application/json' } };
        const body = await (await probe(srv.url, spec)).text();
        const tags = (JSON.parse(body) as { tags?: string[] }).tags ?? [];
        if (tags.length !== extraTags + 1) throw new Error(`tags/list returned ${tags.length} tags, expected ${extraTags + 1}: ${body.slice(0, 500)}`);
        // Every response under load must then be byte-identical to this one.
        return { ...spec, expectBody: body };
      },
    },
  ];
}

export async function runServerSection(report: Report, servers: [BenchServer, BenchServer], fx: Fixtures, opts: ServerSectionOptions): Promise<void> {
  const sec: SectionWriter = report.section('Registry server (same client workload against each server)', [servers[0].label, servers[1].label]);
  const reps = fx.big.length;
  const big = sizeLabel(fx.big[0]!.totalBytes);
  const m0 = fx.multi[0]!;
  const multi = `${m0.layers.length}×~${Math.round(m0.totalBytes / m0.layers.length / MiB)} MiB`;
  const blob = sizeLabel(fx.blob[0]!.size);
  const c = opts.load.connections;
  const per = reps > 1 ? `, median of ${reps}` : '';
  sec.define(
    { key: 'skopeo-push-big', label: `skopeo push big (${big}${per})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'skopeo-pull-big', label: `skopeo pull big (${big}${per})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'skopeo-push-multi', label: `skopeo push multi (${multi}${per})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'skopeo-pull-multi', label: `skopeo pull multi (${multi}, median of ${reps * PULL_MULTI_ROUNDS})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'curl-put', label: `curl monolithic PUT ${blob} blob${per}`, unit: 'MiB/s', better: 'higher' },
    { key: 'curl-get', label: `curl GET ${blob} blob${per}`, unit: 'MiB/s', better: 'higher' },
    { key: 'manifest-head', label: `manifest HEAD by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'manifest-get', label: `manifest GET by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'tags-list', label: `tags/list (${opts.extraTags + 1} tags), ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'rss-curl-put', label: `peak RSS during ${blob} curl PUT`, unit: 'MiB', better: 'lower', aggregate: 'max' },
    { key: 'rss-skopeo-push', label: 'peak RSS during skopeo push big', unit: 'MiB', better: 'lower', aggregate: 'max' },
    { key: 'rss-overall', label: 'peak RSS overall', unit: 'MiB', better: 'lower', aggregate: 'max' },
  );

  // Fresh repository names per run and per repetition, so nothing is ever skipped as already present.
  const repo = (kind: 'big' | 'multi' | 'curl', rep: number): string => `bench/${kind}-${opts.runId}-${rep}`;
  const monitors = servers.map((s) => new RssMonitor(s.pid)) as [RssMonitor, RssMonitor];
  for (const m of monitors) m.start();
  /** done[kind][rep][side]: the upload a later step depends on succeeded. */
  const done = {
    blob: fx.blob.map(() => [false, false]),
    big: fx.big.map(() => [false, false]),
    multi: fx.multi.map(() => [false, false]),
  };
  const requireDone = (what: keyof typeof done, rep: number, side: Side): void => {
    if (!done[what][rep]![side]) throw new Error(`skipped: the ${what} upload #${rep} to this server failed`);
  };

  // Sides run strictly one at a time; the order alternates from step to step so neither side is always first.
  const steps = alternatingSteps(sec, servers);
  const onBoth = steps.onBoth;

  const curlPut = (rep: number): Promise<void> => onBoth(`curl PUT blob #${rep}`, ['curl-put', 'rss-curl-put'], async (side, srv) => {
    await settle();
    monitors[side].beginWindow();
    let res;
    try {
      res = await curlPutBlob(srv.url, repo('curl', rep), fx.blob[rep]!, opts.transferTimeoutMs);
    } finally {
      sec.sample('rss-curl-put', side, monitors[side].endWindow());
    }
    done.blob[rep]![side] = true;
    sec.sample('curl-put', side, res.mibPerSec, { ...res });
  });

  const curlGet = (rep: number): Promise<void> => onBoth(`curl GET blob #${rep}`, ['curl-get'], async (side, srv) => {
    requireDone('blob', rep, side);
    await settle();
    const res = await curlGetBlob(srv.url, repo('curl', rep), fx.blob[rep]!, opts.transferTimeoutMs);
    sec.sample('curl-get', side, res.mibPerSec, { ...res });
  });

  const push = (kind: 'big' | 'multi', rep: number, key: string, rssKey?: string): Promise<void> =>
    onBoth(`skopeo push ${kind} #${rep}`, rssKey ? [key, rssKey] : [key], async (side, srv) => {
      const img = fx[kind][rep]!;
      await settle();
      if (rssKey) monitors[side].beginWindow();
      let res;
      try {
        res = await skopeoPush(img.dir, img.tag, srv.host, repo(kind, rep), opts.transferTimeoutMs);
      } finally {
        if (rssKey) sec.sample(rssKey, side, monitors[side].endWindow());
      }
      // --preserve-digests keeps the manifest byte-identical; make sure the server stored exactly that.
      await verifyPushed(srv, repo(kind, rep), img);
      done[kind][rep]![side] = true;
      sec.sample(key, side, res.ms / 1000, { mibPerSec: img.totalBytes / MiB / (res.ms / 1000) });
    });

  const pull = (kind: 'big' | 'multi', rep: number, key: string): Promise<void> =>
    onBoth(`skopeo pull ${kind} #${rep}`, [key], async (side, srv) => {
      const img = fx[kind][rep]!;
      requireDone(kind, rep, side);
      await settle();
      const dest = makeTempDir(`pull-${kind}`);
      try {
        const res = await skopeoPull(srv.host, repo(kind, rep), img.tag, dest, opts.transferTimeoutMs);
        verifyPulled(dest, img);
        sec.sample(key, side, res.ms / 1000, { mibPerSec: img.totalBytes / MiB / (res.ms / 1000) });
      } finally {
        removeTempDir(dest);
      }
    });

  try {
    await warmUpServers(servers, fx.warm, opts.runId, opts.transferTimeoutMs);

    for (let rep = 0; rep < reps; rep++) {
      if (rep > 0) steps.shift(); // an even number of steps per repetition: shift so each repetition starts with the other side
      await curlPut(rep);
      await curlGet(rep);
      await push('big', rep, 'skopeo-push-big', 'rss-skopeo-push');
      await pull('big', rep, 'skopeo-pull-big');
      await push('multi', rep, 'skopeo-push-multi');
      for (let round = 0; round < PULL_MULTI_ROUNDS; round++) await pull('multi', rep, 'skopeo-pull-multi');
    }

    // Request-rate tests run against the first multi-layer repository. Extra tags first (untimed setup).
    const multiRepo = repo('multi', 0);
    const tagged = [false, false];
    await onBoth('tag multi', ['tags-list'], async (side, srv) => {
      requireDone('multi', 0, side);
      await addExtraTags(srv, multiRepo, m0, opts.extraTags);
      tagged[side] = true;
    });

    const loads = rateLoads(multiRepo, m0, opts.extraTags);
    for (const l of loads) {
      await onBoth(`load ${l.key}`, [l.key], async (side, srv) => {
        requireDone('multi', 0, side);
        if (l.key === 'tags-list' && !tagged[side]) throw new Error('skipped: tagging failed');
        const res = await runLoad(srv.url, await l.spec(srv), opts.load);
        sec.sample(l.key, side, res.reqPerSec, { ...res });
      });
    }
  } finally {
    for (const [side, m] of monitors.entries()) {
      m.stop();
      sec.sample('rss-overall', side as Side, m.overallMiB());
    }
  }
}
