// A small HTTP/1.1 reverse proxy for tests that put several `wharf serve` processes behind one address
// (test/helpers/fleet.ts): every request (not every connection: a keep-alive client still alternates)
// goes to the next upstream in turn.
//
// - Bodies stream both ways through pipeline(), so backpressure holds: a blob of any size passes
//   without being buffered.
// - Headers go on exactly as received (rawHeaders: Host as the client sent it, Authorization, Range,
//   Location, Docker-Upload-UUID, repeated headers), minus the hop-by-hop ones.
// - Each request gets its own upstream connection, opened before a byte of the request is sent. An
//   upstream that refuses it (a killed process; or resets or times out the connection) is skipped: the
//   request goes to the next one, whatever its body, since nothing of it was sent. A request WITH a body that fails after its connection was
//   made is answered 502 (its body is partly consumed and it may have had an effect); a bodiless one
//   that fails before its response began is tried on the next upstream.
// - Requests are counted per upstream (those an upstream answered), so a test can assert that every
//   process served some.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { pipeline } from 'node:stream';

export interface ProxiedRequest {
  method: string;
  url: string;
  /** Index of the upstream that answered, or -1 when the proxy answered 502 itself. */
  upstream: number;
  status: number;
  /** Upstreams the request failed on before (a refused connection, or a bodiless request they dropped). */
  failedOn: number[];
}

export interface RoundRobinProxy {
  /** 127.0.0.1:PORT */
  addr: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The upstreams (host:port) in turn order; replace one with setUpstream. */
  readonly upstreams: readonly string[];
  /** Requests each upstream answered (by index). */
  readonly counts: readonly number[];
  /** Every request proxied, in the order their responses began (bounded to the last 100,000). */
  readonly log: readonly ProxiedRequest[];
  /** Points slot `i` at another host:port (a restarted process listens on a new port). */
  setUpstream(i: number, hostPort: string): void;
  /** Zeroes the counters and empties the log. */
  resetCounts(): void;
  /** Stops listening and destroys every client and upstream connection. */
  close(): Promise<void>;
}

export interface ProxyOptions {
  /** Milliseconds to wait for an upstream connection before trying the next; default 5000. */
  connectTimeoutMs?: number;
}

// RFC 9110 7.6.1: connection-specific headers are not forwarded. Transfer-Encoding and Content-Length
// are kept: Node frames the forwarded message the same way from them. Expect is answered by this
// server (Node sends 100 Continue itself), so it is not passed on.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'upgrade', 'expect']);

function forwardable(rawHeaders: string[]): string[] {
  const named = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'connection') continue;
    for (const n of rawHeaders[i + 1]!.split(',')) named.add(n.trim().toLowerCase());
  }
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name)) continue;
    out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  return out;
}

/** Methods Node does not send chunked by default when no framing header is given. */
const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

function splitHostPort(hp: string): { host: string; port: number } {
  const i = hp.lastIndexOf(':');
  return { host: hp.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(hp.slice(i + 1)) };
}

export async function startRoundRobinProxy(upstreamList: string[], opts: ProxyOptions = {}): Promise<RoundRobinProxy> {
  if (upstreamList.length === 0) throw new Error('a proxy needs at least one upstream');
  const upstreams = [...upstreamList];
  const counts = upstreams.map(() => 0);
  const log: ProxiedRequest[] = [];
  const clientSockets = new Set<Socket>();
  const upstreamSockets = new Set<Socket>();
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
  let next = 0;
  let closed = false;

  const record = (r: ProxiedRequest): void => {
    if (r.upstream >= 0) counts[r.upstream]!++;
    log.push(r);
    if (log.length > 100_000) log.splice(0, log.length - 100_000);
  };

  /** A connected socket to upstream `i`, or the connection error. */
  const open = (i: number): Promise<Socket> => new Promise((resolve, reject) => {
    const { host, port } = splitHostPort(upstreams[i]!);
    const s = connect({ host, port });
    upstreamSockets.add(s);
    s.once('close', () => upstreamSockets.delete(s));
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`connect to ${upstreams[i]} timed out`)); }, connectTimeoutMs);
    const giveUp = (e: Error): void => { clearTimeout(timer); reject(e); };
    s.once('error', giveUp);
    s.once('connect', () => { clearTimeout(timer); s.removeListener('error', giveUp); resolve(s); });
  });

  const fail = (req: IncomingMessage, res: ServerResponse, why: string, failedOn: number[]): void => {
    record({ method: req.method ?? '', url: req.url ?? '', upstream: -1, status: 502, failedOn });
    if (res.headersSent) { res.destroy(); return; }
    const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `proxy: ${why}` }] });
    // The request's body may be partly unread: the connection ends after the answer rather than read it.
    const unread = !req.complete;
    res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...(unread ? { connection: 'close' } : {}) });
    res.end(body);
    if (unread) res.once('finish', () => req.socket.destroy());
  };

  /**
   * Sends the request to upstream `i` over `socket`. Resolves 'done' once the response has begun (or
   * been answered with 502), 'retry' when a bodiless request failed before any response.
   */
  const send = (req: IncomingMessage, res: ServerResponse, i: number, socket: Socket, withBody: boolean, failedOn: number[]): Promise<'done' | 'retry'> => new Promise((resolve) => {
    let settled = false;
    const settle = (v: 'done' | 'retry'): void => { if (!settled) { settled = true; resolve(v); } };
    const headers = [...forwardable(req.rawHeaders), 'Connection', 'close'];
    // A POST/PUT/PATCH without framing has an empty body; said so, lest Node send it chunked.
    if (!withBody && req.headers['content-length'] === undefined && !NO_BODY_METHODS.has(req.method ?? '')) headers.push('Content-Length', '0');
    const up: ClientRequest = httpRequest({
      method: req.method, path: req.url, headers: headers as unknown as Record<string, string>,
      createConnection: () => socket, setHost: false,
    });
    up.on('response', (upRes) => {
      record({ method: req.method ?? '', url: req.url ?? '', upstream: i, status: upRes.statusCode ?? 0, failedOn });
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, forwardable(upRes.rawHeaders) as unknown as Record<string, string>);
      settle('done');
      pipeline(upRes, res, (err) => { if (err) { res.destroy(); socket.destroy(); } });
    });
    up.on('error', (err) => {
      socket.destroy();
      if (settled) { res.destroy(); return; }
      if (!withBody && !res.headersSent && !closed) { settle('retry'); return; }
      settle('done');
      fail(req, res, `upstream ${upstreams[i]} failed: ${err.message}`, [...failedOn, i]);
    });
    // The client went away: so does the upstream request.
    res.once('close', () => { if (!res.writableFinished) up.destroy(); });
    if (withBody) {
      // pipe, not pipeline: a failing upstream must not destroy the client's connection before the 502.
      req.pipe(up);
      up.once('error', () => req.unpipe(up));
      req.once('aborted', () => up.destroy());
    } else up.end();
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const withBody = hasBody(req);
    const start = next++ % upstreams.length;
    const errors: string[] = [];
    const failedOn: number[] = [];
    for (let k = 0; k < upstreams.length && !closed; k++) {
      const i = (start + k) % upstreams.length;
      let socket: Socket;
      try {
        socket = await open(i);
      } catch (err) {
        // Refused (or reset, or timed out) before a byte of the request was sent: the next one may take it.
        errors.push(`${upstreams[i]}: ${(err as Error).message}`);
        failedOn.push(i);
        continue;
      }
      if (closed) { socket.destroy(); break; }
      if (await send(req, res, i, socket, withBody, failedOn) === 'done') return;
      errors.push(`${upstreams[i]}: failed before answering`);
      failedOn.push(i);
    }
    fail(req, res, `no upstream answered (${errors.join('; ') || 'proxy closed'})`, failedOn);
  };

  const server = createServer((req, res) => { void handle(req, res); });
  server.on('connection', (s: Socket) => {
    clientSockets.add(s);
    s.once('close', () => clientSockets.delete(s));
  });
  server.on('clientError', (_err, s: Socket) => { s.destroy(); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { server.removeListener('error', reject); resolve(); });
  });
  const a = server.address();
  if (!a || typeof a !== 'object') throw new Error('proxy has no address');
  const addr = `127.0.0.1:${a.port}`;
  let closing: Promise<void> | null = null;

  return {
    addr,
    url: `http://${addr}`,
    upstreams,
    counts,
    log,
    setUpstream(i, hostPort) {
      if (i < 0 || i >= upstreams.length) throw new Error(`no upstream slot ${i}`);
      upstreams[i] = hostPort;
    },
    resetCounts() {
      counts.fill(0);
      log.length = 0;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        server.close(() => resolve());
        for (const s of clientSockets) s.destroy();
        for (const s of upstreamSockets) s.destroy();
      });
      return closing;
    },
  };
}
