// Quotas over real HTTP (auth.mode builtin): the admin API (system administrators set them, members see
// them with their usage, each change audited, the OpenAPI document), and what the Distribution API then
// refuses with 403 DENIED saying the quota, the usage and the need: an upload at its PUT (and a
// monolithic POST), a mount, a manifest PUT for its bytes or a new tag over the tag limit; and that a
// refused push leaves nothing behind (no blob readable in the repository, no upload session, no manifest,
// no tag) while what adds nothing goes through (a blob the namespace holds, a tag that moves).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { blobStatus, makeImage, pushBlob, pushImage, pushImageParts, putManifest, snapshot, startUpload, withDigest } from './lib/registry.js';
import { MT, randomBlob, type Content } from './lib/content.js';
import { expectError, expectStatus, parseJson, req, type Res } from './lib/http.js';
import { ADMIN, api, apiOk, BOSS, EDITOR, OUTSIDER, seedAcme, startBuiltin, withHeaders, type BuiltinServer } from './lib/builtin.js';
import { storedCopies } from './lib/stored.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

interface Quota { namespace: string; repository: string | null; limits: { bytes: number | null; tags: number | null }; usage: { bytes: number; tags: number } }
interface ErrorBody { errors: { code: string; message: string; detail?: unknown }[] }


const error = (res: Res): ErrorBody['errors'][0] => parseJson<ErrorBody>(res).errors[0]!;

describe('quotas over HTTP', () => {
  let s: BuiltinServer;
  let db: TestDatabase | undefined;
  const as = <T>(fn: () => Promise<T>): Promise<T> => withHeaders(ADMIN, fn);
  const setQuota = (namespace: string, body: Record<string, unknown>): Promise<unknown> => apiOk(s, ADMIN, 'PUT', `/namespaces/${namespace}/quota`, body, 200);
  const quotaOf = async (namespace: string, repository?: string): Promise<Quota> =>
    await apiOk(s, ADMIN, 'GET', `/namespaces/${namespace}/quota${repository ? `?${new URLSearchParams({ repository })}` : ''}`, undefined, 200) as Quota;
  /** POST + PUT ?digest= with the whole blob; the PUT's response. */
  const putBlob = (repo: string, c: Content): Promise<Res> => as(async () => req(s.url, withDigest(await startUpload(s.url, repo), c.digest), { method: 'PUT', body: c.data }));

  before(async () => {
    // npm test's scaled-out pass (WHARF_TEST_META=postgres): the metadata on PostgreSQL.
    if (process.env.WHARF_TEST_META === 'postgres') db = await createTestDatabase();
    s = await startBuiltin(db ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url } : {});
    await seedAcme(s, ['acme', 'beta', 'up', 'mt', 'mf', 'us'], ['boss', 'editor', 'outsider']);
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
    await db?.drop();
  });

  test('admin API: system administrators set and remove quotas, org admins may not; members see limits and usage; audited; in the OpenAPI document', async () => {
    const set = await setQuota('acme', { bytes: '1KiB', tags: 10 }) as Quota;
    assert.deepEqual(set, { namespace: 'acme', repository: null, limits: { bytes: 1024, tags: 10 }, usage: { bytes: 0, tags: 0 } });
    // Replaced, not merged: the tag limit goes.
    assert.deepEqual((await setQuota('acme', { bytes: 2048 }) as Quota).limits, { bytes: 2048, tags: null });
    await setQuota('acme', { repository: 'acme/app', tags: 3 });

    // An organization's admin cannot lift their own limits (as in Harbor).
    const r = await api(s, BOSS, 'PUT', '/namespaces/acme/quota', { bytes: 1 << 30 });
    expectError(r, 403, 'DENIED');
    assert.equal(error(r).message, 'only system administrators may do this');
    expectError(await api(s, BOSS, 'DELETE', '/namespaces/acme/quota'), 403, 'DENIED');
    // Members see the quota and usage; others do not; usage alone where no quota is set.
    assert.deepEqual(await apiOk(s, EDITOR, 'GET', '/namespaces/acme/quota', undefined, 200),
      { namespace: 'acme', repository: null, limits: { bytes: 2048, tags: null }, usage: { bytes: 0, tags: 0 } });
    assert.deepEqual((await apiOk(s, EDITOR, 'GET', `/namespaces/acme/quota?${new URLSearchParams({ repository: 'acme/app' })}`, undefined, 200) as Quota).limits, { bytes: null, tags: 3 });
    assert.deepEqual((await apiOk(s, EDITOR, 'GET', `/namespaces/acme/quota?${new URLSearchParams({ repository: 'acme/other' })}`, undefined, 200) as Quota).limits, { bytes: null, tags: null });
    expectError(await api(s, OUTSIDER, 'GET', '/namespaces/acme/quota'), 403, 'DENIED');
    // Every quota: system administrators only.
    const all = await apiOk(s, ADMIN, 'GET', '/quotas', undefined, 200) as { items: Quota[] };
    assert.deepEqual(all.items.map((q) => [q.namespace, q.repository, q.limits.bytes, q.limits.tags]), [['acme', null, 2048, null], ['acme', 'acme/app', null, 3]]);
    expectError(await api(s, BOSS, 'GET', '/quotas'), 403, 'DENIED');

    // Bad input is a clear 400 (or 404) and changes nothing.
    for (const body of [{}, { bytes: -1 }, { bytes: 1.5 }, { bytes: '10 parsecs' }, { tags: '3' }, { bytes: 1, extra: true }, { bytes: 1, repository: 'beta/app' }]) {
      expectError(await api(s, ADMIN, 'PUT', '/namespaces/acme/quota', body), 400, 'INVALID');
    }
    expectError(await api(s, ADMIN, 'PUT', '/namespaces/nobody/quota', { bytes: 1 }), 404, 'NOT_FOUND');
    expectError(await api(s, ADMIN, 'GET', '/namespaces/acme/quota?repo=acme/app'), 400, 'INVALID');
    assert.deepEqual((await quotaOf('acme')).limits, { bytes: 2048, tags: null });

    await apiOk(s, ADMIN, 'DELETE', `/namespaces/acme/quota?${new URLSearchParams({ repository: 'acme/app' })}`, undefined, 204);
    expectError(await api(s, ADMIN, 'DELETE', `/namespaces/acme/quota?${new URLSearchParams({ repository: 'acme/app' })}`), 404, 'NOT_FOUND');
    await apiOk(s, ADMIN, 'DELETE', '/namespaces/acme/quota', undefined, 204);
    assert.deepEqual((await apiOk(s, ADMIN, 'GET', '/quotas', undefined, 200) as { items: Quota[] }).items, []);

    const audit = await apiOk(s, ADMIN, 'GET', '/audit?n=1000', undefined, 200) as { items: { actor: string; action: string; target: string; detail: unknown }[] };
    assert.deepEqual(audit.items.filter((e) => e.action.startsWith('quota.')).reverse().map((e) => [e.action, e.target, e.detail]), [
      ['quota.set', 'acme', { bytes: 1024, tags: 10 }],
      ['quota.set', 'acme', { bytes: 2048, tags: null }],
      ['quota.set', 'acme/app', { bytes: null, tags: 3 }],
      ['quota.unset', 'acme/app', null],
      ['quota.unset', 'acme', null],
    ]);
    const doc = parseJson<{ paths: Record<string, Record<string, unknown>> }>(await req(s.url, '/api/v1/openapi.json'));
    assert.deepEqual(Object.keys(doc.paths['/api/v1/namespaces/{namespace}/quota']!).sort(), ['delete', 'get', 'put']);
    assert.ok(doc.paths['/api/v1/quotas']!.get);
  });

  test('an upload over the namespace\'s quota is refused at its PUT with 403 DENIED; nothing of it stays, its session is over', async () => {
    await setQuota('up', { bytes: 1000 });
    const six = randomBlob(600);
    expectStatus(await putBlob('up/a', six), 201);
    const five = randomBlob(500);
    const upload = await as(() => startUpload(s.url, 'up/b'));
    const r = await as(() => req(s.url, withDigest(upload, five.digest), { method: 'PUT', body: five.data }));
    expectError(r, 403, 'DENIED');
    assert.deepEqual(error(r), {
      code: 'DENIED', message: 'quota of namespace up exceeded: 1000 B allowed, 600 B used, this push needs 500 B more',
      detail: { scope: { namespace: 'up' }, resource: 'bytes', limit: 1000, usage: 600, need: 500 },
    });
    assert.equal(await as(() => blobStatus(s.url, 'up/b', five.digest)), 404);
    expectError(await as(() => req(s.url, upload)), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.deepEqual(await storedCopies({ server: s }, five.digest), [], 'refused before its body was stored');

    // Chunks first, then a PUT without a body; and a monolithic POST: refused alike.
    const chunked = await as(() => startUpload(s.url, 'up/b'));
    const patched = await as(() => req(s.url, chunked, { method: 'PATCH', body: five.data, headers: { 'content-type': 'application/octet-stream' } }));
    expectStatus(patched, 202);
    const next = new URL(patched.headers.get('location')!, s.url);
    expectError(await as(() => req(s.url, withDigest(next, five.digest), { method: 'PUT' })), 403, 'DENIED');
    expectError(await as(() => req(s.url, next)), 404, 'BLOB_UPLOAD_UNKNOWN');
    const mono = await as(() => req(s.url, `/v2/up/c/blobs/uploads/?digest=${five.digest}`, { method: 'POST', body: five.data }));
    expectError(mono, 403, 'DENIED');
    assert.match(error(mono).message, /^quota of namespace up exceeded/);
    assert.equal(await as(() => blobStatus(s.url, 'up/c', five.digest)), 404);

    // The namespace holds this blob already: another of its repositories takes it without adding to it.
    expectStatus(await putBlob('up/b', six), 201);
    assert.deepEqual((await quotaOf('up')).usage, { bytes: 600, tags: 0 });
  });

  test('a mount over the quota is refused with 403 DENIED; a blob the namespace holds is mounted', async () => {
    const big = randomBlob(600);
    await as(() => pushBlob(s.url, 'beta/src', big));
    await as(() => pushBlob(s.url, 'mt/a', randomBlob(500)));
    await setQuota('mt', { bytes: 1000 });
    const r = await as(() => req(s.url, `/v2/mt/a/blobs/uploads/?mount=${big.digest}&from=beta/src`, { method: 'POST' }));
    expectError(r, 403, 'DENIED');
    assert.equal(error(r).message, 'quota of namespace mt exceeded: 1000 B allowed, 500 B used, this push needs 600 B more');
    assert.equal(await as(() => blobStatus(s.url, 'mt/a', big.digest)), 404);
    await setQuota('mt', { bytes: 1100 });
    expectStatus(await as(() => req(s.url, `/v2/mt/a/blobs/uploads/?mount=${big.digest}&from=beta/src`, { method: 'POST' })), 201);
    await setQuota('mt', { bytes: 1 });
    expectStatus(await as(() => req(s.url, `/v2/mt/b/blobs/uploads/?mount=${big.digest}&from=mt/a`, { method: 'POST' })), 201);
    assert.deepEqual((await quotaOf('mt')).usage, { bytes: 1100, tags: 0 });
  });

  test('a manifest PUT over the bytes or over the tag limit is refused and leaves nothing; a tag that moves and a push by digest pass', async () => {
    const one = await as(() => pushImage(s.url, 'mf/app', 'v1'));
    const two = makeImage();
    await as(async () => { await pushBlob(s.url, 'mf/app', two.config); await pushBlob(s.url, 'mf/app', two.layers[0]!); });
    const used = (await quotaOf('mf')).usage.bytes;
    await setQuota('mf', { bytes: used + two.manifest.size - 1 });
    const before = await as(() => snapshot(s.url, ['mf/app']));
    let r = await as(() => putManifest(s.url, 'mf/app', 'v2', two.manifest, MT.ociManifest));
    expectError(r, 403, 'DENIED');
    assert.match(error(r).message, /^quota of namespace mf exceeded: [\d.]+ K?i?B allowed, [\d.]+ K?i?B used, this push needs \d+ B more$/);
    assert.deepEqual(error(r).detail, { scope: { namespace: 'mf' }, resource: 'bytes', limit: used + two.manifest.size - 1, usage: used, need: two.manifest.size });
    assert.deepEqual(await as(() => snapshot(s.url, ['mf/app'])), before, 'tags unchanged');
    expectError(await as(() => req(s.url, `/v2/mf/app/manifests/${two.digest}`, { method: 'HEAD' })), 404);

    // The tag limit: no new tag; moving v1 and a push by digest make none.
    await setQuota('mf', { repository: 'mf/app', tags: 1 });
    await apiOk(s, ADMIN, 'DELETE', '/namespaces/mf/quota', undefined, 204);
    r = await as(() => putManifest(s.url, 'mf/app', 'v2', two.manifest, MT.ociManifest));
    expectError(r, 403, 'DENIED');
    assert.deepEqual(error(r), {
      code: 'DENIED', message: 'tag quota of repository mf/app exceeded: 1 tag allowed, 1 used, this push needs 1 more',
      detail: { scope: { repository: 'mf/app' }, resource: 'tags', limit: 1, usage: 1, need: 1 },
    });
    assert.deepEqual(await as(() => snapshot(s.url, ['mf/app'])), before);
    expectStatus(await as(() => putManifest(s.url, 'mf/app', 'v1', two.manifest, MT.ociManifest)), 201);
    expectStatus(await as(() => putManifest(s.url, 'mf/app', one.digest, one.manifest, MT.ociManifest)), 201);
    const after = await as(() => snapshot(s.url, ['mf/app']));
    assert.deepEqual(after.repos['mf/app']!.tagged, { v1: two.digest });
  });

  test('usage counts each blob once per namespace; a quota set below it is allowed, reported, and blocks growth only', async () => {
    const shared = makeImage();
    await as(() => pushImageParts(s.url, 'us/a', 'v1', shared));
    await as(() => pushImageParts(s.url, 'us/b', 'v1', shared));
    const bytes = shared.config.size + shared.layers[0]!.size + shared.manifest.size;
    assert.deepEqual(await quotaOf('us'), { namespace: 'us', repository: null, limits: { bytes: null, tags: null }, usage: { bytes, tags: 2 } });
    assert.deepEqual((await quotaOf('us', 'us/a')).usage, { bytes, tags: 1 });

    assert.deepEqual((await setQuota('us', { bytes: 10, tags: 1 }) as Quota).usage, { bytes, tags: 2 });
    expectError(await putBlob('us/a', randomBlob(1)), 403, 'DENIED');
    // Pushing what the namespace holds adds nothing: its blobs to another repository, its manifest by digest, a tag again.
    expectStatus(await putBlob('us/c', shared.config), 201);
    expectStatus(await putBlob('us/c', shared.layers[0]!), 201);
    expectStatus(await as(() => putManifest(s.url, 'us/c', shared.digest, shared.manifest, MT.ociManifest)), 201);
    expectStatus(await as(() => putManifest(s.url, 'us/a', 'v1', shared.manifest, MT.ociManifest)), 201);
    expectError(await as(() => putManifest(s.url, 'us/a', 'v2', shared.manifest, MT.ociManifest)), 403, 'DENIED');
    assert.deepEqual((await quotaOf('us')).usage, { bytes, tags: 2 });
  });
});
