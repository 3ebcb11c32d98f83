// Starts Debian's `docker-registry` (CNCF Distribution) on a free loopback port, to compare behaviour with Wharf.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from './process.js';

export interface DistributionServer {
  addr: string;
  url: string;
  dataDir: string;
  /** The config file written for it (what `docker-registry garbage-collect` takes). */
  configPath: string;
  proc: ChildProcess;
  /** Stops the server and removes its data directory, unless `keepData` (to collect garbage offline, then start again). */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface DistributionOptions {
  /** Extra YAML appended under the top level (e.g. an auth: section). */
  extraConfig?: string;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { cert: string; key: string };
  /**
   * Lines replacing the filesystem storage driver under `storage:`, each indented by two spaces
   * (e.g. `['  s3:', '    bucket: b', ...]`). Default: the filesystem driver in the data directory.
   */
  storage?: string[];
  /** The environment of the registry process (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Serve from this existing data directory (one a stopped server kept) instead of a fresh one. */
  dataDir?: string;
}

/** Any answer from the server at `url` (readiness), without trusting or checking its certificate. */
function answers(url: string): Promise<number | null> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const r = get(url, { rejectUnauthorized: false, timeout: 1000 }, (res) => { res.resume(); resolve(res.statusCode ?? null); });
    r.on('error', () => resolve(null));
    r.on('timeout', () => { r.destroy(); resolve(null); });
  });
}

export async function startDistribution(opts: DistributionOptions = {}): Promise<DistributionServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'distribution-test-'));
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const configPath = join(dataDir, 'config.yml');
  const scheme = opts.tls ? 'https' : 'http';
  writeFileSync(configPath, [
    'version: 0.1',
    'log:',
    '  level: error',
    'storage:',
    ...(opts.storage ?? ['  filesystem:', `    rootdirectory: ${join(dataDir, 'storage')}`]),
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: ${addr}`,
    ...(opts.tls ? ['  tls:', `    certificate: ${opts.tls.cert}`, `    key: ${opts.tls.key}`] : []),
    opts.extraConfig ?? '',
  ].join('\n'));
  const proc = spawn('docker-registry', ['serve', configPath], { env: opts.env ?? process.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited early: ${stderr}`);
    const status = await answers(`${scheme}://${addr}/v2/`);
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`docker-registry did not start: ${stderr}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    addr,
    url: `${scheme}://${addr}`,
    dataDir,
    configPath,
    proc,
    async stop(o = {}) {
      await stopChild(proc, exited, 'SIGTERM', 5000);
      if (!o.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
