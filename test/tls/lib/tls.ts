// Helpers for the TLS tests: certificates made by `wharf certs generate` (what ships), and small
// HTTPS clients that say which protocol ALPN picked: node:http2 for h2, node:https for HTTP/1.1.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect as h2connect, constants as h2c, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { wharfBin } from '../../helpers/server.js';

export interface GeneratedCerts {
  dir: string;
  ca: string;
  caKey: string;
  cert: string;
  key: string;
  /** client.cert / client.key when generated with a client name */
  clientCert: string;
  clientKey: string;
  /** What the command printed. */
  stdout: string;
}

/** `wharf certs generate` into a fresh directory (under `parent` when given). */
export function generateCerts(opts: { hosts?: string[]; ips?: string[]; client?: string; days?: number; parent?: string; extra?: string[] } = {}): GeneratedCerts {
  const dir = mkdtempSync(join(opts.parent ?? tmpdir(), 'wharf-certs-'));
  const args = ['certs', 'generate', '--out', dir];
  for (const h of opts.hosts ?? ['localhost']) args.push('--host', h);
  for (const ip of opts.ips ?? ['127.0.0.1']) args.push('--ip', ip);
  if (opts.client) args.push('--client', opts.client);
  if (opts.days) args.push('--days', String(opts.days));
  args.push(...(opts.extra ?? []));
  const stdout = execFileSync(process.execPath, [wharfBin, ...args], { encoding: 'utf8', timeout: 60_000 });
  return {
    dir, stdout,
    ca: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'),
    cert: join(dir, 'server.crt'), key: join(dir, 'server.key'),
    clientCert: join(dir, 'client.cert'), clientKey: join(dir, 'client.key'),
  };
}

export interface ClientTls {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized?: boolean;
}

function tlsOptions(t: ClientTls): ConnectionOptions {
  return {
    ...(t.ca ? { ca: readFileSync(t.ca) } : {}),
    ...(t.cert ? { cert: readFileSync(t.cert) } : {}),
    ...(t.key ? { key: readFileSync(t.key) } : {}),
    rejectUnauthorized: t.rejectUnauthorized ?? true,
  };
}

export interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** 'h2' or 'http/1.1' as negotiated */
  protocol: string;
  json(): unknown;
}

export interface ReqInit {
  method?: string;
  headers?: Record<string, string>;
  /** Sent in pieces (a stream without Content-Length unless headers say so). */
  body?: Buffer | Buffer[];
}

/** One HTTP/2 session to `url`, for several requests. */
export class H2Client {
  readonly session: ClientHttp2Session;
  private readonly ready: Promise<void>;

  constructor(url: string, t: ClientTls = {}) {
    this.session = h2connect(url, { ...tlsOptions(t), ALPNProtocols: ['h2'] });
    this.session.on('error', () => { /* surfaced through requests and ready */ });
    this.ready = new Promise((resolve, reject) => {
      this.session.once('connect', () => resolve());
      this.session.once('error', reject);
    });
  }

  async connected(): Promise<TLSSocket> {
    await this.ready;
    return this.session.socket as TLSSocket;
  }

  async request(path: string, init: ReqInit = {}): Promise<Res> {
    await this.ready;
    const stream = this.session.request({ [h2c.HTTP2_HEADER_METHOD]: init.method ?? 'GET', [h2c.HTTP2_HEADER_PATH]: path, ...init.headers }, { endStream: init.body === undefined });
    const chunks: Buffer[] = [];
    const done = new Promise<Res>((resolve, reject) => {
      let headers: IncomingHttpHeaders = {};
      stream.once('response', (h) => { headers = h; });
      stream.on('data', (b: Buffer) => chunks.push(b));
      stream.once('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: Number(headers[':status']), headers, body, protocol: 'h2', json: () => JSON.parse(body.toString()) });
      });
      stream.once('error', reject);
    });
    if (init.body !== undefined) {
      const pieces = Array.isArray(init.body) ? init.body : [init.body];
      for (const p of pieces) {
        if (!stream.write(p)) await new Promise((r) => stream.once('drain', r));
        await new Promise((r) => setImmediate(r)); // separate DATA frames
      }
      stream.end();
    }
    return done;
  }

  close(): Promise<void> {
    // A session the server already closed (GOAWAY on shutdown) never calls back.
    if (this.session.closed || this.session.destroyed) return Promise.resolve();
    return new Promise((resolve) => this.session.close(() => resolve()));
  }
}

/** One request over HTTPS offering only http/1.1. */
export function h1Request(url: string, init: ReqInit = {}, t: ClientTls = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const options = { method: init.method ?? 'GET', headers: init.headers, ...tlsOptions(t), ALPNProtocols: ['http/1.1'], agent: false } as RequestOptions;
    const req = httpsRequest(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.once('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, protocol: (res.socket as TLSSocket).alpnProtocol || 'none', json: () => JSON.parse(body.toString()) });
      });
      res.once('error', reject);
    });
    req.once('error', reject);
    for (const p of Array.isArray(init.body) ? init.body : init.body ? [init.body] : []) req.write(p);
    req.end();
  });
}

/** A bare TLS handshake; resolves with the socket (caller ends it) or rejects with the handshake error. */
export function handshake(addr: string, opts: ConnectionOptions): Promise<TLSSocket> {
  const i = addr.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: addr.slice(0, i), port: Number(addr.slice(i + 1)), servername: undefined, ...opts });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', (e) => { socket.destroy(); reject(e); });
    socket.setTimeout(10_000, () => socket.destroy(new Error('handshake timed out')));
  });
}

/** The fingerprint of the certificate the server presents now. */
export async function servedFingerprint(addr: string, ca: string): Promise<string> {
  const s = await handshake(addr, { ca: readFileSync(ca), rejectUnauthorized: false });
  try {
    return s.getPeerCertificate().fingerprint256;
  } finally {
    s.destroy();
  }
}

/** openssl x509 -fingerprint -sha256 of a PEM file, in Node's colon format. */
export function fileFingerprint(pemFile: string): string {
  const out = execFileSync('openssl', ['x509', '-in', pemFile, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8', timeout: 30_000 });
  return out.trim().split('=')[1]!.toUpperCase();
}
