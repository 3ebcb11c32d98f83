// The "lifecycle" section: what the lifecycle features cost on the write path, and what /metrics costs.
//   1. Manifest PUT rate, Wharf (auth.mode builtin, fs blobs, SQLite) with tag history, a quota on the
//      namespace and a webhook subscription to every event (delivered to a receiver on 127.0.0.1 while the
//      load runs) against the same Wharf with no quota and no webhook. The subscription batches (`batch:
//      100`: up to 100 events per request, what the README recommends for busy registries; with one event
//      per request, delivered on its own thread, the durable row keeps about 0.77x and delivery falls behind). History cannot be switched off (it
//      is the tag store's own record of each move), so both sides write it. Every PUT moves a tag (two
//      manifests over the same blobs, alternating),
//      so each one writes a history entry and, on the "on" side, a webhook event. The goal: "on" costs
//      under 15% (ratio ≥ 0.85). Sides alternate, BENCH_REPEAT rounds, medians.
//   2. GET /metrics with 10,000 repositories (100 namespaces of 100, one manifest and one blob link
//      each, filled through the MetaStore): sequential scrape latency against a warm server.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { join } from 'node:path';
import { systemClock } from '../src/config/clock.js';
import { SqliteMetaStore } from '../src/store/meta/sqlite-meta-store.js';
import type { Report } from './report.js';
import { startServer, type BenchServer } from './servers.js';
import { assertLoopback, errorMessage, log, makeTempDir, nowMs } from './util.js';

export interface LifecycleSectionOptions {
  connections: number;
  durationS: number;
  warmupS: number;
  repeat: number;
  /** Repositories for the /metrics row. */
  metricsRepos: number;
  metricsRequests: number;
  servers: BenchServer[];
}

const ADMIN_PASSWORD = 'bench-admin-password';
const ADMIN = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const REPO = 'bench/lifecycle';
/** Tags each connection cycles through. */
const TAGS_PER_CONNECTION = 20;

const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function call(url: string, init: RequestInit = {}): Promise<Response> {
  assertLoopback(url);
  return fetch(url, init);
}

async function ok(res: Response, what: string, status: number): Promise<Response> {
  if (res.status !== status) throw new Error(`${what} → ${res.status}: ${(await res.text()).slice(0, 500)}`);
  return res;
}

async function putBlob(base: string, auth: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(bytes);
  const post = await ok(await call(`${base}/v2/${REPO}/blobs/uploads/`, { method: 'POST', headers: { Authorization: auth } }), 'POST upload', 202);
  const u = new URL(post.headers.get('location')!, base);
  u.searchParams.set('digest', digest);
  await ok(await call(u.href, { method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/octet-stream' }, body: new Uint8Array(bytes) }), 'PUT blob', 201);
  return { digest, size: bytes.length };
}

/** Two manifests over the same config and layer, told apart by an annotation. */
export async function prepare(base: string): Promise<{ token: string; manifests: Buffer[] }> {
  await ok(await call(`${base}/api/v1/orgs`, { method: 'POST', headers: { Authorization: ADMIN, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) }), 'create org', 201);
  const scope = encodeURIComponent(`repository:${REPO}:pull,push`);
  const t = await ok(await call(`${base}/token?service=wharf&scope=${scope}`, { headers: { Authorization: ADMIN } }), 'GET /token', 200);
  const token = `Bearer ${((await t.json()) as { token: string }).token}`;
  const config = await putBlob(base, token, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
  const layer = await putBlob(base, token, Buffer.from('lifecycle bench layer\n'.repeat(64)));
  const manifests = ['a', 'b'].map((v) => Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    annotations: { 'bench.variant': v },
  })));
  return { token, manifests };
}

/** `connections` loops of sequential PUTs, each moving one of the loop's own tags to the other manifest. */
export async function putRate(base: string, token: string, manifests: Buffer[], connections: number, seconds: number): Promise<{ reqPerSec: number; completed: number; p50Ms: number; p99Ms: number }> {
  const url = assertLoopback(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  const deadline = nowMs() + seconds * 1000;
  const put = (path: string, body: Buffer): Promise<number> => new Promise((resolve, reject) => {
    const r = http.request({ host: url.hostname, port: url.port, path, method: 'PUT', agent, headers: { Authorization: token, 'Content-Type': OCI_MANIFEST, 'Content-Length': body.length } }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    r.once('error', reject);
    r.end(body);
  });
  const t0 = nowMs();
  try {
    await Promise.all(Array.from({ length: connections }, async (_, c) => {
      for (let i = 0; nowMs() < deadline; i++) {
        const tag = `c${c}-t${i % TAGS_PER_CONNECTION}`;
        const body = manifests[Math.floor(i / TAGS_PER_CONNECTION) % 2]!;
        const s = nowMs();
        const status = await put(`/v2/${REPO}/manifests/${tag}`, body);
        if (status !== 201) throw new Error(`manifest PUT ${tag} → ${status}`);
        latencies.push(nowMs() - s);
      }
    }));
  } finally {
    agent.destroy();
  }
  const elapsed = (nowMs() - t0) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const pct = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  return { reqPerSec: latencies.length / elapsed, completed: latencies.length, p50Ms: pct(0.5), p99Ms: pct(0.99) };
}

/** A receiver that answers every request 204 and counts the events (a batch is a JSON array of them) and the requests. */
export async function startReceiver(): Promise<{ url: string; received: () => number; requests: () => number; stop: () => Promise<void> }> {
  let n = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      const body = Buffer.concat(chunks).toString();
      n += body.startsWith('[') ? (JSON.parse(body) as unknown[]).length : 1;
      requests++;
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook`, received: () => n, requests: () => requests, stop: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

/** What the "on" side turns on (BENCH_LIFECYCLE_ON, comma-separated; default both): to find which one costs. */
const turnedOn = new Set((process.env.BENCH_LIFECYCLE_ON ?? 'quota,webhook').split(',').map((x) => x.trim()));

export async function enableLifecycle(base: string, receiverUrl: string): Promise<void> {
  const json = { Authorization: ADMIN, 'Content-Type': 'application/json' };
  if (turnedOn.has('quota')) await ok(await call(`${base}/api/v1/namespaces/bench/quota`, { method: 'PUT', headers: json, body: JSON.stringify({ bytes: 1024 ** 4, tags: 1_000_000 }) }), 'set quota', 200);
  if (turnedOn.has('webhook')) await ok(await call(`${base}/api/v1/namespaces/bench/webhooks`, { method: 'POST', headers: json, body: JSON.stringify({ url: receiverUrl, events: ['push', 'delete', 'pull', 'tag-move'], batch: 100 }) }), 'create webhook', 201);
}

export async function runLifecycleSection(report: Report, opts: LifecycleSectionOptions): Promise<void> {
  const c = opts.connections;
  const sec = report.section('Lifecycle: manifest PUT with history, a quota and a webhook on against them off (builtin auth, fs, SQLite)', ['on', 'off']);
  sec.define(
    { key: 'manifest-put', label: `manifest PUT moving a tag, ${c} conns (durable: fsync)`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'manifest-put-nofsync', label: `manifest PUT moving a tag, ${c} conns (storage.fsync false: CPU-bound)`, unit: 'req/s', better: 'higher', digits: 0 },
  );
  const scrape = report.section(`Lifecycle: GET /metrics with ${opts.metricsRepos} repositories (sequential, warm)`, ['Wharf', '—']);
  scrape.define(
    { key: 'metrics-p50', label: 'scrape, median', unit: 'ms', better: 'lower', digits: 1 },
    { key: 'metrics-p99', label: 'scrape, p99', unit: 'ms', better: 'lower', digits: 1 },
  );

  const receiver = await startReceiver();
  try {
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const [key, fsync] of [['manifest-put', 'true'], ['manifest-put-nofsync', 'false']] as const) {
        // Alternating which side goes first, so neither always gets the warmer machine.
        for (const side of (rep % 2 === 0 ? [0, 1] : [1, 0]) as (0 | 1)[]) {
          const label = `${side === 0 ? 'on' : 'off'}, fsync ${fsync}`;
          log(`lifecycle: manifest PUT, ${label}, round ${rep + 1}`);
          try {
            const env = { WHARF_AUTH_MODE: 'builtin', WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_STORAGE_FSYNC: fsync };
            const srv = await startServer('wharf', `Wharf (lifecycle ${label})`, { wharfEnv: env });
            opts.servers.push(srv);
            try {
              const { token, manifests } = await prepare(srv.url);
              if (side === 0) await enableLifecycle(srv.url, receiver.url);
              const before = receiver.received();
              const requestsBefore = receiver.requests();
              if (opts.warmupS > 0) await putRate(srv.url, token, manifests, c, opts.warmupS);
              const r = await putRate(srv.url, token, manifests, c, opts.durationS);
              sec.sample(key, side, r.reqPerSec, { ...r, webhookDeliveries: receiver.received() - before, webhookRequests: receiver.requests() - requestsBefore });
            } finally {
              await srv.stop();
            }
          } catch (err) {
            log(`lifecycle: ${label} FAILED: ${errorMessage(err)}`);
            sec.fail(key, side, errorMessage(err));
          }
        }
      }
    }
  } finally {
    await receiver.stop();
  }

  try {
    const dataDir = makeTempDir('lifecycle-metrics');
    await fillRepositories(join(dataDir, 'meta.db'), opts.metricsRepos);
    const srv = await startServer('wharf', 'Wharf (lifecycle /metrics)', { wharfDataDir: dataDir });
    opts.servers.push(srv);
    try {
      const ms = await sequentialScrapes(srv.url, opts.metricsRequests);
      scrape.sample('metrics-p50', 0, ms.p50, ms);
      scrape.sample('metrics-p99', 0, ms.p99, ms);
    } finally {
      await srv.stop();
    }
  } catch (err) {
    log(`lifecycle: /metrics FAILED: ${errorMessage(err)}`);
    for (const k of ['metrics-p50', 'metrics-p99']) scrape.fail(k, 0, errorMessage(err));
  }
}

/** `count` repositories in namespaces of 100, each with one manifest and its blob link. */
async function fillRepositories(dbPath: string, count: number): Promise<void> {
  const meta = new SqliteMetaStore({ path: dbPath, durable: true, clock: systemClock });
  try {
    const t0 = nowMs();
    for (let start = 0; start < count; start += 1000) {
      await meta.tx(async (m) => {
        for (let i = start; i < Math.min(count, start + 1000); i++) {
          const id = await m.repositories.ensure(`ns${String(Math.floor(i / 100)).padStart(3, '0')}/repo${i % 100}`);
          const digest = sha256(`lifecycle-${i}`);
          await m.blobs.link(id, digest, 1000 + i);
          await m.manifests.put(id, { digest, mediaType: OCI_MANIFEST, size: 1000 + i, artifactType: null, subject: null, annotations: null }, []);
        }
      });
    }
    log(`lifecycle: ${count} repositories filled in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await meta.close();
  }
}

async function sequentialScrapes(base: string, count: number): Promise<{ p50: number; p99: number; max: number; bytes: number; requests: number }> {
  const url = assertLoopback(`${base}/metrics`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (): Promise<{ ms: number; bytes: number }> => new Promise((resolve, reject) => {
    const t0 = nowMs();
    http.get(url, { agent }, (res) => {
      let bytes = 0;
      res.on('data', (b: Buffer) => { bytes += b.length; });
      res.once('end', () => (res.statusCode === 200 ? resolve({ ms: nowMs() - t0, bytes }) : reject(new Error(`GET /metrics → ${res.statusCode}`))));
    }).once('error', reject);
  });
  try {
    const warm = Math.max(3, Math.floor(count / 10));
    for (let i = 0; i < warm; i++) await get();
    const ms: number[] = [];
    let bytes = 0;
    for (let i = 0; i < count; i++) ({ bytes } = await get().then((r) => { ms.push(r.ms); return r; }));
    ms.sort((a, b) => a - b);
    const pct = (p: number): number => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!;
    return { p50: pct(0.5), p99: pct(0.99), max: ms[ms.length - 1]!, bytes, requests: count };
  } finally {
    agent.destroy();
  }
}
