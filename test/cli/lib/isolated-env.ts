// A private environment for running `wharf` in CLI tests: its own HOME, XDG dirs, an empty
// registries.conf, and a default auth file nobody else uses, all under one temp directory.
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
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(input);
  });
}
