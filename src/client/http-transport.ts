// A small HTTP(S) client on node:http: connection pools per TLS setting, streamed bodies, redirects.
// (undici did the same but added ~75 ms to every command's start-up.)
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export interface ResponseBody extends Readable {
  /** Reads and discards the rest. */
  dump(): Promise<void>;
  text(): Promise<string>;
  json(): Promise<unknown>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface HttpResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: ResponseBody;
}

export interface TlsOptions {
  rejectUnauthorized: boolean;
  ca?: (string | Buffer)[];
  cert?: Buffer;
  key?: Buffer;
}

export interface HttpRequestOptions {
  method: string;
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
  /** Redirects followed (Authorization is dropped when one leaves the origin). */
  maxRedirections?: number;
}

/** Keep-alive connection pools: one for HTTP, one for HTTPS with the given TLS settings. */
export class HttpPools {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent: https.Agent;

  constructor(tls: TlsOptions) {
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...tls });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  async request(url: string | URL, o: HttpRequestOptions): Promise<HttpResponse> {
    let target = new URL(url);
    let headers = { ...o.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.once(target, o.method, headers, o.body);
      const location = res.headers.location;
      if (hop < (o.maxRedirections ?? 0) && res.statusCode >= 300 && res.statusCode < 400 && location && !(o.body instanceof Readable)) {
        await res.body.dump();
        const next = new URL(location, target);
        if (next.origin !== target.origin) {
          const { authorization: _dropped, ...rest } = headers;
          headers = rest;
        }
        target = next;
        continue;
      }
      return res;
    }
  }

  private once(url: URL, method: string, headers: Record<string, string>, body: Buffer | string | Readable | undefined): Promise<HttpResponse> {
    const mod = url.protocol === 'https:' ? https : http;
    const agent = url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent }, (msg) => resolve({ statusCode: msg.statusCode ?? 0, headers: msg.headers, body: withReaders(msg) }));
      req.on('error', reject);
      if (body instanceof Readable) {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      } else {
        req.end(body);
      }
    });
  }
}

function withReaders(msg: IncomingMessage): ResponseBody {
  const body = msg as IncomingMessage & ResponseBody;
  const collect = async (): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    for await (const c of msg) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  body.dump = async () => {
    msg.resume();
    if (!msg.complete && !msg.destroyed) await new Promise<void>((r) => { msg.once('end', r); msg.once('close', r); });
  };
  body.text = async () => (await collect()).toString('utf8');
  body.json = async () => JSON.parse((await collect()).toString('utf8')) as unknown;
  body.arrayBuffer = async () => {
    const b = await collect();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  };
  return body;
}
