// Docker credential helpers (docker-credential-<name>), as used by `credHelpers` / `credsStore` in auth.json and
// ~/.docker/config.json. Protocol (docker/docker-credential-helpers): the action is the single argument;
//   get:   stdin = server URL,                          stdout = {"ServerURL","Username","Secret"}
//   store: stdin = {"ServerURL","Username","Secret"},   stdout ignored
//   erase: stdin = server URL
//   list:  stdin ignored,                               stdout = {"<server URL>": "<username>", ...}
// A helper that has nothing for a server prints "credentials not found in native keychain" and exits non-zero.
// Username "<token>" means Secret is an identity (OAuth2 refresh) token.
import { spawn } from 'node:child_process';
import type { Credentials } from './auth-file.js';
import { WharfError } from '../oci/errors.js';

export const CREDENTIALS_NOT_FOUND_MESSAGE = 'credentials not found in native keychain';
const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 1024 * 1024;

export interface CredentialHelperOptions {
  /** Environment for the helper process; its PATH is used to find docker-credential-<name>. */
  env?: NodeJS.ProcessEnv;
  /** Kill the helper after this long (default 30 s). */
  timeoutMs?: number;
}

export class CredentialHelperError extends WharfError {
  constructor(
    message: string,
    readonly helper: string,
    readonly action: string,
    /** True when the helper reported it has no credentials for the server. */
    readonly notFound = false,
  ) {
    super(message);
    this.name = 'CredentialHelperError';
  }
}

/** Program name for a helper suffix, e.g. "pass" → "docker-credential-pass". */
export function credentialHelperProgram(helper: string): string {
  return `docker-credential-${helper}`;
}

function validateHelperName(helper: string): void {
  // The suffix becomes part of a program name looked up on PATH; refuse anything that could be a path.
  if (helper === '' || /[/\\\0]/.test(helper)) {
    throw new CredentialHelperError(`invalid credential helper name ${JSON.stringify(helper)}`, helper, '');
  }
}

interface HelperResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin. */
function runHelper(helper: string, action: string, input: string, opts: CredentialHelperOptions): Promise<HelperResult> {
  validateHelperName(helper);
  const program = credentialHelperProgram(helper);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = spawn(program, [action], {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let settled = false;
    // Our own timer rather than spawn's `timeout`: a helper's children can keep the pipes open after it is killed.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new CredentialHelperError(`${program} ${action} timed out after ${timeoutMs} ms`, helper, action));
    }, timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(err);
    };
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += s;
    });
    child.stderr.on('data', (s: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += s;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') {
        fail(new CredentialHelperError(`credential helper ${program} not found in PATH`, helper, action));
      } else {
        fail(new CredentialHelperError(`running ${program} ${action}: ${err.message}`, helper, action));
      }
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      if (signal) {
        fail(new CredentialHelperError(`${program} ${action} was killed by ${signal}`, helper, action));
        return;
      }
      clearTimeout(timer);
      settled = true;
      resolve({ code, stdout, stderr });
    });
    // A helper that exits without reading stdin makes the write fail with EPIPE; that's fine.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

function helperFailure(helper: string, action: string, r: HelperResult): CredentialHelperError {
  const out = (r.stdout.trim() || r.stderr.trim()).slice(0, 500);
  const notFound = out.includes(CREDENTIALS_NOT_FOUND_MESSAGE);
  return new CredentialHelperError(
    `${credentialHelperProgram(helper)} ${action} failed (exit ${r.code})${out ? `: ${out}` : ''}`,
    helper,
    action,
    notFound,
  );
}

/**
 * Asks a helper for the credentials of `serverURL` (a host[:port], as containers/image passes it).
 * Returns null when the helper has none.
 */
export async function credentialHelperGet(
  helper: string,
  serverURL: string,
  opts: CredentialHelperOptions = {},
): Promise<Credentials | null> {
  const r = await runHelper(helper, 'get', serverURL, opts);
  if (r.code !== 0) {
    const err = helperFailure(helper, 'get', r);
    if (err.notFound) return null;
    throw err;
  }
  // Some helpers print the not-found message and exit 0.
  if (r.stdout.trim() === CREDENTIALS_NOT_FOUND_MESSAGE) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new CredentialHelperError(`${credentialHelperProgram(helper)} get printed invalid JSON`, helper, 'get');
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new CredentialHelperError(`${credentialHelperProgram(helper)} get printed an unexpected value`, helper, 'get');
  }
  const obj = parsed as Record<string, unknown>;
  const username = typeof obj.Username === 'string' ? obj.Username : '';
  const secret = typeof obj.Secret === 'string' ? obj.Secret : '';
  if (username === '<token>') return secret ? { identityToken: secret } : null;
  if (username === '' && secret === '') return null;
  return { username, password: secret };
}

/** Stores username/secret for `serverURL` in the helper. */
export async function credentialHelperStore(
  helper: string,
  serverURL: string,
  username: string,
  secret: string,
  opts: CredentialHelperOptions = {},
): Promise<void> {
  const input = JSON.stringify({ ServerURL: serverURL, Username: username, Secret: secret });
  const r = await runHelper(helper, 'store', input, opts);
  if (r.code !== 0) throw helperFailure(helper, 'store', r);
}

/** Erases the credentials for `serverURL`; false when the helper had none. */
export async function credentialHelperErase(
  helper: string,
  serverURL: string,
  opts: CredentialHelperOptions = {},
): Promise<boolean> {
  const r = await runHelper(helper, 'erase', serverURL, opts);
  if (r.code !== 0) {
    const err = helperFailure(helper, 'erase', r);
    if (err.notFound) return false;
    throw err;
  }
  return true;
}

/** Lists the helper's entries: server URL → username. */
export async function credentialHelperList(
  helper: string,
  opts: CredentialHelperOptions = {},
): Promise<Record<string, string>> {
  const r = await runHelper(helper, 'list', '', opts);
  if (r.code !== 0) throw helperFailure(helper, 'list', r);
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout.trim() || '{}');
  } catch {
    throw new CredentialHelperError(`${credentialHelperProgram(helper)} list printed invalid JSON`, helper, 'list');
  }
  const out: Record<string, string> = {};
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v === 'string') out[k] = v;
    }
  }
  return out;
}
