// Blob uploads: session start, monolithic POST, POST+PUT, chunked and streamed PATCH, final chunk on
// PUT, status, cancel, digest checks, session ownership, cross-repository mount, zero-length and
// multi-MiB blobs, and clients that die mid-request.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, probeConnection, raw, req, sleep, streamOf, truncatedRequest, type Res } from './lib/http.js';
import { ZERO, content, randomBlob, repoName, sha256, sha512, unknownDigest } from './lib/content.js';
import { blobStatus, pushBlob, startUpload, withDigest } from './lib/registry.js';

describe('blob uploads', () => {
  const s = useWharf();

  const patch = (url: URL, data: Uint8Array | ReadableStream<Uint8Array>, range?: string): Promise<Res> => {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (range !== undefined) headers['content-range'] = range;
    return req(s.url, url, { method: 'PATCH', body: data, headers });
  };

  const put = (url: URL, digest: string | null, data?: Uint8Array, headers: Record<string, string> = {}): Promise<Res> => {
    const target = digest === null ? url : withDigest(url, digest);
    return req(s.url, target, { method: 'PUT', body: data, headers: data ? { 'content-type': 'application/octet-stream', ...headers } : headers });
  };

  const status = (url: URL): Promise<Res> => req(s.url, url);

  /** Paths of requests this file cuts off on purpose: the server may log those as failed. */
  const dropped = new Set<string>();
  const cutOff = (path: string, init: Parameters<typeof truncatedRequest>[2]): Promise<void> => {
    dropped.add(path);
    return truncatedRequest(s.url, path, init);
  };

  /** The Range header of an upload of `size` bytes ("0-0" when empty, as Distribution reports it). */
  const rangeOf = (size: number): string => `0-${size > 0 ? size - 1 : 0}`;

  /** Location of an upload response, checked to be an upload URL of `repo`, as an absolute URL. */
  const uploadLocation = (res: Res, repo: string): URL => {
    const loc = res.headers.get('location');
    assert.ok(loc, `no Location header: ${res.method} ${res.url} -> ${res.status}`);
    const u = new URL(loc, s.url);
    assert.ok(u.pathname.startsWith(`/v2/${repo}/blobs/uploads/`), `Location ${loc} is not an upload URL of ${repo}`);
    return u;
  };

  /** The blob is readable in `repo` and has exactly these bytes. */
  const expectBlob = async (repo: string, c: { data: Buffer; digest: string }): Promise<void> => {
    const res = await req(s.url, `/v2/${repo}/blobs/${c.digest}`);
    expectStatus(res, 200, 'blob should be readable');
    assert.equal(res.body.length, c.data.length, 'blob length');
    assert.ok(res.body.equals(c.data), 'blob bytes differ from what was uploaded');
    assert.equal(res.headers.get('docker-content-digest'), c.digest);
  };

  /** A 201 for a finished blob: Location is a pullable URL of the blob, Docker-Content-Digest is right. */
  const expectCreated = async (res: Res, repo: string, c: { data: Buffer; digest: string }): Promise<void> => {
    expectStatus(res, 201);
    assert.equal(res.headers.get('docker-content-digest'), c.digest);
    const loc = res.headers.get('location');
    assert.ok(loc, 'a 201 must carry Location');
    const pulled = await req(s.url, loc);
    expectStatus(pulled, 200, `Location ${loc} must be pullable`);
    assert.ok(pulled.body.equals(c.data), 'Location serves different bytes');
    await expectBlob(repo, c);
  };

  describe('starting a session', () => {
    test('POST answers 202 with Location, Docker-Upload-UUID and Range 0-0', async () => {
      const repo = repoName('up-start');
      const res = await req(s.url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      expectStatus(res, 202);
      const loc = uploadLocation(res, repo);
      const uuid = res.headers.get('docker-upload-uuid');
      assert.ok(uuid && uuid.length > 0, 'Docker-Upload-UUID missing');
      assert.equal(res.headers.get('range'), '0-0');
      // The session is live at its Location.
      const st = await status(loc);
      expectStatus(st, 204);
      assert.equal(st.headers.get('range'), '0-0');
    });

    test('two sessions in one repository get different Locations', async () => {
      const repo = repoName('up-two');
      const a = await startUpload(s.url, repo);
      const b = await startUpload(s.url, repo);
      assert.notEqual(a.toString(), b.toString());
    });
  });

  describe('monolithic uploads', () => {
    test('POST ?digest= with the body answers 201 with Location and Docker-Content-Digest', async () => {
      const repo = repoName('up-mono');
      const c = randomBlob(2048);
      const res = await req(s.url, `/v2/${repo}/blobs/uploads/?digest=${c.digest}`, {
        method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' },
      });
      await expectCreated(res, repo, c);
    });

    test('POST then PUT ?digest= with the whole body answers 201', async () => {
      const repo = repoName('up-postput');
      const c = randomBlob(4096);
      const upload = await startUpload(s.url, repo);
      await expectCreated(await put(upload, c.digest, c.data), repo, c);
    });

    test('the finished session is gone: status, PATCH and PUT answer 404 BLOB_UPLOAD_UNKNOWN', async () => {
      const repo = repoName('up-done');
      const c = randomBlob(100);
      const upload = await startUpload(s.url, repo);
      expectStatus(await put(upload, c.digest, c.data), 201);
      expectError(await status(upload), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await patch(upload, randomBlob(10).data, '100-109'), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await put(upload, c.digest), 404, 'BLOB_UPLOAD_UNKNOWN');
    });

    test('pushing a blob the repository already has answers 201 again', async () => {
      const repo = repoName('up-again');
      const c = randomBlob(500);
      await pushBlob(s.url, repo, c);
      const res = await req(s.url, `/v2/${repo}/blobs/uploads/?digest=${c.digest}`, { method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' } });
      await expectCreated(res, repo, c);
    });
  });

  describe('chunked uploads', () => {
    test('PATCH chunks with Content-Range answer 202 with Range 0-(n-1); PUT without a body finishes', async () => {
      const repo = repoName('up-chunks');
      const c = randomBlob(3000);
      let loc = await startUpload(s.url, repo);
      let offset = 0;
      for (const size of [1000, 1500, 500]) {
        const res = await patch(loc, c.data.subarray(offset, offset + size), `${offset}-${offset + size - 1}`);
        expectStatus(res, 202);
        offset += size;
        assert.equal(res.headers.get('range'), rangeOf(offset));
        loc = uploadLocation(res, repo); // each chunk uses the Location of the previous answer
        const st = await status(loc);
        expectStatus(st, 204);
        assert.equal(st.headers.get('range'), rangeOf(offset));
        uploadLocation(st, repo);
      }
      assert.equal(await blobStatus(s.url, repo, c.digest), 404, 'not a blob before the closing PUT');
      await expectCreated(await put(loc, c.digest), repo, c);
    });

    test('an out-of-order chunk answers 416; the session keeps its offset and can go on', async () => {
      const repo = repoName('up-order');
      const c = randomBlob(300);
      let loc = await startUpload(s.url, repo);
      const first = await patch(loc, c.data.subarray(0, 100), '0-99');
      expectStatus(first, 202);
      loc = uploadLocation(first, repo);

      // A gap (starts past the end), an overlap (re-sends bytes already there), and a restart at 0.
      for (const [from, to] of [[150, 249], [50, 149], [0, 99]] as const) {
        const res = await patch(loc, c.data.subarray(from, to + 1), `${from}-${to}`);
        expectError(res, 416, 'RANGE_INVALID');
        const st = await status(loc);
        expectStatus(st, 204);
        assert.equal(st.headers.get('range'), '0-99', `offset after rejected chunk ${from}-${to}`);
      }

      const second = await patch(loc, c.data.subarray(100), '100-299');
      expectStatus(second, 202);
      assert.equal(second.headers.get('range'), '0-299');
      await expectCreated(await put(uploadLocation(second, repo), c.digest), repo, c);
    });

    test('a first chunk that does not start at 0 answers 416', async () => {
      const repo = repoName('up-first');
      const loc = await startUpload(s.url, repo);
      expectError(await patch(loc, randomBlob(10).data, '1-10'), 416, 'RANGE_INVALID');
      assert.equal((await status(loc)).headers.get('range'), '0-0');
    });

    test('a malformed Content-Range answers 416 and appends nothing', async () => {
      const repo = repoName('up-badrange');
      const loc = await startUpload(s.url, repo);
      for (const range of ['abc', '10-5', '-5']) {
        const res = await patch(loc, randomBlob(6).data, range);
        expectError(res, 416, 'RANGE_INVALID');
      }
      assert.equal((await status(loc)).headers.get('range'), '0-0');
    });

    test('a Content-Length that disagrees with Content-Range answers 400 SIZE_INVALID and appends nothing', async () => {
      const repo = repoName('up-size');
      const loc = await startUpload(s.url, repo);
      const res = await raw(s.url, loc.pathname + loc.search, {
        method: 'PATCH', body: randomBlob(5).data,
        headers: { 'content-type': 'application/octet-stream', 'content-range': '0-9', 'content-length': 5 },
      });
      expectError(res, 400, 'SIZE_INVALID');
      const st = await status(loc);
      expectStatus(st, 204);
      assert.equal(st.headers.get('range'), '0-0');
    });

    test('a chunked PATCH whose body is shorter than its Content-Range answers 400 SIZE_INVALID and appends nothing', async () => {
      const repo = repoName('up-short');
      const c = randomBlob(200);
      let loc = await startUpload(s.url, repo);
      const first = await patch(loc, c.data.subarray(0, 100), '0-99');
      expectStatus(first, 202);
      loc = uploadLocation(first, repo);
      // Chunked transfer, so no Content-Length gives the shortfall away before the body ends.
      const short = await patch(loc, streamOf(c.data.subarray(100, 150)), '100-199');
      expectError(short, 400, 'SIZE_INVALID');
      const st = await status(loc);
      expectStatus(st, 204);
      assert.equal(st.headers.get('range'), '0-99', 'the short chunk must not be appended');
      // The same chunk, whole, goes on from where the upload stood; the blob has exactly the right bytes.
      const whole = await patch(loc, c.data.subarray(100), '100-199');
      expectStatus(whole, 202);
      assert.equal(whole.headers.get('range'), '0-199');
      await expectCreated(await put(uploadLocation(whole, repo), c.digest), repo, c);
    });

    for (const framing of ['content-length', 'chunked'] as const) {
      test(`a chunk longer than its Content-Range (${framing}) is refused, appends nothing, and leaves the connection usable or closed`, async () => {
        const repo = repoName('up-overlong');
        const loc = await startUpload(s.url, repo);
        const probe = await probeConnection(s.url, 'PATCH', loc.pathname + loc.search,
          { 'content-type': 'application/octet-stream', 'content-range': '0-99' }, randomBlob(5 * 1024 * 1024).data, framing);
        assert.ok(probe.status >= 400 && probe.status < 500, `expected a 4xx refusal: ${probe.response}`);
        assert.notEqual(probe.after, 'hung', `after the ${probe.status} the server kept the connection open but did not answer the next request on it:\n${probe.response}`);
        const st = await status(loc);
        expectStatus(st, 204);
        assert.equal(st.headers.get('range'), '0-0', 'a refused chunk must not be appended');
      });
    }

    test('streamed PATCH without Content-Range (chunked transfer) appends; Range follows', async () => {
      const repo = repoName('up-stream');
      const c = randomBlob(5000);
      let loc = await startUpload(s.url, repo);
      const a = await patch(loc, streamOf(c.data.subarray(0, 1000), c.data.subarray(1000, 2500)));
      expectStatus(a, 202);
      assert.equal(a.headers.get('range'), '0-2499');
      loc = uploadLocation(a, repo);
      // A second streamed PATCH, then one with a Content-Length but still no Content-Range.
      const b = await patch(loc, streamOf(c.data.subarray(2500, 4000)));
      expectStatus(b, 202);
      assert.equal(b.headers.get('range'), '0-3999');
      loc = uploadLocation(b, repo);
      const last = await patch(loc, c.data.subarray(4000));
      expectStatus(last, 202);
      assert.equal(last.headers.get('range'), '0-4999');
      await expectCreated(await put(uploadLocation(last, repo), c.digest), repo, c);
    });

    test('PUT may carry the final chunk', async () => {
      const repo = repoName('up-final');
      const c = randomBlob(2000);
      const loc = await startUpload(s.url, repo);
      const first = await patch(loc, c.data.subarray(0, 1200), '0-1199');
      expectStatus(first, 202);
      await expectCreated(await put(uploadLocation(first, repo), c.digest, c.data.subarray(1200)), repo, c);
    });

    test('PUT may carry the final chunk with its Content-Range', async () => {
      const repo = repoName('up-final-range');
      const c = randomBlob(2000);
      const loc = await startUpload(s.url, repo);
      const first = await patch(loc, c.data.subarray(0, 1200), '0-1199');
      expectStatus(first, 202);
      const res = await put(uploadLocation(first, repo), c.digest, c.data.subarray(1200), { 'content-range': '1200-1999' });
      await expectCreated(res, repo, c);
    });

    test('a blob of a few MiB in several chunks arrives intact', async () => {
      const repo = repoName('up-big');
      const c = randomBlob(5 * 1024 * 1024 + 123);
      let loc = await startUpload(s.url, repo);
      const chunk = 2 * 1024 * 1024;
      for (let off = 0; off < c.size; off += chunk) {
        const end = Math.min(off + chunk, c.size) - 1;
        const res = await patch(loc, c.data.subarray(off, end + 1), `${off}-${end}`);
        expectStatus(res, 202);
        assert.equal(res.headers.get('range'), `0-${end}`);
        loc = uploadLocation(res, repo);
      }
      const done = await put(loc, c.digest);
      expectStatus(done, 201);
      const get = await req(s.url, `/v2/${repo}/blobs/${c.digest}`);
      expectStatus(get, 200);
      assert.equal(get.headers.get('content-length'), String(c.size));
      assert.equal(sha256(get.body), c.digest, 'the served blob hashes to its digest');
      const tail = await req(s.url, `/v2/${repo}/blobs/${c.digest}`, { headers: { range: 'bytes=-1000' } });
      expectStatus(tail, 206);
      assert.ok(tail.body.equals(c.data.subarray(c.size - 1000)));
    });
  });

  describe('status and cancel', () => {
    test('GET on a session answers 204 with Location and Range', async () => {
      const repo = repoName('up-status');
      const loc = await startUpload(s.url, repo);
      expectStatus(await patch(loc, randomBlob(42).data, '0-41'), 202);
      const st = await status(loc);
      expectStatus(st, 204);
      assert.equal(st.headers.get('range'), '0-41');
      uploadLocation(st, repo);
      assert.equal(st.body.length, 0);
    });

    test('DELETE cancels: 204, then the session is 404 BLOB_UPLOAD_UNKNOWN everywhere', async () => {
      const repo = repoName('up-cancel');
      const c = randomBlob(64);
      const loc = await startUpload(s.url, repo);
      expectStatus(await patch(loc, c.data, '0-63'), 202);
      expectStatus(await req(s.url, loc, { method: 'DELETE' }), 204);
      expectError(await status(loc), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await patch(loc, c.data, '0-63'), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await put(loc, c.digest), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await req(s.url, loc, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.equal(await blobStatus(s.url, repo, c.digest), 404);
    });

    test('an unknown session id is 404 BLOB_UPLOAD_UNKNOWN for GET, PATCH, PUT and DELETE', async () => {
      const repo = repoName('up-unknown');
      await pushBlob(s.url, repo, randomBlob(8)); // the repository exists
      for (const id of ['00000000-0000-0000-0000-000000000000', 'nope', '..%2F..%2Fmeta.db', 'a'.repeat(300)]) {
        const url = new URL(`/v2/${repo}/blobs/uploads/${id}`, s.url);
        expectError(await status(url), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await patch(url, randomBlob(4).data, '0-3'), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await put(url, unknownDigest()), 404, 'BLOB_UPLOAD_UNKNOWN');
        expectError(await req(s.url, url, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      }
    });

    test('a session id used under another repository name is 404 BLOB_UPLOAD_UNKNOWN, and stays usable in its own', async () => {
      const [mine, other] = [repoName('up-mine'), repoName('up-other')];
      await pushBlob(s.url, other, randomBlob(8)); // the other repository exists too
      const c = randomBlob(200);
      const loc = await startUpload(s.url, mine);
      expectStatus(await patch(loc, c.data.subarray(0, 100), '0-99'), 202);
      const foreign = new URL(loc.toString().replace(`/v2/${mine}/`, `/v2/${other}/`));
      assert.notEqual(foreign.toString(), loc.toString());

      expectError(await status(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await patch(foreign, c.data.subarray(100), '100-199'), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await put(foreign, c.digest, c.data.subarray(100)), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await req(s.url, foreign, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      assert.equal(await blobStatus(s.url, other, c.digest), 404, 'nothing landed in the other repository');

      const st = await status(loc);
      expectStatus(st, 204);
      assert.equal(st.headers.get('range'), '0-99', 'the foreign requests did not touch the session');
      await expectCreated(await put(loc, c.digest, c.data.subarray(100)), mine, c);
      assert.equal(await blobStatus(s.url, other, c.digest), 404);
    });
  });

  describe('digest checks', () => {
    test('PUT with the wrong digest answers 400 DIGEST_INVALID and no blob becomes readable', async () => {
      const repo = repoName('up-wrong');
      const c = randomBlob(700);
      const claimed = unknownDigest();
      const loc = await startUpload(s.url, repo);
      expectError(await put(loc, claimed, c.data), 400, 'DIGEST_INVALID');
      assert.equal(await blobStatus(s.url, repo, claimed), 404, 'the claimed digest must not exist');
      assert.equal(await blobStatus(s.url, repo, c.digest), 404, 'the real digest must not exist either');
    });

    test('chunked upload closed with the wrong digest answers 400 DIGEST_INVALID', async () => {
      const repo = repoName('up-wrong-chunks');
      const c = randomBlob(700);
      const loc = await startUpload(s.url, repo);
      expectStatus(await patch(loc, c.data, '0-699'), 202);
      const claimed = sha256(c.data.subarray(1));
      expectError(await put(loc, claimed), 400, 'DIGEST_INVALID');
      assert.equal(await blobStatus(s.url, repo, claimed), 404);
      assert.equal(await blobStatus(s.url, repo, c.digest), 404);
    });

    test('monolithic POST with the wrong digest answers 400 DIGEST_INVALID and stores nothing', async () => {
      const repo = repoName('up-wrong-mono');
      await pushBlob(s.url, repo, randomBlob(8));
      const c = randomBlob(300);
      const claimed = unknownDigest();
      const res = await req(s.url, `/v2/${repo}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' } });
      expectError(res, 400, 'DIGEST_INVALID');
      assert.equal(await blobStatus(s.url, repo, claimed), 404);
      assert.equal(await blobStatus(s.url, repo, c.digest), 404);
    });

    test('PUT without the digest parameter answers 400 and the session survives', async () => {
      const repo = repoName('up-nodigest');
      const c = randomBlob(100);
      const loc = await startUpload(s.url, repo);
      expectStatus(await patch(loc, c.data, '0-99'), 202);
      expectError(await put(loc, null), 400, 'DIGEST_INVALID');
      assert.equal(await blobStatus(s.url, repo, c.digest), 404);
      await expectCreated(await put(loc, c.digest), repo, c);
    });

    test('PUT or POST with a malformed digest answers 400 DIGEST_INVALID', async () => {
      const repo = repoName('up-baddigest');
      const c = randomBlob(100);
      const loc = await startUpload(s.url, repo);
      for (const d of ['sha256:abc', 'nonsense', `sha256:${'Z'.repeat(64)}`]) {
        expectError(await put(loc, d, c.data), 400, 'DIGEST_INVALID');
        const mono = await req(s.url, `/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(d)}`, { method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' } });
        expectError(mono, 400, 'DIGEST_INVALID');
      }
      assert.equal(await blobStatus(s.url, repo, c.digest), 404);
    });
  });

  describe('cross-repository mount', () => {
    test('POST ?mount=&from= answers 201 with Location and Docker-Content-Digest; the blob is readable in the target', async () => {
      const [src, dst] = [repoName('mnt-src'), repoName('mnt-dst')];
      const c = randomBlob(1500);
      await pushBlob(s.url, src, c);
      const res = await req(s.url, `/v2/${dst}/blobs/uploads/?mount=${c.digest}&from=${src}`, { method: 'POST' });
      await expectCreated(res, dst, c);
      // The two links are independent: deleting from the source leaves the target's copy.
      expectStatus(await req(s.url, `/v2/${src}/blobs/${c.digest}`, { method: 'DELETE' }), 202);
      await expectBlob(dst, c);
    });

    test('mount from a repository that lacks the blob answers 202 and starts an upload', async () => {
      const [src, dst] = [repoName('mnt-lack-src'), repoName('mnt-lack-dst')];
      await pushBlob(s.url, src, randomBlob(10));
      const c = randomBlob(400);
      await pushBlob(s.url, repoName('mnt-elsewhere'), c); // the registry has it, just not in src
      const res = await req(s.url, `/v2/${dst}/blobs/uploads/?mount=${c.digest}&from=${src}`, { method: 'POST' });
      expectStatus(res, 202);
      const loc = uploadLocation(res, dst);
      assert.equal(await blobStatus(s.url, dst, c.digest), 404, 'no mount happened');
      await expectCreated(await put(loc, c.digest, c.data), dst, c);
    });

    test('mount from an unknown repository answers 202 and starts an upload', async () => {
      const dst = repoName('mnt-nofrom-dst');
      const c = randomBlob(100);
      const res = await req(s.url, `/v2/${dst}/blobs/uploads/?mount=${c.digest}&from=${repoName('mnt-ghost')}`, { method: 'POST' });
      expectStatus(res, 202);
      await expectCreated(await put(uploadLocation(res, dst), c.digest, c.data), dst, c);
    });

    test('?mount= without from mounts a blob the registry knows (201)', async () => {
      const [src, dst] = [repoName('mnt-anon-src'), repoName('mnt-anon-dst')];
      const c = randomBlob(321);
      await pushBlob(s.url, src, c);
      const res = await req(s.url, `/v2/${dst}/blobs/uploads/?mount=${c.digest}`, { method: 'POST' });
      await expectCreated(res, dst, c);
    });

    test('?mount= without from for a blob nobody has answers 202', async () => {
      const dst = repoName('mnt-anon-none');
      const res = await req(s.url, `/v2/${dst}/blobs/uploads/?mount=${unknownDigest()}`, { method: 'POST' });
      expectStatus(res, 202);
      uploadLocation(res, dst);
    });
  });

  describe('sha512 digests', () => {
    test('a blob pushed under its sha512 digest (monolithic and chunked) is served under it', async () => {
      const repo = repoName('up-sha512');
      const a = randomBlob(1000);
      const a512 = { data: a.data, digest: sha512(a.data) };
      const mono = await req(s.url, `/v2/${repo}/blobs/uploads/?digest=${a512.digest}`, { method: 'POST', body: a.data, headers: { 'content-type': 'application/octet-stream' } });
      await expectCreated(mono, repo, a512);
      const b = randomBlob(3000);
      const b512 = { data: b.data, digest: sha512(b.data) };
      const loc = await startUpload(s.url, repo);
      expectStatus(await patch(loc, b.data.subarray(0, 1000), '0-999'), 202);
      expectStatus(await patch(loc, b.data.subarray(1000), '1000-2999'), 202);
      await expectCreated(await put(loc, b512.digest), repo, b512);
    });

    test('a sha512 digest that does not match is 400 DIGEST_INVALID', async () => {
      const repo = repoName('up-sha512-bad');
      const c = randomBlob(100);
      const wrong = sha512(randomBlob(100).data);
      const loc = await startUpload(s.url, repo);
      expectError(await put(loc, wrong, c.data), 400, 'DIGEST_INVALID');
      assert.equal(await blobStatus(s.url, repo, wrong), 404);
    });
  });

  describe('zero-length blobs', () => {
    test('monolithic POST of the empty blob answers 201 and it reads back empty', async () => {
      const repo = repoName('zero-mono');
      const res = await req(s.url, `/v2/${repo}/blobs/uploads/?digest=${ZERO.digest}`, { method: 'POST', body: ZERO.data, headers: { 'content-type': 'application/octet-stream' } });
      await expectCreated(res, repo, ZERO);
    });

    test('POST then PUT ?digest= without a body stores the empty blob', async () => {
      const repo = repoName('zero-put');
      const loc = await startUpload(s.url, repo);
      await expectCreated(await put(loc, ZERO.digest), repo, ZERO);
    });
  });

  describe('clients that die mid-request', () => {
    test('a PATCH cut off mid-body leaves a consistent offset; the client resumes from it', async () => {
      const repo = repoName('cut-patch');
      const c = randomBlob(3 * 1024 * 1024);
      const loc = await startUpload(s.url, repo);
      const sent = Math.floor(1.5 * 1024 * 1024);
      await cutOff(loc.pathname + loc.search, {
        method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${c.size - 1}` },
        declaredLength: c.size, sent: c.data.subarray(0, sent),
      });
      await sleep(200);
      const st = await status(loc);
      expectStatus(st, 204, 'the session outlives a dropped PATCH');
      const m = /^0-(\d+)$/.exec(st.headers.get('range') ?? '');
      assert.ok(m, `Range ${st.headers.get('range')}`);
      const offset = st.headers.get('range') === '0-0' ? 0 : Number(m[1]) + 1;
      assert.ok(offset <= sent, `offset ${offset} beyond the ${sent} bytes sent`);
      assert.equal(await blobStatus(s.url, repo, c.digest), 404, 'a cut-off upload is not a blob');

      const rest = await patch(loc, c.data.subarray(offset), `${offset}-${c.size - 1}`);
      expectStatus(rest, 202);
      assert.equal(rest.headers.get('range'), `0-${c.size - 1}`);
      await expectCreated(await put(uploadLocation(rest, repo), c.digest), repo, c);
    });

    test('a monolithic POST cut off mid-body stores nothing', async () => {
      const repo = repoName('cut-mono');
      await pushBlob(s.url, repo, randomBlob(8));
      const c = randomBlob(256 * 1024);
      await cutOff(`/v2/${repo}/blobs/uploads/?digest=${c.digest}`, {
        method: 'POST', headers: { 'content-type': 'application/octet-stream' }, declaredLength: c.size, sent: c.data.subarray(0, 100 * 1024),
      });
      await sleep(200);
      assert.equal(await blobStatus(s.url, repo, c.digest), 404);
      // The same push, done properly, works.
      const res = await req(s.url, `/v2/${repo}/blobs/uploads/?digest=${c.digest}`, { method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' } });
      await expectCreated(res, repo, c);
    });

    test('a closing PUT cut off mid-body does not create the blob', async () => {
      const repo = repoName('cut-put');
      const c = randomBlob(256 * 1024);
      const loc = await startUpload(s.url, repo);
      const u = withDigest(loc, c.digest);
      await cutOff(u.pathname + u.search, {
        method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, declaredLength: c.size, sent: c.data.subarray(0, 1000),
      });
      await sleep(200);
      assert.equal(await blobStatus(s.url, repo, c.digest), 404);
    });
  });

  test('a blob pushed by content in two ways has one identity', async () => {
    const repo = repoName('up-same');
    const c = content('same bytes, two pushes');
    await pushBlob(s.url, repo, c);
    const loc = await startUpload(s.url, repo);
    expectStatus(await patch(loc, c.data, `0-${c.size - 1}`), 202);
    await expectCreated(await put(loc, c.digest), repo, c);
  });

  test('no request in this file was answered with a 5xx (dropped connections aside)', async () => {
    const errors = (await s.serverErrors()).filter((l) => !dropped.has(l.url));
    assert.deepEqual(errors, []);
  });
});
