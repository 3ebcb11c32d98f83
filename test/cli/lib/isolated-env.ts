// A private environment for running `wharf` in CLI tests: its own HOME, XDG dirs, an empty
// registries.conf, and a default auth file nobody else uses, all under one temp directory; and the checks
// every CLI test makes of a run (exit status, what went to stdout and stderr).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wharfBin } from '../../helpers/server.js';

export function isolatedCliEnv(prefix: string): { root: string; env: NodeJS.ProcessEnv } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(root, 'home'));
  mkdirSync(join(root, 'xdg'));
  writeFileSync(join(root, 'registries.conf'), '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: join(root, 'home'), XDG_RUNTIME_DIR: join(root, 'xdg'),
    XDG_CONFIG_HOME: join(root, 'home', '.config'), CONTAINERS_REGISTRIES_CONF: join(root, 'registries.conf'),
    // Never used when --authfile is given; a login missing from it must not be found elsewhere.
    REGISTRY_AUTH_FILE: join(root, 'default.auth.json'),
  };
  return { root, env };
}

export interface WharfRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The arguments it ran with (for messages). */
  args: string[];
}

/** `wharf ARGS...` with this environment; `input` goes to standard input, which is closed either way. */
export function runWharf(env: NodeJS.ProcessEnv, args: string[], input?: string): Promise<WharfRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [wharfBin, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, args }); });
    child.stdin.end(input);
  });
}

/** The run, asserted to have exited 0. */
export function ok(r: WharfRun): WharfRun {
  assert.equal(r.code, 0, `wharf ${r.args.join(' ')} exited ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  return r;
}

/** The run, asserted to have exited `code` with `stderr` in its standard error and nothing on standard output. */
export function fails(r: WharfRun, code: number, stderr: RegExp | string): WharfRun {
  assert.equal(r.code, code, `wharf ${r.args.join(' ')} should exit ${code}, exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  if (typeof stderr === 'string') assert.ok(r.stderr.includes(stderr), `stderr lacks ${JSON.stringify(stderr)}:\n${r.stderr}`);
  else assert.match(r.stderr, stderr);
  assert.equal(r.stdout, '', `a failure printed to stdout: ${r.stdout}`);
  return r;
}

/** The standard output of a run that exited 0, parsed as JSON. */
export const json = <T>(r: WharfRun): T => JSON.parse(ok(r).stdout) as T;
