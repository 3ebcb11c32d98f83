// The MetaStore contract: every database runs this suite.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestRecord, MetaStore } from '../../src/store/meta/meta-store.js';

export interface MetaStoreHarness {
  create(): Promise<MetaStore>;
  cleanup(): Promise<void>;
}

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const manifest = (digest: string, extra: Partial<ManifestRecord> = {}): ManifestRecord => ({
  digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, artifactType: null, subject: null, annotations: null, ...extra,
});

export function metaStoreContract(driver: string, h: MetaStoreHarness): void {
  describe(`MetaStore contract: ${driver}`, () => {
    after(() => h.cleanup());

    test('repositories are created once and listed in order with paging', async () => {
      const m = await h.create();
      const a = await m.ensureRepository('b/x');
      assert.equal(await m.ensureRepository('b/x'), a);
      await m.ensureRepository('a');
      await m.ensureRepository('c');
      const uploadsOnly = await m.ensureRepository('d');
      assert.deepEqual(await m.listRepositories({}), [], 'no manifest yet: nothing listed');
      for (const name of ['a', 'b/x', 'c']) await m.putManifest(await m.ensureRepository(name), manifest(d('9')), [], 'latest', 1);
      assert.equal(await m.hasHeldManifests(uploadsOnly), false);
      assert.equal(await m.hasHeldManifests(a), true);
      assert.deepEqual(await m.listRepositories({}), ['a', 'b/x', 'c']);
      assert.deepEqual(await m.listRepositories({ n: 1, last: 'a' }), ['b/x']);
      assert.equal(await m.repositoryId('nope'), null);
      await m.close();
    });

    test('blob links are per repository', async () => {
      const m = await h.create();
      const r1 = await m.ensureRepository('r1');
      const r2 = await m.ensureRepository('r2');
      await m.linkBlob(r1, d('1'), 42);
      assert.equal(await m.linkedBlobSize(r1, d('1')), 42);
      assert.equal(await m.linkedBlobSize(r2, d('1')), null);
      assert.equal(await m.knownBlobSize(d('1')), 42);
      assert.deepEqual([...await m.existingBlobs(r1, [d('1'), d('2')])], [d('1')]);
      assert.equal(await m.unlinkBlob(r1, d('1')), true);
      assert.equal(await m.unlinkBlob(r1, d('1')), false);
      await m.close();
    });

    test('manifests, tags, deletes and referrers', async () => {
      const m = await h.create();
      const r = await m.ensureRepository('app');
      await m.putManifest(r, manifest(d('a')), [], 'v1', 1);
      await m.putManifest(r, manifest(d('a')), [], 'latest', 2);
      await m.putManifest(r, manifest(d('b'), { subject: d('a'), artifactType: 'application/x.sig', annotations: '{"k":"v"}' }), [{ digest: d('a'), kind: 'subject' }], null, 3);
      assert.equal((await m.manifestByTag('app', 'v1'))?.digest, d('a'));
      assert.equal((await m.manifest('app', d('b')))?.artifactType, 'application/x.sig');
      assert.deepEqual(await m.listTags(r, {}), ['latest', 'v1']);
      assert.deepEqual((await m.referrers(r, d('a'))).map((x) => x.digest), [d('b')]);
      assert.deepEqual(await m.referrers(r, d('a'), 'application/other'), []);
      assert.equal(await m.deleteTag(r, 'v1', 4), true);
      assert.equal((await m.manifest('app', d('a')))?.digest, d('a'));
      assert.equal(await m.deleteManifest(r, d('a')), true);
      assert.equal(await m.manifestByTag('app', 'latest'), null);
      assert.deepEqual(await m.listTags(r, {}), []);
      await m.close();
    });

    test('upload sessions', async () => {
      const m = await h.create();
      const r = await m.ensureRepository('up');
      await m.createUpload('id1', r, 100);
      assert.deepEqual(await m.upload('id1'), { id: 'id1', repository: 'up', createdAt: 100, updatedAt: 100 });
      await m.touchUpload('id1', 200);
      assert.deepEqual((await m.uploadsOlderThan(150)).map((u) => u.id), []);
      assert.deepEqual((await m.uploadsOlderThan(250)).map((u) => u.id), ['id1']);
      assert.ok((await m.allUploadIds()).has('id1'));
      await m.deleteUpload('id1');
      assert.equal(await m.upload('id1'), null);
      await m.close();
    });
  });
}
