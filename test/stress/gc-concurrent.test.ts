// Online GC under load: a real `wharf serve` with a short grace period and its gc job on a short
// interval, `wharf gc` run in a loop beside it, and several clients pushing (reusing a shared pool of
// layers, skipping the ones the registry says it has), mounting, retagging, deleting and pulling back
// at once over HTTP. Afterwards every tag pulls completely with skopeo, fsck finds nothing wrong, and
// the store holds no blob that nothing references (everything unreferenced is older than the grace
// period by then). Run over fs, over S3 (a fresh bucket on the test Ceph RGW), and scaled out: two
// servers, each with its own data folder, sharing a fresh PostgreSQL database and a bucket, the clients
// spread over both. Bounded: fixed numbers of clients and operations, a deadline, 127.0.0.1 only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startWharf, wharfBin } from '../helpers/server.js';
import { body, imageManifest, sha256 } from '../helpers/push.js';
import { ClientEnv } from '../interop/lib/containers.js';
import type { GcReport } from '../../src/registry/gc.js';
import { createTestBucket, listKeys, s3ServerEnv, s3TestClient } from '../helpers/s3.js';
import { createTestDatabase } from '../helpers/postgres.js';

const GRACE_MS = 3000;
const GC_BASE_ENV = { WHARF_GC_GRACE_PERIOD: `${GRACE_MS}ms`, WHARF_GC_INTERVAL: '1s' };
const CLIENTS = 4;
const OPS_PER_CLIENT = 40;
const REPOS = ['stress/a', 'stress/b', 'stress/c'];
const DEADLINE_MS = 240_000;
/** Layers the clients share, so that blobs become garbage, are collected, and are pushed again. */
const POOL = Array.from({ length: 12 }, (_, i) => Buffer.alloc(i % 4 === 0 ? 256 * 1024 : 2048 + i, `pool layer ${i} `));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function wharf(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [wharfBin, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** A small deterministic generator, so that a failing run can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

class Client {
  readonly tags = new Map<string, { repo: string; digest: string }>();
  retries = 0;

  constructor(private readonly base: string, readonly id: number, private readonly rnd: () => number) {}

  private async call(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(new URL(path, this.base), { method, ...init });
  }

  /** HEAD first and upload only when absent, as skopeo does (the race a collector must survive). */
  async ensureBlob(repo: string, data: Buffer, mountFrom: string | null): Promise<string> {
    const digest = sha256(data);
    const head = await this.call('HEAD', `/v2/${repo}/blobs/${digest}`);
    if (head.status === 200) return digest;
    const start = await this.call('POST', `/v2/${repo}/blobs/uploads/${mountFrom ? `?mount=${digest}&from=${mountFrom}` : ''}`);
    await start.arrayBuffer();
    if (start.status === 201) return digest;
    if (start.status !== 202) throw new Error(`start upload: ${start.status}`);
    const loc = new URL(start.headers.get('location')!, this.base);
    loc.searchParams.set('digest', digest);
    const put = await fetch(loc, { method: 'PUT', body: body(data), headers: { 'content-type': 'application/octet-stream' } });
    const text = await put.text();
    if (put.status !== 201) throw new Error(`put blob: ${put.status} ${text}`);
    return digest;
  }

  /** Pushes an image of pool layers and one unique layer; a manifest refused for a blob collected meanwhile is pushed again. */
  async push(repo: string, tag: string, layers: Buffer[], mountFrom: string | null): Promise<string> {
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', client: this.id, tag, rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) } }));
    const m = imageManifest({ digest: sha256(cfg), size: cfg.length }, layers.map((l) => ({ digest: sha256(l), size: l.length })));
    for (let attempt = 0; attempt < 5; attempt++) {
      await this.ensureBlob(repo, cfg, null);
      for (const l of layers) await this.ensureBlob(repo, l, mountFrom);
      // As a client busy with other layers would: it widens the window in which a collector may
      // unlink a blob this client found present (the race manifests.put re-checks).
      await sleep(this.rnd() * 400);
      const res = await this.call('PUT', `/v2/${repo}/manifests/${tag}`, { body: body(m), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
      const text = await res.text();
      if (res.status === 201) {
        this.tags.set(`${repo}:${tag}`, { repo, digest: sha256(m) });
        return sha256(m);
      }
      if (res.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN')) { this.retries++; continue; }
      throw new Error(`put manifest ${repo}:${tag}: ${res.status} ${text}`);
    }
    throw new Error(`put manifest ${repo}:${tag}: refused 5 times`);
  }

  /** Pulls the tag back: manifest and every blob, checking each digest. */
  async pull(repo: string, tag: string): Promise<void> {
    const res = await this.call('GET', `/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`pull ${repo}:${tag}: manifest ${res.status}`);
    const m = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
      const b = await this.call('GET', `/v2/${repo}/blobs/${d}`);
      const data = Buffer.from(await b.arrayBuffer());
      if (b.status !== 200) throw new Error(`pull ${repo}:${tag}: blob ${d} ${b.status}`);
      if (`sha256:${createHash('sha256').update(data).digest('hex')}` !== d) throw new Error(`pull ${repo}:${tag}: blob ${d} corrupt`);
    }
  }

  async retag(from: string, repo: string, tag: string): Promise<void> {
    const src = this.tags.get(from)!;
    const res = await this.call('GET', `/v2/${src.repo}/manifests/${src.digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`retag: get ${from}: ${res.status}`);
    if (src.repo !== repo) {
      // Across repositories the blobs come along by mount (or upload), as skopeo copies.
      const m = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
      for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
        const start = await this.call('POST', `/v2/${repo}/blobs/uploads/?mount=${d}&from=${src.repo}`);
        await start.arrayBuffer();
        if (start.status === 201) continue;
        // Not mountable (the source dropped it meanwhile): give up this retag, as a client would retry later.
        if (start.status === 202) { await this.call('DELETE', new URL(start.headers.get('location')!, this.base).pathname); return; }
        throw new Error(`retag: mount ${d}: ${start.status}`);
      }
    }
    const put = await this.call('PUT', `/v2/${repo}/manifests/${tag}`, { body: body(bytes), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    const text = await put.text();
    if (put.status === 400 && text.includes('MANIFEST_BLOB_UNKNOWN')) { this.retries++; return; }
    if (put.status !== 201) throw new Error(`retag ${repo}:${tag}: ${put.status} ${text}`);
    this.tags.set(`${repo}:${tag}`, { repo, digest: src.digest });
  }

  /** Deletes the manifest behind one of its own tags (and every tag on it in that repository). */
  async deleteManifest(key: string): Promise<void> {
    const { repo, digest } = this.tags.get(key)!;
    const res = await this.call('DELETE', `/v2/${repo}/manifests/${digest}`);
    await res.arrayBuffer();
    if (res.status !== 202 && res.status !== 404) throw new Error(`delete ${key}: ${res.status}`);
    for (const [k, v] of [...this.tags]) if (v.repo === repo && v.digest === digest) this.tags.delete(k);
  }
}

async function runClient(c: Client, rnd: () => number, deadline: number): Promise<void> {
  for (let op = 0; op < OPS_PER_CLIENT && Date.now() < deadline; op++) {
    const repo = REPOS[Math.floor(rnd() * REPOS.length)]!;
    const own = [...c.tags.keys()];
    const roll = rnd();
    if (roll < 0.5 || own.length === 0) {
      const tag = `c${c.id}-${op}`;
      const layers = [POOL[Math.floor(rnd() * POOL.length)]!, POOL[Math.floor(rnd() * POOL.length)]!, Buffer.from(`unique layer of client ${c.id} op ${op}`)];
      const from = rnd() < 0.3 ? REPOS[Math.floor(rnd() * REPOS.length)]! : null;
      await c.push(repo, tag, [...new Set(layers)], from === repo ? null : from);
      await c.pull(repo, tag);
    } else if (roll < 0.7) {
      const from = own[Math.floor(rnd() * own.length)]!;
      await c.retag(from, repo, `c${c.id}-re${op}`);
    } else {
      await c.deleteManifest(own[Math.floor(rnd() * own.length)]!);
    }
    // Give the collector time to find garbage older than the grace period while the clients go on.
    if (rnd() < 0.2) await sleep(500);
  }
}

for (const driver of ['fs', 's3', 'postgres+s3'] as const) test(`garbage collection in a loop while clients push, retag, delete and pull: nothing needed is lost, nothing unneeded stays [${driver}]`, { timeout: 600_000 }, async (t) => {
  const reports: GcReport[] = [];
  // Over S3 the server, the gc command and the checks below share one fresh bucket.
  const bucket = driver !== 'fs' ? await createTestBucket() : null;
  const database = driver === 'postgres+s3' ? await createTestDatabase() : null;
  const GC_ENV: Record<string, string> = {
    ...GC_BASE_ENV, ...(bucket ? s3ServerEnv(bucket.name) : {}),
    ...(database ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: database.url } : {}),
  };
  const onLog = (rec: Record<string, unknown>): void => { if (rec.msg === 'garbage collected') reports.push(rec.report as GcReport); };
  const srv = await startWharf({ env: { ...GC_ENV, WHARF_LOG_LEVEL: 'info' }, onLog });
  const servers = [srv];
  if (database) servers.push(await startWharf({ env: { ...GC_ENV, WHARF_LOG_LEVEL: 'info' }, onLog }));
  const env = new ClientEnv(servers.map((x) => x.addr));
  let collecting = true;
  let commandRuns = 0;
  const commandErrors: string[] = [];
  try {
    // `wharf gc` in a loop beside the server's job: the lease lets one of them run at a time.
    const loop = (async () => {
      for (let i = 0; collecting && i < 1000; i++) {
        const r = await wharf(['gc', '--format', 'json', '--data', srv.dataDir], GC_ENV);
        if (r.code === 0) { commandRuns++; reports.push(JSON.parse(r.stdout) as GcReport); } else if (!/another garbage collection is running/.test(r.stderr)) commandErrors.push(r.stderr);
        await sleep(200);
      }
    })();
    const deadline = Date.now() + DEADLINE_MS;
    const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(servers[i % servers.length]!.url, i, random(2000 + i)));
    const results = await Promise.allSettled(clients.map((c) => runClient(c, random(1000 + c.id), deadline)));
    collecting = false;
    await loop;
    const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [`client ${i}: ${String(r.reason)}`] : []));
    const sum = (f: (r: GcReport) => number): number => reports.reduce((n, r) => n + f(r), 0);
    t.diagnostic(`collections: ${reports.length} (${commandRuns} by the command); links removed ${sum((r) => r.linksRemoved)}, blobs deleted ${sum((r) => r.blobsDeleted)}; manifest PUTs refused and pushed again: ${clients.reduce((n, c) => n + c.retries, 0)}`);
    assert.deepEqual(failures, [], 'no client met an error a collector caused');
    assert.deepEqual(commandErrors, [], 'wharf gc never failed');
    assert.ok(commandRuns > 0, 'wharf gc ran while the clients worked');
    assert.ok(reports.reduce((n, r) => n + r.blobsDeleted, 0) > 0, `garbage was collected during the run: ${JSON.stringify(reports.map((r) => r.blobsDeleted))}`);

    // Everything unreferenced is now older than the grace period: one more collection takes it all.
    await sleep(GRACE_MS + 500);
    let final: GcReport | null = null;
    for (let i = 0; i < 50 && final === null; i++) {
      const r = await wharf(['gc', '--format', 'json', '--data', srv.dataDir], GC_ENV);
      if (r.code === 0) final = JSON.parse(r.stdout) as GcReport; else await sleep(300);
    }
    assert.ok(final, 'a final collection ran');

    // Every tag pulls completely with skopeo (from each server in turn).
    const tags = await query<{ name: string; tag: string }>(srv.dataDir, database?.url ?? null,
      'SELECT r.name, t.name AS tag FROM tags t JOIN repositories r ON r.id = t.repo_id ORDER BY r.name, t.name');
    const referenced = new Set((await query<{ digest: string }>(srv.dataDir, database?.url ?? null,
      `SELECT digest FROM manifests UNION SELECT ref FROM manifest_refs WHERE kind IN ('config', 'layer')`)).map((r) => r.digest));
    assert.ok(tags.length >= CLIENTS, `tags left: ${tags.length}`);
    for (const [i, { name, tag }] of tags.entries()) {
      await env.skopeo(['copy', '--src-tls-verify=false', `docker://${servers[i % servers.length]!.addr}/${name}:${tag}`, `dir:${env.tmp('pull')}`]);
    }

    // No blob that nothing references is left (they are all older than the grace period now).
    const stored = await storedDigests(srv.dataDir, bucket?.name ?? null);
    const unreferenced = stored.filter((d) => !referenced.has(d));
    assert.deepEqual(unreferenced, [], 'unreferenced blobs left behind');
    for (const d of referenced) assert.ok(stored.includes(d), `referenced blob ${d} is stored`);
    const fsck = await wharf(['fsck', '--verify-digests', '--data', srv.dataDir], GC_ENV);
    assert.equal(fsck.code, 0, fsck.stdout);
  } finally {
    collecting = false;
    for (const x of servers) {
      await x.stop();
      x.cleanup();
    }
    env.cleanup();
    await bucket?.remove();
    await database?.drop();
  }
});

/** Rows of a query on the server's database: its SQLite file, or the PostgreSQL database at `url`. */
async function query<T>(dataDir: string, url: string | null, sql: string): Promise<T[]> {
  if (url) {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(sql)).rows as T[];
    } finally {
      await c.end();
    }
  }
  const db = new Database(join(dataDir, 'meta.db'), { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

/** The digests the store holds: the fs driver's files under the data directory, or the bucket's blob keys. */
async function storedDigests(dataDir: string, bucket: string | null): Promise<string[]> {
  if (bucket) {
    const client = s3TestClient();
    try {
      return (await listKeys(client, bucket, 'blobs/sha256/')).map((k) => `sha256:${k.split('/').pop()!}`);
    } finally {
      client.destroy();
    }
  }
  const stored: string[] = [];
  const root = join(dataDir, 'blobs', 'sha256');
  for (const p of readdirSync(root)) for (const hex of readdirSync(join(root, p))) stored.push(`sha256:${hex}`);
  return stored;
}
