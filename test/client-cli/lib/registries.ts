// Registries for the client tests: Wharf and Debian's docker-registry over plain HTTP (lazily started through the
// interop RegistryPool), and a docker-registry with htpasswd auth behind a self-signed TLS certificate.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../helpers/distribution.js';
import { RegistryPool, type Registry, type TargetName } from '../../interop/lib/registries.js';

export { RegistryPool, type Registry, type TargetName };

/** Both registry kinds, Distribution (the reference) first. */
export const TARGETS: readonly TargetName[] = ['distribution', 'wharf'];

let repoCounter = 0;
/** A unique repository name for this test process. */
export function repoName(prefix: string): string {
  repoCounter += 1;
  return `cli/${prefix}-${process.pid}-${repoCounter}`;
}

/** docker://ADDR/REPO:TAG or docker://ADDR/REPO@DIGEST */
export function dockerRef(reg: { addr: string }, repo: string, ref: string): string {
  return `docker://${reg.addr}/${repo}${ref.startsWith('sha256:') ? '@' : ':'}${ref}`;
}

/** PUTs manifest bytes under a tag (the blobs must already be in the repository). */
export async function putManifest(reg: { url: string }, repo: string, tag: string, bytes: Buffer, mediaType: string): Promise<void> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: { 'content-type': mediaType }, body: new Uint8Array(bytes) });
  const text = await res.text();
  if (res.status !== 201) throw new Error(`PUT ${repo}:${tag} on ${reg.url}: HTTP ${res.status} ${text}`);
}

export interface SecureRegistry {
  /** 127.0.0.1:PORT (HTTPS only) */
  addr: string;
  /** A directory with the registry's CA certificate as ca.crt (for --cert-dir). */
  certDir: string;
  user: string;
  password: string;
  stop(): Promise<void>;
}

/** docker-registry with htpasswd auth (bcrypt) and a self-signed certificate for IP 127.0.0.1. */
export async function startSecureDistribution(user = 'user', password = 'pass'): Promise<SecureRegistry> {
  const root = mkdtempSync(join(tmpdir(), 'wharf-cli-secure-'));
  const certDir = join(root, 'certs');
  mkdirSync(certDir);
  const key = join(root, 'key.pem');
  const cert = join(root, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore', timeout: 30_000 });
  const caPem = readFileSync(cert);
  writeFileSync(join(certDir, 'ca.crt'), caPem);
  const htpasswd = join(root, 'htpasswd');
  writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', user, password], { encoding: 'utf8', timeout: 30_000 }));
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const config = join(root, 'config.yml');
  writeFileSync(config, [
    'version: 0.1',
    'log:',
    '  level: error',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(root, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${addr}`,
    '  tls:',
    `    certificate: ${cert}`,
    `    key: ${key}`,
    'auth:',
    '  htpasswd:',
    '    realm: wharf-cli-test',
    `    path: ${htpasswd}`,
    '',
  ].join('\n'));
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
    rmSync(root, { recursive: true, force: true });
  };
  const probe = (): Promise<number> => new Promise((resolve, reject) => {
    const req = httpsRequest(`https://${addr}/v2/`, { ca: caPem, timeout: 2000 }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) { await stop(); throw new Error(`docker-registry (TLS) exited early: ${stderr}`); }
    const status = await probe().catch(() => 0);
    if (status === 401) break;
    if (Date.now() > deadline) { await stop(); throw new Error(`docker-registry (TLS) did not start (last status ${status}): ${stderr}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { addr, certDir, user, password, stop };
}
