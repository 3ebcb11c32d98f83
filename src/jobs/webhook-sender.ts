// One webhook POST: signed with the subscription's secret (GitHub's convention: X-Wharf-Signature-256:
// sha256=<hex HMAC-SHA256 of the exact body>), bounded by a timeout for the whole exchange, redirects
// not followed (a 3xx is a failed attempt), and the first KiB of the answer kept for the delivery log.
// User information in the URL (https://user:pass@host/…) is sent as Basic authorization, never as part
// of the request line. Errors name what went wrong, never the URL or the secret.
import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';

/** How much of a receiver's answer the delivery log keeps. */
export const RESPONSE_KEPT_BYTES = 1024;

export interface WebhookPost {
  url: string;
  secret: string;
  body: string;
  contentType: string;
  eventId: string;
  eventType: string;
}

export interface SendResult {
  /** 2xx: the receiver took it. */
  delivered: boolean;
  status: number | null;
  response: string | null;
  error: string | null;
  durationMs: number;
}

export interface WebhookSenderOptions {
  /** For the whole exchange: connecting, sending, the answer's headers and the kept part of its body. */
  timeoutMs: number;
  /** User-Agent: wharf/<version>. */
  userAgent: string;
}

/** `sha256=<hex>`: HMAC-SHA256 of the body's exact bytes with the secret. */
export function signatureOf(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export class WebhookSender {
  private readonly agent: Agent;

  constructor(private readonly o: WebhookSenderOptions) {
    this.agent = new Agent({ connectTimeout: o.timeoutMs, keepAliveTimeout: 10_000 });
  }

  async send(p: WebhookPost): Promise<SendResult> {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    let target: URL;
    try {
      target = new URL(p.url);
    } catch {
      return { delivered: false, status: null, response: null, error: 'invalid URL', durationMs: 0 };
    }
    const headers: Record<string, string> = {
      'content-type': p.contentType,
      'user-agent': this.o.userAgent,
      'x-wharf-event': p.eventType,
      'x-wharf-delivery': p.eventId,
      'x-wharf-signature-256': signatureOf(p.secret, p.body),
    };
    if (target.username !== '' || target.password !== '') {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
      target.username = '';
      target.password = '';
    }
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    try {
      const res = await request(target, { method: 'POST', headers, body: p.body, dispatcher: this.agent, signal });
      const response = await firstBytes(res.body, RESPONSE_KEPT_BYTES);
      const delivered = res.statusCode >= 200 && res.statusCode < 300;
      return { delivered, status: res.statusCode, response, error: delivered ? null : `HTTP ${res.statusCode}`, durationMs: elapsed() };
    } catch (e) {
      return { delivered: false, status: null, response: null, error: signal.aborted ? `timed out after ${this.o.timeoutMs} ms` : failure(e), durationMs: elapsed() };
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** The first `limit` bytes of a body as text; the rest is not read (the connection is dropped instead). */
async function firstBytes(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    n += chunk.length;
    if (n >= limit) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks, n).subarray(0, limit).toString('utf8');
}

/** What failed, from a network error's code (never its message, which may quote the address with user information). */
function failure(e: unknown): string {
  const code = (e as { code?: string }).code;
  const cause = (e as { cause?: { code?: string } }).cause?.code;
  switch (code ?? cause) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ECONNRESET': case 'UND_ERR_SOCKET': return 'connection reset';
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'host not found';
    case 'UND_ERR_CONNECT_TIMEOUT': return 'connect timed out';
    case 'UND_ERR_HEADERS_TIMEOUT': case 'UND_ERR_BODY_TIMEOUT': return 'timed out';
    default: {
      const c = code ?? cause;
      if (c && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(c)) return `TLS verification failed (${c})`;
      return c ? `request failed (${c})` : 'request failed';
    }
  }
}
