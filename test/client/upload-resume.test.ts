// RegistryClient.uploadBlob against a scripted registry on 127.0.0.1: a connection dropped mid-PATCH is
// resumed from the offset the registry reports. A registry may still be storing bytes of the dropped
// request when asked: the client reads the status until it settles, and if the registry still moves on
// afterwards (and so refuses the resumed PATCH with 416), asks again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { RegistryClient } from '../../src/client/registry-client.js';
import { digestOf } from '../../src/oci/digest.js';

const DATA = randomBytes(3 << 20);
const DIGEST = digestOf(DATA);
const UPLOAD = '/v2/team/app/blobs/uploads/u1';

interface Script {
  /** Bytes of the first PATCH kept before the connection drops. */
  dropAfter: number;
  /** Extra bytes of the dropped PATCH the registry stores only after some status reports... */
  lateBytes: number;
  /** ...after this many. */
  lateAfterReports: number;
}

async function withRegistry(script: Script, fn: (addr: string, log: string[]) => Promise<void>): Promise<Buffer> {
  const log: string[] = [];
  let stored = Buffer.alloc(0);
  let pendingLate = 0;
  let patches = 0;
  let reports = 0;
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    log.push(`${req.method} ${url.pathname}${req.headers['content-range'] ? ` ${String(req.headers['content-range'])}` : ''}`);
    const reply = (status: number, headers: Record<string, string> = {}, body = ''): void => {
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(body)), ...headers });
      res.end(body);
    };
    if (req.method === 'GET' && url.pathname === '/v2/') return reply(200);
    if (req.method === 'POST' && url.pathname === '/v2/team/app/blobs/uploads/') return reply(202, { location: UPLOAD, range: '0-0' });
    if (url.pathname !== UPLOAD) return reply(404);
    if (req.method === 'GET') {
      const range = stored.length > 0 ? `0-${stored.length - 1}` : '0-0';
      reply(204, { location: UPLOAD, range });
      // The late bytes of the dropped request land after this report.
      if (++reports === script.lateAfterReports && pendingLate > 0) {
        stored = DATA.subarray(0, stored.length + pendingLate);
        pendingLate = 0;
      }
      return;
    }
    if (req.method === 'PATCH') {
      patches++;
      if (patches === 1) {
        let got = 0;
        for await (const c of req) {
          got += (c as Buffer).length;
          if (got >= script.dropAfter) break;
        }
        stored = DATA.subarray(0, script.dropAfter);
        pendingLate = script.lateBytes;
        req.socket.destroy();
        return;
      }
      const start = Number(/^(\d+)-/.exec(String(req.headers['content-range'] ?? ''))?.[1] ?? 0);
      if (start !== stored.length) {
        req.resume();
        return reply(416, { 'content-type': 'application/json' }, JSON.stringify({ errors: [{ code: 'RANGE_INVALID', message: `chunk starts at ${start}, upload is at ${stored.length}` }] }));
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      stored = Buffer.concat([stored, ...chunks]);
      return reply(202, { location: UPLOAD, range: `0-${stored.length - 1}` });
    }
    if (req.method === 'PUT') {
      assert.equal(url.searchParams.get('digest'), DIGEST);
      return reply(201, { location: `/v2/team/app/blobs/${DIGEST}` });
    }
    reply(405);
  };
  const server = createServer((req, res) => {
    handler(req, res).catch((e: unknown) => {
      res.destroy(e as Error);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await fn(`127.0.0.1:${(server.address() as { port: number }).port}`, log);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  return stored;
}

async function upload(addr: string): Promise<number[]> {
  const offsets: number[] = [];
  const client = new RegistryClient({ registry: addr, insecure: true, retryTimes: 0 });
  try {
    await client.uploadBlob('team/app', DIGEST, DATA.length, Readable.from([DATA.subarray(0, 1 << 20), DATA.subarray(1 << 20)]), async (offset) => {
      offsets.push(offset);
      return Readable.from([DATA.subarray(offset)]);
    });
  } finally {
    await client.close();
  }
  return offsets;
}

/** The log with repeated status reads collapsed, method and path only. */
function steps(log: string[]): string[] {
  const out: string[] = [];
  for (const l of log) {
    const step = l.split(' ').slice(0, 2).join(' ');
    if (step === 'GET /v2/' || (step === `GET ${UPLOAD}` && out.at(-1) === step)) continue;
    out.push(step);
  }
  return out;
}

/** Uploads DATA through the scripted registry; checks it arrived whole; returns the resume offsets and the log. */
async function scenario(script: Script): Promise<{ offsets: number[]; log: string[] }> {
  let offsets: number[] = [];
  let log: string[] = [];
  const stored = await withRegistry(script, async (addr, l) => {
    offsets = await upload(addr);
    log = l;
  });
  assert.ok(stored.equals(DATA), 'the registry holds exactly the blob');
  return { offsets, log };
}

test('uploadBlob resumes a dropped PATCH from the offset the registry reports', async () => {
  const { offsets, log } = await scenario({ dropAfter: 1 << 20, lateBytes: 0, lateAfterReports: 0 });
  assert.deepEqual(offsets, [1 << 20]);
  assert.deepEqual(steps(log), ['POST /v2/team/app/blobs/uploads/', `PATCH ${UPLOAD}`, `GET ${UPLOAD}`, `PATCH ${UPLOAD}`, `PUT ${UPLOAD}`]);
});

test('uploadBlob waits for the status to settle when the registry is still storing the dropped request', async () => {
  const { offsets, log } = await scenario({ dropAfter: 1 << 20, lateBytes: 65536, lateAfterReports: 1 });
  assert.deepEqual(offsets, [(1 << 20) + 65536], 'resumed once, from the settled offset');
  assert.equal(log.filter((l) => l.startsWith('PATCH ')).length, 2, log.join('\n'));
});

test('uploadBlob asks again when the registry moves on after its status settled (416 on the resumed PATCH)', async () => {
  const { offsets, log } = await scenario({ dropAfter: 1 << 20, lateBytes: 65536, lateAfterReports: 2 });
  assert.deepEqual(offsets, [1 << 20, (1 << 20) + 65536]);
  assert.equal(log.filter((l) => l.startsWith('PATCH ')).length, 3, log.join('\n'));
  assert.equal(log.filter((l) => l.startsWith('POST ')).length, 1, 'one upload session throughout');
});
