// What SQLite's single writer hid must hold on PostgreSQL: two `wharf serve` processes, each with its
// own data folder, sharing one fresh PostgreSQL database and one S3 bucket, racing each other on the
// same tag, the same blob, and deletes against pushes. No request may meet a 5xx; both processes
// must agree at once on what the registry holds. With accounts (auth.mode builtin), a revocation made
// through one process holds on the other at once.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { createTestBucket, s3ServerEnv } from '../helpers/s3.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { expectStatus, req } from '../api/lib/http.js';
import { MT, randomBlob, repoName, sha256 } from '../api/lib/content.js';
import { ADMIN, apiOk, basic, bearer, startBuiltin, token, withHeaders, type BuiltinServer } from '../api/lib/builtin.js';
import { getManifest, makeImage, pushBlob, pushImageParts, putManifest, startUpload, tagsOf, withDigest } from '../api/lib/registry.js';

describe('two processes on one PostgreSQL database and one bucket', () => {
  let bucket: { name: string; remove(): Promise<void> };
  let database: TestDatabase;
  let a: WharfServer;
  let b: WharfServer;
  const fiveHundreds: string[] = [];

  before(async () => {
    bucket = await createTestBucket();
    database = await createTestDatabase();
    const env = { ...s3ServerEnv(bucket.name), WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: database.url };
    const onLog = (rec: Record<string, unknown>): void => {
      if (rec.msg === 'request' && typeof rec.status === 'number' && rec.status >= 500) fiveHundreds.push(`${String(rec.method)} ${String(rec.url)} ${rec.status}`);
    };
    // Started together on an empty database: they migrate it once between them.
    [a, b] = await Promise.all([startWharf({ env, onLog }), startWharf({ env, onLog })]);
  });
  after(async () => {
    for (const s of [a, b]) {
      await s?.stop();
      s?.cleanup();
    }
    await bucket?.remove();
    await database?.drop();
  });

  test('the same tag put through both at once, 15 rounds: every PUT is 201, both agree where it ends, history has every move', async () => {
    const repo = repoName('race/tag');
    const rounds = 15;
    for (let round = 0; round < rounds; round++) {
      const images = [makeImage(), makeImage()];
      await Promise.all([pushImageParts(a.url, repo, null, images[0]!), pushImageParts(b.url, repo, null, images[1]!)]);
      const puts = await Promise.all([
        putManifest(a.url, repo, 'latest', images[0]!.manifest, MT.ociManifest),
        putManifest(b.url, repo, 'latest', images[1]!.manifest, MT.ociManifest),
      ]);
      for (const p of puts) expectStatus(p, 201, `round ${round}`);
      const seen = await Promise.all([a, b].map(async (s) => sha256((await getManifest(s.url, repo, 'latest')).body)));
      assert.equal(seen[0], seen[1], `round ${round}: both processes serve the same manifest for the tag`);
      assert.ok(images.some((i) => i.digest === seen[0]), `round ${round}: the tag ends on one of the two pushed`);
    }
    // Each round moved the tag at least once and at most twice; never a move recorded twice.
    const history = await rows<{ digest: string }>(`SELECT h.digest FROM tag_history h JOIN repositories r ON r.id = h.repo_id
      WHERE r.name = '${repo}' AND h.name = 'latest' ORDER BY h.at`);
    assert.ok(history.length >= rounds && history.length <= 2 * rounds, `history has ${history.length} moves for ${rounds} rounds`);
    for (let i = 1; i < history.length; i++) assert.notEqual(history[i]!.digest, history[i - 1]!.digest, 'a move to the digest already tagged is not recorded');
  });

  test('the same blob pushed through both at once, monolithic and chunked, 8 times: all 201, each process serves it whole', async () => {
    const repo = repoName('race/blob');
    for (let round = 0; round < 8; round++) {
      const blob = randomBlob(256 * 1024 + round);
      const chunked = async (s: WharfServer): Promise<number> => {
        const url = await startUpload(s.url, repo);
        const half = blob.size >> 1;
        const first = await req(s.url, url.pathname + url.search, {
          method: 'PATCH', body: blob.data.subarray(0, half), headers: { 'content-type': 'application/octet-stream', 'content-range': `0-${half - 1}` },
        });
        expectStatus(first, 202);
        const next = withDigest(new URL(first.headers.get('location')!, s.url), blob.digest);
        return (await req(s.url, next.pathname + next.search, { method: 'PUT', body: blob.data.subarray(half), headers: { 'content-type': 'application/octet-stream' } })).status;
      };
      const monolithic = async (s: WharfServer): Promise<number> => {
        await pushBlob(s.url, repo, blob);
        return 201;
      };
      const statuses = await Promise.all([monolithic(a), chunked(b), chunked(a), monolithic(b)]);
      assert.deepEqual(statuses, [201, 201, 201, 201], `round ${round}`);
      for (const s of [a, b]) {
        const got = await req(s.url, `/v2/${repo}/blobs/${blob.digest}`);
        expectStatus(got, 200);
        assert.equal(sha256(got.body), blob.digest);
      }
    }
    const blobRows = await rows<{ n: number }>(`SELECT COUNT(*) AS n FROM blobs`);
    assert.ok(blobRows[0]!.n >= 8);
  });

  test('deleting through one process while pushing through the other: every push acknowledged and not deleted is whole on both', async () => {
    const repo = repoName('race/delete');
    const pushed: { tag: string; digest: string; layers: string[] }[] = [];
    const deleted = new Set<string>();
    const pusher = (async () => {
      for (let i = 0; i < 30; i++) {
        const img = makeImage({ layers: 2, layerSize: 4096 });
        await pushImageParts(a.url, repo, `t${i}`, img);
        pushed.push({ tag: `t${i}`, digest: img.digest, layers: [img.config.digest, ...img.layers.map((l) => l.digest)] });
      }
    })();
    const deleter = (async () => {
      for (let i = 0; i < 60 && (pushed.length < 30 || i < 15); i++) {
        const victim = pushed[Math.floor(pushed.length / 2)];
        if (victim && !deleted.has(victim.digest)) {
          const res = await req(b.url, `/v2/${repo}/manifests/${victim.digest}`, { method: 'DELETE' });
          assert.ok(res.status === 202, `delete: ${res.status}`);
          deleted.add(victim.digest);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await Promise.all([pusher, deleter]);
    assert.ok(deleted.size > 0, 'something was deleted while the pushes ran');
    const kept = pushed.filter((p) => !deleted.has(p.digest));
    for (const s of [a, b]) {
      assert.deepEqual(((await tagsOf(s.url, repo)) ?? []).sort(), kept.map((p) => p.tag).sort(), `${s.url} lists the kept tags only`);
      for (const p of kept) {
        const m = await getManifest(s.url, repo, p.tag);
        expectStatus(m, 200);
        assert.equal(sha256(m.body), p.digest);
        for (const d of p.layers) expectStatus(await req(s.url, `/v2/${repo}/blobs/${d}`, { method: 'HEAD' }), 200, `${p.tag} ${d}`);
      }
      for (const d of deleted) expectStatus(await getManifest(s.url, repo, d), 404, 'a deleted manifest is gone on both at once');
    }
  });

  test('no request of this file was answered with a 5xx', () => {
    assert.deepEqual(fiveHundreds, []);
  });

  async function rows<T>(sql: string): Promise<T[]> {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    try {
      return (await c.query(sql)).rows as T[];
    } finally {
      await c.end();
    }
  }
});

describe('accounts across two processes on one PostgreSQL database', () => {
  let bucket: { name: string; remove(): Promise<void> };
  let database: TestDatabase;
  let a: BuiltinServer;
  let b: BuiltinServer;

  before(async () => {
    bucket = await createTestBucket();
    database = await createTestDatabase();
    const env = { ...s3ServerEnv(bucket.name), WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: database.url };
    // Both make the first administrator and the first signing key if they find none: exactly one of each results.
    [a, b] = await Promise.all([startBuiltin(env), startBuiltin(env)]);
  });
  after(async () => {
    for (const s of [a, b]) {
      await s?.stop();
      s?.cleanup();
    }
    await bucket?.remove();
    await database?.drop();
  });

  test('one administrator and one signing key; a token one process issues verifies on the other', async () => {
    const users = await apiOk(a, ADMIN, 'GET', '/users', undefined, 200) as { items: { name: string }[] };
    assert.deepEqual(users.items.map((u) => u.name), ['admin']);
    await apiOk(a, ADMIN, 'POST', '/users', { name: 'carol', password: 'carol-password-1' }, 201);
    const carol = basic('carol', 'carol-password-1');
    const t = await token(a, carol, ['repository:carol/app:pull,push']);
    const img = makeImage();
    await withHeaders(bearer(t.token), () => pushImageParts(b.url, 'carol/app', 'v1', img));
    const got = await req(a.url, '/v2/carol/app/manifests/v1', { headers: bearer((await token(b, carol, ['repository:carol/app:pull'])).token) });
    expectStatus(got, 200);
    assert.equal(sha256(got.body), img.digest);
  });

  test('a personal access token revoked through one process is refused by the other at once; so is a changed password', async () => {
    await apiOk(a, ADMIN, 'POST', '/users', { name: 'dave', password: 'dave-password-1' }, 201);
    const dave = basic('dave', 'dave-password-1');
    const made = await apiOk(a, dave, 'POST', '/tokens', { name: 'ci' }, 201) as { id: number; secret: string };
    const pat = basic('dave', made.secret);
    expectStatus(await req(b.url, '/v2/', { headers: pat }), 200, 'the token works on the other process (and is now in its cache)');
    await apiOk(a, dave, 'DELETE', `/tokens/${made.id}`, undefined, 204);
    expectStatus(await req(b.url, '/v2/', { headers: pat }), 401, 'revoked through a, refused by b at once');
    expectStatus(await req(b.url, '/v2/', { headers: dave }), 200);
    await apiOk(a, ADMIN, 'PUT', '/users/dave/password', { password: 'dave-password-2' }, 204);
    expectStatus(await req(b.url, '/v2/', { headers: dave }), 401, 'the old password is refused by b at once');
  });
});
