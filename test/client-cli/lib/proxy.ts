// A loopback HTTP proxy in front of a registry, for client tests that need to shape the traffic:
// rewrite request paths (e.g. add ?n= to tag listings so the registry paginates), and throttle chosen blob
// downloads (so that a copy is reliably in progress when it gets killed), and tamper with chosen manifest
// responses (one byte changed, the JSON still valid: a client must notice by the digest alone). It records
// every request.
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';

export interface ProxyOptions {
  /** Rewrites the path+query of each request before forwarding. */
  rewritePath?: (pathAndQuery: string) => string;
  /** Blob downloads (GET /v2/.../blobs/<digest>) of these digests are sent at `bytesPerSecond`. */
  throttle?: { digests: string[]; bytesPerSecond: number };
  /** GET responses for manifests with these references (digests or tags) get one byte changed. */
  tamperManifests?: string[];
}

export interface Proxy {
  /** 127.0.0.1:PORT */
  addr: string;
  /** "METHOD path" of every request received (before rewriting). */
  requests: string[];
  /** Bytes of a throttled blob sent so far. */
  sent(digest: string): number;
  /** Resolves once at least `bytes` of a throttled blob were sent (rejects after timeoutMs). */
  waitForBytes(digest: string, bytes: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Slices chunks into small pieces released at a fixed rate. */
class Throttle extends Transform {
  constructor(private readonly bytesPerSecond: number, private readonly onBytes: (n: number) => void) {
    super({ highWaterMark: 16 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const piece = 16 * 1024;
    let off = 0;
    const next = (): void => {
      if (this.destroyed) return;
      if (off >= chunk.length) { cb(); return; }
      const part = chunk.subarray(off, off + piece);
      off += part.length;
      this.push(part);
      this.onBytes(part.length);
      setTimeout(next, (part.length / this.bytesPerSecond) * 1000);
    };
    next();
  }
}

/**
 * The bytes with one byte changed, keeping the JSON valid: the first hex digit after "sha256:" (a digest
 * inside the manifest) is replaced by another hex digit. Same length, so Content-Length still holds.
 */
export function changeOneByte(body: Buffer): Buffer {
  const out = Buffer.from(body);
  const at = out.indexOf('sha256:') + 'sha256:'.length;
  if (at < 'sha256:'.length) throw new Error('proxy: nothing to tamper with in this manifest');
  out[at] = out[at] === 0x30 ? 0x31 : 0x30; // '0' <-> '1' (or anything else -> '0')
  return out;
}

export async function startProxy(target: string, opts: ProxyOptions = {}): Promise<Proxy> {
  const requests: string[] = [];
  const sentBytes = new Map<string, number>();
  const waiters: { digest: string; bytes: number; resolve: () => void }[] = [];
  const sockets = new Set<Socket>();
  const throttled = new Set(opts.throttle?.digests ?? []);
  const tampered = new Set(opts.tamperManifests ?? []);

  const addSent = (digest: string, n: number): void => {
    const total = (sentBytes.get(digest) ?? 0) + n;
    sentBytes.set(digest, total);
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.digest === digest && total >= w.bytes) { waiters.splice(i, 1); w.resolve(); }
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const original = req.url ?? '/';
    requests.push(`${req.method} ${original}`);
    const path = opts.rewritePath ? opts.rewritePath(original) : original;
    const headers = { ...req.headers, host: target };
    const up = httpRequest(`http://${target}${path}`, { method: req.method, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      const digest = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path.split('?')[0]!)?.[1];
      const manifestRef = /\/manifests\/([^/?]+)$/.exec(path.split('?')[0]!)?.[1];
      if (req.method === 'GET' && manifestRef && tampered.has(manifestRef) && (upRes.statusCode ?? 0) === 200) {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => res.end(changeOneByte(Buffer.concat(chunks))));
        upRes.on('error', () => res.destroy());
      } else if (req.method === 'GET' && digest && throttled.has(digest) && opts.throttle) {
        const t = new Throttle(opts.throttle.bytesPerSecond, (n) => addSent(digest, n));
        upRes.pipe(t).pipe(res);
        res.once('close', () => { t.destroy(); upRes.destroy(); });
      } else {
        upRes.pipe(res);
      }
    });
    up.on('error', () => { if (!res.headersSent) res.writeHead(502); res.end(); });
    req.pipe(up);
  };

  const server = createServer(handle);
  server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    addr: `127.0.0.1:${port}`,
    requests,
    sent: (digest) => sentBytes.get(digest) ?? 0,
    waitForBytes(digest, bytes, timeoutMs = 20_000) {
      if ((sentBytes.get(digest) ?? 0) >= bytes) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const w = { digest, bytes, resolve: () => { clearTimeout(timer); resolve(); } };
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`proxy: only ${sentBytes.get(digest) ?? 0} of ${bytes} bytes of ${digest} were requested within ${timeoutMs} ms; requests:\n${requests.join('\n')}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
