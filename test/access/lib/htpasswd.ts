// Helpers for the htpasswd tests: files made by the real `htpasswd` (apache2-utils), a fake clock, a
// logger that keeps what it is told, and a bcrypt verifier that counts its calls.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import type { AccessLogger, PasswordVerifier } from '../../../src/access/htpasswd.js';

/** Runs the real htpasswd with `args`, in batch mode (-b): the password is the last argument. */
export function htpasswd(...args: string[]): void {
  execFileSync('htpasswd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `user:hash` as `htpasswd -nb<flag>` prints it. */
export function htpasswdLine(flag: string, user: string, password: string): string {
  return execFileSync('htpasswd', [`-nb${flag}`, user, password], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
}

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-htpasswd-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export class FakeClock {
  constructor(public t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface LogLine {
  level: 'warn' | 'info';
  obj: Record<string, unknown>;
  msg: string;
}

export function captureLogger(): AccessLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
  };
}

/** bcrypt.compare, counted. */
export function countingVerifier(): PasswordVerifier & { calls: number } {
  const v = Object.assign((password: string, hash: string) => {
    v.calls++;
    return bcrypt.compare(password, hash);
  }, { calls: 0 });
  return v;
}

/** Polls `cond` every 25 ms, at most `ms` in all. */
export async function waitFor(cond: () => boolean, ms = 5000): Promise<boolean> {
  for (let waited = 0; waited < ms; waited += 25) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return cond();
}
