// Runs the wharf client CLI (and skopeo/podman for reference) as child processes in one private environment:
// HOME, XDG_RUNTIME_DIR, REGISTRY_AUTH_FILE, CONTAINERS_REGISTRIES_CONF (an empty registries.conf: no registry is
// marked insecure, so plain-HTTP registries need --tls-verify=false), storage, policy and the blob-info cache all
// live under one temp directory (ClientEnv) that cleanup() removes. Nothing touches the host's auth or caches.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientEnv, type RunOptions, type RunResult } from '../../interop/lib/containers.js';
import { wharfBin } from '../../helpers/server.js';

export type { RunResult };

/** Every wharf command here normally finishes in well under 5 s. */
export const WHARF_TIMEOUT_MS = 60_000;

export interface WharfRunOptions {
  input?: string | Buffer;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
  timeoutMs?: number;
  /** Extra environment variables (on top of the private ones). */
  env?: Record<string, string>;
}

export class Cli {
  readonly env: ClientEnv;
  /** Processes started by spawnWharf, killed by cleanup() if still running. */
  private readonly spawned = new Set<ChildProcess>();

  constructor() {
    if (!existsSync(wharfBin)) throw new Error(`wharf is not built: ${wharfBin} does not exist (run npm run build)`);
    this.env = new ClientEnv();
  }

  /** The private auth file (REGISTRY_AUTH_FILE). */
  get authFile(): string {
    return this.env.authFile;
  }

  /** `wharf ARGS...`; throws (with stderr) on a non-zero exit unless allowFail. */
  wharf(args: string[], opts: WharfRunOptions = {}): Promise<RunResult> {
    return this.env.run(process.execPath, [wharfBin, ...args], {
      noNamespace: true, input: opts.input, allowFail: opts.allowFail, timeoutMs: opts.timeoutMs ?? WHARF_TIMEOUT_MS, env: opts.env,
    });
  }

  /** `wharf ARGS...` that must fail: asserts a non-zero exit, a message on stderr and nothing on stdout. */
  async wharfFails(args: string[], opts: WharfRunOptions = {}): Promise<RunResult> {
    const r = await this.wharf(args, { ...opts, allowFail: true });
    assert.notEqual(r.code, 0, `wharf ${args.join(' ')} should have failed\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
    assert.ok(r.stderr.trim().length > 0, `wharf ${args.join(' ')} failed without a message on stderr`);
    assert.equal(r.stdout, '', `wharf ${args.join(' ')} failed but printed to stdout: ${r.stdout}`);
    return r;
  }

  /** Starts `wharf ARGS...` without waiting (for interruption tests). */
  spawnWharf(args: string[]): ChildProcess & { exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>; stderrText: () => string } {
    this.env.log.push(`wharf ${args.join(' ')} (spawned)`);
    const child = spawn(process.execPath, [wharfBin, ...args], { env: this.env.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    child.stdout!.resume();
    this.spawned.add(child);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('close', (code, signal) => resolve({ code, signal }));
    });
    return Object.assign(child, { exited, stderrText: () => stderr });
  }

  skopeo(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.env.skopeo(args, opts);
  }

  podman(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.env.podman(args, opts);
  }

  /** A fresh empty directory. */
  tmp(name = 'dir'): string {
    return this.env.tmp(name);
  }

  /** A fresh path that does not exist yet. */
  path(name = 'path'): string {
    return this.env.path(name);
  }

  /** `skopeo manifest-digest` of some bytes. */
  async skopeoManifestDigest(bytes: Buffer): Promise<string> {
    const f = join(this.tmp('md'), 'manifest.json');
    writeFileSync(f, bytes);
    return (await this.skopeo(['manifest-digest', f])).stdout.trim();
  }

  /** The auth file's bytes ('' when it does not exist). */
  authFileBytes(): string {
    return existsSync(this.authFile) ? readFileSync(this.authFile, 'utf8') : '';
  }

  /** The last commands run, for failure messages. */
  history(n = 15): string {
    return this.env.log.slice(-n).join('\n');
  }

  cleanup(): void {
    for (const c of this.spawned) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    this.env.cleanup();
  }
}

/** The digest named in wharf copy's summary line ("Copied sha256:...: N blob(s) copied ..."). */
export interface CopySummary {
  digest: string;
  copied: number;
  skipped: number;
  mounted: number;
}

export function parseCopySummary(stderr: string): CopySummary {
  const m = /Copied (sha256:[0-9a-f]{64}): (\d+) blob\(s\) copied \([^)]*\), (\d+) already present, (\d+) mounted/.exec(stderr);
  assert.ok(m, `no copy summary in wharf's output:\n${stderr}`);
  return { digest: m[1]!, copied: Number(m[2]), skipped: Number(m[3]), mounted: Number(m[4]) };
}

/** The host platform the way the containers tools name it (amd64, arm64...). */
export function hostArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
  return map[process.arch] ?? process.arch;
}

/** Runs `fn`, adding the recent command history to any failure. */
export async function withHistory<T>(cli: Cli, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof Error) {
      const extra = `\n--- commands run (last 15) ---\n${cli.history()}`;
      e.message += extra;
    }
    throw e;
  }
}
