// The immutable tag rules (ImmutableTagStore) and tags.pointingAt, on SQLite and on PostgreSQL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metaDrivers } from './lib/meta-drivers.js';

const T0 = 1_700_000_000_000;

const drivers = metaDrivers(T0);

for (const [driver, open] of Object.entries(drivers)) describe(`immutable tag rules: ${driver}`, () => {
  test('add, list (all, per namespace), stamped by the clock; adding again changes nothing', async (t) => {
    const { m, clock } = await open(t);
    assert.equal(await m.immutableTags.add('acme', null, 'v*'), true);
    clock.advance(1000);
    assert.equal(await m.immutableTags.add('acme', 'acme/app', 'release-*'), true);
    assert.equal(await m.immutableTags.add('beta', null, 'latest'), true);
    clock.advance(1000);
    assert.equal(await m.immutableTags.add('acme', null, 'v*'), false, 'a second add reports the rule was there');
    assert.deepEqual(await m.immutableTags.list('acme'), [
      { namespace: 'acme', repository: null, pattern: 'v*', createdAt: T0 },
      { namespace: 'acme', repository: 'acme/app', pattern: 'release-*', createdAt: T0 + 1000 },
    ]);
    assert.deepEqual((await m.immutableTags.list()).map((r) => [r.namespace, r.repository, r.pattern]),
      [['acme', null, 'v*'], ['acme', 'acme/app', 'release-*'], ['beta', null, 'latest']]);
    assert.deepEqual(await m.immutableTags.list('nobody'), []);
  });

  test('forRepository: the namespace\'s rules and the repository\'s own, not another repository\'s', async (t) => {
    const { m } = await open(t);
    await m.immutableTags.add('acme', null, 'v*');
    await m.immutableTags.add('acme', 'acme/app', 'release-*');
    await m.immutableTags.add('acme', 'acme/other', 'stable');
    await m.immutableTags.add('acmex', null, 'x*');
    assert.deepEqual((await m.immutableTags.forRepository('acme', 'acme/app')).map((r) => [r.repository, r.pattern]), [[null, 'v*'], ['acme/app', 'release-*']]);
    assert.deepEqual((await m.immutableTags.forRepository('acme', 'acme/new')).map((r) => [r.repository, r.pattern]), [[null, 'v*']]);
    assert.deepEqual(await m.immutableTags.forRepository('zeta', 'zeta/app'), []);
  });

  test('remove: only the named rule; false when there is none', async (t) => {
    const { m } = await open(t);
    await m.immutableTags.add('acme', null, 'v*');
    await m.immutableTags.add('acme', 'acme/app', 'v*');
    assert.equal(await m.immutableTags.remove('acme', 'acme/app', 'v*'), true);
    assert.equal(await m.immutableTags.remove('acme', 'acme/app', 'v*'), false);
    assert.equal(await m.immutableTags.remove('acme', null, 'v?'), false);
    assert.deepEqual((await m.immutableTags.list('acme')).map((r) => [r.repository, r.pattern]), [[null, 'v*']]);
    assert.equal(await m.immutableTags.remove('acme', null, 'v*'), true);
    assert.deepEqual(await m.immutableTags.list(), []);
  });

  test('rules are part of a unit of work: a rolled-back add leaves nothing', async (t) => {
    const { m } = await open(t);
    await assert.rejects(m.tx(async (x) => { await x.immutableTags.add('acme', null, 'v*'); throw new Error('boom'); }), /boom/);
    assert.deepEqual(await m.immutableTags.list(), []);
  });

  test('tags.pointingAt: the tags on a digest, in order, of that repository only', async (t) => {
    const { m } = await open(t);
    const a = await m.repositories.ensure('acme/app');
    const b = await m.repositories.ensure('acme/other');
    const rec = (digest: string) => ({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, artifactType: null, subject: null, annotations: null });
    await m.manifests.put(a, rec('sha256:aa'), []);
    await m.manifests.put(b, rec('sha256:aa'), []);
    for (const tag of ['v2', 'latest', 'v1']) await m.tags.move(a, tag, 'sha256:aa');
    await m.tags.move(b, 'other', 'sha256:aa');
    assert.deepEqual(await m.tags.pointingAt(a, 'sha256:aa'), ['latest', 'v1', 'v2']);
    assert.deepEqual(await m.tags.pointingAt(a, 'sha256:bb'), []);
  });
});
