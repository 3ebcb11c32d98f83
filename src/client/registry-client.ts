// Speaks the Distribution API to any registry: auth challenges (Basic, Bearer tokens cached per scope),
// TLS settings, plain-HTTP fallback for insecure registries, retries with backoff.
import { Readable, Transform } from 'node:stream';
import { HttpPools, type HttpResponse, type ResponseBody } from './http-transport.js';
import { digestOf } from '../oci/digest.js';
import { parseChallenges, type Challenge } from './www-authenticate.js';
import type { Credentials } from './auth-file.js';
import { tlsConnectOptions, type TlsSettings } from './tls-settings.js';
import { WharfError } from '../oci/errors.js';

export type { Credentials };

export interface RegistryClientOptions {
  /** Registry host[:port] as in references (docker.io is reached at registry-1.docker.io). */
  registry: string;
  credentials?: Credentials | null;
  tls?: TlsSettings;
  /** Allow plain HTTP when HTTPS fails (--tls-verify=false, or insecure in registries.conf). */
  insecure?: boolean;
  retryTimes?: number;
  userAgent?: string;
  /** The clock token lifetimes are measured with (tests move it forward). */
  now?: () => number;
}

export class RegistryHttpError extends WharfError {
  constructor(message: string, readonly status: number, readonly code?: string) {
    super(message);
  }
}

export interface ClientResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
}

interface RequestOptions {
  headers?: Record<string, string>;
  /** A buffer (retryable) or a stream (sent once). */
  body?: Buffer | Readable | null;
  /** Token scopes this request needs, e.g. repository:team/app:pull,push */
  scopes?: string[];
  /** Statuses the caller handles itself; anything else >= 400 throws. */
  expect?: number[];
  /** Follow redirects (blob downloads may point at object storage). */
  followRedirects?: boolean;
}

interface CachedToken {
  header: string;
  expiresAt: number;
}

const RETRY_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

export class RegistryClient {
  readonly registry: string;
  private readonly endpoint: string;
  private readonly pools: HttpPools;
  private scheme: 'https' | 'http' | null = null;
  private challenge: Challenge | null = null;
  /** Bearer tokens by scope set; a pending fetch is shared, so parallel requests ask the token service once. */
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(private readonly opts: RegistryClientOptions) {
    this.registry = opts.registry;
    this.endpoint = opts.registry === 'docker.io' ? 'registry-1.docker.io' : opts.registry;
    const tls = tlsConnectOptions(opts.tls ?? { verify: true, ca: [] });
    // Our CAs are added to the system roots, not put in their place (redirects may leave the registry).
    const connect = { ...tls, rejectUnauthorized: tls.rejectUnauthorized && !opts.insecure };
    this.pools = new HttpPools(connect);
  }

  async close(): Promise<void> {
    this.pools.close();
  }

  /**
   * Base URL, probing HTTPS first and falling back to HTTP for insecure registries (as the containers tools
   * do). The probe's challenge is kept: requests then carry credentials from the start, instead of each
   * parallel first request meeting a 401 and fetching its own token.
   */
  async baseUrl(): Promise<string> {
    if (this.scheme) return `${this.scheme}://${this.endpoint}`;
    this.probing ??= this.probe().finally(() => { this.probing = null; });
    await this.probing;
    return `${this.scheme}://${this.endpoint}`;
  }

  private probing: Promise<void> | null = null;

  private async probe(): Promise<void> {
    let scheme: 'https' | 'http' = 'https';
    let res: HttpResponse | null;
    try {
      res = await this.pools.request(`https://${this.endpoint}/v2/`, { method: 'GET', headers: this.baseHeaders() });
    } catch (e) {
      if (!this.opts.insecure) throw explainConnectError(e, this.endpoint);
      scheme = 'http';
      // A failed plain-HTTP probe is not fatal here: the first real request reports the error, with retries.
      res = await this.pools.request(`http://${this.endpoint}/v2/`, { method: 'GET', headers: this.baseHeaders() }).catch(() => null);
    }
    if (res) {
      await res.body.dump();
      if (res.statusCode === 401) this.challenge = pickChallenge(parseChallenges(res.headers['www-authenticate'])) ?? this.challenge;
    }
    this.scheme ??= scheme;
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  private baseHeaders(): Record<string, string> {
    return { 'user-agent': this.opts.userAgent ?? 'wharf/0.1' };
  }

  /** One request with auth and retries. The caller must consume or dump the body. */
  async request(method: string, path: string, o: RequestOptions = {}): Promise<ClientResponse> {
    const base = await this.baseUrl();
    const url = path.startsWith('http://') || path.startsWith('https://') ? path : `${base}${path}`;
    const retryable = !(o.body instanceof Readable);
    const attempts = retryable ? Math.max(1, (this.opts.retryTimes ?? 3) + 1) : 1;
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = { ...this.baseHeaders(), ...o.headers };
      const auth = await this.authorization(o.scopes ?? []);
      if (auth) headers.authorization = auth.header;
      let res: HttpResponse;
      try {
        res = await this.pools.request(url, {
          method,
          headers,
          body: o.body ?? undefined,
          maxRedirections: o.followRedirects ? 5 : 0,
        });
      } catch (e) {
        if (attempt < attempts) { await backoff(attempt); continue; }
        throw explainConnectError(e, this.endpoint);
      }
      if (res.statusCode === 401 && !(o.expect ?? []).includes(401)) {
        const challenges = parseChallenges(res.headers['www-authenticate']);
        await res.body.dump();
        const c = pickChallenge(challenges);
        // One retry with what the challenge asks for; a second refusal is about the credentials. A token
        // the registry refused (expired or revoked early) is dropped, so the retry fetches a fresh one.
        if (c && retryable && !authRetried && (c.scheme === 'bearer' || this.opts.credentials)) {
          this.challenge = c;
          if (auth?.token && this.tokens.get(auth.key) === auth.token) this.tokens.delete(auth.key);
          authRetried = true;
          continue;
        }
        throw new RegistryHttpError(this.opts.credentials
          ? `authentication to ${this.registry} failed: the username or password was rejected (check the credentials, or log in again with \`wharf login ${this.registry}\`)`
          : `${this.registry} requires authentication: log in with \`wharf login ${this.registry}\` or pass --creds USER:PASSWORD`, 401, 'UNAUTHORIZED');
      }
      if (RETRY_STATUSES.has(res.statusCode) && attempt < attempts && !(o.expect ?? []).includes(res.statusCode)) {
        const after = Number(res.headers['retry-after']);
        await res.body.dump();
        await backoff(attempt, Number.isFinite(after) ? after * 1000 : undefined);
        continue;
      }
      if (res.statusCode >= 400 && !(o.expect ?? []).includes(res.statusCode)) {
        throw await errorFrom(res, `${method} ${url}`);
      }
      return { status: res.statusCode, headers: res.headers, body: res.body };
    }
  }

  /**
   * The Authorization header for these scopes, fetching a token when the registry asked for Bearer: one
   * fetch per scope set, shared by concurrent requests, reused until it expires.
   */
  private async authorization(scopes: string[]): Promise<{ header: string; key: string; token?: Promise<CachedToken> } | null> {
    const c = this.challenge;
    if (!c) return null;
    const creds = this.opts.credentials;
    if (c.scheme === 'basic') {
      if (!creds || !('username' in creds)) return null;
      return { header: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`, key: '' };
    }
    const key = [...scopes].sort().join(' ');
    let token = this.tokens.get(key);
    if (token) {
      const t = await token.catch(() => null);
      if (!t || t.expiresAt <= this.now()) {
        if (this.tokens.get(key) === token) this.tokens.delete(key);
        token = undefined;
      }
    }
    if (!token) {
      token = this.tokens.get(key) ?? this.fetchToken(c, scopes);
      this.tokens.set(key, token);
      // A failed fetch is not cached: the next request asks again.
      token.catch(() => { if (this.tokens.get(key) === token) this.tokens.delete(key); });
    }
    return { header: (await token).header, key, token };
  }

  private async fetchToken(c: Challenge, scopes: string[]): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm) throw new RegistryHttpError(`${this.registry} sent a Bearer challenge without a realm`, 401);
    const url = new URL(realm);
    if (c.params.service) url.searchParams.set('service', c.params.service);
    for (const s of scopes.length > 0 ? scopes : c.params.scope ? [c.params.scope] : []) url.searchParams.append('scope', s);
    const creds = this.opts.credentials;
    const headers: Record<string, string> = { ...this.baseHeaders() };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;
    if (creds && 'identityToken' in creds) {
      // OAuth2 refresh-token grant, as Docker's token spec describes for identity tokens.
      method = 'POST';
      headers['content-type'] = 'application/x-www-form-urlencoded';
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'wharf' });
      if (c.params.service) form.set('service', c.params.service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      body = form.toString();
    } else if (creds) {
      headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    const res = await this.pools.request(url, { method, headers, body });
    // OAuth2 answers a refused grant with 400 invalid_grant; the Basic flow with 401/403.
    const refused = res.statusCode === 401 || res.statusCode === 403 || (method === 'POST' && res.statusCode === 400);
    if (refused) {
      await res.body.dump();
      throw new RegistryHttpError(!creds
        ? `${this.registry} requires authentication: log in with \`wharf login ${this.registry}\` or pass --creds USER:PASSWORD`
        : 'identityToken' in creds
          ? `authentication to ${this.registry} failed: the identity token in the auth file was refused (expired or revoked): log in again with \`wharf login ${this.registry}\``
          : `authentication to ${this.registry} failed: invalid username/password`, 401, 'UNAUTHORIZED');
    }
    if (res.statusCode >= 400) throw await errorFrom(res, `token request to ${url.origin}`);
    const json = (await res.body.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = json.token ?? json.access_token;
    if (!token) throw new RegistryHttpError(`token service of ${this.registry} returned no token`, 500);
    // As Docker and containers/image: a lifetime under 60 s (or none) counts as 60 s.
    const ttl = Math.max(60, json.expires_in ?? 60) * 1000;
    return { header: `Bearer ${token}`, expiresAt: this.now() + ttl - 10_000 };
  }

  /** Checks that the registry answers and the credentials (if any) are accepted. */
  async checkLogin(): Promise<void> {
    const res = await this.request('GET', '/v2/', { scopes: [] });
    await res.body.dump();
  }

  async getManifest(repo: string, reference: string, accept: readonly string[]): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${reference}`, {
      headers: { accept: accept.join(', ') }, scopes: [pullScope(repo)],
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const mediaType = headerValue(res.headers['content-type'])?.split(';')[0]?.trim() ?? '';
    const computed = digestOf(bytes, reference.startsWith('sha512:') ? 'sha512' : 'sha256');
    if (reference.includes(':') && computed !== reference) {
      throw new RegistryHttpError(`manifest ${reference} from ${this.registry} does not match its digest (got ${computed})`, 502, 'DIGEST_INVALID');
    }
    return { bytes, mediaType, digest: computed };
  }

  async headManifest(repo: string, reference: string, accept: readonly string[]): Promise<{ digest: string; mediaType: string; size: number } | null> {
    const res = await this.request('HEAD', `/v2/${repo}/manifests/${reference}`, { headers: { accept: accept.join(', ') }, scopes: [pullScope(repo)], expect: [404] });
    await res.body.dump();
    if (res.status === 404) return null;
    return {
      digest: headerValue(res.headers['docker-content-digest']) ?? '',
      mediaType: headerValue(res.headers['content-type'])?.split(';')[0]?.trim() ?? '',
      size: Number(headerValue(res.headers['content-length']) ?? -1),
    };
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'content-type': mediaType }, body: bytes, scopes: [pushScope(repo)] });
    await res.body.dump();
    return headerValue(res.headers['docker-content-digest']) ?? digestOf(bytes);
  }

  async deleteManifest(repo: string, reference: string): Promise<void> {
    const res = await this.request('DELETE', `/v2/${repo}/manifests/${reference}`, { scopes: [`repository:${repo}:delete`] });
    await res.body.dump();
  }

  async headBlob(repo: string, digest: string): Promise<number | null> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes: [pullScope(repo)], expect: [404], followRedirects: true });
    await res.body.dump();
    return res.status === 404 ? null : Number(headerValue(res.headers['content-length']) ?? -1);
  }

  /** A blob's bytes, from `offset` on when given (a Range request; skipped locally if the registry ignores it). */
  async getBlob(repo: string, digest: string, offset = 0): Promise<Readable> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.request('GET', `/v2/${repo}/blobs/${digest}`, { headers, scopes: [pullScope(repo)], followRedirects: true });
    if (offset > 0 && res.status !== 206) return res.body.pipe(skipBytes(offset));
    return res.body;
  }

  /** Cross-repository mount; false when the registry started an upload instead (which is cancelled). */
  async mountBlob(repo: string, digest: string, fromRepo: string): Promise<boolean> {
    const q = new URLSearchParams({ mount: digest, from: fromRepo });
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?${q.toString()}`, {
      scopes: [pushScope(repo), pullScope(fromRepo)], expect: [202],
    });
    await res.body.dump();
    if (res.status === 201) return true;
    const location = headerValue(res.headers.location);
    if (location) {
      const del = await this.request('DELETE', await this.absolute(location), { scopes: [pushScope(repo)], expect: [404, 405] }).catch(() => null);
      await del?.body.dump();
    }
    return false;
  }

  private async startUpload(repo: string): Promise<string> {
    const start = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { scopes: [pushScope(repo)], expect: [201, 202] });
    await start.body.dump();
    const location = headerValue(start.headers.location);
    if (!location) throw new RegistryHttpError(`${this.registry} started an upload without a Location`, 502);
    return this.absolute(location);
  }

  /**
   * Uploads a blob: POST to start, PATCH with the streamed body, PUT ?digest= to commit. When the
   * connection drops mid-PATCH and `resume` can re-read the source, the upload's status says how far
   * the registry got, and the rest is sent from there (a few times at most).
   */
  async uploadBlob(repo: string, digest: string, size: number, body: Readable, resume?: (offset: number) => Promise<Readable>): Promise<void> {
    const scopes = [pushScope(repo)];
    let location = await this.startUpload(repo);
    let stream = body;
    let offset = 0;
    for (let attempt = 0; size !== 0; attempt++) {
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (size >= 0) headers['content-length'] = String(size - offset);
      if (offset > 0) headers['content-range'] = `${offset}-${size - 1}`;
      try {
        const res = await this.request('PATCH', location, { body: stream, headers, scopes });
        await res.body.dump();
        const next = headerValue(res.headers.location);
        if (next) location = await this.absolute(next);
        break;
      } catch (e) {
        // HTTP refusals are final here; only a dropped connection is worth resuming. Except a 416 on a
        // resumed PATCH: the registry was still storing bytes of the dropped request when it reported
        // its offset, so it is further along than we asked: ask again.
        const overtaken = e instanceof RegistryHttpError && e.status === 416 && offset > 0;
        if ((e instanceof RegistryHttpError && !overtaken) || !resume || size < 0 || attempt >= 3) throw e;
        stream.destroy();
        const st = await this.settledUploadStatus(location, scopes);
        if (!st) {
          // Unknown session, or nothing stored: start over cleanly.
          location = await this.startUpload(repo);
          offset = 0;
        } else {
          offset = st.offset;
          if (st.location) location = st.location;
        }
        stream = await resume(offset);
      }
    }
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const res = await this.request('PUT', url.toString(), { headers: { 'content-length': '0' }, scopes });
    await res.body.dump();
  }

  /**
   * Where an interrupted upload stands: the offset to continue from, or null when the session is gone
   * or holds nothing ("0-0" also means one byte; starting over is as cheap). The registry may still be
   * storing bytes of the dropped request, so the status is read until two reads 100 ms apart agree.
   */
  private async settledUploadStatus(location: string, scopes: string[]): Promise<{ offset: number; location?: string } | null> {
    let last: { offset: number; location?: string } | null | undefined;
    for (let read = 0; read < 5; read++) {
      if (read > 0) await new Promise((r) => setTimeout(r, 100));
      const st = await this.request('GET', location, { scopes, expect: [404] });
      await st.body.dump();
      const range = /^0-(\d+)$/.exec(headerValue(st.headers.range) ?? '');
      const next = headerValue(st.headers.location);
      const now = st.status === 404 || !range || range[1] === '0'
        ? null
        : { offset: Number(range[1]) + 1, location: next ? await this.absolute(next) : undefined };
      if (last !== undefined && (now?.offset ?? -1) === (last?.offset ?? -1)) return now;
      last = now;
    }
    return last ?? null;
  }

  /** Every tag, following Link pagination. */
  async listTags(repo: string): Promise<string[]> {
    const tags: string[] = [];
    let path: string | null = `/v2/${repo}/tags/list`;
    for (let page = 0; path && page < 10_000; page++) {
      const res = await this.request('GET', path, { scopes: [pullScope(repo)] });
      const json = (await res.body.json()) as { tags?: string[] | null };
      tags.push(...(json.tags ?? []));
      const link = headerValue(res.headers.link);
      const m = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link) : null;
      path = m ? await this.absolute(m[1]!) : null;
    }
    return tags;
  }

  private async absolute(location: string): Promise<string> {
    return new URL(location, `${await this.baseUrl()}/`).toString();
  }
}

/** Bearer when offered (it carries scopes), else Basic. */
function pickChallenge(challenges: Challenge[]): Challenge | null {
  return challenges.find((x) => x.scheme === 'bearer') ?? challenges.find((x) => x.scheme === 'basic') ?? null;
}

export function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

/** Drops the first `n` bytes of a stream. */
function skipBytes(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (left >= chunk.length) { left -= chunk.length; return cb(); }
      const rest = left > 0 ? chunk.subarray(left) : chunk;
      left = 0;
      cb(null, rest);
    },
  });
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

async function backoff(attempt: number, ms?: number): Promise<void> {
  const wait = Math.min(ms ?? 250 * 2 ** (attempt - 1), 10_000);
  await new Promise((r) => setTimeout(r, wait));
}

async function errorFrom(res: HttpResponse, what: string): Promise<RegistryHttpError> {
  let code: string | undefined;
  let message = `${what}: HTTP ${res.statusCode}`;
  try {
    const text = await res.body.text();
    const json = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const e = json.errors?.[0];
    if (e) {
      code = e.code;
      message = `${what}: ${e.code ?? ''} ${e.message ?? ''}`.trim();
    }
  } catch { /* not a spec error body */ }
  if (res.statusCode === 404 && code === undefined) code = 'NOT_FOUND';
  return new RegistryHttpError(message, res.statusCode, code);
}

function explainConnectError(e: unknown, endpoint: string): Error {
  const code = (e as { code?: string }).code ?? '';
  const msg = (e as Error).message ?? String(e);
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) || /certificate/i.test(msg)) {
    return new Error(`TLS verification of ${endpoint} failed (${code || msg}): pass --cert-dir with its CA, put it under /etc/containers/certs.d/${endpoint}/, or use --tls-verify=false`);
  }
  if (/EPROTO|wrong version number/i.test(code + msg)) {
    return new Error(`${endpoint} does not speak HTTPS: use --tls-verify=false for a plain-HTTP registry`);
  }
  if (code === 'ECONNREFUSED') return new Error(`cannot connect to ${endpoint}: connection refused`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new Error(`cannot resolve ${endpoint}`);
  return new Error(`cannot reach ${endpoint}: ${msg}`);
}
