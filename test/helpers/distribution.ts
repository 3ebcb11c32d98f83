// Starts Debian's `docker-registry` (CNCF Distribution) on a free loopback port, to compare behaviour with Wharf.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from './process.js';

export interface DistributionServer {
  addr: string;
  url: string;
  dataDir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
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
}

export async function startDistribution(opts: DistributionOptions = {}): Promise<DistributionServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'distribution-test-'));
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const configPath = join(dataDir, 'config.yml');
  writeFileSync(configPath, [
    'version: 0.1',
    'log:',
    '  level: error',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dataDir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: ${addr}`,
    opts.extraConfig ?? '',
  ].join('\n'));
  const proc = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 15000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited early: ${stderr}`);
    try {
      const res = await fetch(`http://${addr}/v2/`);
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) { proc.kill('SIGKILL'); throw new Error(`docker-registry did not start: ${stderr}`); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    addr,
    url: `http://${addr}`,
    dataDir,
    proc,
    async stop() {
      await stopChild(proc, exited, 'SIGTERM', 5000);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
