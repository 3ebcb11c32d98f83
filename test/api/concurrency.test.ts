// Concurrent clients: the same blob pushed at once (all succeed, one stored copy, content verifies),
// the same tag put at once with different manifests (all succeed, the tag ends on one of them and
// every read agrees), racing chunks on one session, and parallel pushes to one repository.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectStatus, req, type Res } from './lib/http.js';
import { MT, randomBlob, repoName, sha256, type Content } from './lib/content.js';
import { catalog, getManifest, makeImage, pushBlob, pushImage, putManifest, startUpload, tagsOf, withDigest } from './lib/registry.js';
import { storedCopies, uploadHeld, verifyStored } from './lib/stored.js';

describe('concurrency', () => {
  const s = useWharf();

  const expectBlob = async (repo: string, c: Content): Promise<void> => {
    const res = await req(s.url, `/v2/${repo}/blobs/${c.digest}`);
    expectStatus(res, 200);
    assert.equal(sha256(res.body), c.digest, 'served content hashes to its digest');
  };

  test('two clients uploading the same blob in chunks at the same time both get 201; one copy is stored', async () => {
    const repo = repoName('race-blob');
    const c = randomBlob(512 * 1024);
    const half = c.size / 2;
    const [a, b] = await Promise.all([startUpload(s.url, repo), startUpload(s.url, repo)]);
    const patch = (u: URL, from: number, to: number): Promise<Res> =>
      req(s.url, u, { method: 'PATCH', body: c.data.subarray(from, to), headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` } });
    for (const res of await Promise.all([patch(a, 0, half), patch(b, 0, half)])) expectStatus(res, 202);
    for (const res of await Promise.all([patch(a, half, c.size), patch(b, half, c.size)])) expectStatus(res, 202);
    const done = await Promise.all([a, b].map((u) => req(s.url, withDigest(u, c.digest), { method: 'PUT' })));
    for (const res of done) {
      expectStatus(res, 201);
      assert.equal(res.headers.get('docker-content-digest'), c.digest);
    }
    await expectBlob(repo, c);
    assert.equal((await storedCopies(s, c.digest)).length, 1, 'one stored copy');
    for (const u of [a, b]) {
      const id = u.pathname.split('/').pop()!;
      assert.equal(await uploadHeld(s, id), false, `session ${id} left behind`);
    }
  });

  test('eight clients pushing the same blob monolithically at once, to one and to several repositories', async () => {
    const c = randomBlob(200 * 1024);
    const shared = repoName('race-mono');
    const repos = [...Array.from({ length: 4 }, () => shared), ...Array.from({ length: 4 }, () => repoName('race-mono-n'))];
    const results = await Promise.all(repos.map((r) => req(s.url, `/v2/${r}/blobs/uploads/?digest=${c.digest}`, {
      method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' },
    })));
    for (const res of results) expectStatus(res, 201);
    for (const r of new Set(repos)) await expectBlob(r, c);
    assert.equal((await storedCopies(s, c.digest)).length, 1, 'one stored copy');
  });

  test('POST+PUT pushes of the same blob racing with reads', async () => {
    const repo = repoName('race-read');
    const c = randomBlob(300 * 1024);
    const pushes = Array.from({ length: 4 }, () => pushBlob(s.url, repo, c));
    const reads = Array.from({ length: 8 }, async () => {
      const res = await req(s.url, `/v2/${repo}/blobs/${c.digest}`);
      // Either not there yet, or whole: never a partial blob.
      if (res.status !== 404) {
        expectStatus(res, 200);
        assert.equal(sha256(res.body), c.digest, 'a read during the push saw a partial blob');
      }
    });
    await Promise.all([...pushes, ...reads]);
    await expectBlob(repo, c);
  });

  for (const clients of [2, 8]) {
    test(`${clients} clients putting the same tag at once with different manifests: all 201, the tag ends on one, reads agree`, async () => {
      for (let round = 0; round < 4; round++) {
        const repo = repoName(`race-tag${clients}`);
        const imgs = Array.from({ length: clients }, () => makeImage());
        for (const img of imgs) {
          await pushBlob(s.url, repo, img.config);
          await pushBlob(s.url, repo, img.layers[0]!);
        }
        const results = await Promise.all(imgs.map((img) => putManifest(s.url, repo, 'latest', img.manifest, MT.ociManifest)));
        results.forEach((res, i) => {
          expectStatus(res, 201, `client ${i}`);
          assert.equal(res.headers.get('docker-content-digest'), imgs[i]!.digest);
        });
        const get = await getManifest(s.url, repo, 'latest');
        expectStatus(get, 200);
        const winner = imgs.find((img) => img.manifest.data.equals(get.body));
        assert.ok(winner, 'the tag serves one of the pushed manifests, byte for byte');
        assert.equal(get.headers.get('docker-content-digest'), winner.digest);
        assert.equal(get.headers.get('content-type'), MT.ociManifest);
        const head = await getManifest(s.url, repo, 'latest', 'HEAD');
        assert.equal(head.headers.get('docker-content-digest'), winner.digest, 'HEAD and GET agree');
        assert.equal(head.headers.get('content-length'), String(winner.manifest.size));
        assert.deepEqual(await tagsOf(s.url, repo), ['latest']);
        // Every pushed manifest stays reachable by digest.
        for (const img of imgs) expectStatus(await getManifest(s.url, repo, img.digest), 200);
      }
    });
  }

  test('two PATCHes racing on one session: exactly one chunk is taken, and the session stays whole', async () => {
    const repo = repoName('race-patch');
    const upload = await startUpload(s.url, repo);
    const chunks = [randomBlob(256 * 1024), randomBlob(256 * 1024)];
    const results = await Promise.all(chunks.map((c) => req(s.url, upload, {
      method: 'PATCH', body: c.data, headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${c.size - 1}` },
    })));
    const ok = results.flatMap((res, i) => (res.status === 202 ? [i] : []));
    assert.equal(ok.length, 1, `exactly one chunk accepted: ${results.map((r) => r.status).join(', ')}`);
    const loser = results[1 - ok[0]!]!;
    assert.ok(loser.status >= 400 && loser.status < 500, `the other is refused with a 4xx, got ${loser.status}`);
    const st = await req(s.url, upload);
    expectStatus(st, 204);
    assert.equal(st.headers.get('range'), `0-${chunks[0]!.size - 1}`);
    const winner = chunks[ok[0]!]!;
    expectStatus(await req(s.url, withDigest(upload, winner.digest), { method: 'PUT' }), 201);
    await expectBlob(repo, winner);
  });

  test('parallel pushes of different images to one repository all land', async () => {
    const repo = repoName('race-many');
    const imgs = await Promise.all(Array.from({ length: 10 }, (_, i) => pushImage(s.url, repo, `t${i}`)));
    assert.deepEqual(await tagsOf(s.url, repo), Array.from({ length: 10 }, (_, i) => `t${i}`).sort());
    for (const [i, img] of imgs.entries()) {
      const get = await getManifest(s.url, repo, `t${i}`);
      assert.ok(get.body.equals(img.manifest.data), `t${i} serves its own manifest`);
    }
    assert.ok((await catalog(s.url)).includes(repo));
  });

  test('every stored blob hashes to its name', async () => {
    assert.ok(await verifyStored(s) > 0);
  });

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
