// Retention policies (RetentionStore) and what a retention run reads of a repository, on SQLite and on PostgreSQL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metaDrivers } from './lib/meta-drivers.js';

const T0 = 1_700_000_000_000;
const drivers = metaDrivers(T0);

const rec = (digest: string, subject: string | null = null) =>
  ({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, artifactType: null, subject, annotations: null });

for (const [driver, open] of Object.entries(drivers)) describe(`retention store: ${driver}`, () => {
  test('set, get, list (all, per namespace, in order): unset rules are absent; times by the clock', async (t) => {
    const { m, clock } = await open(t);
    assert.equal(await m.retention.set('acme', 'acme/app', { keepLast: 3, match: 'v.*', untaggedOlderThan: 7_200_000 }), true);
    clock.advance(1000);
    assert.equal(await m.retention.set('acme', null, { keepWithin: 86_400_000, keep: 'stable' }), true);
    assert.equal(await m.retention.set('beta', null, { untaggedOlderThan: 1000 }), true);
    assert.deepEqual(await m.retention.get('acme', 'acme/app'), {
      namespace: 'acme', repository: 'acme/app', rules: { keepLast: 3, match: 'v.*', untaggedOlderThan: 7_200_000 }, createdAt: T0, updatedAt: T0,
    });
    assert.deepEqual((await m.retention.list('acme')).map((p) => [p.repository, p.rules]),
      [[null, { keepWithin: 86_400_000, keep: 'stable' }], ['acme/app', { keepLast: 3, match: 'v.*', untaggedOlderThan: 7_200_000 }]]);
    assert.deepEqual((await m.retention.list()).map((p) => [p.namespace, p.repository]), [['acme', null], ['acme', 'acme/app'], ['beta', null]]);
    assert.deepEqual(await m.retention.list('nobody'), []);
    assert.equal(await m.retention.get('acme', 'acme/other'), null);
  });

  test('set again replaces the rules (a rule left out is gone), keeps createdAt, moves updatedAt', async (t) => {
    const { m, clock } = await open(t);
    await m.retention.set('acme', null, { keepLast: 3, match: 'v.*', keepWithin: 1000 });
    clock.advance(5000);
    assert.equal(await m.retention.set('acme', null, { keep: 'x' }), false);
    assert.deepEqual(await m.retention.get('acme', null), { namespace: 'acme', repository: null, rules: { keep: 'x' }, createdAt: T0, updatedAt: T0 + 5000 });
  });

  test('remove: only the named policy; false when there is none; a rolled-back set leaves nothing', async (t) => {
    const { m } = await open(t);
    await m.retention.set('acme', null, { keepLast: 1 });
    await m.retention.set('acme', 'acme/app', { keepLast: 2 });
    assert.equal(await m.retention.remove('acme', 'acme/app'), true);
    assert.equal(await m.retention.remove('acme', 'acme/app'), false);
    assert.deepEqual((await m.retention.list()).map((p) => p.repository), [null]);
    await assert.rejects(m.tx(async (x) => { await x.retention.set('beta', null, { keepLast: 1 }); throw new Error('boom'); }), /boom/);
    assert.equal(await m.retention.get('beta', null), null);
  });

  test('contents: tags with the time they last moved to their digest, manifests, index children, and when a tag last left each digest', async (t) => {
    const { m, clock } = await open(t);
    const repo = await m.repositories.ensure('acme/app');
    const other = await m.repositories.ensure('acme/other');
    for (const d of ['sha256:a', 'sha256:b', 'sha256:c']) await m.manifests.put(repo, rec(d), []);
    clock.advance(1000);
    await m.manifests.put(repo, rec('sha256:index'), [{ digest: 'sha256:a', kind: 'child' }, { digest: 'sha256:cfg', kind: 'config' }]);
    await m.manifests.put(repo, rec('sha256:sig', 'sha256:a'), [{ digest: 'sha256:a', kind: 'subject' }]);
    await m.manifests.put(other, rec('sha256:a'), []);
    await m.tags.move(repo, 'v1', 'sha256:a'); // T0+1000
    await m.tags.move(repo, 'keep', 'sha256:b');
    clock.advance(1000);
    await m.tags.move(repo, 'v1', 'sha256:b'); // v1 leaves a at T0+2000
    await m.tags.move(repo, 'gone', 'sha256:c');
    clock.advance(1000);
    await m.tags.move(repo, 'v1', 'sha256:b'); // the same digest again: not a move
    await m.tags.delete(repo, 'gone'); // gone leaves c at T0+3000
    await m.tags.move(other, 'x', 'sha256:a');

    const c = await m.retention.contents(repo);
    assert.deepEqual(c.tags.sort((x, y) => x.tag.localeCompare(y.tag)), [
      { tag: 'keep', digest: 'sha256:b', pushedAt: T0 + 1000 },
      { tag: 'v1', digest: 'sha256:b', pushedAt: T0 + 2000 },
    ]);
    assert.deepEqual(c.manifests.map((x) => [x.digest, x.createdAt, x.subject]), [
      ['sha256:a', T0, null], ['sha256:b', T0, null], ['sha256:c', T0, null], ['sha256:index', T0 + 1000, null], ['sha256:sig', T0 + 1000, 'sha256:a'],
    ]);
    assert.deepEqual(c.children, [{ from: 'sha256:index', to: 'sha256:a' }]);
    assert.deepEqual([...c.untaggedAt].sort(), [['sha256:a', T0 + 2000], ['sha256:c', T0 + 3000]]);
    const empty = await m.retention.contents(await m.repositories.ensure('acme/empty'));
    assert.deepEqual(empty, { tags: [], manifests: [], children: [], untaggedAt: new Map() });
  });
});
