// wharf serve over TLS: ALPN offers h2 and http/1.1, every Distribution route works over both
// (streamed uploads without Content-Length, ranged downloads, errors as spec JSON), TLS below 1.2 and
// weak ciphers are refused, a download the client abandons frees its file, and a graceful stop does
// not wait for idle connections.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync, readFileSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { constants as h2c } from 'node:http2';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { generateCerts, H2Client, h1Request, handshake, type GeneratedCerts, type Res } from './lib/tls.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let certs: GeneratedCerts;
let wharf: WharfServer;

before(async () => {
  certs = generateCerts({ hosts: ['localhost'], ips: ['127.0.0.1'] });
  wharf = await startWharf({ tls: { cert: certs.cert, key: certs.key } });
});

after(async () => {
  await wharf?.stop();
  wharf?.cleanup();
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

function expect(res: Res, status: number, what: string): void {
  assert.equal(res.status, status, `${what}: HTTP ${res.status} ${res.body.toString().slice(0, 300)}`);
}

test('the listening line and the helper give an https URL', () => {
  assert.equal(wharf.scheme, 'https');
  assert.match(wharf.url, /^https:\/\/127\.0\.0\.1:\d+$/);
});

test('ALPN: h2 when offered, http/1.1 otherwise', async () => {
  const h2 = new H2Client(wharf.url, { ca: certs.ca });
  try {
    const socket = await h2.connected();
    assert.equal(socket.alpnProtocol, 'h2');
    const r = await h2.request('/v2/');
    expect(r, 200, 'GET /v2/ over h2');
    assert.equal(r.headers['docker-distribution-api-version'], 'registry/2.0');
  } finally {
    await h2.close();
  }
  const r1 = await h1Request(`${wharf.url}/v2/`, {}, { ca: certs.ca });
  expect(r1, 200, 'GET /v2/ over http/1.1');
  assert.equal(r1.protocol, 'http/1.1');
  // A client that offers no ALPN at all still gets HTTP/1.1.
  const s = await handshake(wharf.addr, { ca: readFileSync(certs.ca) });
  assert.equal(s.alpnProtocol, false);
  s.destroy();
});

for (const protocol of ['h2', 'http/1.1'] as const) {
  describe(`every route over ${protocol}`, () => {
    let h2: H2Client | null = null;
    const request = (path: string, init: Parameters<H2Client['request']>[1] = {}): Promise<Res> =>
      protocol === 'h2' ? h2!.request(path, init) : h1Request(`${wharf.url}${path}`, init, { ca: certs.ca });
    before(() => { if (protocol === 'h2') h2 = new H2Client(wharf.url, { ca: certs.ca }); });
    after(async () => { await h2?.close(); });
    const repo = `tls/${protocol === 'h2' ? 'h2' : 'h1'}`;

    test('chunked and streamed uploads, downloads with ranges, manifests, listings, deletes, errors', async () => {
      const blob = randomBytes(3 << 20);
      const digest = sha(blob);
      // POST, a streamed PATCH without Content-Length, a PATCH with Content-Range, a PUT carrying the last piece.
      const start = await request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      expect(start, 202, 'POST upload');
      let location = start.headers.location as string;
      const first = blob.subarray(0, 1 << 20);
      const streamed = await request(location, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream' }, body: [first.subarray(0, 300_000), first.subarray(300_000)] });
      expect(streamed, 202, 'streamed PATCH');
      assert.equal(streamed.headers.range, `0-${first.length - 1}`);
      location = streamed.headers.location as string;
      const second = blob.subarray(1 << 20, 2 << 20);
      const ranged = await request(location, { method: 'PATCH', headers: { 'content-range': `${1 << 20}-${(2 << 20) - 1}`, 'content-length': String(second.length) }, body: second });
      expect(ranged, 202, 'PATCH with Content-Range');
      location = ranged.headers.location as string;
      const status = await request(location);
      expect(status, 204, 'upload status');
      assert.equal(status.headers.range, `0-${(2 << 20) - 1}`);
      const last = blob.subarray(2 << 20);
      const put = await request(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT', body: [last.subarray(0, 1000), last.subarray(1000)] });
      expect(put, 201, 'PUT with the last piece, no Content-Length');
      assert.equal(put.headers['docker-content-digest'], digest);

      const head = await request(`/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
      expect(head, 200, 'HEAD blob');
      assert.equal(head.headers['content-length'], String(blob.length));
      const got = await request(`/v2/${repo}/blobs/${digest}`);
      expect(got, 200, 'GET blob');
      assert.ok(got.body.equals(blob), 'the whole blob comes back');
      const part = await request(`/v2/${repo}/blobs/${digest}`, { headers: { range: 'bytes=100-199' } });
      expect(part, 206, 'ranged GET');
      assert.ok(part.body.equals(blob.subarray(100, 200)));
      assert.equal(part.headers['content-range'], `bytes 100-199/${blob.length}`);
      expect(await request(`/v2/${repo}/blobs/${digest}`, { headers: { 'if-none-match': `"${digest}"` } }), 304, 'If-None-Match');
      const bad = await request(`/v2/${repo}/blobs/${digest}`, { headers: { range: `bytes=${blob.length}-` } });
      expect(bad, 416, 'unsatisfiable range');

      // A monolithic POST ?digest= of a small config blob.
      const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
      expect(await request(`/v2/${repo}/blobs/uploads/?digest=${sha(config)}`, { method: 'POST', headers: { 'content-length': String(config.length) }, body: config }), 201, 'monolithic POST');

      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.length }],
      }));
      const mput = await request(`/v2/${repo}/manifests/v1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: manifest });
      expect(mput, 201, 'PUT manifest (streamed body)');
      const mget = await request(`/v2/${repo}/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      expect(mget, 200, 'GET manifest');
      assert.ok(mget.body.equals(manifest));
      expect(await request(`/v2/${repo}/manifests/${sha(manifest)}`, { method: 'HEAD' }), 200, 'HEAD manifest');
      const tags = await request(`/v2/${repo}/tags/list`);
      expect(tags, 200, 'tags list');
      assert.deepEqual(tags.json(), { name: repo, tags: ['v1'] });
      const catalog = await request('/v2/_catalog');
      expect(catalog, 200, 'catalog');
      assert.ok((catalog.json() as { repositories: string[] }).repositories.includes(repo));
      expect(await request(`/v2/${repo}/referrers/${sha(manifest)}`), 200, 'referrers');

      // Errors are the spec's JSON, also after a refused body that is still arriving.
      const unknown = await request(`/v2/${repo}/blobs/sha256:${'0'.repeat(64)}`);
      expect(unknown, 404, 'unknown blob');
      assert.equal((unknown.json() as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UNKNOWN');
      const tooBig = await request(`/v2/${repo}/manifests/big`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: [Buffer.alloc(3 << 20, 0x20), Buffer.alloc(2 << 20, 0x20)] });
      expect(tooBig, 413, 'oversized manifest');
      assert.equal((tooBig.json() as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_INVALID');
      expect(await request('/v2/', { method: 'PATCH' }), 405, 'method not allowed');

      expect(await request(`/v2/${repo}/manifests/${sha(manifest)}`, { method: 'DELETE' }), 202, 'DELETE manifest');
      expect(await request(`/v2/${repo}/blobs/${digest}`, { method: 'DELETE' }), 202, 'DELETE blob');
      // The connection (or session) is still good after all that.
      expect(await request('/v2/'), 200, 'still serving');
    });
  });
}

describe('protocol versions and ciphers', () => {
  test('TLS 1.2 and 1.3 are accepted', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const s = await handshake(wharf.addr, { ca: readFileSync(certs.ca), minVersion: v, maxVersion: v });
      assert.equal(s.getProtocol(), v);
      s.destroy();
    }
  });

  test('a TLS 1.1 client is refused by the server', async () => {
    // SECLEVEL=0 lets this client's OpenSSL offer TLS 1.1 at all; the refusal must come from the server.
    await assert.rejects(
      handshake(wharf.addr, { ca: readFileSync(certs.ca), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      (e: NodeJS.ErrnoException) => /ALERT_PROTOCOL_VERSION|alert protocol version|unsupported protocol|wrong version/i.test(`${e.code} ${e.message}`),
    );
  });

  test('CBC and non-forward-secret suites are refused; the server picks an AEAD suite', async () => {
    for (const weak of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'AES128-GCM-SHA256']) {
      await assert.rejects(
        handshake(wharf.addr, { ca: readFileSync(certs.ca), maxVersion: 'TLSv1.2', ciphers: weak }),
        (e: NodeJS.ErrnoException) => /HANDSHAKE_FAILURE|handshake failure|no shared cipher/i.test(`${e.code} ${e.message}`),
        weak,
      );
    }
    const s = await handshake(wharf.addr, { ca: readFileSync(certs.ca), maxVersion: 'TLSv1.2' });
    assert.match(s.getCipher().name, /GCM|CHACHA20/);
    s.destroy();
  });

  test('tls.minVersion TLSv1.3 refuses a TLS 1.2 client', async () => {
    const strict = await startWharf({ tls: { cert: certs.cert, key: certs.key, minVersion: 'TLSv1.3' } });
    try {
      await assert.rejects(handshake(strict.addr, { ca: readFileSync(certs.ca), maxVersion: 'TLSv1.2' }), /protocol version|ALERT_PROTOCOL_VERSION/i);
      const s = await handshake(strict.addr, { ca: readFileSync(certs.ca) });
      assert.equal(s.getProtocol(), 'TLSv1.3');
      s.destroy();
    } finally {
      await strict.stop();
      strict.cleanup();
    }
  });
});

/** Open files of the server process under its blob directory. */
function openBlobFiles(server: WharfServer): string[] {
  const dir = `/proc/${server.proc.pid}/fd`;
  const out: string[] = [];
  for (const fd of readdirSync(dir)) {
    try {
      const target = readlinkSync(`${dir}/${fd}`);
      if (target.startsWith(server.dataDir) && target.includes('blobs')) out.push(target);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

test('an HTTP/2 download the client cancels frees the blob file; the session keeps serving', async () => {
  const blob = randomBytes(32 << 20);
  const digest = sha(blob);
  const h2 = new H2Client(wharf.url, { ca: certs.ca });
  try {
    expect(await h2.request(`/v2/tls/cancel/blobs/uploads/?digest=${digest}`, { method: 'POST', body: [blob.subarray(0, 16 << 20), blob.subarray(16 << 20)] }), 201, 'push');
    const stream = h2.session.request({ ':method': 'GET', ':path': `/v2/tls/cancel/blobs/${digest}` });
    let received = 0;
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (b: Buffer) => {
        received += b.length;
        // Stop reading after the first bytes: the server is now blocked on flow control.
        if (received > 0) { stream.pause(); resolve(); }
      });
      stream.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(openBlobFiles(wharf).length > 0, 'the download holds the blob open while it runs');
    stream.close(h2c.NGHTTP2_CANCEL);
    let open = openBlobFiles(wharf);
    for (let i = 0; i < 50 && open.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      open = openBlobFiles(wharf);
    }
    assert.deepEqual(open, [], 'no blob file stays open after the client cancelled');
    expect(await h2.request('/v2/'), 200, 'the session still serves');
  } finally {
    await h2.close();
  }
});

test('a graceful stop does not wait for idle HTTP/2 sessions or HTTP/1.1 keep-alive connections', async () => {
  const w = await startWharf({ tls: { cert: certs.cert, key: certs.key } });
  const h2 = new H2Client(w.url, { ca: certs.ca });
  try {
    expect(await h2.request('/v2/'), 200, 'h2');
    // An HTTP/1.1 keep-alive connection left idle.
    const { Agent, request } = await import('node:https');
    const agent = new Agent({ keepAlive: true, ca: readFileSync(certs.ca) });
    await new Promise<void>((resolve, reject) => {
      request(`${w.url}/v2/`, { agent }, (res) => { res.resume(); res.once('end', resolve); }).once('error', reject).end();
    });
    const t0 = Date.now();
    await w.stop();
    const took = Date.now() - t0;
    assert.ok(took < 5000, `stopped in ${took} ms`);
    assert.equal(w.proc.exitCode, 0, 'exited cleanly, not killed');
    agent.destroy();
  } finally {
    await h2.close().catch(() => {});
    await w.stop();
    w.cleanup();
  }
});
