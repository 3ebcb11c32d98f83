// The fleet tests' round-robin proxy, over plain node:http upstreams.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Agent, createServer, request, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js';

const MiB = 1 << 20;

interface Upstream {
  server: Server;
  addr: string;
  close(): Promise<void>;
}

const started: { close(): Promise<void> }[] = [];
after(async () => { for (const s of started.reverse()) await s.close(); });

async function upstream(handler: RequestListener): Promise<Upstream> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  assert.ok(a && typeof a === 'object');
  let closing: Promise<void> | null = null;
  const u = {
    server,
    addr: `127.0.0.1:${a.port}`,
    close() {
      closing ??= new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
      return closing;
    },
  };
  started.push(u);
  return u;
}

/** An upstream that answers "<id>" (and reads any body, answering its length and digest). */
function named(id: number, received: string[] = []): Promise<Upstream> {
  return upstream((req, res) => {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => { h.update(c); n += c.length; });
    req.on('end', () => {
      received.push(`${req.method} ${req.url} ${n}`);
      res.setHeader('x-upstream', String(id));
      res.end(JSON.stringify({ id, bytes: n, digest: h.digest('hex') }));
    });
  });
}

async function proxyOver(ups: Upstream[]): Promise<RoundRobinProxy> {
  const p = await startRoundRobinProxy(ups.map((u) => u.addr));
  started.push(p);
  return p;
}

interface Got {
  status: number;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
  socket: Socket;
}

function get(p: RoundRobinProxy, path: string, opts: { method?: string; headers?: Record<string, string | string[]>; body?: Buffer; agent?: Agent | false } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const r = request({ host: '127.0.0.1', port: Number(p.addr.split(':')[1]), method: opts.method ?? 'GET', path, headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      // Taken now: a keep-alive socket leaves the response once it is read.
      const socket = res.socket;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), socket }));
    });
    r.on('error', reject);
    r.setTimeout(20_000, () => r.destroy(new Error(`timeout: ${path}`)));
    r.end(opts.body);
  });
}

const idOf = (g: Got): number => (JSON.parse(g.body.toString()) as { id: number }).id;

/** Deterministic bytes, chunk `i` of a stream. */
function chunk(i: number, size = MiB): Buffer {
  const b = Buffer.alloc(size);
  for (let off = 0; off < size; off += 4) b.writeUInt32LE((i * 2654435761 + off) >>> 0, off);
  return b;
}

describe('round-robin proxy', () => {
  test('sends each request to the next upstream, also on one keep-alive connection, and counts them', async () => {
    const ups = await Promise.all([named(0), named(1), named(2)]);
    const p = await proxyOver(ups);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ids: number[] = [];
      const sockets = new Set<Socket>();
      for (let i = 0; i < 7; i++) {
        const g = await get(p, `/r/${i}`, { agent });
        assert.equal(g.status, 200);
        ids.push(idOf(g));
        sockets.add(g.socket);
      }
      assert.equal(sockets.size, 1, 'all requests went over one client connection');
      assert.deepEqual(ids, [0, 1, 2, 0, 1, 2, 0]);
      assert.deepEqual(p.counts, [3, 2, 2]);
      assert.deepEqual(p.log.map((l) => l.upstream), ids);
    } finally { agent.destroy(); }
  });

  test('passes headers on as sent: Host, Authorization, Range, repeated ones; Location and the like back', async () => {
    let seen: string[] = [];
    const up = await upstream((req, res) => {
      seen = req.rawHeaders;
      req.resume();
      req.on('end', () => {
        res.writeHead(202, [
          'Location', '/v2/team/app/blobs/uploads/abc?_state=x%2Fy',
          'Docker-Upload-UUID', 'abc',
          'Range', '0-41',
          'Link', '</v2/_catalog?n=1&last=a>; rel="next"',
          'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2',
          'Content-Length', '0',
        ] as unknown as Record<string, string>);
        res.end();
      });
    });
    const p = await proxyOver([up]);
    const g = await get(p, '/v2/team/app/blobs/uploads/abc?_state=x%2Fy', {
      method: 'PATCH',
      headers: {
        Host: 'registry.example:5000', Authorization: 'Bearer t0k3n', Range: 'bytes=0-9', 'Content-Range': '0-41',
        'X-Twice': ['one', 'two'], Connection: 'keep-alive', 'Content-Type': 'application/octet-stream',
      },
      body: Buffer.alloc(42, 7),
    });
    assert.equal(g.status, 202);
    const pairs: [string, string][] = [];
    for (let i = 0; i < seen.length; i += 2) pairs.push([seen[i]!.toLowerCase(), seen[i + 1]!]);
    const one = (n: string): string[] => pairs.filter(([k]) => k === n).map(([, v]) => v);
    assert.deepEqual(one('host'), ['registry.example:5000'], 'Host as the client sent it');
    assert.deepEqual(one('authorization'), ['Bearer t0k3n']);
    assert.deepEqual(one('range'), ['bytes=0-9']);
    assert.deepEqual(one('content-range'), ['0-41']);
    assert.deepEqual(one('content-length'), ['42']);
    assert.deepEqual(one('x-twice'), ['one', 'two']);
    assert.deepEqual(one('connection'), ['close'], 'the client connection\'s own Connection header is not passed on');
    assert.equal(g.headers.location, '/v2/team/app/blobs/uploads/abc?_state=x%2Fy');
    assert.equal(g.headers['docker-upload-uuid'], 'abc');
    assert.equal(g.headers.range, '0-41');
    assert.equal(g.headers.link, '</v2/_catalog?n=1&last=a>; rel="next"');
    assert.deepEqual(g.headers['set-cookie'], ['a=1', 'b=2']);
  });

  test('streams 160 MiB up and down with backpressure: a stalled reader stops the writer', async () => {
    const total = 160;
    // Up: the upstream does not read for a while; the client writes as fast as it is let.
    let resumeBody: () => void = () => undefined;
    let downWritten = 0;
    let downDigest = '';
    const up = await upstream((req, res) => {
      if (req.method === 'GET') {
        // Down: write as fast as the proxy takes it, counting.
        let i = 0;
        const h = createHash('sha256');
        res.writeHead(200, { 'content-length': String(total * MiB) });
        const pump = (): void => {
          while (i < total) {
            const c = chunk(i++);
            h.update(c);
            downWritten += c.length;
            if (!res.write(c)) { res.once('drain', pump); return; }
          }
          res.end();
          downDigest = h.digest('hex');
        };
        pump();
        return;
      }
      req.pause();
      resumeBody = () => {
        const h = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => { h.update(c); n += c.length; });
        req.on('end', () => res.end(JSON.stringify({ n, digest: h.digest('hex') })));
        req.resume();
      };
    });
    const p = await proxyOver([up]);

    let upSent = 0;
    const upHash = createHash('sha256');
    const upload = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port: Number(p.addr.split(':')[1]), method: 'PUT', path: '/big', agent: false, headers: { 'content-length': String(total * MiB) } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => { body += c.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      r.on('error', reject);
      let i = 0;
      const pump = (): void => {
        while (i < total) {
          const c = chunk(i++);
          upSent += c.length;
          upHash.update(c);
          if (!r.write(c)) { r.once('drain', pump); return; }
        }
        r.end();
      };
      pump();
    });
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(upSent < 48 * MiB, `the client got ${upSent / MiB} MiB out while the upstream read nothing`);
    resumeBody();
    const done = await upload;
    assert.equal(done.status, 200);
    assert.deepEqual(JSON.parse(done.body), { n: total * MiB, digest: upHash.digest('hex') });

    // Down: the client does not read for a while.
    const got = await new Promise<{ digest: string; n: number; writtenWhilePaused: number }>((resolve, reject) => {
      const r = request({ host: '127.0.0.1', port: Number(p.addr.split(':')[1]), path: '/big', agent: false }, (res) => {
        res.pause();
        setTimeout(() => {
          const writtenWhilePaused = downWritten;
          const h = createHash('sha256');
          let n = 0;
          res.on('data', (c: Buffer) => { h.update(c); n += c.length; });
          res.on('end', () => resolve({ digest: h.digest('hex'), n, writtenWhilePaused }));
          res.resume();
        }, 1500);
      });
      r.on('error', reject);
      r.end();
    });
    assert.ok(got.writtenWhilePaused < 48 * MiB, `the upstream wrote ${got.writtenWhilePaused / MiB} MiB while the client read nothing`);
    assert.equal(got.n, total * MiB);
    assert.equal(got.digest, downDigest);
  });

  test('skips an upstream that refuses connections, bodies or not; all refusing is a 502', async () => {
    const received: string[][] = [[], [], []];
    const ups = await Promise.all([0, 1, 2].map((i) => named(i, received[i])));
    const p = await proxyOver(ups);
    await ups[1]!.close();
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const g = await get(p, `/g/${i}`);
      assert.equal(g.status, 200);
      ids.push(idOf(g));
      const body = chunk(i, 100_000);
      const put = await get(p, `/p/${i}`, { method: 'PUT', body, headers: { 'content-length': String(body.length) } });
      assert.equal(put.status, 200);
      assert.equal((JSON.parse(put.body.toString()) as { digest: string }).digest, createHash('sha256').update(body).digest('hex'));
    }
    assert.ok(!ids.includes(1));
    assert.equal(p.counts[1], 0);
    assert.deepEqual(p.log.filter((l) => l.failedOn.length > 0).map((l) => l.failedOn), [[1], [1], [1], [1]], 'every request whose turn it was went on from slot 1');
    assert.equal(p.counts[0]! + p.counts[2]!, 12);
    assert.equal(received[0]!.length + received[2]!.length, 12, 'each request reached exactly one upstream');

    // A restarted process on another port takes the slot again.
    const back = await named(1, received[1]);
    p.setUpstream(1, back.addr);
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) seen.add(idOf(await get(p, '/again')));
    assert.deepEqual([...seen].sort(), [0, 1, 2]);

    await Promise.all([ups[0]!.close(), ups[2]!.close(), back.close()]);
    const none = await get(p, '/nobody', { method: 'PUT', body: Buffer.from('x'), headers: { 'content-length': '1' } });
    assert.equal(none.status, 502);
    assert.match(none.body.toString(), /no upstream answered/);
  });

  test('an upstream failing after the connection: a request with a body gets 502, one without is tried on the next', async () => {
    const received: string[][] = [[], []];
    // Upstream 0 reads whatever comes and drops the connection without answering.
    const dying = await upstream((req) => {
      req.resume();
      req.on('end', () => { received[0]!.push(`${req.method} ${req.url}`); req.socket.destroy(); });
    });
    const good = await named(1, received[1]);
    const p = await proxyOver([dying, good]);
    const put = await get(p, '/with-body', { method: 'PUT', body: Buffer.alloc(1000, 1), headers: { 'content-length': '1000' } });
    assert.equal(put.status, 502, 'not retried: the body was sent and may have had an effect');
    assert.deepEqual(received[0], ['PUT /with-body']);
    assert.deepEqual(received[1], [], 'the body went to one upstream only');
    const g = await get(p, '/bodiless', { method: 'DELETE' }); // slot 1 (good), then slot 0 next:
    assert.equal(idOf(g), 1);
    const g2 = await get(p, '/bodiless2', { method: 'GET' });
    assert.equal(g2.status, 200, 'slot 0 dropped it; retried on slot 1');
    assert.equal(idOf(g2), 1);
    assert.deepEqual(received[0], ['PUT /with-body', 'GET /bodiless2']);
    assert.deepEqual(p.counts, [0, 2]);
    assert.deepEqual(p.log.map((l) => [l.url, l.upstream, l.status, l.failedOn]), [
      ['/with-body', -1, 502, [0]], ['/bodiless', 1, 200, []], ['/bodiless2', 1, 200, [0]],
    ]);
  });

  test('close() drops keep-alive client connections and stops listening', async () => {
    const p = await startRoundRobinProxy([(await named(0)).addr]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const g = await get(p, '/x', { agent });
      assert.equal(g.status, 200);
      const closed = new Promise<void>((r) => { if (g.socket.destroyed) r(); else g.socket.once('close', () => r()); });
      await p.close();
      await closed;
      await assert.rejects(get(p, '/y'), /ECONNREFUSED/);
    } finally { agent.destroy(); }
  });
});
