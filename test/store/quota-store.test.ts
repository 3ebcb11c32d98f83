// Quotas (QuotaStore) on SQLite and on PostgreSQL: the records, and the usage they are measured against,
// computed from links and tags: a blob shared by two repositories of a namespace counts once for the
// namespace and once for each repository; a namespace is exactly its `ns/…` repositories (not `ns-x/…`,
// `ns0/…` nor a repository named `ns`); tags count per repository and per namespace.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metaDrivers } from './lib/meta-drivers.js';
import type { MetaStore, QuotaScope } from '../../src/store/meta/meta-store.js';

const T0 = 1_700_000_000_000;
const drivers = metaDrivers(T0);

const ns = (namespace: string): QuotaScope => ({ namespace, repository: null });
const repo = (repository: string): QuotaScope => ({ namespace: repository.slice(0, repository.indexOf('/')), repository });
const digest = (n: number): string => `sha256:${n.toString(16).padStart(64, '0')}`;

/** Links blobs (digest number -> size) to a repository, made on first use. */
async function link(m: MetaStore, name: string, blobs: Record<number, number>): Promise<number> {
  const id = await m.repositories.ensure(name);
  for (const [n, size] of Object.entries(blobs)) assert.equal(await m.blobs.link(id, digest(Number(n)), size), true);
  return id;
}

async function tag(m: MetaStore, repoId: number, names: string[], n: number): Promise<void> {
  await m.manifests.put(repoId, { digest: digest(n), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, artifactType: null, subject: null, annotations: null }, []);
  for (const t of names) await m.tags.move(repoId, t, digest(n));
}

for (const [driver, open] of Object.entries(drivers)) describe(`quotas: ${driver}`, () => {
  test('set, get, list, forRepository, remove; setting again replaces the limits and keeps the first time', async (t) => {
    const { m, clock } = await open(t);
    assert.deepEqual(await m.quotas.set(ns('acme'), { bytes: 1000, tags: null }),
      { namespace: 'acme', repository: null, bytes: 1000, tags: null, createdAt: T0, updatedAt: T0 });
    clock.advance(1000);
    await m.quotas.set(repo('acme/app'), { bytes: null, tags: 5 });
    await m.quotas.set(repo('acme/other'), { bytes: 10, tags: 1 });
    await m.quotas.set(ns('beta'), { bytes: 2 ** 40, tags: 100 });
    clock.advance(1000);
    assert.deepEqual(await m.quotas.set(ns('acme'), { bytes: null, tags: 7 }),
      { namespace: 'acme', repository: null, bytes: null, tags: 7, createdAt: T0, updatedAt: T0 + 2000 });
    assert.deepEqual(await m.quotas.get(repo('acme/app')),
      { namespace: 'acme', repository: 'acme/app', bytes: null, tags: 5, createdAt: T0 + 1000, updatedAt: T0 + 1000 });
    assert.equal(await m.quotas.get(repo('acme/none')), null);
    assert.equal((await m.quotas.get(ns('beta')))!.bytes, 2 ** 40, 'sizes beyond 32 bits');
    assert.deepEqual((await m.quotas.list()).map((q) => [q.namespace, q.repository]),
      [['acme', null], ['acme', 'acme/app'], ['acme', 'acme/other'], ['beta', null]]);
    assert.deepEqual((await m.quotas.forRepository('acme', 'acme/app')).map((q) => q.repository), [null, 'acme/app'], 'the namespace\'s first');
    assert.deepEqual((await m.quotas.forRepository('acme', 'acme/new')).map((q) => q.repository), [null]);
    assert.deepEqual(await m.quotas.forRepository('zeta', 'zeta/app'), []);
    assert.equal(await m.quotas.remove(repo('acme/app')), true);
    assert.equal(await m.quotas.remove(repo('acme/app')), false);
    assert.deepEqual((await m.quotas.forRepository('acme', 'acme/app')).map((q) => q.repository), [null]);
  });

  test('bytes: each blob once per namespace, each link once per repository; only the namespace\'s own repositories', async (t) => {
    const { m } = await open(t);
    // 1 is shared by acme/a and acme/b; 2 is linked twice to acme/a (idempotent).
    const a = await link(m, 'acme/a', { 1: 100, 2: 20 });
    await link(m, 'acme/a', { 2: 20 });
    await link(m, 'acme/b', { 1: 100, 3: 3 });
    await link(m, 'acme/b/deep', { 4: 4000 });
    // Names around the namespace's range in byte order: none of them is in acme.
    await link(m, 'acme', { 5: 5 });
    await link(m, 'acme-x/a', { 1: 100, 6: 6 });
    await link(m, 'acme.x/a', { 7: 7 });
    await link(m, 'acme0/a', { 8: 8 });
    await link(m, 'acmez/a', { 9: 9 });
    await link(m, 'acm/a', { 10: 10 });

    assert.equal(await m.quotas.storedBytes(ns('acme')), 100 + 20 + 3 + 4000);
    assert.equal(await m.quotas.storedBytes(repo('acme/a')), 120);
    assert.equal(await m.quotas.storedBytes(repo('acme/b')), 103);
    assert.equal(await m.quotas.storedBytes(repo('acme/b/deep')), 4000);
    assert.equal(await m.quotas.storedBytes(ns('acme-x')), 106);
    assert.equal(await m.quotas.storedBytes(ns('nobody')), 0);
    assert.equal(await m.quotas.storedBytes(repo('acme/none')), 0);

    assert.equal(await m.quotas.holds(ns('acme'), digest(1)), true);
    assert.equal(await m.quotas.holds(ns('acme'), digest(4)), true, 'a nested repository is in the namespace');
    for (const n of [5, 6, 7, 8, 9, 10, 99]) assert.equal(await m.quotas.holds(ns('acme'), digest(n)), false, `digest ${n}`);
    assert.equal(await m.quotas.holds(repo('acme/a'), digest(1)), true);
    assert.equal(await m.quotas.holds(repo('acme/a'), digest(3)), false, 'held by a sibling, not by the repository');

    // An unlinked blob no longer counts where it was unlinked.
    await m.blobs.unlink(a, digest(1));
    assert.equal(await m.quotas.storedBytes(repo('acme/a')), 20);
    assert.equal(await m.quotas.storedBytes(ns('acme')), 100 + 20 + 3 + 4000, 'acme/b still links it');

    assert.deepEqual(Object.fromEntries(await m.quotas.bytesByNamespace()),
      { 'acm': 10, 'acme': 4123, 'acme-x': 106, 'acme.x': 7, 'acme0': 8, 'acmez': 9 });
  });

  test('tags: per repository and per namespace', async (t) => {
    const { m } = await open(t);
    const a = await link(m, 'acme/a', {});
    const b = await link(m, 'acme/b', {});
    const x = await link(m, 'acme-x/a', {});
    await tag(m, a, ['v1', 'v2', 'latest'], 1);
    await tag(m, b, ['v1'], 2);
    await tag(m, x, ['v1', 'v2'], 3);
    assert.equal(await m.quotas.tagCount(ns('acme')), 4);
    assert.equal(await m.quotas.tagCount(repo('acme/a')), 3);
    assert.equal(await m.quotas.tagCount(ns('acme-x')), 2);
    assert.equal(await m.quotas.tagCount(repo('acme/none')), 0);
    await m.tags.delete(a, 'v2');
    await m.tags.move(a, 'v1', digest(1));
    assert.equal(await m.quotas.tagCount(ns('acme')), 3, 'a delete counts down, a move changes nothing');
  });

  test('quotas are part of a unit of work: a rolled-back set leaves nothing', async (t) => {
    const { m } = await open(t);
    await assert.rejects(m.tx(async (x) => { await x.quotas.set(ns('acme'), { bytes: 1, tags: null }); throw new Error('boom'); }), /boom/);
    assert.deepEqual(await m.quotas.list(), []);
    assert.deepEqual(await m.quotas.bytesByNamespace(), new Map());
  });
});
