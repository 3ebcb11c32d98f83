// A private, throw-away environment for the containers tools (skopeo, podman, buildah, umoci).
//
// Every client command runs inside its own mount namespace (`unshare -m`) with an empty per-environment
// directory bind-mounted over /var/lib/containers/cache, so the host's blob-info cache can never turn a
// push into a cross-repository mount or skip an upload. Storage (vfs), registries.conf, containers.conf,
// the auth file, HOME and XDG_RUNTIME_DIR all live under one temp dir that cleanup() removes.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as raw bytes (for byte-exact comparisons such as `skopeo inspect --raw`). */
  stdoutBuf: Buffer;
}

export interface RunOptions {
  input?: string | Buffer;
  /** Do not throw when the command exits non-zero. */
  allowFail?: boolean;
  /** Kill the command (SIGKILL) after this many ms; default 45 s (every command here normally takes < 2 s). */
  timeoutMs?: number;
  cwd?: string;
  env?: Record<string, string>;
  /** Run outside the private mount namespace (plain spawn). */
  noNamespace?: boolean;
  /** A directory bind-mounted over /etc/containers inside the namespace (e.g. a copy with a certs.d); the host's stays untouched. */
  etcContainers?: string;
}

export const DEFAULT_TIMEOUT_MS = 45_000;

/** The client tools the suite drives; a missing one makes tests fail (never skip). */
export const REQUIRED_TOOLS = ['skopeo', 'podman', 'buildah', 'umoci', 'unshare', 'mount'] as const;

/** Throws a descriptive error if any of `tools` is not on PATH. */
export function requireTools(tools: readonly string[] = REQUIRED_TOOLS): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', t], { stdio: 'ignore' }).status !== 0);
  if (missing.length) {
    throw new Error(`interop tools missing from PATH: ${missing.join(', ')} (install them: apt-get install skopeo podman buildah umoci)`);
  }
}

/** Shell snippet run under `unshare -m`: hide the host's blob-info cache, then exec the tool. */
const NS_SCRIPT = 'mkdir -p /var/lib/containers/cache && mount --bind "$1" /var/lib/containers/cache && shift && exec "$@"';
/** The same, and a private /etc/containers (its directory is the second argument). */
const NS_SCRIPT_ETC = 'mkdir -p /var/lib/containers/cache && mount --bind "$1" /var/lib/containers/cache && mount --bind "$2" /etc/containers && shift 2 && exec "$@"';

/** Spawns a command with a hard timeout; resolves with its exit status and output. */
export function spawnBounded(cmd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult & { timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      // The child leads its own process group (detached): take any helpers down with it.
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', (e) => { clearTimeout(timer); reject(e); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const stdoutBuf = Buffer.concat(out);
      resolve({ code: code ?? (signal ? 128 : 1), stdout: stdoutBuf.toString(), stdoutBuf, stderr: Buffer.concat(err).toString(), timedOut });
    });
    child.stdin.on('error', () => { /* child may exit without reading */ });
    child.stdin.end(opts.input ?? '');
  });
}

export class CommandError extends Error {
  constructor(readonly cmdline: string, readonly result: RunResult & { timedOut: boolean }) {
    super(`${result.timedOut ? 'TIMED OUT' : `exit ${result.code}`}: ${cmdline}\n--- stderr ---\n${result.stderr.trim()}\n--- stdout ---\n${result.stdout.slice(0, 4000).trim()}`);
  }
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

export class ClientEnv {
  readonly root: string;
  readonly graphRoot: string;
  readonly runRoot: string;
  readonly cacheDir: string;
  readonly storageConf: string;
  readonly registriesConf: string;
  readonly containersConf: string;
  readonly policyPath: string;
  readonly authFile: string;
  readonly env: NodeJS.ProcessEnv;
  private readonly insecure = new Set<string>();
  private counter = 0;
  /** Every command line run, for debugging failures. */
  readonly log: string[] = [];

  constructor(insecureRegistries: string[] = []) {
    requireTools();
    // Lowercase hex only: podman derives image names from oci: layout paths, and those must be lowercase.
    this.root = join(tmpdir(), `wharf-interop-${randomBytes(6).toString('hex')}`);
    mkdirSync(this.root, { mode: 0o700 });
    const d = (name: string) => { const p = join(this.root, name); mkdirSync(p, { recursive: true }); return p; };
    this.graphRoot = d('storage/graph');
    this.runRoot = d('storage/run');
    this.cacheDir = d('blob-info-cache');
    const xdg = d('xdg-runtime');
    const home = d('home');
    const libpodTmp = d('libpod-tmp');
    this.storageConf = join(this.root, 'storage.conf');
    this.registriesConf = join(this.root, 'registries.conf');
    this.containersConf = join(this.root, 'containers.conf');
    this.policyPath = join(this.root, 'policy.json');
    this.authFile = join(this.root, 'auth.json');
    writeFileSync(this.storageConf, [
      '[storage]',
      'driver = "vfs"',
      `graphroot = "${this.graphRoot}"`,
      `runroot = "${this.runRoot}"`,
      '',
    ].join('\n'));
    writeFileSync(this.containersConf, [
      '[engine]',
      'events_logger = "none"',
      'cgroup_manager = "cgroupfs"',
      `tmp_dir = "${libpodTmp}"`,
      '',
    ].join('\n'));
    writeFileSync(this.policyPath, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    writeFileSync(this.authFile, JSON.stringify({ auths: {} }));
    this.env = {
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C.UTF-8',
      HOME: home,
      XDG_RUNTIME_DIR: xdg,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_DATA_HOME: join(home, '.local', 'share'),
      TMPDIR: d('tmp'),
      CONTAINERS_STORAGE_CONF: this.storageConf,
      CONTAINERS_REGISTRIES_CONF: this.registriesConf,
      CONTAINERS_CONF: this.containersConf,
      REGISTRY_AUTH_FILE: this.authFile,
    };
    for (const r of insecureRegistries) this.insecure.add(r);
    this.writeRegistriesConf();
  }

  /** Marks another registry address (host:port) insecure (plain HTTP) in registries.conf. */
  addRegistry(addr: string): void {
    if (this.insecure.has(addr)) return;
    this.insecure.add(addr);
    this.writeRegistriesConf();
  }

  private writeRegistriesConf(): void {
    const lines = ['unqualified-search-registries = []', ''];
    for (const addr of this.insecure) lines.push('[[registry]]', `location = "${addr}"`, 'insecure = true', '');
    writeFileSync(this.registriesConf, lines.join('\n'));
  }

  /** A fresh, empty directory under the environment root. */
  tmp(name = 'dir'): string {
    const p = join(this.root, 'work', `${name}-${++this.counter}`);
    mkdirSync(p, { recursive: true });
    return p;
  }

  /** A path (not created) under the environment root, for tools that insist on creating it themselves. */
  path(name = 'path'): string {
    mkdirSync(join(this.root, 'work'), { recursive: true });
    return join(this.root, 'work', `${name}-${++this.counter}`);
  }

  /**
   * Runs `cmd args...` in the private environment and mount namespace. Throws a CommandError (with stderr)
   * on a non-zero exit unless allowFail, and always on timeout.
   */
  async run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const env = { ...this.env, ...opts.env };
    const cmdline = [cmd, ...args].map(quote).join(' ');
    this.log.push(cmdline);
    const res = opts.noNamespace
      ? await spawnBounded(cmd, args, { input: opts.input, timeoutMs: opts.timeoutMs, cwd: opts.cwd, env })
      : await spawnBounded('unshare', ['-m', 'sh', '-c', ...(opts.etcContainers ? [NS_SCRIPT_ETC, 'sh', this.cacheDir, opts.etcContainers] : [NS_SCRIPT, 'sh', this.cacheDir]), cmd, ...args], { input: opts.input, timeoutMs: opts.timeoutMs, cwd: opts.cwd, env });
    if (res.code === 127 && /not found/.test(res.stderr)) throw new Error(`tool not installed: ${cmd}\n${res.stderr}`);
    if (res.timedOut || (res.code !== 0 && !opts.allowFail)) throw new CommandError(cmdline, res);
    return res;
  }

  /** skopeo with this environment's policy and registries.conf (skopeo 1.9 ignores CONTAINERS_REGISTRIES_CONF). */
  skopeo(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run('skopeo', ['--policy', this.policyPath, '--registries-conf', this.registriesConf, ...args], opts);
  }

  private storageFlags(): string[] {
    return ['--storage-driver', 'vfs', '--root', this.graphRoot, '--runroot', this.runRoot];
  }

  podman(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run('podman', [...this.storageFlags(), '--events-backend', 'none', '--cgroup-manager', 'cgroupfs', ...args], opts);
  }

  buildah(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run('buildah', [...this.storageFlags(), '--registries-conf', this.registriesConf, ...args], opts);
  }

  umoci(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run('umoci', args, opts);
  }

  cleanup(): void {
    // vfs layers can contain read-only directories; make sure rm can descend.
    spawnSync('chmod', ['-R', 'u+rwX', this.root], { stdio: 'ignore', timeout: 30_000 });
    rmSync(this.root, { recursive: true, force: true });
  }
}
