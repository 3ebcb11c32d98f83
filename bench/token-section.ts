// The "tokens" section: what the built-in token service costs (auth.mode builtin).
//   1. One Wharf, one public repository: manifest HEAD/GET with a bearer token from /token against the
//      same requests made anonymously (the goal: the authenticated rate at least 0.75× the anonymous);
//      and the token issue rate (GET /token with Basic credentials and one repository scope) beside
//      the anonymous token rate.
//   2. Wharf with bearer tokens against Distribution with htpasswd (Basic on every request), the same
//      image, the same load (the goal: at least 10×).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startWharf } from '../test/helpers/server.js';
import { startDistribution } from '../test/helpers/distribution.js';
import type { OciImage } from './images.js';
import { MANIFEST_ACCEPT } from './images.js';
import { runLoad, type LoadSettings } from './load.js';
import { pushSmallImage } from './auth-tls-section.js';
import type { Report } from './report.js';
import { assertLoopback, errorMessage, log, makeTempDir } from './util.js';

export interface TokenSectionOptions {
  load: LoadSettings;
}

const ADMIN_PASSWORD = 'bench-admin-password';
const USER = 'bench';
const PASSWORD = 'bench-password';
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

async function call(url: string, init: RequestInit = {}): Promise<Response> {
  assertLoopback(url);
  return fetch(url, init);
}

async function tokenFor(base: string, auth: string | null, scope: string): Promise<string> {
  const res = await call(`${base}/token?service=wharf&scope=${encodeURIComponent(scope)}`, { headers: auth ? { Authorization: auth } : {} });
  if (res.status !== 200) throw new Error(`GET /token → ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

export async function runTokenSection(report: Report, img: OciImage, opts: TokenSectionOptions): Promise<void> {
  const c = opts.load.connections;
  const self = report.section('Token service: Wharf with bearer tokens against Wharf anonymous (one process, a public repository)', ['Wharf, bearer token', 'Wharf, anonymous']);
  self.define(
    { key: 'head', label: `manifest HEAD by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'get', label: `manifest GET by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'issue', label: `GET /token, one repository scope, ${c} conns (left: Basic credentials)`, unit: 'req/s', better: 'higher', digits: 0 },
  );
  const vs = report.section('Token service: Wharf with bearer tokens against Distribution with htpasswd (same image, same load)', ['Wharf, bearer token', 'Distribution, htpasswd']);
  vs.define(
    { key: 'head', label: `authenticated manifest HEAD by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
    { key: 'get', label: `authenticated manifest GET by tag, ${c} conns`, unit: 'req/s', better: 'higher', digits: 0 },
  );
  const repo = 'bench/tokens';
  const manifestPath = `/v2/${repo}/manifests/${img.tag}`;
  const admin = basic('admin', ADMIN_PASSWORD);

  log('tokens: Wharf (auth.mode builtin)');
  try {
    const w = await startWharf({ env: { WHARF_AUTH_MODE: 'builtin', WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_LOG_LEVEL: process.env.BENCH_WHARF_LOG_LEVEL ?? 'info' }, timeoutMs: 30_000 });
    try {
      // The bench organization is public, so the same manifest can be read anonymously.
      const org = await call(`${w.url}/api/v1/orgs`, { method: 'POST', headers: { Authorization: admin, 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'bench', visibility: 'public' }) });
      if (org.status !== 201) throw new Error(`creating the organization → ${org.status}: ${await org.text()}`);
      await pushSmallImage(w.url, repo, img, img.dir, admin);
      const token = await tokenFor(w.url, admin, `repository:${repo}:pull`);
      for (const [key, method] of [['head', 'HEAD'], ['get', 'GET']] as const) {
        const body = method === 'GET' ? { expectBody: img.manifestJson } : {};
        // Alternating sides, so neither gets the warmer machine.
        const authed = await runLoad(w.url, { method, path: manifestPath, headers: { Accept: MANIFEST_ACCEPT, Authorization: `Bearer ${token}` }, ...body }, opts.load);
        self.sample(key, 0, authed.reqPerSec, { ...authed });
        vs.sample(key, 0, authed.reqPerSec, { ...authed, sameAs: 'the first section' });
        const anon = await runLoad(w.url, { method, path: manifestPath, headers: { Accept: MANIFEST_ACCEPT }, ...body }, opts.load);
        self.sample(key, 1, anon.reqPerSec, { ...anon });
      }
      const scope = encodeURIComponent(`repository:${repo}:pull`);
      const issued = await runLoad(w.url, { method: 'GET', path: `/token?service=wharf&scope=${scope}`, headers: { Authorization: admin } }, opts.load);
      self.sample('issue', 0, issued.reqPerSec, { ...issued });
      const anonIssued = await runLoad(w.url, { method: 'GET', path: `/token?service=wharf&scope=${scope}`, headers: {} }, opts.load);
      self.sample('issue', 1, anonIssued.reqPerSec, { ...anonIssued });
    } finally {
      await w.stop();
      w.cleanup();
    }
  } catch (err) {
    log(`tokens: Wharf FAILED: ${errorMessage(err)}`);
    for (const k of ['head', 'get', 'issue']) { self.fail(k, 0, errorMessage(err)); self.fail(k, 1, errorMessage(err)); }
    for (const k of ['head', 'get']) vs.fail(k, 0, errorMessage(err));
  }

  log('tokens: Distribution (htpasswd)');
  const dir = makeTempDir('tokens');
  const htpasswd = join(dir, 'htpasswd');
  execFileSync('htpasswd', ['-Bbc', htpasswd, USER, PASSWORD], { stdio: 'ignore' });
  try {
    const d = await startDistribution({ extraConfig: ['auth:', '  htpasswd:', '    realm: bench', `    path: ${htpasswd}`].join('\n') });
    try {
      const auth = basic(USER, PASSWORD);
      await pushSmallImage(d.url, repo, img, img.dir, auth);
      for (const [key, method] of [['head', 'HEAD'], ['get', 'GET']] as const) {
        const res = await runLoad(d.url, { method, path: manifestPath, headers: { Accept: MANIFEST_ACCEPT, Authorization: auth }, ...(method === 'GET' ? { expectBody: img.manifestJson } : {}) }, opts.load);
        vs.sample(key, 1, res.reqPerSec, { ...res });
      }
    } finally {
      await d.stop();
    }
  } catch (err) {
    log(`tokens: Distribution FAILED: ${errorMessage(err)}`);
    for (const k of ['head', 'get']) vs.fail(k, 1, errorMessage(err));
  }
}
