// HTTP plumbing for the black-box API tests: fetch with a timeout, raw node:http where the test needs
// control over the request line or body framing, and assertions on the spec's JSON error bodies.
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

/** A fully read response. */
export interface Res {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: Buffer;
}

export interface ReqInit {
  method?: string;
  headers?: Record<string, string>;
  /** A Uint8Array or string is sent with Content-Length; a ReadableStream is sent chunked. */
  body?: Uint8Array | string | ReadableStream<Uint8Array>;
}

const TIMEOUT_MS = 30_000;

/** One request with fetch; the body is read whole. `path` is resolved against `base` (absolute URLs kept). */
export async function req(base: string, path: string | URL, init: ReqInit = {}): Promise<Res> {
  const url = typeof path === 'string' ? new URL(path, base) : path;
  const method = init.method ?? 'GET';
  const b = init.body;
  const fetchInit: RequestInit & { duplex?: 'half' } = {
    method,
    headers: init.headers,
    // fetch takes any Uint8Array at run time; TypeScript 5.9's lib types only admit ArrayBuffer-backed views.
    body: b === undefined ? undefined : b instanceof Uint8Array ? (b as unknown as ArrayBuffer) : b,
    signal: AbortSignal.timeout(TIMEOUT_MS),
  };
  if (b instanceof ReadableStream) fetchInit.duplex = 'half';
  const res = await fetch(url, fetchInit);
  const body = Buffer.from(await res.arrayBuffer());
  return { method, url: url.toString(), status: res.status, headers: res.headers, body };
}

/** A ReadableStream over the given chunks: fetch sends it with Transfer-Encoding: chunked (no Content-Length). */
export function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  });
}

function toHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
  return out;
}

export interface RawInit {
  method?: string;
  headers?: Record<string, string | number>;
  body?: Buffer;
}

/**
 * A request with node:http and its own connection: the path goes on the wire exactly as given
 * (fetch would normalise `..`, `%2e` and the like), and headers such as Content-Length are ours.
 */
export function raw(base: string, path: string, init: RawInit = {}): Promise<Res> {
  const u = new URL(base);
  const method = init.method ?? 'GET';
  return new Promise((resolve, reject) => {
    const r = request({ host: u.hostname, port: u.port, method, path, headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ method, url: `${base}${path}`, status: res.statusCode ?? 0, headers: toHeaders(res.headers), body: Buffer.concat(chunks) }));
    });
    r.on('error', reject);
    r.setTimeout(TIMEOUT_MS, () => r.destroy(new Error(`timeout: ${method} ${path}`)));
    r.end(init.body);
  });
}

/**
 * Sends a request that declares `declaredLength` body bytes but sends only `sent`, then drops the
 * connection (a client that died mid-upload). Resolves once the socket is closed.
 */
export function truncatedRequest(base: string, path: string, init: { method: string; headers?: Record<string, string>; declaredLength: number; sent: Buffer }): Promise<void> {
  assert.ok(init.sent.length < init.declaredLength, 'a truncated request sends fewer bytes than it declares');
  const u = new URL(base);
  return new Promise((resolve) => {
    const r = request({
      host: u.hostname, port: u.port, method: init.method, path, agent: false,
      headers: { ...init.headers, 'content-length': String(init.declaredLength) },
    });
    r.on('error', () => undefined);
    r.on('response', (res) => res.resume());
    r.on('close', () => resolve());
    // Give the server time to take in what was sent, then vanish.
    r.write(init.sent, () => setTimeout(() => r.destroy(), 150));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** "GET http://... -> 404 {...}" for assertion messages. */
export function show(res: Res): string {
  const text = res.body.toString('utf8');
  return `${res.method} ${res.url} -> ${res.status} ${text.length > 400 ? `${text.slice(0, 400)}...` : text}`;
}

export function expectStatus(res: Res, status: number, note = ''): void {
  assert.equal(res.status, status, `expected ${status}${note ? ` (${note})` : ''}: ${show(res)}`);
}

export function parseJson<T = unknown>(res: Res): T {
  try {
    return JSON.parse(res.body.toString('utf8')) as T;
  } catch {
    assert.fail(`response body is not JSON: ${show(res)}`);
  }
}

/** The codes of a spec error body, after checking its shape: {"errors":[{"code":"UPPER_CASE","message":...}]}. */
export function errorCodes(res: Res): string[] {
  const ct = res.headers.get('content-type') ?? '';
  assert.match(ct, /json/, `error body should be JSON, got Content-Type ${ct}: ${show(res)}`);
  const doc = parseJson<{ errors?: unknown }>(res);
  assert.ok(Array.isArray(doc.errors) && doc.errors.length > 0, `error body needs a non-empty "errors" array: ${show(res)}`);
  return (doc.errors as unknown[]).map((e) => {
    assert.ok(typeof e === 'object' && e !== null, `error entry must be an object: ${show(res)}`);
    const { code, message } = e as { code?: unknown; message?: unknown };
    assert.ok(typeof code === 'string' && /^[A-Z_]+$/.test(code), `error code must be upper-case letters and underscores: ${show(res)}`);
    if (message !== undefined) assert.equal(typeof message, 'string', `error message must be a string: ${show(res)}`);
    return code;
  });
}

/** Asserts the status and (for non-HEAD requests) that the error body carries one of `codes`. */
export function expectError(res: Res, status: number, ...codes: string[]): void {
  expectStatus(res, status);
  if (res.method === 'HEAD') {
    assert.equal(res.body.length, 0, `a HEAD response has no body: ${show(res)}`);
    return;
  }
  const got = errorCodes(res);
  if (codes.length > 0) assert.ok(codes.some((c) => got.includes(c)), `expected error code ${codes.join(' or ')}, got ${got.join(', ')}: ${show(res)}`);
}

/** Never a 5xx: bad input is the client's fault. */
export function expectNot5xx(res: Res): void {
  assert.ok(res.status < 500, `server error on bad input: ${show(res)}`);
}

/** The target of the rel="next" Link header, or null. */
export function nextLink(res: Res): string | null {
  const link = res.headers.get('link');
  if (link === null) return null;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  assert.ok(m, `malformed Link header: ${link}`);
  return m[1]!;
}

export interface ConnectionProbe {
  /** Status of the first response, or 0 when none came. */
  status: number;
  /** The first response as received (headers and body), for messages. */
  response: string;
  /**
   * What the connection did after the first response: "served" a second request (GET /v2/),
   * was "closed" by the server, or "hung" (neither within the time limit).
   */
  after: 'served' | 'closed' | 'hung';
}

/**
 * Sends one request on a fresh keep-alive connection (body with Content-Length, or chunked), then a
 * GET /v2/ on the same connection. A server may close a connection after a refused request, but if it
 * keeps it open it must go on answering requests on it.
 */
export function probeConnection(base: string, method: string, path: string, headers: Record<string, string>, body: Buffer, framing: 'content-length' | 'chunked', timeoutMs = 3000): Promise<ConnectionProbe> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const sock = connect(Number(u.port), u.hostname);
    let data = '';
    let done = false;
    let secondSent = false;
    const responses = (): number => data.match(/HTTP\/1\.1 \d{3}/g)?.length ?? 0;
    const finish = (after: ConnectionProbe['after']): void => {
      if (done) return;
      done = true;
      clearTimeout(safety);
      sock.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(data);
      const second = data.indexOf('HTTP/1.1 ', 1);
      resolve({ status: status ? Number(status[1]) : 0, response: second > 0 ? data.slice(0, second) : data, after });
    };
    // The first response itself must come in time too.
    const safety = setTimeout(() => finish('hung'), timeoutMs + 15_000);
    sock.on('error', () => undefined);
    sock.on('close', () => finish(responses() >= 2 ? 'served' : 'closed'));
    sock.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      if (responses() >= 2) return finish('served');
      if (responses() === 1 && !secondSent) {
        secondSent = true;
        // Let the first response finish arriving, then ask for something else on the same connection.
        setTimeout(() => {
          if (!sock.destroyed) sock.write(`GET /v2/ HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
          setTimeout(() => finish('hung'), timeoutMs);
        }, 100);
      }
    });
    sock.on('connect', () => {
      const h = { host: u.host, ...headers, ...(framing === 'chunked' ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }) };
      sock.write(`${method} ${path} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
      if (framing === 'content-length') {
        sock.write(body);
        return;
      }
      for (let off = 0; off < body.length && !sock.destroyed; off += 65536) {
        const c = body.subarray(off, off + 65536);
        sock.write(`${c.length.toString(16)}\r\n`);
        sock.write(c);
        sock.write('\r\n');
      }
      if (!sock.destroyed) sock.write('0\r\n\r\n');
    });
  });
}
