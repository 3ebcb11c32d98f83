// Helpers for black-box tests of auth.mode builtin: a server with a known administrator, Basic and
// Bearer headers, tokens from /token, admin API calls, and every log line kept for secret checks.
import assert from 'node:assert/strict';
import { startWharf, type StartOptions, type WharfServer } from '../../helpers/server.js';
import { req, type Res } from './http.js';

export const ADMIN_PASSWORD = 'admin-password-7Yq3';

export const basic = (user: string, password: string): Record<string, string> =>
  ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
export const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
export const ADMIN = basic('admin', ADMIN_PASSWORD);

export interface BuiltinServer extends WharfServer {
  /** Every stdout line (JSON log records) and stderr line the server printed so far. */
  logs: string[];
}

/** `opts.dataDir`: a data directory to use (several processes may share one). */
export async function startBuiltin(env: Record<string, string> = {}, opts: Pick<StartOptions, 'dataDir'> = {}): Promise<BuiltinServer> {
  const logs: string[] = [];
  const s = await startWharf({
    ...opts,
    env: { WHARF_AUTH_MODE: 'builtin', WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_AUTH_BUILTIN_BCRYPT_COST: '4', ...env },
    onLog: (rec) => { logs.push(JSON.stringify(rec)); },
  });
  s.proc.stderr!.on('data', (b: Buffer) => { logs.push(b.toString()); });
  return Object.assign(s, { logs });
}

/** Calls the admin API; `body` is sent as JSON. */
export async function api(s: WharfServer, auth: Record<string, string>, method: string, path: string, body?: unknown): Promise<Res> {
  return req(s.url, `/api/v1${path}`, {
    method, headers: { ...auth, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The same, asserting the status; returns the parsed JSON body (or null). */
export async function apiOk(s: WharfServer, auth: Record<string, string>, method: string, path: string, body: unknown, status: number): Promise<unknown> {
  const r = await api(s, auth, method, path, body);
  assert.equal(r.status, status, `${method} ${path}: ${r.status} ${r.body.toString().slice(0, 500)}`);
  return r.body.length ? JSON.parse(r.body.toString()) as unknown : null;
}

/** The namespace-policy tests' cast: boss administers acme, editor edits it, outsider has no role there. */
export const BOSS = basic('boss', 'boss-password');
export const EDITOR = basic('editor', 'editor-password');
export const OUTSIDER = basic('outsider', 'outsider-password');

/** Creates the organizations (acme among them) and the cast's users, with boss's and editor's roles on acme. */
export async function seedAcme(s: WharfServer, orgs: readonly string[] = ['acme', 'beta'], users: readonly string[] = ['boss', 'editor']): Promise<void> {
  for (const org of orgs) await apiOk(s, ADMIN, 'POST', '/orgs', { name: org }, 201);
  for (const u of users) await apiOk(s, ADMIN, 'POST', '/users', { name: u, password: `${u}-password` }, 201);
  await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'boss' }, role: 'admin' }, 204);
  await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'editor' }, role: 'editor' }, 204);
}

/** A token from GET /token for these scopes (anonymous without auth); throws on a non-200. */
export async function token(s: WharfServer, auth: Record<string, string> | null, scopes: string[], extra = ''): Promise<{ token: string; access: { type: string; name: string; actions: string[] }[]; body: Record<string, unknown> }> {
  const q = new URLSearchParams({ service: 'wharf' });
  for (const sc of scopes) q.append('scope', sc);
  const r = await req(s.url, `/token?${q}${extra}`, { headers: auth ?? {} });
  assert.equal(r.status, 200, `token: ${r.status} ${r.body.toString()}`);
  const body = JSON.parse(r.body.toString()) as Record<string, unknown>;
  const t = body.token as string;
  const payload = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { access: { type: string; name: string; actions: string[] }[] };
  return { token: t, access: payload.access, body };
}

/** Runs `fn` with every fetch carrying these headers (the shared push helpers know no auth). */
export async function withHeaders<T>(headers: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const orig = globalThis.fetch;
  globalThis.fetch = (input, init) => orig(input, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), ...headers } });
  try {
    return await fn();
  } finally {
    globalThis.fetch = orig;
  }
}
