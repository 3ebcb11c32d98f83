// Starts a real `wharf serve` process on an ephemeral loopback port for black-box and interop tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { stopChild } from './process.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The `wharf` command as installed (bin/wharf.cjs, which runs the bundle `npm run build` makes): tests run what ships. */
export const wharfBin = join(here, '..', '..', '..', 'bin', 'wharf.cjs');

export interface WharfServer {
  /** host:port, e.g. 127.0.0.1:41234 */
  addr: string;
  /** http://host:port */
  url: string;
  dataDir: string;
  proc: ChildProcess;
  /** Graceful stop (SIGTERM), waits for exit. */
  stop(): Promise<void>;
  /** SIGKILL, waits for exit; the data directory is kept. */
  kill(): Promise<void>;
  /** Removes the data directory (call after stop unless keepData). */
  cleanup(): void;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  /** Milliseconds to wait for the listening line. */
  timeoutMs?: number;
}

export async function startWharf(opts: StartOptions = {}): Promise<WharfServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'wharf-test-'));
  const proc = spawn(process.execPath, [wharfBin, 'serve', '--addr', '127.0.0.1:0', '--data', dataDir, ...(opts.args ?? [])], {
    env: { ...process.env, WHARF_LOG_FORMAT: 'json', WHARF_LOG_LEVEL: process.env.WHARF_TEST_LOG_LEVEL ?? 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); if (process.env.WHARF_TEST_VERBOSE) process.stderr.write(b); });
  const addr = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`wharf did not start in time\n${stderr}`)); }, opts.timeoutMs ?? 15000);
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      if (process.env.WHARF_TEST_VERBOSE) process.stderr.write(line + '\n');
      try {
        const rec = JSON.parse(line) as { msg?: string; addr?: string };
        if (rec.msg === 'listening' && rec.addr) { clearTimeout(timer); resolve(rec.addr); }
      } catch { /* not JSON */ }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`wharf exited with ${code} before listening\n${stderr}`)); });
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  proc.stdout!.resume();
  return {
    addr,
    url: `http://${addr}`,
    dataDir,
    proc,
    async stop() {
      await stopChild(proc, exited, 'SIGTERM', 10000);
    },
    async kill() {
      await stopChild(proc, exited, 'SIGKILL', 10000);
    },
    cleanup() { rmSync(dataDir, { recursive: true, force: true }); },
  };
}
