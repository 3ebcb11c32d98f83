// Starts a real `wharf serve` process on an ephemeral loopback port for black-box and interop tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
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
  /** http://host:port, or https://host:port when started with tls */
  url: string;
  scheme: 'http' | 'https';
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
  /** Serve over TLS (HTTP/2 and HTTP/1.1) with these files (set as WHARF_TLS_* variables). */
  tls?: { cert: string; key: string; clientCA?: string; clientAuth?: 'require' | 'verify-if-given'; minVersion?: 'TLSv1.2' | 'TLSv1.3' };
  /** Called with every log line (JSON records) the server prints on stdout. */
  onLog?: (rec: Record<string, unknown>) => void;
}

function tlsEnv(tls: StartOptions['tls']): Record<string, string> {
  if (!tls) return {};
  const env: Record<string, string> = { WHARF_TLS_CERT: tls.cert, WHARF_TLS_KEY: tls.key };
  if (tls.clientCA) env.WHARF_TLS_CLIENT_CA = tls.clientCA;
  if (tls.clientAuth) env.WHARF_TLS_CLIENT_AUTH = tls.clientAuth;
  if (tls.minVersion) env.WHARF_TLS_MIN_VERSION = tls.minVersion;
  return env;
}

export async function startWharf(opts: StartOptions = {}): Promise<WharfServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'wharf-test-'));
  const proc = spawn(process.execPath, [wharfBin, 'serve', '--addr', '127.0.0.1:0', '--data', dataDir, ...(opts.args ?? [])], {
    env: { ...process.env, WHARF_LOG_FORMAT: 'json', WHARF_LOG_LEVEL: process.env.WHARF_TEST_LOG_LEVEL ?? 'info', ...tlsEnv(opts.tls), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  // scripts/run-tests.mjs searches every server line of the suite for secrets afterwards.
  const logDir = process.env.WHARF_TEST_LOG_DIR;
  if (logDir) {
    const file = join(logDir, `wharf-${proc.pid}.log`);
    for (const stream of [proc.stdout!, proc.stderr!]) stream.on('data', (b: Buffer) => { appendFileSync(file, b); });
  }
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); if (process.env.WHARF_TEST_VERBOSE) process.stderr.write(b); });
  const listening = await new Promise<{ addr: string; scheme: 'http' | 'https' }>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`wharf did not start in time\n${stderr}`)); }, opts.timeoutMs ?? 15000);
    const rl = createInterface({ input: proc.stdout! });
    rl.on('line', (line) => {
      if (process.env.WHARF_TEST_VERBOSE) process.stderr.write(line + '\n');
      let rec: { msg?: string; addr?: string; scheme?: string };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch { return; /* not JSON */ }
      opts.onLog?.(rec);
      if (rec.msg === 'listening' && rec.addr) { clearTimeout(timer); resolve({ addr: rec.addr, scheme: rec.scheme === 'https' ? 'https' : 'http' }); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`wharf exited with ${code} before listening\n${stderr}`)); });
  });
  // Keep draining stdout so the child never blocks on a full pipe (the line reader above keeps reading).
  proc.stdout!.resume();
  const { addr, scheme } = listening;
  return {
    addr,
    url: `${scheme}://${addr}`,
    scheme,
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
