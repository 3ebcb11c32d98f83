// Immutable tags over real HTTP (auth.mode builtin): the admin API that sets patterns on a namespace or
// a repository (who may, what it answers, the audit log, the OpenAPI document), and what the Distribution
// API then refuses: moving or deleting a protected tag (403 DENIED naming the pattern and where it is
// set), while pushing its digest again, other tags and other repositories go on as always; and two
// clients racing to make one protected tag with different digests, of which exactly one wins.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeImage, pushBlob, pushImage, pushImageParts, putManifest, getManifest, type Image } from './lib/registry.js';
import { MT } from './lib/content.js';
import { expectError, expectStatus, parseJson, req, type Res } from './lib/http.js';
import { ADMIN, api, apiOk, basic, BOSS, EDITOR, seedAcme, startBuiltin, withHeaders, type BuiltinServer } from './lib/builtin.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

interface Rule { namespace: string; repository: string | null; pattern: string; createdAt: string }


function message(res: Res): string {
  return parseJson<{ errors: { message: string }[] }>(res).errors[0]!.message;
}

describe('immutable tags over HTTP', () => {
  let s: BuiltinServer;
  // npm test's scaled-out pass (WHARF_TEST_META=postgres): the server's metadata on PostgreSQL, where the
  // racing pushes below are decided by the repository's advisory lock.
  let db: TestDatabase | undefined;
  const as = <T>(fn: () => Promise<T>): Promise<T> => withHeaders(ADMIN, fn);
  const del = (repo: string, ref: string): Promise<Res> => req(s.url, `/v2/${repo}/manifests/${ref}`, { method: 'DELETE', headers: ADMIN });
  const digestOf = async (repo: string, ref: string): Promise<string> => {
    const r = await as(() => getManifest(s.url, repo, ref, 'HEAD'));
    expectStatus(r, 200, `${repo}:${ref}`);
    return r.headers.get('docker-content-digest')!;
  };

  before(async () => {
    if (process.env.WHARF_TEST_META === 'postgres') db = await createTestDatabase();
    s = await startBuiltin(db ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url } : {});
    await seedAcme(s);
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
    await db?.drop();
  });

  test('admin API: namespace admins and system admins manage patterns; members see them; each change is audited', async () => {
    const added = await apiOk(s, BOSS, 'POST', '/namespaces/acme/immutable', { pattern: 'v*' }, 201) as Rule & { created: boolean };
    assert.equal(added.created, true);
    assert.deepEqual({ ...added, createdAt: '' }, { namespace: 'acme', repository: null, pattern: 'v*', createdAt: '', created: true });
    assert.ok(!Number.isNaN(Date.parse(added.createdAt)));
    const again = await apiOk(s, BOSS, 'POST', '/namespaces/acme/immutable', { pattern: 'v*' }, 200) as Rule & { created: boolean };
    assert.equal(again.created, false);
    assert.equal(again.createdAt, added.createdAt, 'the first rule\'s time stays');
    await apiOk(s, ADMIN, 'POST', '/namespaces/acme/immutable', { pattern: 'release-?', repository: 'acme/app' }, 201);

    // An editor may push but not decide; an outsider namespace is not found; bad input is INVALID.
    const r = await api(s, EDITOR, 'POST', '/namespaces/acme/immutable', { pattern: 'x*' });
    expectError(r, 403, 'DENIED');
    assert.match(message(r), /only admins of acme may change its immutable tags/);
    expectError(await api(s, BOSS, 'POST', '/namespaces/beta/immutable', { pattern: 'x*' }), 403, 'DENIED');
    expectError(await api(s, ADMIN, 'POST', '/namespaces/nobody/immutable', { pattern: 'x*' }), 404, 'NOT_FOUND');
    expectError(await api(s, BOSS, 'POST', '/namespaces/acme/immutable', { pattern: 'v[0-9]' }), 400, 'INVALID');
    expectError(await api(s, BOSS, 'POST', '/namespaces/acme/immutable', { pattern: 'x*', repository: 'beta/app' }), 400, 'INVALID');
    expectError(await api(s, BOSS, 'POST', '/namespaces/acme/immutable', { pattern: 'x*', extra: 1 }), 400, 'INVALID');

    // Members see the namespace's patterns (those protecting one repository with ?repository=).
    const list = await apiOk(s, EDITOR, 'GET', '/namespaces/acme/immutable', undefined, 200) as { items: Rule[] };
    assert.deepEqual(list.items.map((x) => [x.repository, x.pattern]), [[null, 'v*'], ['acme/app', 'release-?']]);
    const forOther = await apiOk(s, EDITOR, 'GET', `/namespaces/acme/immutable?${new URLSearchParams({ repository: 'acme/other' })}`, undefined, 200) as { items: Rule[] };
    assert.deepEqual(forOther.items.map((x) => [x.repository, x.pattern]), [[null, 'v*']]);
    expectError(await api(s, basic('boss', 'boss-password'), 'GET', '/namespaces/beta/immutable'), 403, 'DENIED');
    // Every rule of the registry: system administrators only.
    assert.deepEqual((await apiOk(s, ADMIN, 'GET', '/immutable', undefined, 200) as { items: Rule[] }).items.map((x) => x.pattern), ['v*', 'release-?']);
    expectError(await api(s, BOSS, 'GET', '/immutable'), 403, 'DENIED');

    // Removing: by pattern (and repository); a second time there is none.
    await apiOk(s, BOSS, 'POST', '/namespaces/acme/immutable', { pattern: 'tmp-*' }, 201);
    expectError(await api(s, EDITOR, 'DELETE', '/namespaces/acme/immutable?pattern=tmp-*'), 403, 'DENIED');
    await apiOk(s, BOSS, 'DELETE', `/namespaces/acme/immutable?${new URLSearchParams({ pattern: 'tmp-*' })}`, undefined, 204);
    expectError(await api(s, BOSS, 'DELETE', `/namespaces/acme/immutable?${new URLSearchParams({ pattern: 'tmp-*' })}`), 404, 'NOT_FOUND');
    expectError(await api(s, BOSS, 'DELETE', '/namespaces/acme/immutable'), 400, 'INVALID');

    const audit = await apiOk(s, ADMIN, 'GET', '/audit?n=1000', undefined, 200) as { items: { actor: string; action: string; target: string; detail: unknown }[] };
    const mine = audit.items.filter((e) => e.action.startsWith('immutable.')).reverse().map((e) => [e.actor, e.action, e.target, e.detail]);
    assert.deepEqual(mine, [
      ['boss', 'immutable.add', 'acme', { pattern: 'v*' }],
      ['admin', 'immutable.add', 'acme/app', { pattern: 'release-?' }],
      ['boss', 'immutable.add', 'acme', { pattern: 'tmp-*' }],
      ['boss', 'immutable.remove', 'acme', { pattern: 'tmp-*' }],
    ]);

    const doc = parseJson<{ paths: Record<string, Record<string, unknown>> }>(await req(s.url, '/api/v1/openapi.json'));
    assert.deepEqual(Object.keys(doc.paths['/api/v1/namespaces/{namespace}/immutable']!).sort(), ['delete', 'get', 'post']);
    assert.ok(doc.paths['/api/v1/immutable']!.get);
  });

  test('a protected tag: made once, pushed again with its digest; moving or deleting it is 403 DENIED naming the pattern', async () => {
    const one = await as(() => pushImage(s.url, 'acme/web', 'v1'));
    await as(() => pushImageParts(s.url, 'acme/web', 'v1', one));
    const two = makeImage();
    await as(async () => { await pushBlob(s.url, 'acme/web', two.config); await pushBlob(s.url, 'acme/web', two.layers[0]!); });
    let r = await as(() => putManifest(s.url, 'acme/web', 'v1', two.manifest, MT.ociManifest));
    expectError(r, 403, 'DENIED');
    assert.equal(message(r), `tag v1 of acme/web is immutable (pattern "v*" set on namespace acme): it points at ${one.digest} and cannot move to ${two.digest}`);
    assert.equal(await digestOf('acme/web', 'v1'), one.digest);
    expectError(await as(() => getManifest(s.url, 'acme/web', two.digest, 'HEAD')), 404, 'MANIFEST_UNKNOWN');

    r = await del('acme/web', 'v1');
    expectError(r, 403, 'DENIED');
    assert.match(message(r), /^tag v1 of acme\/web is immutable \(pattern "v\*" set on namespace acme\): it cannot be deleted$/);
    r = await del('acme/web', one.digest);
    expectError(r, 403, 'DENIED');
    assert.match(message(r), new RegExp(`^tag v1 of acme/web is immutable \\(pattern "v\\*" set on namespace acme\\): deleting ${one.digest} would remove it$`));
    assert.equal(await digestOf('acme/web', 'v1'), one.digest);

    // The same digest under a tag no pattern matches: that tag moves and goes; the manifest stays (v1 holds it).
    await as(() => pushManifest2('acme/web', 'latest', one));
    await as(() => pushManifest2('acme/web', 'latest', two));
    expectStatus(await del('acme/web', 'latest'), 202);
    expectStatus(await del('acme/web', two.digest), 202);
    // A new protected tag on an existing digest is made.
    await as(() => pushManifest2('acme/web', 'v1.0.0', one));
    assert.equal(await digestOf('acme/web', 'v1.0.0'), one.digest);
    // Another namespace: no pattern.
    await as(() => pushImage(s.url, 'beta/web', 'v1'));
    await as(() => pushImage(s.url, 'beta/web', 'v1'));
    expectStatus(await del('beta/web', 'v1'), 202);
  });

  test('a repository\'s pattern protects its tags only; removing a pattern lifts it', async () => {
    await as(() => pushImage(s.url, 'acme/app', 'release-1'));
    let r = await as(async () => { const i = makeImage(); await pushBlob(s.url, 'acme/app', i.config); await pushBlob(s.url, 'acme/app', i.layers[0]!); return putManifest(s.url, 'acme/app', 'release-1', i.manifest, MT.ociManifest); });
    expectError(r, 403, 'DENIED');
    assert.match(message(r), /\(pattern "release-\?" set on repository acme\/app\)/);
    await as(() => pushImage(s.url, 'acme/app', 'release-12'));
    await as(() => pushImage(s.url, 'acme/app', 'release-12'));
    await as(() => pushImage(s.url, 'acme/lib', 'release-1'));
    await as(() => pushImage(s.url, 'acme/lib', 'release-1'));

    await apiOk(s, BOSS, 'DELETE', `/namespaces/acme/immutable?${new URLSearchParams({ pattern: 'release-?', repository: 'acme/app' })}`, undefined, 204);
    const moved = await as(() => pushImage(s.url, 'acme/app', 'release-1'));
    assert.equal(await digestOf('acme/app', 'release-1'), moved.digest);
    expectStatus(await del('acme/app', 'release-1'), 202);
    // The namespace's v* still holds in acme/app.
    await as(() => pushImage(s.url, 'acme/app', 'v2'));
    r = await as(async () => { const i = makeImage(); await pushImageBlobs('acme/app', i); return putManifest(s.url, 'acme/app', 'v2', i.manifest, MT.ociManifest); });
    expectError(r, 403, 'DENIED');
    await apiOk(s, BOSS, 'DELETE', `/namespaces/acme/immutable?${new URLSearchParams({ pattern: 'v*' })}`, undefined, 204);
    expectStatus(await del('acme/app', 'v2'), 202);
    await apiOk(s, BOSS, 'POST', '/namespaces/acme/immutable', { pattern: 'v*' }, 201);
  });

  test('two clients racing to make one protected tag with different digests: exactly one wins, the other gets 403', async () => {
    for (let round = 0; round < 8; round++) {
      const tag = `v-race-${round}`;
      const images = [makeImage(), makeImage()];
      for (const i of images) await as(() => pushImageBlobs('acme/race', i));
      const results = await as(() => Promise.all(images.map((i) => putManifest(s.url, 'acme/race', tag, i.manifest, MT.ociManifest))));
      const statuses = results.map((x) => x.status).sort();
      assert.deepEqual(statuses, [201, 403], `round ${round}: ${statuses.join(', ')}`);
      const winner = images[results.findIndex((x) => x.status === 201)]!;
      expectError(results.find((x) => x.status === 403)!, 403, 'DENIED');
      assert.equal(await digestOf('acme/race', tag), winner.digest);
    }
  });

  async function pushImageBlobs(repo: string, i: Image): Promise<void> {
    await pushBlob(s.url, repo, i.config);
    for (const l of i.layers) await pushBlob(s.url, repo, l);
  }

  async function pushManifest2(repo: string, tag: string, i: Image): Promise<void> {
    expectStatus(await putManifest(s.url, repo, tag, i.manifest, MT.ociManifest), 201, `${repo}:${tag}`);
  }
});
