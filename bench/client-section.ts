// The "registry client" section: `wharf copy` vs `skopeo copy` moving the same images to and from ONE
// Distribution registry (plain HTTP on loopback), one tool at a time.
//
// Fairness:
//  - both tools push the same OCI layout (the server section's fixtures) to a fresh repository each, so no
//    blob is ever skipped as already present, and both pull the same repository into a fresh OCI layout;
//  - both keep every byte as it is: skopeo with --preserve-digests (push) and --dest-oci-accept-uncompressed-layers
//    (pull) — see skopeo.ts —, wharf because it copies byte-for-byte; after each push the registry must hold the
//    source's manifest (same digest and bytes) and every blob, and each pulled layout must be complete;
//  - both run with private, empty client state (skopeo.ts, wharf-client.ts), --retry-times 0, 6 parallel blobs
//    (both tools' default);
//  - both times are wall-clock times of the whole command (process start-up included), with dirty pages flushed
//    before each run; the tool that goes first alternates from step to step and from repetition to repetition
//    (the second pusher of a step uploads content the registry already stores under the other repository:
//    Distribution still receives and hashes every byte, it only skips the final rename).
// Rows: time of each copy, median over BENCH_REPEAT (the multi-layer pull: over PULL_MULTI_ROUNDS pulls
// per repetition, alternating which tool goes first); ratio = skopeo time / wharf time (>1: wharf faster).
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Descriptor, OciImage } from './images.js';
import { MANIFEST_ACCEPT } from './images.js';
import { probe } from './load.js';
import type { Report, SectionWriter, Side } from './report.js';
import { procCpuSeconds } from './rss.js';
import type { Fixtures } from './server-section.js';
import type { BenchServer } from './servers.js';
import { skopeoPull, skopeoPush } from './skopeo.js';
import { errorMessage, log, makeTempDir, MiB, PULL_MULTI_ROUNDS, removeTempDir, runOk, type RunResult } from './util.js';
import { wharfBin, wharfPull, wharfPush } from './wharf-client.js';

export interface ClientSectionOptions {
  runId: string;
  transferTimeoutMs: number;
  /** Pulled blobs up to this size are re-hashed; larger ones (the big layer) are checked by size only. */
  hashLimitBytes?: number;
}

interface Tool {
  label: string;
  push(img: OciImage, host: string, repo: string, timeoutMs: number): Promise<RunResult>;
  pull(host: string, repo: string, tag: string, dest: string, timeoutMs: number): Promise<RunResult>;
}

/** Side 0 is Wharf (ratios >1 mean wharf copy is faster), side 1 skopeo. */
const TOOLS: [Tool, Tool] = [
  {
    label: 'Wharf',
    push: (img, host, repo, t) => wharfPush(img.dir, img.tag, host, repo, t),
    pull: (host, repo, tag, dest, t) => wharfPull(host, repo, tag, dest, t),
  },
  {
    label: 'skopeo',
    push: (img, host, repo, t) => skopeoPush(img.dir, img.tag, host, repo, t),
    pull: (host, repo, tag, dest, t) => skopeoPull(host, repo, tag, dest, t),
  },
];

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / 1024 / MiB).toFixed(1)} GiB` : `${Math.round(bytes / MiB)} MiB`;
}

async function settle(): Promise<void> {
  await runOk('sync', [], { timeoutMs: 120000 });
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 4 * MiB }), h);
  return `sha256:${h.digest('hex')}`;
}

/** The registry must now serve exactly the source manifest under the tag, and every blob it references. */
async function verifyPushed(url: string, repo: string, img: OciImage): Promise<void> {
  const path = `/v2/${repo}/manifests/${img.tag}`;
  const res = await probe(url, { method: 'GET', path, headers: { Accept: MANIFEST_ACCEPT } });
  const body = await res.text();
  const digest = res.headers.get('docker-content-digest');
  if (digest !== img.manifest.digest) throw new Error(`pushed manifest digest ${digest}, expected ${img.manifest.digest}`);
  if (body !== img.manifestJson) throw new Error(`pushed manifest bytes differ from the source's (${body.length} vs ${img.manifestJson.length} bytes)`);
  for (const d of [img.config, ...img.layers]) {
    const head = await probe(url, { method: 'HEAD', path: `/v2/${repo}/blobs/${d.digest}`, headers: {} });
    await head.arrayBuffer();
    const len = Number(head.headers.get('content-length'));
    if (len !== d.size) throw new Error(`pushed blob ${d.digest}: registry reports ${head.headers.get('content-length')} bytes, expected ${d.size}`);
  }
}

/**
 * A pulled OCI layout must be complete: index.json naming the source manifest under the tag, and exactly the
 * manifest, config and layers under blobs/sha256 (no leftovers), each the right size; blobs up to
 * `hashLimit` bytes must also hash to their names.
 */
async function verifyPulled(dir: string, img: OciImage, hashLimit: number): Promise<{ hashed: number; sizeOnly: number }> {
  if (!existsSync(join(dir, 'oci-layout'))) throw new Error('pulled layout has no oci-layout file');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests?: { digest?: string; annotations?: Record<string, string> }[] };
  const entry = (index.manifests ?? []).find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === img.tag);
  if (entry?.digest !== img.manifest.digest) {
    throw new Error(`pulled index.json names ${entry?.digest ?? 'no manifest'} for tag ${img.tag}, expected ${img.manifest.digest}`);
  }
  const expected: Descriptor[] = [img.manifest, img.config, ...img.layers];
  const want = new Set(expected.map((d) => d.digest.slice('sha256:'.length)));
  const blobDir = join(dir, 'blobs', 'sha256');
  const have = readdirSync(blobDir);
  const extra = have.filter((f) => !want.has(f));
  if (extra.length > 0) throw new Error(`pulled layout has unexpected files in blobs/sha256: ${extra.slice(0, 5).join(', ')}`);
  let hashed = 0;
  let sizeOnly = 0;
  for (const d of expected) {
    const p = join(blobDir, d.digest.slice('sha256:'.length));
    if (!existsSync(p)) throw new Error(`pulled layout lacks ${d.digest}`);
    const size = statSync(p).size;
    if (size !== d.size) throw new Error(`pulled ${d.digest} has ${size} bytes, expected ${d.size}`);
    if (d.size <= hashLimit) {
      const got = await sha256File(p);
      if (got !== d.digest) throw new Error(`pulled ${d.digest} hashes to ${got}`);
      hashed++;
    } else {
      sizeOnly++;
    }
  }
  return { hashed, sizeOnly };
}

export async function runClientSection(report: Report, registry: BenchServer, fx: Fixtures, opts: ClientSectionOptions): Promise<void> {
  const server = registry.kind === 'distribution' ? 'Distribution' : 'Wharf';
  const sec: SectionWriter = report.section(`Registry client (wharf copy vs skopeo copy, against one ${server} registry)`, [TOOLS[0].label, TOOLS[1].label]);
  const reps = fx.big.length;
  const big = sizeLabel(fx.big[0]!.totalBytes);
  const m0 = fx.multi[0]!;
  const multi = `${m0.layers.length}×~${Math.round(m0.totalBytes / m0.layers.length / MiB)} MiB`;
  const per = reps > 1 ? `, median of ${reps}` : '';
  const hashLimit = opts.hashLimitBytes ?? 256 * MiB;
  sec.define(
    { key: 'copy-push-big', label: `copy push big (${big}${per})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'copy-pull-big', label: `copy pull big (${big}${per})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'copy-push-multi', label: `copy push multi (${multi}${per})`, unit: 's', better: 'lower', digits: 2 },
    { key: 'copy-pull-multi', label: `copy pull multi (${multi}, median of ${reps * PULL_MULTI_ROUNDS})`, unit: 's', better: 'lower', digits: 2 },
  );
  if (!existsSync(wharfBin)) {
    const msg = `${wharfBin} does not exist — build Wharf first`;
    log(`client section: ${msg}`);
    for (const r of sec.section.rows) sec.fail(r.key, 0, msg);
  }

  // Fresh repository names per run, repetition and tool: nothing is ever skipped as already present.
  const repo = (kind: 'big' | 'multi', rep: number, side: Side): string => `client/${kind}-${opts.runId}-${rep}-${side === 0 ? 'wharf' : 'skopeo'}`;
  /** pushed[kind][rep][side]: that tool's push succeeded and verified. */
  const pushed = { big: fx.big.map(() => [false, false]), multi: fx.multi.map(() => [false, false]) };

  let stepNo = 0;
  const onBoth = async (title: string, key: string, fn: (side: Side, tool: Tool) => Promise<void>): Promise<void> => {
    const order: Side[] = stepNo++ % 2 === 0 ? [0, 1] : [1, 0];
    for (const side of order) {
      const tool = TOOLS[side];
      if (side === 0 && !existsSync(wharfBin)) continue;
      log(`${title}: ${tool.label}`);
      const cpu0 = procCpuSeconds(registry.pid);
      try {
        await fn(side, tool);
        const cpu1 = procCpuSeconds(registry.pid);
        sec.addDetail(key, side, { registryCpuSeconds: cpu0 === undefined || cpu1 === undefined ? null : Number((cpu1 - cpu0).toFixed(2)) });
      } catch (err) {
        const gone = procCpuSeconds(registry.pid) === undefined ? ' [the registry process has exited]' : '';
        const msg = errorMessage(err) + gone;
        log(`${title}: ${tool.label} FAILED: ${msg}`);
        sec.fail(key, side, msg);
      }
    }
  };

  const push = (kind: 'big' | 'multi', rep: number): Promise<void> => onBoth(`copy push ${kind} #${rep}`, `copy-push-${kind}`, async (side, tool) => {
    const img = fx[kind][rep]!;
    const r = repo(kind, rep, side);
    await settle();
    const res = await tool.push(img, registry.host, r, opts.transferTimeoutMs);
    await verifyPushed(registry.url, r, img);
    pushed[kind][rep]![side] = true;
    sec.sample(`copy-push-${kind}`, side, res.ms / 1000, { repository: r, mibPerSec: img.totalBytes / MiB / (res.ms / 1000) });
  });

  const pull = (kind: 'big' | 'multi', rep: number): Promise<void> => onBoth(`copy pull ${kind} #${rep}`, `copy-pull-${kind}`, async (side, tool) => {
    const img = fx[kind][rep]!;
    // Both tools pull the same repository (the pushed content is identical, verified above): wharf's if its push
    // succeeded, else skopeo's.
    const from = pushed[kind][rep]!.findIndex((ok) => ok);
    if (from < 0) throw new Error(`skipped: neither tool's ${kind} push #${rep} succeeded`);
    const r = repo(kind, rep, from as Side);
    const dest = makeTempDir(`client-pull-${kind}`);
    try {
      await settle();
      const res = await tool.pull(registry.host, r, img.tag, dest, opts.transferTimeoutMs);
      const checked = await verifyPulled(dest, img, hashLimit);
      sec.sample(`copy-pull-${kind}`, side, res.ms / 1000, { repository: r, mibPerSec: img.totalBytes / MiB / (res.ms / 1000), blobsHashed: checked.hashed, blobsSizeChecked: checked.sizeOnly });
    } finally {
      removeTempDir(dest);
    }
  });

  // Untimed warm-up of both tools (binaries, node modules and libraries paged in; registry directories created).
  for (const [side, tool] of TOOLS.entries()) {
    if (side === 0 && !existsSync(wharfBin)) continue;
    const warm = fx.warm.image;
    const r = `client/warmup-${opts.runId}-${side === 0 ? 'wharf' : 'skopeo'}`;
    const dest = makeTempDir('client-pull-warmup');
    try {
      await tool.push(warm, registry.host, r, opts.transferTimeoutMs);
      await verifyPushed(registry.url, r, warm);
      await tool.pull(registry.host, r, warm.tag, dest, opts.transferTimeoutMs);
      await verifyPulled(dest, warm, hashLimit);
      log(`client warm-up: ${tool.label} ok`);
    } catch (err) {
      log(`client warm-up: ${tool.label} FAILED (the measured steps will report it): ${errorMessage(err)}`);
    } finally {
      removeTempDir(dest);
    }
  }

  for (let rep = 0; rep < reps; rep++) {
    if (rep > 0) stepNo++; // an even number of steps per repetition: shift so each repetition starts with the other tool
    await push('big', rep);
    await pull('big', rep);
    await push('multi', rep);
    for (let round = 0; round < PULL_MULTI_ROUNDS; round++) await pull('multi', rep);
  }
}
