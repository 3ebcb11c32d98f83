// Blob reads and deletes: GET/HEAD headers, Range requests, conditional GET, DELETE, visibility
// across repositories, and every error (unknown blob, malformed digest, unknown repository).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectNot5xx, expectStatus, req } from './lib/http.js';
import { ZERO, randomBlob, repoName, unknownDigest, type Content } from './lib/content.js';
import { blobStatus, pushBlob } from './lib/registry.js';

describe('blobs', () => {
  const s = useWharf();
  const repo = repoName('blobs');
  const blob = randomBlob(1000);
  const path = `/v2/${repo}/blobs/${blob.digest}`;

  before(async () => {
    await pushBlob(s.url, repo, blob);
  });

  describe('GET and HEAD', () => {
    test('GET returns the bytes with Content-Length, Docker-Content-Digest and ETag', async () => {
      const res = await req(s.url, path);
      expectStatus(res, 200);
      assert.ok(res.body.equals(blob.data), 'body differs from the pushed bytes');
      assert.equal(res.headers.get('content-length'), '1000');
      assert.equal(res.headers.get('docker-content-digest'), blob.digest);
      assert.equal(res.headers.get('etag'), `"${blob.digest}"`);
    });

    test('HEAD returns the same headers and no body', async () => {
      const res = await req(s.url, path, { method: 'HEAD' });
      expectStatus(res, 200);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.get('content-length'), '1000');
      assert.equal(res.headers.get('docker-content-digest'), blob.digest);
      assert.equal(res.headers.get('etag'), `"${blob.digest}"`);
    });

    test('If-None-Match with the ETag answers 304 without a body', async () => {
      const res = await req(s.url, path, { headers: { 'if-none-match': `"${blob.digest}"` } });
      expectStatus(res, 304);
      assert.equal(res.body.length, 0);
    });

    test('a zero-length blob is served with Content-Length 0', async () => {
      const r = repoName('blobs-zero');
      await pushBlob(s.url, r, ZERO);
      const get = await req(s.url, `/v2/${r}/blobs/${ZERO.digest}`);
      expectStatus(get, 200);
      assert.equal(get.body.length, 0);
      assert.equal(get.headers.get('content-length'), '0');
      assert.equal(get.headers.get('docker-content-digest'), ZERO.digest);
      const head = await req(s.url, `/v2/${r}/blobs/${ZERO.digest}`, { method: 'HEAD' });
      expectStatus(head, 200);
      assert.equal(head.headers.get('content-length'), '0');
    });
  });

  describe('Range requests', () => {
    const ranged = async (range: string): Promise<Awaited<ReturnType<typeof req>>> => req(s.url, path, { headers: { range } });

    const expectPartial = (res: Awaited<ReturnType<typeof req>>, start: number, end: number): void => {
      expectStatus(res, 206);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${blob.size}`);
      assert.equal(res.headers.get('content-length'), String(end - start + 1));
      assert.ok(res.body.equals(blob.data.subarray(start, end + 1)), `206 body is not bytes ${start}-${end}`);
    };

    test('bytes=10-19 answers 206 with exactly those bytes', async () => {
      expectPartial(await ranged('bytes=10-19'), 10, 19);
    });

    test('a single byte: bytes=0-0', async () => {
      expectPartial(await ranged('bytes=0-0'), 0, 0);
    });

    test('suffix range bytes=-100 returns the last 100 bytes', async () => {
      expectPartial(await ranged('bytes=-100'), 900, 999);
    });

    test('suffix range longer than the blob returns the whole blob as 206', async () => {
      expectPartial(await ranged('bytes=-5000'), 0, 999);
    });

    test('open-ended range bytes=990- returns the tail', async () => {
      expectPartial(await ranged('bytes=990-'), 990, 999);
    });

    test('an end past the blob is clamped to the last byte', async () => {
      expectPartial(await ranged('bytes=500-99999'), 500, 999);
    });

    test('HEAD with a Range reports the partial length without a body', async () => {
      const res = await req(s.url, path, { method: 'HEAD', headers: { range: 'bytes=100-199' } });
      expectStatus(res, 206);
      assert.equal(res.headers.get('content-range'), `bytes 100-199/${blob.size}`);
      assert.equal(res.headers.get('content-length'), '100');
      assert.equal(res.body.length, 0);
    });

    test('a start at or beyond the size answers 416 with Content-Range bytes */size', async () => {
      for (const range of ['bytes=1000-', 'bytes=1000-1005', 'bytes=5000-6000']) {
        const res = await ranged(range);
        expectError(res, 416, 'RANGE_INVALID');
        assert.equal(res.headers.get('content-range'), `bytes */${blob.size}`, range);
      }
    });

    test('a malformed range answers 416 (never 500, never a wrong 206)', async () => {
      for (const range of ['bytes=abc', 'bytes=5-2', 'bytes=-', 'bytes=-0']) {
        const res = await ranged(range);
        expectError(res, 416, 'RANGE_INVALID');
      }
    });
  });

  describe('DELETE', () => {
    test('DELETE answers 202, then the blob is 404 BLOB_UNKNOWN and a second DELETE is 404', async () => {
      const r = repoName('blobs-del');
      const b = randomBlob(300);
      await pushBlob(s.url, r, b);
      const del = await req(s.url, `/v2/${r}/blobs/${b.digest}`, { method: 'DELETE' });
      expectStatus(del, 202);
      expectError(await req(s.url, `/v2/${r}/blobs/${b.digest}`), 404, 'BLOB_UNKNOWN');
      expectError(await req(s.url, `/v2/${r}/blobs/${b.digest}`, { method: 'HEAD' }), 404);
      expectError(await req(s.url, `/v2/${r}/blobs/${b.digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    });

    test('deleting a blob in one repository leaves it readable in another', async () => {
      const [a, b] = [repoName('blobs-del-a'), repoName('blobs-del-b')];
      const c = randomBlob(200);
      await pushBlob(s.url, a, c);
      await pushBlob(s.url, b, c);
      expectStatus(await req(s.url, `/v2/${a}/blobs/${c.digest}`, { method: 'DELETE' }), 202);
      assert.equal(await blobStatus(s.url, a, c.digest), 404);
      const get = await req(s.url, `/v2/${b}/blobs/${c.digest}`);
      expectStatus(get, 200);
      assert.ok(get.body.equals(c.data));
    });

    test('DELETE of a blob never pushed is 404 BLOB_UNKNOWN', async () => {
      expectError(await req(s.url, `/v2/${repo}/blobs/${unknownDigest()}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    });

    test('DELETE in an unknown repository is 404', async () => {
      const res = await req(s.url, `/v2/${repoName('nowhere')}/blobs/${blob.digest}`, { method: 'DELETE' });
      expectError(res, 404, 'NAME_UNKNOWN', 'BLOB_UNKNOWN');
    });

    test('DELETE with a malformed digest is 400 DIGEST_INVALID', async () => {
      expectError(await req(s.url, `/v2/${repo}/blobs/sha256:1234`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
      assert.equal(await blobStatus(s.url, repo, blob.digest), 200, 'the pushed blob must be untouched');
    });
  });

  describe('visibility across repositories', () => {
    test("another repository's blob is 404 BLOB_UNKNOWN until mounted, then readable", async () => {
      const [src, dst] = [repoName('blobs-src'), repoName('blobs-dst')];
      const c = randomBlob(500);
      await pushBlob(s.url, src, c);
      await pushBlob(s.url, dst, randomBlob(10)); // dst exists, but does not hold c
      expectError(await req(s.url, `/v2/${dst}/blobs/${c.digest}`), 404, 'BLOB_UNKNOWN');
      expectError(await req(s.url, `/v2/${dst}/blobs/${c.digest}`, { method: 'HEAD' }), 404);

      const mount = await req(s.url, `/v2/${dst}/blobs/uploads/?mount=${c.digest}&from=${src}`, { method: 'POST' });
      expectStatus(mount, 201);
      const get = await req(s.url, `/v2/${dst}/blobs/${c.digest}`);
      expectStatus(get, 200);
      assert.ok(get.body.equals(c.data));
    });
  });

  describe('errors', () => {
    test('an unknown blob is 404 BLOB_UNKNOWN (GET and HEAD)', async () => {
      const d = unknownDigest();
      expectError(await req(s.url, `/v2/${repo}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
      expectError(await req(s.url, `/v2/${repo}/blobs/${d}`, { method: 'HEAD' }), 404);
    });

    test('a blob in an unknown repository is 404', async () => {
      const r = repoName('nowhere');
      expectError(await req(s.url, `/v2/${r}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN', 'NAME_UNKNOWN');
      expectError(await req(s.url, `/v2/${r}/blobs/${blob.digest}`, { method: 'HEAD' }), 404);
    });

    const malformed: [string, string][] = [
      ['too short', 'sha256:abc'],
      ['no algorithm', 'notadigest'],
      ['upper-case hex', `sha256:${'A'.repeat(64)}`],
      ['non-hex characters', `sha256:${'g'.repeat(64)}`],
      ['one character too long', `sha256:${'a'.repeat(65)}`],
      ['unsupported algorithm', `md5:${'a'.repeat(32)}`],
      ['empty encoded part', 'sha256:'],
      ['algorithm that is an object key', `constructor:${'a'.repeat(64)}`],
      ['encoded part with a dot-dot', 'sha256:..'],
      ['sha512 of the wrong length', `sha512:${'a'.repeat(64)}`],
    ];
    for (const [what, digest] of malformed) {
      test(`malformed digest (${what}) is 400 DIGEST_INVALID on GET and HEAD, never 500`, async () => {
        const get = await req(s.url, `/v2/${repo}/blobs/${digest}`);
        expectNot5xx(get);
        expectError(get, 400, 'DIGEST_INVALID');
        const head = await req(s.url, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
        expectNot5xx(head);
        expectError(head, 400);
      });
    }
  });

  test('a blob pushed once stays byte-identical across many reads', async () => {
    const c: Content = randomBlob(64 * 1024);
    const r = repoName('blobs-reads');
    await pushBlob(s.url, r, c);
    const reads = await Promise.all(Array.from({ length: 8 }, () => req(s.url, `/v2/${r}/blobs/${c.digest}`)));
    for (const res of reads) {
      expectStatus(res, 200);
      assert.ok(res.body.equals(c.data));
    }
  });

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
