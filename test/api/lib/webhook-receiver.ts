// A webhook receiver on 127.0.0.1 for the tests: it records every delivery (path, headers, exact body),
// answers as each path's script says (200 by default; a status, or no answer at all to make the sender
// time out), and checks signatures the way a receiver should: HMAC-SHA256 of the raw body, compared in
// constant time.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';

export interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered: a status, or 'hang' (no answer). */
  answered: number | 'hang';
}

/** What to answer the n-th request (1-based) to a path. */
export type Script = (n: number) => number | 'hang';

export function validSignature(secret: string, body: string, header: string | string[] | undefined): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const want = Buffer.from(createHmac('sha256', secret).update(body).digest('hex'));
  const got = Buffer.from(header.slice('sha256='.length));
  return got.length === want.length && timingSafeEqual(got, want);
}

export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  private readonly scripts = new Map<string, Script>();
  private readonly counts = new Map<string, number>();
  private readonly hanging: ServerResponse[] = [];
  private server: Server | null = null;
  url = '';

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        const n = (this.counts.get(path) ?? 0) + 1;
        this.counts.set(path, n);
        const answered = this.scripts.get(path)?.(n) ?? 200;
        this.deliveries.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), answered });
        if (answered === 'hang') this.hanging.push(res);
        else res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered < 300 ? 'received' : `no thanks (${answered})`);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** How the path answers from now on. */
  script(path: string, s: Script): void {
    this.scripts.set(path, s);
  }

  /** The deliveries to a path that were answered 2xx. */
  accepted(path: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === path && typeof d.answered === 'number' && d.answered < 300);
  }

  /** Waits until `done()` holds (polling), or fails after `ms` with `what`. */
  async until(done: () => boolean, what: string, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; deliveries so far:\n${this.deliveries.map((d) => `${d.path} ${d.answered} ${d.headers['x-wharf-event']}`).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}
