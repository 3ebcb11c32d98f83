// Small shared helpers for the benchmark: child processes, timing, temp dirs, loopback checks.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MiB = 1024 * 1024;

/**
 * Pulls of the multi-layer image per repetition, in both sections. That pull lasts about half a second,
 * so one noisy sample on a shared machine moved a median of three by 10%; the row is the median of all
 * these samples. Re-pulling the same repository into a fresh directory changes nothing for either side.
 */
export const PULL_MULTI_ROUNDS = 3;

/** Reads an integer >= min from the environment, falling back to `def`. */
export function envInt(name: string, def: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

/** Monotonic milliseconds. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Every temp dir the bench creates, so they can all be removed at the end (even on error). */
const tempDirs = new Set<string>();

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `wharf-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/**
 * Runs `fn` with a private client home, removed afterwards: HOME, XDG_RUNTIME_DIR (0700), TMPDIR and an
 * empty REGISTRY_AUTH_FILE, in an environment reduced to PATH, so no host credentials, certs.d,
 * registries.conf or NODE_OPTIONS reach the client being timed.
 */
export async function withPrivateClientHome<T>(prefix: string, fn: (home: { dir: string; env: NodeJS.ProcessEnv }) => Promise<T>): Promise<T> {
  const dir = makeTempDir(prefix);
  try {
    const runtime = join(dir, 'run');
    const tmp = join(dir, 'tmp');
    for (const d of [runtime, tmp]) mkdirSync(d);
    chmodSync(runtime, 0o700);
    const authFile = join(dir, 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: {} }));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: dir,
      REGISTRY_AUTH_FILE: authFile,
      XDG_RUNTIME_DIR: runtime,
      TMPDIR: tmp,
    };
    return await fn({ dir, env });
  } finally {
    removeTempDir(dir);
  }
}

export function removeAllTempDirs(): void {
  for (const dir of [...tempDirs]) {
    try { removeTempDir(dir); } catch (err) { log(`could not remove ${dir}: ${String(err)}`); }
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Kill the child (SIGKILL) after this many ms. */
  timeoutMs: number;
  /** Keep only the last this-many characters of stdout/stderr. */
  maxOutput?: number;
}

/** Child processes currently running, so an interrupted bench can kill them (see killAllChildren). */
const children = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of children) child.kill('SIGKILL');
}

/** A child spawned elsewhere (a long-running helper process): killAllChildren kills it too while it runs. */
export function adoptChild(child: ChildProcess): void {
  children.add(child);
  child.once('close', () => children.delete(child));
}

/** Spawns a command (no shell), waits for it, and reports its wall-clock duration. */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const max = opts.maxOutput ?? 64 * 1024;
  return new Promise((resolve, reject) => {
    const start = nowMs();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => { stdout = (stdout + b.toString()).slice(-max); });
    child.stderr.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-max); });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, opts.timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); children.delete(child); reject(err); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const ms = nowMs() - start;
      if (timedOut) stderr += `\n[bench] killed after ${opts.timeoutMs} ms timeout`;
      resolve({ code, signal, stdout, stderr, ms });
    });
  });
}

/** Like run(), but throws (with the command's output) unless it exits 0. */
export async function runOk(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const res = await run(cmd, args, opts);
  if (res.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (code ${res.code}, signal ${res.signal})\n${res.stderr.trim()}\n${res.stdout.trim()}`.trim());
  }
  return res;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Throws unless the URL points at a loopback host — the bench never talks to anything else. */
export function assertLoopback(url: string | URL): URL {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (!LOOPBACK.has(u.hostname)) throw new Error(`refusing non-loopback URL ${u.href}`);
  return u;
}

/** Reads a response body as text, capped so that an error page never floods the report. */
export async function bodySnippet(res: Response, max = 2000): Promise<string> {
  const text = await res.text();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A port nobody listens on now on 127.0.0.1; with `twin`, port + 3489 too (a Ceph mon's v1 address). */
export async function freePort(twin = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 25000);
    if (await canListen(port) && (!twin || await canListen(port + 3489))) return port;
  }
  throw new Error('no free port found');
}
