// The "at the door" section: what a password and TLS cost each server. The same htpasswd file
// (`htpasswd -B`, cost 5 as htpasswd makes it) and the same certificate for both, one side at a time:
//   - authenticated manifest HEAD/GET under load (htpasswd over plain HTTP);
//   - over TLS (no auth): a 1 GiB blob GET with curl, and manifest GET under load;
//   - with htpasswd and TLS both on: start-up time (spawn → first answered https request) and peak RSS.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startWharf } from '../test/helpers/server.js';
import { startDistribution } from '../test/helpers/distribution.js';
import { wharfBin } from '../test/helpers/server.js';
import type { BlobFile, OciImage } from './images.js';
import { MANIFEST_ACCEPT } from './images.js';
import { runLoad, type LoadSettings } from './load.js';
import type { Report, Side } from './report.js';
import { RssMonitor } from './rss.js';
import { assertLoopback, errorMessage, log, makeTempDir, MiB, nowMs, runOk } from './util.js';

export interface AuthTlsOptions {
  load: LoadSettings;
  repeat: number;
  transferTimeoutMs: number;
}

interface Door {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

interface DoorSetup {
  htpasswd?: string;
  tls?: { cert: string; key: string };
}

const USER = 'bench';
const PASSWORD = 'bench-password';
const AUTH = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

async function startDoor(side: Side, setup: DoorSetup): Promise<Door> {
  if (side === 0) {
    const env: Record<string, string> = { WHARF_LOG_LEVEL: process.env.BENCH_WHARF_LOG_LEVEL ?? 'info' };
    if (setup.htpasswd) env.WHARF_AUTH_HTPASSWD_PATH = setup.htpasswd;
    const w = await startWharf({ env, tls: setup.tls, timeoutMs: 30_000 });
    return { url: w.url, pid: w.proc.pid!, stop: async () => { await w.stop(); w.cleanup(); } };
  }
  const extra: string[] = [];
  if (setup.htpasswd) extra.push('auth:', '  htpasswd:', '    realm: bench', `    path: ${setup.htpasswd}`);
  const d = await startDistribution({ extraConfig: extra.join('\n'), tls: setup.tls });
  return { url: d.url, pid: d.proc.pid!, stop: () => d.stop() };
}

/** fetch through the bench's CA: Node's fetch cannot take one per call, so TLS checks are off for loopback only. */
async function call(url: string, init: RequestInit = {}): Promise<Response> {
  assertLoopback(url);
  return fetch(url, init);
}

/** Pushes the small image (config, layers, manifest) by plain API calls, with credentials when given. */
export async function pushSmallImage(base: string, repo: string, img: OciImage, dir: string, auth?: string): Promise<void> {
  const headers: Record<string, string> = auth ? { Authorization: auth } : {};
  for (const d of [img.config, ...img.layers]) {
    const path = join(dir, 'blobs', 'sha256', d.digest.slice(7));
    await putBlobWithCurl(base, repo, { ...d, path }, headers, 120_000);
  }
  const res = await call(`${base}/v2/${repo}/manifests/${img.tag}`, { method: 'PUT', headers: { ...headers, 'Content-Type': img.manifest.mediaType }, body: img.manifestJson });
  if (res.status !== 201) throw new Error(`manifest PUT → ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

/** POST + monolithic PUT with curl (streams the file; TLS trusted with the bench CA through curl's -k on loopback). */
async function putBlobWithCurl(base: string, repo: string, blob: BlobFile, headers: Record<string, string>, timeoutMs: number): Promise<void> {
  const post = await call(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  const location = post.headers.get('location');
  await post.arrayBuffer();
  if (post.status !== 202 || !location) throw new Error(`POST upload → ${post.status}`);
  const u = new URL(location, base);
  u.searchParams.set('digest', blob.digest);
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const r = await runOk('curl', ['-sSk', '-X', 'PUT', '--upload-file', blob.path, '-H', 'Content-Type: application/octet-stream', '-H', 'Expect:', ...h, '-o', '/dev/null', '-w', '%{http_code}', assertLoopback(u).href], { timeoutMs });
  if (r.stdout.trim() !== '201') throw new Error(`PUT blob → ${r.stdout.trim()}`);
}

async function curlGet(url: string, size: number, timeoutMs: number): Promise<number> {
  const r = await runOk('curl', ['-sSk', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', assertLoopback(url).href], { timeoutMs });
  const [status, down, time] = r.stdout.trim().split(' ').map(Number);
  if (status !== 200 || down !== size) throw new Error(`GET ${url} → ${status}, ${down} bytes`);
  return size / MiB / time!;
}

/** Milliseconds from spawning the server to its first answer over https (any status). */
async function timeStartup(side: Side, setup: DoorSetup): Promise<{ ms: number; door: Door }> {
  const t0 = nowMs();
  const door = await startDoor(side, setup);
  for (let i = 0; i < 600; i++) {
    try {
      const res = await call(`${door.url}/v2/`);
      await res.arrayBuffer();
      return { ms: nowMs() - t0, door };
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  await door.stop();
  throw new Error('no answer after start');
}

export async function runAuthTlsSection(report: Report, labels: [string, string], fx: { image: OciImage; blob: BlobFile[] }, opts: AuthTlsOptions): Promise<void> {
  const sec = report.section('At the door: htpasswd and TLS (same htpasswd file, same certificate)', labels);
  const c = opts.load.connections;
  const blobLabel = `${Math.round(fx.blob[0]!.size / MiB)} MiB`;
  sec.define(
    { key: 'auth-manifest-head', label: `htpasswd: manifest HEAD by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'auth-manifest-get', label: `htpasswd: manifest GET by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'tls-blob-get', label: `TLS: curl GET ${blobLabel} blob (median of ${opts.repeat})`, unit: 'MiB/s', better: 'higher' },
    { key: 'tls-manifest-get', label: `TLS: manifest GET by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'startup', label: 'htpasswd+TLS: start-up to first answer (median of 3)', unit: 'ms', better: 'lower', digits: 0 },
    { key: 'rss-door', label: 'htpasswd+TLS: peak RSS under manifest load', unit: 'MiB', better: 'lower', aggregate: 'max' },
  );

  const dir = makeTempDir('door');
  const htpasswd = join(dir, 'htpasswd');
  execFileSync('htpasswd', ['-Bbc', htpasswd, USER, PASSWORD], { stdio: 'ignore' });
  execFileSync(process.execPath, [wharfBin, 'certs', 'generate', '--host', 'localhost', '--ip', '127.0.0.1', '--out', dir], { stdio: 'ignore' });
  const tls = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
  // Loopback only, with a certificate made a moment ago: the load generator and fetch skip verification.
  const verifyBefore = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  try {
    await measure();
  } finally {
    if (verifyBefore === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = verifyBefore;
  }

  async function measure(): Promise<void> {
    const repo = 'bench/door';
    const manifestPath = `/v2/${repo}/manifests/${fx.image.tag}`;

    const withDoor = async (what: string, side: Side, setup: DoorSetup, keys: string[], fn: (d: Door) => Promise<void>): Promise<void> => {
      log(`${what}: ${labels[side]}`);
      let door: Door | undefined;
      try {
        door = await startDoor(side, setup);
        await fn(door);
      } catch (err) {
        log(`${what}: ${labels[side]} FAILED: ${errorMessage(err)}`);
        for (const k of keys) sec.fail(k, side, errorMessage(err));
      } finally {
        await door?.stop();
      }
    };

    for (const side of [0, 1] as Side[]) {
      await withDoor('htpasswd load', side, { htpasswd }, ['auth-manifest-head', 'auth-manifest-get'], async (d) => {
        await pushSmallImage(d.url, repo, fx.image, fx.image.dir, AUTH);
        for (const [key, method] of [['auth-manifest-head', 'HEAD'], ['auth-manifest-get', 'GET']] as const) {
          const res = await runLoad(d.url, { method, path: manifestPath, headers: { Accept: MANIFEST_ACCEPT, Authorization: AUTH }, ...(method === 'GET' ? { expectBody: fx.image.manifestJson } : {}) }, opts.load);
          sec.sample(key, side, res.reqPerSec, { ...res });
        }
      });
    }

    for (const side of [1, 0] as Side[]) {
      await withDoor('TLS transfers', side, { tls }, ['tls-blob-get', 'tls-manifest-get'], async (d) => {
        await pushSmallImage(d.url, repo, fx.image, fx.image.dir);
        for (let rep = 0; rep < opts.repeat; rep++) {
          const blob = fx.blob[rep % fx.blob.length]!;
          await putBlobWithCurl(d.url, repo, blob, {}, opts.transferTimeoutMs);
          await runOk('sync', [], { timeoutMs: 120_000 });
          sec.sample('tls-blob-get', side, await curlGet(`${d.url}/v2/${repo}/blobs/${blob.digest}`, blob.size, opts.transferTimeoutMs));
        }
        const res = await runLoad(d.url, { method: 'GET', path: manifestPath, headers: { Accept: MANIFEST_ACCEPT }, expectBody: fx.image.manifestJson }, opts.load);
        sec.sample('tls-manifest-get', side, res.reqPerSec, { ...res });
      });
    }

    for (const side of [0, 1] as Side[]) {
      log(`start-up and RSS with htpasswd+TLS: ${labels[side]}`);
      try {
        for (let i = 0; i < 3; i++) {
          const { ms, door } = await timeStartup(side, { htpasswd, tls });
          sec.sample('startup', side, ms);
          if (i < 2) { await door.stop(); continue; }
          const rss = new RssMonitor(door.pid);
          rss.start();
          try {
            await pushSmallImage(door.url, repo, fx.image, fx.image.dir, AUTH);
            await runLoad(door.url, { method: 'GET', path: manifestPath, headers: { Accept: MANIFEST_ACCEPT, Authorization: AUTH } }, opts.load);
          } finally {
            rss.stop();
            sec.sample('rss-door', side, rss.overallMiB());
            await door.stop();
          }
        }
      } catch (err) {
        for (const k of ['startup', 'rss-door']) sec.fail(k, side, errorMessage(err));
      }
    }
  }
}
