// Quotas in registry/: where a push is refused (an upload's commit, before its body when its size is
// declared; a mount; a manifest PUT for its bytes or a new tag; an undelete), the 403 DENIED message and
// detail, what a refusal leaves (no link, no manifest, no tag, no upload session), what passes anyway
// (a blob the scope holds, a tag that moves, a push by digest), a quota below the usage; and, on
// PostgreSQL, two registries sharing a database pushing in parallel never overrun a namespace's quota.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Registry } from '../../src/registry/registry.js';
import { RegistryError } from '../../src/oci/errors.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { openPostgresMetaStore } from '../../src/store/meta/postgres-meta-store.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { MemoryBlobStore } from '../helpers/memory-blob-store.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { code, pushBlob, pushImage, streamOf, testRegistry } from './lib.js';

const denied = (message: RegExp | string) => (e: unknown): boolean => {
  if (!(e instanceof RegistryError) || e.code !== 'DENIED' || e.status !== 403) return false;
  return typeof message === 'string' ? e.message === message : message.test(e.message);
};
const ns = (namespace: string) => ({ namespace, repository: null });
const repo = (repository: string) => ({ namespace: repository.split('/')[0]!, repository });

/** A manifest over blobs already in `repo`, PUT under `ref`. */
async function putManifestOver(r: Registry, repository: string, ref: string, blobs: Buffer[]): Promise<{ digest: string; bytes: Buffer }> {
  const [config, ...layers] = blobs.map((b) => ({ digest: digestOf(b), size: b.length }));
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaTypes.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  }));
  await r.manifests.put(repository, ref, bytes, MediaTypes.ociManifest, actor);
  return { digest: digestOf(bytes), bytes };
}

describe('registry: quotas', () => {
  test('an upload over a namespace\'s bytes is refused at its commit, saying the quota, the usage and the need; a blob the namespace holds passes', async () => {
    const { registry: r, meta, blobs } = testRegistry();
    await meta.quotas.set(ns('acme'), { bytes: 1000, tags: null });
    const six = randomBytes(600);
    await pushBlob(r, 'acme/a', six);
    const five = randomBytes(500);
    let refusal: unknown;
    await assert.rejects(pushBlob(r, 'acme/b', five), (e) => { refusal = e; return true; });
    assert.ok(denied('quota of namespace acme exceeded: 1000 B allowed, 600 B used, this push needs 500 B more')(refusal), String(refusal));
    assert.deepEqual((refusal as RegistryError).detail, { scope: { namespace: 'acme' }, resource: 'bytes', limit: 1000, usage: 600, need: 500 });
    // Refused before its body was received (its size was declared): nothing stored, nothing linked.
    assert.equal(blobs.data.blobs.has(digestOf(five)), false);
    await assert.rejects(r.blobs.stat('acme/b', digestOf(five)), code('BLOB_UNKNOWN'));
    // The namespace holds this one already: linking it to another of its repositories adds nothing.
    await pushBlob(r, 'acme/b', six);
    assert.equal(await meta.quotas.storedBytes(ns('acme')), 600);
    // What fits goes in; another namespace is not limited.
    await pushBlob(r, 'acme/b', randomBytes(400));
    await pushBlob(r, 'beta/a', randomBytes(5000));
    await assert.rejects(pushBlob(r, 'acme/c', randomBytes(1)), denied(/^quota of namespace acme exceeded: 1000 B allowed, 1000 B used, this push needs 1 B more$/));
  });

  test('a chunked upload of unknown size is refused at its commit: the session ends, nothing is linked', async () => {
    const { registry: r, meta } = testRegistry();
    await meta.quotas.set(repo('acme/app'), { bytes: 100, tags: null });
    const data = randomBytes(150);
    const id = await r.blobs.startUpload('acme/app');
    await r.blobs.append('acme/app', id, streamOf(data.subarray(0, 100)), null, null);
    // The last chunk without a length: its size is known only once it is stored, and refused then.
    await assert.rejects(r.blobs.complete('acme/app', id, digestOf(data), streamOf(data.subarray(100)), null, actor),
      denied('quota of repository acme/app exceeded: 100 B allowed, 0 B used, this push needs 150 B more'));
    assert.equal(await meta.uploads.get(id), null, 'the upload session is over');
    await assert.rejects(r.blobs.uploadOffset('acme/app', id), code('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(r.blobs.stat('acme/app', digestOf(data)), code('BLOB_UNKNOWN'));
    assert.equal(await meta.quotas.storedBytes(repo('acme/app')), 0);
    // All chunks sent, then a PUT without a body: the recorded size is checked before the commit.
    const id2 = await r.blobs.startUpload('acme/app');
    await r.blobs.append('acme/app', id2, streamOf(data), null, null);
    await assert.rejects(r.blobs.complete('acme/app', id2, digestOf(data), null, null, actor), denied(/needs 150 B more$/));
    assert.equal(await meta.uploads.get(id2), null);
  });

  test('a manifest PUT is refused for its own bytes, and for a new tag over the tag limit; a tag that moves and a push by digest pass', async () => {
    const { registry: r, meta } = testRegistry();
    const config = randomBytes(50);
    const layer = randomBytes(50);
    await pushBlob(r, 'acme/app', config);
    await pushBlob(r, 'acme/app', layer);
    await meta.quotas.set(repo('acme/app'), { bytes: 101, tags: null });
    await assert.rejects(putManifestOver(r, 'acme/app', 'v1', [config, layer]),
      denied(/^quota of repository acme\/app exceeded: 101 B allowed, 100 B used, this push needs \d+ B more$/));
    // Nothing of it stays: no manifest (the repository never held one), no tag, no link (its bytes are nobody's until GC).
    await assert.rejects(r.listing.tags('acme/app', {}), code('NAME_UNKNOWN'));
    assert.equal(await meta.quotas.storedBytes(repo('acme/app')), 100);

    await meta.quotas.set(repo('acme/app'), { bytes: null, tags: 2 });
    await meta.quotas.set(ns('acme'), { bytes: 100_000, tags: 3 });
    const one = await putManifestOver(r, 'acme/app', 'v1', [config, layer]);
    await pushImage(r, 'acme/app', 'v2', 'two');
    let refusal: unknown;
    await assert.rejects(pushImage(r, 'acme/app', 'v3', 'three'), (e) => { refusal = e; return true; });
    assert.ok(denied('tag quota of repository acme/app exceeded: 2 tags allowed, 2 used, this push needs 1 more')(refusal), String(refusal));
    assert.deepEqual((refusal as RegistryError).detail, { scope: { repository: 'acme/app' }, resource: 'tags', limit: 2, usage: 2, need: 1 });
    assert.deepEqual((await r.listing.tags('acme/app', {})).items, ['v1', 'v2']);
    // Moving a tag, pushing a digest again or by digest: no new tag.
    const moved = await pushImage(r, 'acme/app', 'v1', 'four');
    assert.equal((await r.manifests.resolve('acme/app', 'v1')).digest, moved.digest);
    await r.manifests.put('acme/app', 'v2', one.bytes, MediaTypes.ociManifest, actor);
    await pushImage(r, 'acme/app', null, 'five');
    // The namespace's tag limit counts its other repositories too.
    await pushImage(r, 'acme/lib', 'v1', 'six');
    await assert.rejects(pushImage(r, 'acme/lib', 'v2', 'seven'), denied('tag quota of namespace acme exceeded: 3 tags allowed, 3 used, this push needs 1 more'));
    // A deleted tag makes room.
    await r.manifests.delete('acme/app', 'v2', actor);
    await pushImage(r, 'acme/lib', 'v2', 'eight');
  });

  test('an undelete at the tag limit is refused; a restore that moves a tag is not', async () => {
    const { registry: r, meta } = testRegistry();
    const one = await pushImage(r, 'acme/app', 'v1', 'one');
    await pushImage(r, 'acme/app', 'v1', 'two');
    await pushImage(r, 'acme/app', 'v2', 'three');
    await r.manifests.delete('acme/app', 'v2', actor);
    await pushImage(r, 'acme/app', 'v3', 'four');
    await meta.quotas.set(repo('acme/app'), { bytes: null, tags: 2 });
    await assert.rejects(r.history.restore('acme/app', 'v2', { undelete: true }, actor), denied(/^tag quota of repository acme\/app exceeded: 2 tags allowed, 2 used/));
    assert.deepEqual((await r.listing.tags('acme/app', {})).items, ['v1', 'v3']);
    await r.history.restore('acme/app', 'v1', { digest: one.digest }, actor);
    assert.equal((await r.manifests.resolve('acme/app', 'v1')).digest, one.digest);
  });

  test('a mount over a quota is refused (403), not turned into an upload; a mount within the namespace adds nothing to it', async () => {
    const { registry: r, meta } = testRegistry();
    const big = randomBytes(600);
    await pushBlob(r, 'beta/src', big);
    await pushBlob(r, 'acme/a', randomBytes(500));
    await meta.quotas.set(ns('acme'), { bytes: 1000, tags: null });
    const mayRead = async (): Promise<boolean> => true;
    await assert.rejects(r.blobs.mount('acme/a', digestOf(big), 'beta/src', actor, mayRead),
      denied('quota of namespace acme exceeded: 1000 B allowed, 500 B used, this push needs 600 B more'));
    await assert.rejects(r.blobs.stat('acme/a', digestOf(big)), code('BLOB_UNKNOWN'));
    // Within the namespace: the blob is counted already.
    await meta.quotas.set(ns('acme'), { bytes: 1100, tags: null });
    await r.blobs.mount('acme/a', digestOf(big), 'beta/src', actor, mayRead);
    await meta.quotas.set(ns('acme'), { bytes: 1, tags: null });
    assert.deepEqual(await r.blobs.mount('acme/b', digestOf(big), 'acme/a', actor, mayRead), { digest: digestOf(big), size: 600 });
    // A repository's own quota counts its own links.
    await meta.quotas.set(repo('acme/c'), { bytes: 10, tags: null });
    await assert.rejects(r.blobs.mount('acme/c', digestOf(big), 'acme/a', actor, mayRead), denied(/^quota of repository acme\/c exceeded/));
  });

  test('a quota set below the usage blocks growth only: what is stored stays, pushing it again passes', async () => {
    const { registry: r, meta } = testRegistry();
    const img = await pushImage(r, 'acme/app', 'v1', 'one');
    const used = await meta.quotas.storedBytes(ns('acme'));
    await meta.quotas.set(ns('acme'), { bytes: 10, tags: 0 });
    await r.manifests.put('acme/app', 'v1', img.bytes, MediaTypes.ociManifest, actor);
    await assert.rejects(pushBlob(r, 'acme/app', randomBytes(1)), denied(`quota of namespace acme exceeded: 10 B allowed, ${used} B used, this push needs 1 B more`));
    await assert.rejects(r.manifests.put('acme/app', 'v2', img.bytes, MediaTypes.ociManifest, actor), denied(/^tag quota of namespace acme exceeded: 0 tags allowed, 1 used/));
    // Repositories outside any namespace have no quota.
    await pushImage(r, 'top', 'v1', 'two');
  });

  test('postgres: two registries sharing a database, pushing in parallel into one namespace, never overrun its quota', async () => {
    const db = await createTestDatabase();
    const clock = new FakeClock();
    const blobs = new MemoryBlobStore(undefined, clock);
    const metas = await Promise.all([0, 1].map(() => openPostgresMetaStore({ url: db.url, maxConnections: 8, clock })));
    const registries = metas.map((m) => new Registry(blobs, m, { maxManifestBytes: 1 << 20 }, clock));
    try {
      const SIZE = 1000;
      const FIT = 7;
      await metas[0]!.quotas.set(ns('acme'), { bytes: FIT * SIZE, tags: null });
      // 20 blobs of SIZE, each to its own repository, half through each registry, all at once; the size
      // is not declared, so every one gets to the commit and is decided there.
      const results = await Promise.allSettled(Array.from({ length: 20 }, async (_, i) => {
        const r = registries[i % 2]!;
        const data = randomBytes(SIZE);
        const id = await r.blobs.startUpload(`acme/r${i}`);
        return r.blobs.complete(`acme/r${i}`, id, digestOf(data), streamOf(data), null, actor);
      }));
      const refused = results.filter((x) => x.status === 'rejected').map((x) => (x as PromiseRejectedResult).reason as unknown);
      for (const e of refused) assert.ok(denied(/^quota of namespace acme exceeded: 6.8 KiB allowed, 6.8 KiB used, this push needs 1000 B more$/)(e), String(e));
      assert.equal(results.length - refused.length, FIT, 'exactly as many as fit');
      assert.equal(await metas[1]!.quotas.storedBytes(ns('acme')), FIT * SIZE);
    } finally {
      await Promise.all(registries.map((r) => r.blobs.drain()));
      await Promise.all(metas.map((m) => m.close()));
      await db.drop();
    }
  });
});
