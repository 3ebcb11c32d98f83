// Registry credentials in the containers-auth.json(5) format shared with podman, skopeo, buildah and Docker:
//   {"auths": {"127.0.0.1:5000": {"auth": base64("user:pass")}}, "credHelpers": {"quay.io": "pass"}}
// Lookup and file locations follow containers/image (pkg/docker/config), which podman and skopeo use:
// the primary (read/write) file, then read-only fallbacks:
//   primary:   $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/$UID/auth.json
//              (on Linux; elsewhere ~/.config/containers/auth.json)
//   fallbacks: ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json, ${DOCKER_CONFIG:-~/.docker}/config.json,
//              ~/.dockercfg (legacy format: the file is the "auths" map itself)
// An explicit --authfile replaces the whole list.
// Within a file, credHelpers[registry] wins; then the most specific of host/ns/repo, host/ns, host; then keys
// Docker used to write (https://host/v1/, http://host, and https://index.docker.io/v1/ for docker.io);
// then (a Docker convention containers/image ignores) the credsStore helper.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../files/atomic-file.js';
import {
  CredentialHelperError,
  credentialHelperErase,
  credentialHelperGet,
  credentialHelperStore,
  type CredentialHelperOptions,
} from './cred-helpers.js';
import { WharfError } from '../oci/errors.js';

export type Credentials = { username: string; password: string } | { identityToken: string };

export interface AuthFileCandidate {
  path: string;
  /** Only the primary file (or an explicit --authfile) is written to. */
  writable: boolean;
  /** ~/.dockercfg: the top-level object is the map of entries (no "auths" wrapper). */
  legacyFormat?: boolean;
}

export interface AuthFileOptions {
  /** --authfile: use only this file, for reading and writing. */
  authFile?: string;
  /** Environment to resolve paths from and to run credential helpers with (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Timeout for credential helper calls (default 30 s). */
  helperTimeoutMs?: number;
}

/** One entry of "auths". Unknown fields are kept when the file is rewritten. */
export interface AuthEntry {
  auth?: string;
  identitytoken?: string;
  [key: string]: unknown;
}

/** The parsed file. Unknown top-level keys (Docker's "psFormat", "proxies", ...) are kept on rewrite. */
export interface AuthFileContents {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

export class AuthFileError extends WharfError {
  constructor(message: string, readonly path?: string) {
    super(message);
    this.name = 'AuthFileError';
  }
}

const DOCKER_IO_LEGACY_KEY = 'https://index.docker.io/v1/';

function homeOf(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/** The default primary (read/write) file, ignoring REGISTRY_AUTH_FILE. */
function defaultPrimaryPath(env: NodeJS.ProcessEnv): string {
  if (process.platform !== 'linux') return join(homeOf(env), '.config', 'containers', 'auth.json');
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  return `/run/containers/${uid()}/auth.json`;
}

/**
 * The files searched for credentials, in order. The first is the primary (writable) one; the others are read-only
 * fallbacks. (`--authfile` replaces this list: see resolveCredentials.)
 */
export function authFileCandidates(env: NodeJS.ProcessEnv = process.env): AuthFileCandidate[] {
  const home = homeOf(env);
  const out: AuthFileCandidate[] = [];
  const add = (c: AuthFileCandidate) => {
    if (!out.some((o) => o.path === c.path)) out.push(c);
  };
  add({ path: env.REGISTRY_AUTH_FILE || defaultPrimaryPath(env), writable: true });
  const xdgConfigHome = env.XDG_CONFIG_HOME || join(home, '.config');
  add({ path: join(xdgConfigHome, 'containers', 'auth.json'), writable: false });
  add({ path: join(env.DOCKER_CONFIG || join(home, '.docker'), 'config.json'), writable: false });
  add({ path: join(home, '.dockercfg'), writable: false, legacyFormat: true });
  return out;
}

function candidatesFor(opts: AuthFileOptions): AuthFileCandidate[] {
  if (opts.authFile) return [{ path: opts.authFile, writable: true }];
  return authFileCandidates(opts.env ?? process.env);
}

/** The file storeCredentials / removeCredentials edit. */
export function writableAuthFile(opts: AuthFileOptions = {}): string {
  if (opts.authFile) return opts.authFile;
  const env = opts.env ?? process.env;
  const primary = authFileCandidates(env).find((c) => c.writable)!.path;
  if (!env.REGISTRY_AUTH_FILE && process.platform === 'linux' && env.XDG_RUNTIME_DIR && !existsSync(env.XDG_RUNTIME_DIR)) {
    throw new AuthFileError(
      `${JSON.stringify(env.XDG_RUNTIME_DIR)} directory set by $XDG_RUNTIME_DIR does not exist. ` +
        'Either create the directory or unset $XDG_RUNTIME_DIR.',
      primary,
    );
  }
  return primary;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reads an auth file. A missing file reads as empty; an unreadable or malformed one is an error (as in
 * containers/image). A legacy-format file (~/.dockercfg) is returned with its entries under "auths".
 */
export async function readAuthFile(path: string, legacyFormat = false): Promise<AuthFileContents> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new AuthFileError(`reading ${path}: ${(err as Error).message}`, path);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new AuthFileError(`unmarshaling JSON at ${JSON.stringify(path)}: ${(err as Error).message}`, path);
  }
  if (!isRecord(parsed)) throw new AuthFileError(`unmarshaling JSON at ${JSON.stringify(path)}: not an object`, path);
  if (legacyFormat) return { auths: parsed as Record<string, AuthEntry> };
  const out = parsed as AuthFileContents;
  if (out.auths !== undefined && out.auths !== null && !isRecord(out.auths)) {
    throw new AuthFileError(`unmarshaling JSON at ${JSON.stringify(path)}: "auths" is not an object`, path);
  }
  if (out.credHelpers !== undefined && out.credHelpers !== null && !isRecord(out.credHelpers)) {
    throw new AuthFileError(`unmarshaling JSON at ${JSON.stringify(path)}: "credHelpers" is not an object`, path);
  }
  return out;
}

/** Maps Docker Hub's host names to one, as containers/image does when comparing keys. */
function normalizeRegistry(registry: string): string {
  return registry === 'registry-1.docker.io' || registry === 'docker.io' ? 'index.docker.io' : registry;
}

/** A key as Docker may have written it (https://host/v1/, http://host) reduced to a normalized host. */
export function normalizeAuthFileKey(key: string, legacyFormat = false): string {
  let stripped = key.replace(/^http:\/\//, '');
  stripped = stripped.replace(/^https:\/\//, '');
  if (legacyFormat || stripped !== key) stripped = stripped.split('/')[0]!;
  return normalizeRegistry(stripped);
}

/**
 * Turns a login argument into an auth.json key: a URL becomes its host[:port]; host, host/ns and host/ns/repo are
 * kept. Tags and digests are refused.
 */
export function authFileKey(registry: string, repository?: string): string {
  let key = registry;
  if (/^https?:\/\//.test(key)) {
    try {
      key = new URL(key).host;
    } catch {
      throw new AuthFileError(`invalid registry URL ${JSON.stringify(registry)}`);
    }
  }
  key = key.replace(/\/+$/, '');
  if (repository) key = `${key}/${repository.replace(/^\/+|\/+$/g, '')}`;
  if (key === '') throw new AuthFileError('empty registry name');
  if (key.includes('@')) throw new AuthFileError(`key ${key} contains a '@' character`);
  const slash = key.indexOf('/');
  if (slash !== -1 && key.slice(slash + 1).includes(':')) {
    throw new AuthFileError(`key ${key} contains a ':' character after host[:port]`);
  }
  return key;
}

/** host/ns/repo, host/ns, host: most specific first. */
function lookupOrder(key: string): string[] {
  const out: string[] = [];
  let k = key;
  for (;;) {
    out.push(k);
    const i = k.lastIndexOf('/');
    if (i === -1) break;
    k = k.slice(0, i);
  }
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes one entry; null for the empty markers Docker writes when a helper holds the secret. */
function decodeEntry(path: string, key: string, entry: unknown): Credentials | null {
  if (!isRecord(entry)) return null;
  const auth = typeof entry.auth === 'string' ? entry.auth : '';
  const identityToken = typeof entry.identitytoken === 'string' ? entry.identitytoken : '';
  if (auth !== '' && !BASE64.test(auth)) {
    throw new AuthFileError(`invalid base64 in the "auth" field of ${JSON.stringify(key)} in ${path}`, path);
  }
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (identityToken) return { identityToken };
  if (colon === -1) return null;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/^\0+|\0+$/g, '') };
}

/** The server address Docker uses with credsStore: its legacy index URL for Docker Hub, else the host. */
function dockerServerAddress(registry: string): string {
  return normalizeRegistry(registry) === 'index.docker.io' ? DOCKER_IO_LEGACY_KEY : registry;
}

function helperOpts(opts: AuthFileOptions): CredentialHelperOptions {
  return { env: opts.env ?? process.env, timeoutMs: opts.helperTimeoutMs };
}

async function findInFile(
  key: string,
  registry: string,
  candidate: AuthFileCandidate,
  opts: AuthFileOptions,
): Promise<Credentials | null> {
  const contents = await readAuthFile(candidate.path, candidate.legacyFormat);
  const helpers = isRecord(contents.credHelpers) ? contents.credHelpers : {};
  const helper = helpers[registry];
  if (typeof helper === 'string' && helper !== '') return credentialHelperGet(helper, registry, helperOpts(opts));

  const auths = isRecord(contents.auths) ? contents.auths : {};
  const store = typeof contents.credsStore === 'string' && contents.credsStore !== '' ? contents.credsStore : null;
  const fromStore = () => (store ? credentialHelperGet(store, dockerServerAddress(registry), helperOpts(opts)) : null);

  const keys = candidate.legacyFormat ? [registry] : lookupOrder(key);
  for (const k of keys) {
    if (Object.hasOwn(auths, k)) return decodeEntry(candidate.path, k, auths[k]) ?? fromStore();
  }
  const normalized = normalizeRegistry(registry);
  for (const [k, v] of Object.entries(auths)) {
    if (normalizeAuthFileKey(k, candidate.legacyFormat) === normalized) {
      return decodeEntry(candidate.path, k, v) ?? fromStore();
    }
  }
  return fromStore();
}

/**
 * Credentials for `registry` (host[:port], as in the image reference: "docker.io", not registry-1.docker.io) and
 * optionally a repository in it ("library/alpine"), or null when none are configured.
 */
export async function resolveCredentials(
  registry: string,
  repository: string | undefined,
  opts: AuthFileOptions = {},
): Promise<Credentials | null> {
  const key = authFileKey(registry, repository);
  const host = key.split('/')[0]!;
  for (const candidate of candidatesFor(opts)) {
    const found = await findInFile(key, host, candidate, opts);
    if (found) return found;
  }
  return null;
}

// Serialises read-modify-write cycles on one file within this process.
const locks = new Map<string, Promise<unknown>>();

function withFileLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(path) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => {});
  locks.set(path, tail);
  void tail.then(() => {
    if (locks.get(path) === tail) locks.delete(path);
  });
  return run;
}

function sortedRecord<T>(rec: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(rec).sort()) out[k] = rec[k]!;
  return out;
}

/** Serialises like containers/image (tab-indented; "auths" sorted by key, as Go sorts map keys). */
export function serializeAuthFile(contents: AuthFileContents): string {
  const out: AuthFileContents = {};
  if (!Object.hasOwn(contents, 'auths')) out.auths = {};
  for (const [k, v] of Object.entries(contents)) {
    out[k] = k === 'auths' && isRecord(v) ? sortedRecord(v) : v;
  }
  return JSON.stringify(out, null, '\t');
}

/** Writes `data` to `path` atomically, mode 0600 (credentials), creating its directory 0700. */
async function atomicWrite(path: string, data: string): Promise<void> {
  await writeFileAtomic(path, data, { mode: 0o600, mkdirMode: 0o700 });
}

async function readForEdit(path: string): Promise<AuthFileContents> {
  const contents = await readAuthFile(path);
  if (contents.auths === null || contents.auths === undefined) contents.auths = {};
  return contents;
}

/**
 * Saves username/password for `registry` (host[:port], or host/ns[/repo] for namespaced credentials, or a URL)
 * into the explicit auth file or the primary one. When that file names a credential helper for the registry
 * (credHelpers), the helper stores them instead. Returns the file written, or "credential helper: NAME".
 */
export async function storeCredentials(
  registry: string,
  creds: { username: string; password: string },
  opts: AuthFileOptions = {},
): Promise<string> {
  const key = authFileKey(registry);
  const path = writableAuthFile(opts);
  return withFileLock(path, async () => {
    const contents = await readForEdit(path);
    const helpers = isRecord(contents.credHelpers) ? contents.credHelpers : {};
    // A namespaced entry would never be read while a helper is configured for its host (lookups ask the helper
    // first), so refuse it rather than write it silently.
    const helper = helpers[key] ?? helpers[key.split('/')[0]!];
    if (typeof helper === 'string' && helper !== '') {
      if (key.includes('/')) {
        throw new AuthFileError(`namespaced key is not supported for credential helper ${helper}`, path);
      }
      await credentialHelperStore(helper, key, creds.username, creds.password, helperOpts(opts));
      return `credential helper: ${helper}`;
    }
    const auth = Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64');
    contents.auths![key] = { auth };
    await atomicWrite(path, serializeAuthFile(contents));
    return path;
  });
}

/**
 * Removes the credentials stored for `registry` (same key forms as storeCredentials) from the writable file, and
 * from its credential helper if credHelpers names one. Returns false when there were none.
 */
export async function removeCredentials(registry: string, opts: AuthFileOptions = {}): Promise<boolean> {
  const key = authFileKey(registry);
  const path = writableAuthFile(opts);
  return withFileLock(path, async () => {
    if (!existsSync(path)) return false;
    const contents = await readForEdit(path);
    let removed = false;
    const helpers = isRecord(contents.credHelpers) ? contents.credHelpers : {};
    const helper = helpers[key];
    if (typeof helper === 'string' && helper !== '' && !key.includes('/')) {
      removed = await credentialHelperErase(helper, key, helperOpts(opts));
    }
    if (Object.hasOwn(contents.auths!, key)) {
      delete contents.auths![key];
      removed = true;
      await atomicWrite(path, serializeAuthFile(contents));
    }
    return removed;
  });
}

/**
 * Removes every "auths" entry of the writable file, and erases the credentials held by the helpers its credHelpers
 * name (the credHelpers configuration itself, and other top-level keys, are kept).
 */
export async function removeAllCredentials(opts: AuthFileOptions = {}): Promise<void> {
  const path = writableAuthFile(opts);
  await withFileLock(path, async () => {
    if (!existsSync(path)) return;
    const contents = await readForEdit(path);
    const helpers = isRecord(contents.credHelpers) ? contents.credHelpers : {};
    for (const [reg, helper] of Object.entries(helpers)) {
      if (typeof helper !== 'string' || helper === '') continue;
      try {
        await credentialHelperErase(helper, reg, helperOpts(opts));
      } catch (err) {
        if (err instanceof CredentialHelperError) {
          throw new AuthFileError(`removing credentials for ${reg} from credential helper ${helper}: ${err.message}`, path);
        }
        throw err;
      }
    }
    const store = typeof contents.credsStore === 'string' && contents.credsStore !== '' ? contents.credsStore : null;
    if (store) {
      // Docker leaves an empty {} marker in "auths" for each server it saved in credsStore.
      for (const [k, v] of Object.entries(contents.auths!)) {
        if (isRecord(v) && !v.auth && !v.identitytoken) await credentialHelperErase(store, k, helperOpts(opts));
      }
    }
    contents.auths = {};
    await atomicWrite(path, serializeAuthFile(contents));
  });
}
