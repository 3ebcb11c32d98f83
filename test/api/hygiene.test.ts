// HTTP hygiene, tried as a hostile client would: ranges in odd units, Host header tricks, what the
// HTTP parser refuses, manifests that two parsers could read two ways, mounts that cannot be done,
// references that cannot exist, and clients that hang up mid-request.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, req, sleep } from './lib/http.js';
import { MT, content, randomBlob, repoName } from './lib/content.js';
import { makeImage, pushBlob, pushImage, pushImageParts, putManifest } from './lib/registry.js';

/** Sends raw bytes on a fresh connection; resolves with everything the server wrote before closing (or `ms`). */
function exchange(addr: string, text: string, ms = 3000): Promise<string> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const sock = connect(port, host);
    let got = '';
    const timer = setTimeout(() => { sock.destroy(); resolve(got); }, ms);
    sock.on('data', (b) => { got += b.toString('latin1'); });
    sock.on('close', () => { clearTimeout(timer); resolve(got); });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.write(text);
  });
}

function statusAndJson(raw: string): { status: number; codes: string[] } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  const codes = (JSON.parse(body) as { errors: { code: string }[] }).errors.map((e) => e.code);
  return { status, codes };
}

describe('HTTP hygiene', () => {
  const s = useWharf();
  const logLines: Record<string, unknown>[] = [];
  const blob = randomBlob(1000);
  const repo = 'hygiene/app';

  before(async () => {
    createInterface({ input: s.server.proc.stdout! }).on('line', (l) => {
      try { logLines.push(JSON.parse(l) as Record<string, unknown>); } catch { /* not JSON */ }
    });
    await pushBlob(s.url, repo, blob);
    await pushImage(s.url, repo, 'v1');
  });

  describe('Range', () => {
    test('a unit other than bytes is ignored: 200 with the whole blob', async () => {
      for (const range of ['items=0-10', 'none', 'chars=1-2']) {
        const r = await req(s.url, `/v2/${repo}/blobs/${blob.digest}`, { headers: { range } });
        expectStatus(r, 200, range);
        assert.ok(r.body.equals(blob.data), range);
      }
    });

    test('several ranges are served whole (200), never refused', async () => {
      const r = await req(s.url, `/v2/${repo}/blobs/${blob.digest}`, { headers: { range: 'bytes=0-9,20-29' } });
      expectStatus(r, 200);
      assert.ok(r.body.equals(blob.data));
    });

    test('the unit is case-insensitive', async () => {
      const r = await req(s.url, `/v2/${repo}/blobs/${blob.digest}`, { headers: { range: 'Bytes=0-9' } });
      expectStatus(r, 206);
      assert.ok(r.body.equals(blob.data.subarray(0, 10)));
    });
  });

  describe('Host and the parser', () => {
    test('two Host headers are refused with a JSON 400', async () => {
      const out = await exchange(s.server.addr, `GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
      const r = statusAndJson(out);
      assert.equal(r.status, 400, out);
      assert.deepEqual(r.codes, ['UNSUPPORTED']);
    });

    test('an invalid Host is refused with a JSON 400', async () => {
      for (const host of ['a b', 'x/y', 'host:port', '[zz::1]']) {
        const out = await exchange(s.server.addr, `GET /v2/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        assert.equal(statusAndJson(out).status, 400, `${host}: ${out}`);
      }
    });

    test('an HTTP/1.1 request without Host is refused with a JSON 400; HTTP/1.0 needs none', async () => {
      assert.equal(statusAndJson(await exchange(s.server.addr, 'GET /v2/ HTTP/1.1\r\nConnection: close\r\n\r\n')).status, 400);
      assert.match(await exchange(s.server.addr, 'GET /v2/ HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200/);
    });

    test('a good Host, IPv6 literal included, is served', async () => {
      for (const host of ['127.0.0.1', 'registry.example:5000', '[::1]:5000']) {
        assert.match(await exchange(s.server.addr, `GET /v2/ HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 200/, host);
      }
    });

    test('what the HTTP parser refuses still gets the spec JSON error', async () => {
      for (const bad of ['GET /v2/ HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n', 'BROKEN\r\n\r\n', `GET /v2/ HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(20000)}\r\n\r\n`]) {
        const out = await exchange(s.server.addr, bad);
        const r = statusAndJson(out);
        assert.ok(r.status === 400 || r.status === 431, out.slice(0, 200));
        assert.deepEqual(r.codes, ['UNSUPPORTED']);
      }
    });
  });

  describe('manifests read one way only', () => {
    test('a Content-Type that names another type than the body is refused, and nothing is stored', async () => {
      const img = makeImage();
      await pushImageParts(s.url, repo, null, img).catch(() => undefined);
      for (const ct of [MT.dockerManifest, MT.ociIndex, 'application/vnd.example.other+json']) {
        expectError(await putManifest(s.url, repo, 'mismatch', img.manifest, ct), 400, 'MANIFEST_INVALID');
      }
      expectError(await req(s.url, `/v2/${repo}/manifests/mismatch`), 404, 'MANIFEST_UNKNOWN');
      expectStatus(await putManifest(s.url, repo, 'generic', img.manifest, 'application/json'), 201, 'a generic JSON Content-Type leaves the body to decide');
    });

    test('a manifest with a duplicate key is refused, even one spelled with an escape', async () => {
      const img = makeImage();
      await pushImageParts(s.url, repo, null, img).catch(() => undefined);
      const text = img.manifest.data.toString('utf8');
      const twice = text.replace('"schemaVersion":2', '"schemaVersion":2,"schemaVersion":2');
      const escaped = text.replace('"schemaVersion":2', '"schemaVersion":2,"\\u0073chemaVersion":2');
      const nested = text.replace('"config":{', '"config":{"size":1,');
      for (const doc of [twice, escaped, nested]) {
        assert.notEqual(doc, text);
        expectError(await putManifest(s.url, repo, 'dup', content(doc), MT.ociManifest), 400, 'MANIFEST_INVALID');
      }
      expectError(await req(s.url, `/v2/${repo}/manifests/dup`, { method: 'HEAD' }), 404);
    });
  });

  describe('mounts that cannot be done fall back to an upload', () => {
    test('an invalid digest or source answers 202 with an upload session', async () => {
      for (const q of ['mount=sha256:nothex&from=hygiene/app', `mount=${blob.digest}&from=Not..Valid`, 'mount=&from=hygiene/app']) {
        const r = await req(s.url, `/v2/${repoName('mnt')}/blobs/uploads/?${q}`, { method: 'POST' });
        expectStatus(r, 202, q);
        assert.ok(r.headers.get('location')?.includes('/blobs/uploads/'), q);
      }
    });
  });

  describe('references that cannot exist', () => {
    test('GET and HEAD of a tag that can never be pushed are 404 MANIFEST_UNKNOWN; PUT stays 400 TAG_INVALID', async () => {
      for (const tag of ['.hidden', '-dash', 'a'.repeat(129)]) {
        expectError(await req(s.url, `/v2/${repo}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
        expectStatus(await req(s.url, `/v2/${repo}/manifests/${tag}`, { method: 'HEAD' }), 404);
        const img = makeImage();
        expectError(await putManifest(s.url, repo, tag, img.manifest, MT.ociManifest), 400, 'TAG_INVALID');
      }
    });
  });

  describe('names before bodies', () => {
    test('an invalid repository name is refused before 100 Continue', async () => {
      const out = await exchange(s.server.addr, 'PATCH /v2/BAD/blobs/uploads/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
      assert.match(out, /^HTTP\/1\.1 400/, out);
      assert.ok(!out.includes('100 Continue'));
    });
  });

  describe('hang-ups', () => {
    test('a client that hangs up mid-upload is logged as such, not as an internal error', async () => {
      const post = await req(s.url, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      const path = new URL(post.headers.get('location')!, s.url).pathname;
      const before = logLines.length;
      const [host, port] = [s.server.addr.split(':')[0]!, Number(s.server.addr.split(':')[1])];
      await new Promise<void>((resolve) => {
        const sock = connect(port, host, () => {
          sock.write(`PATCH ${path} HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\nContent-Type: application/octet-stream\r\n\r\n`);
          sock.write(Buffer.alloc(1000));
          setTimeout(() => { sock.destroy(); resolve(); }, 200);
        });
      });
      await sleep(500);
      const lines = logLines.slice(before);
      assert.ok(lines.some((l) => l.msg === 'client closed the connection mid-request'), JSON.stringify(lines));
      assert.ok(!lines.some((l) => l.msg === 'internal error'), JSON.stringify(lines));
    });
  });
});
