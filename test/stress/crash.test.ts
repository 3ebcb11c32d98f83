// A server killed with SIGKILL at any moment leaves nothing half-written visible, and clients can retry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { startWharf } from '../helpers/server.js';
import { body, pushBlob, pushImage, sha256, verifyStoredBlobs } from '../helpers/push.js';

/** Starts a PATCH that streams `total` bytes slowly; resolves once `after` bytes are sent. */
function slowPatch(base: string, path: string, data: Buffer, after: number): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(path, base);
    const req = request(url, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-length': data.length } });
    req.on('error', () => undefined);
    req.write(data.subarray(0, after), () => resolve());
    // The rest never comes: the server dies first.
  });
}

test('SIGKILL during a blob upload: nothing visible, the upload resumes after restart', async () => {
  let srv = await startWharf();
  const { dataDir } = srv;
  try {
    const data = randomBytes(4 << 20);
    const digest = sha256(data);
    const start = await fetch(`${srv.url}/v2/crash/upload/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    const location = start.headers.get('location')!;
    await slowPatch(srv.url, location, data, 1 << 20);
    await new Promise((r) => setTimeout(r, 200));
    await srv.kill();

    srv = await startWharf({ dataDir });
    const head = await fetch(`${srv.url}/v2/crash/upload/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404, 'a half-uploaded blob must not be visible');
    // The client asks where the upload stands, and sends the rest.
    const status = await fetch(new URL(location, srv.url));
    assert.equal(status.status, 204);
    const range = status.headers.get('range')!;
    const offset = Number(range.split('-')[1]) + 1;
    assert.ok(offset > 0 && offset <= 1 << 20, `offset after crash: ${range}`);
    const rest = await fetch(new URL(location, srv.url), {
      method: 'PATCH', body: body(data.subarray(offset)),
      headers: { 'content-range': `${offset}-${data.length - 1}`, 'content-type': 'application/octet-stream' },
    });
    await rest.arrayBuffer();
    assert.equal(rest.status, 202);
    const put = await fetch(`${new URL(location, srv.url).toString()}?digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201, await put.text());
    const get = await fetch(`${srv.url}/v2/crash/upload/blobs/${digest}`);
    assert.equal(sha256(Buffer.from(await get.arrayBuffer())), digest);
    assert.ok(await verifyStoredBlobs(dataDir) >= 1);
  } finally {
    await srv.stop();
    srv.cleanup();
  }
});

test('SIGKILL at random moments of concurrent pushes: every visible tag and blob is whole', async () => {
  let srv = await startWharf();
  const { dataDir } = srv;
  const pushed = new Map<string, string>(); // tag -> manifest digest, for pushes that returned 201
  try {
    for (let round = 0; round < 5; round++) {
      const pushes = Array.from({ length: 6 }, async (_, i) => {
        const tag = `r${round}-${i}`;
        try {
          const digest = await pushImage(srv.url, 'crash/many', tag, randomBytes(256 * 1024 + i));
          pushed.set(tag, digest);
        } catch { /* killed mid-push: the client would retry */ }
      });
      await new Promise((r) => setTimeout(r, 20 + Math.floor(Math.random() * 150)));
      await srv.kill();
      await Promise.allSettled(pushes);
      srv = await startWharf({ dataDir });

      // Everything acknowledged is there; everything visible is whole.
      for (const [tag, digest] of pushed) {
        const res = await fetch(`${srv.url}/v2/crash/many/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
        assert.equal(res.status, 200, `acknowledged tag ${tag} lost`);
        const bytes = Buffer.from(await res.arrayBuffer());
        assert.equal(sha256(bytes), digest);
        const m = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string }[] };
        for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) {
          const b = await fetch(`${srv.url}/v2/crash/many/blobs/${d}`);
          assert.equal(sha256(Buffer.from(await b.arrayBuffer())), d);
        }
      }
      const tags = await fetch(`${srv.url}/v2/crash/many/tags/list`);
      if (tags.status === 200) {
        for (const tag of ((await tags.json()) as { tags: string[] }).tags) {
          const res = await fetch(`${srv.url}/v2/crash/many/manifests/${tag}`);
          const digest = res.headers.get('docker-content-digest')!;
          assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest, `visible tag ${tag} is not whole`);
        }
      } else {
        await tags.arrayBuffer();
      }
      await verifyStoredBlobs(dataDir);
    }
    // And a retry after all that works.
    const again = await pushImage(srv.url, 'crash/many', 'retry', randomBytes(1000));
    assert.match(again, /^sha256:/);
  } finally {
    await srv.stop();
    srv.cleanup();
  }
});

test('SIGTERM lets an in-flight upload finish, then exits cleanly', async () => {
  const srv = await startWharf();
  try {
    const data = randomBytes(2 << 20);
    const start = await fetch(`${srv.url}/v2/graceful/app/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    const url = new URL(start.headers.get('location')!, srv.url);
    const done = new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'PATCH', headers: { 'content-type': 'application/octet-stream', 'content-length': data.length } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(data.subarray(0, 1 << 20), () => {
        // SIGTERM only once the server is writing this upload: a request it has not begun is refused with 503.
        void (async () => {
          for (let i = 0; i < 100; i++) {
            const st = await fetch(url);
            await st.arrayBuffer();
            if (st.headers.get('range') !== '0-0') break;
            await new Promise((r) => setTimeout(r, 20));
          }
          srv.proc.kill('SIGTERM');
          setTimeout(() => req.end(data.subarray(1 << 20)), 300);
        })();
      });
    });
    assert.equal(await done, 202);
    const code = await new Promise<number | null>((resolve) => {
      if (srv.proc.exitCode !== null) resolve(srv.proc.exitCode);
      else srv.proc.once('exit', (c) => resolve(c));
    });
    assert.equal(code, 0);
    // New connections are refused once it has gone.
    await assert.rejects(fetch(`${srv.url}/v2/`));
  } finally {
    await srv.stop();
    srv.cleanup();
  }
});

test('two clients pushing the same blob at once both succeed, one copy is stored', async () => {
  const srv = await startWharf();
  try {
    const data = randomBytes(3 << 20);
    const [a, b] = await Promise.all([pushBlob(srv.url, 'race/a', data), pushBlob(srv.url, 'race/b', data)]);
    assert.equal(a, b);
    for (const repo of ['race/a', 'race/b']) {
      const res = await fetch(`${srv.url}/v2/${repo}/blobs/${a}`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), a);
    }
    assert.equal(await verifyStoredBlobs(srv.dataDir), 1);
  } finally {
    await srv.stop();
    srv.cleanup();
  }
});
