// Unit tests of registry/manifests.ts and registry/listing.ts over in-memory stores.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { digestOf } from '../../src/oci/digest.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { bytesOf, code, pushImage, testRegistry } from './lib.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';

describe('registry: manifests', () => {
  test('put by tag, get and resolve by tag and by digest; the record carries its time', async () => {
    const { registry: r, meta, clock } = testRegistry();
    const { digest, bytes } = await pushImage(r, 'team/app', 'v1', 'a');
    const byTag = await r.manifests.get('team/app', 'v1');
    assert.ok(byTag.bytes.equals(bytes));
    assert.equal(byTag.record.digest, digest);
    assert.equal(byTag.record.mediaType, MediaTypes.ociManifest);
    assert.equal((await r.manifests.resolve('team/app', digest)).size, bytes.length);
    const repoId = (await meta.repositories.idOf('team/app'))!;
    assert.equal((await meta.manifests.get(repoId, digest))?.createdAt, clock.now());
    assert.equal((await meta.blobs.get(repoId, digest))?.size, bytes.length, 'the manifest bytes are linked as a blob');
  });

  test('unknown repository, manifest and tag answer the right errors', async () => {
    const { registry: r } = testRegistry();
    await pushImage(r, 'known', 'v1', 'b');
    await assert.rejects(r.manifests.resolve('unknown', 'v1'), code('NAME_UNKNOWN'));
    await assert.rejects(r.manifests.resolve('known', 'v2'), code('MANIFEST_UNKNOWN'));
    await assert.rejects(r.manifests.resolve('known', digestOf('x')), code('MANIFEST_UNKNOWN'));
    await assert.rejects(r.manifests.resolve('Bad Name', 'v1'), code('NAME_INVALID'));
  });

  test('a manifest whose blobs are missing is refused and leaves no trace', async () => {
    const { registry: r, meta } = testRegistry();
    const m = {
      schemaVersion: 2, mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: digestOf('cfg'), size: 3 }, layers: [],
    };
    await assert.rejects(r.manifests.put('ghost', 'v1', Buffer.from(JSON.stringify(m)), MediaTypes.ociManifest, actor), code('MANIFEST_BLOB_UNKNOWN'));
    assert.equal(await meta.repositories.idOf('ghost'), null);
  });

  test('a digest reference must match the bytes', async () => {
    const { registry: r } = testRegistry();
    const { bytes } = await pushImage(r, 'dg', null, 'c');
    await assert.rejects(r.manifests.put('dg', digestOf('something else'), bytes, MediaTypes.ociManifest, actor), code('DIGEST_INVALID'));
  });

  test('moving a tag, deleting a tag, deleting by digest (which removes its tags and its link)', async () => {
    const { registry: r, meta } = testRegistry();
    const one = await pushImage(r, 'mv', 'latest', 'one');
    const two = await pushImage(r, 'mv', 'v2', 'two');
    await r.manifests.put('mv', 'latest', two.bytes, MediaTypes.ociManifest, actor);
    assert.equal((await r.manifests.resolve('mv', 'latest')).digest, two.digest);
    await r.manifests.delete('mv', 'v2', actor);
    await assert.rejects(r.manifests.resolve('mv', 'v2'), code('MANIFEST_UNKNOWN'));
    await assert.rejects(r.manifests.delete('mv', 'v2', actor), code('MANIFEST_UNKNOWN'));
    await r.manifests.delete('mv', two.digest, actor);
    await assert.rejects(r.manifests.resolve('mv', 'latest'), code('MANIFEST_UNKNOWN'));
    await assert.rejects(r.manifests.resolve('mv', two.digest), code('MANIFEST_UNKNOWN'));
    const repoId = (await meta.repositories.idOf('mv'))!;
    assert.equal(await meta.blobs.get(repoId, two.digest), null);
    await assert.rejects(r.manifests.delete('mv', two.digest, actor), code('MANIFEST_UNKNOWN'));
    assert.equal((await r.manifests.resolve('mv', one.digest)).digest, one.digest);
  });

  test('deleting a manifest digest that is only a blob refuses and keeps the blob', async () => {
    const { registry: r } = testRegistry();
    await pushImage(r, 'keep', 'v1', 'k');
    const layer = digestOf(bytesOf('layer of k'));
    await assert.rejects(r.manifests.delete('keep', layer, actor), code('MANIFEST_UNKNOWN'));
    assert.equal((await r.blobs.stat('keep', layer)).digest, layer);
  });

  test('referrers list the manifests whose subject is the digest, filtered by artifactType', async () => {
    const { registry: r } = testRegistry();
    const subject = await pushImage(r, 'ref', 'v1', 's');
    const sbom = await pushImage(r, 'ref', null, 'sbom', {
      artifactType: 'application/x.sbom',
      subject: { mediaType: MediaTypes.ociManifest, digest: subject.digest, size: subject.bytes.length },
      annotations: { note: 'yes' },
    });
    const all = await r.listing.referrers('ref', subject.digest);
    assert.deepEqual(all.manifests.map((d) => d.digest), [sbom.digest]);
    assert.deepEqual(all.manifests[0]!.annotations, { note: 'yes' });
    assert.equal((await r.listing.referrers('ref', subject.digest, 'application/other')).manifests.length, 0);
    assert.equal((await r.listing.referrers('nobody', subject.digest)).manifests.length, 0);
  });
});

describe('registry: listings', () => {
  test('tags are listed in order, page by page, with the next marker', async () => {
    const { registry: r } = testRegistry();
    const img = await pushImage(r, 'pages', 't0', 'p');
    for (const t of ['t3', 't1', 't4', 't2']) await r.manifests.put('pages', t, img.bytes, MediaTypes.ociManifest, actor);
    assert.deepEqual(await r.listing.tags('pages', {}), { items: ['t0', 't1', 't2', 't3', 't4'], next: null });
    assert.deepEqual(await r.listing.tags('pages', { n: 2 }), { items: ['t0', 't1'], next: 't1' });
    assert.deepEqual(await r.listing.tags('pages', { n: 2, last: 't1' }), { items: ['t2', 't3'], next: 't3' });
    assert.deepEqual(await r.listing.tags('pages', { n: 2, last: 't3' }), { items: ['t4'], next: null });
    assert.deepEqual(await r.listing.tags('pages', { n: 0 }), { items: [], next: null });
    await assert.rejects(r.listing.tags('pages', { n: -1 }), code('PAGINATION_NUMBER_INVALID'));
    await assert.rejects(r.listing.tags('nope', {}), code('NAME_UNKNOWN'));
  });

  test('the catalog lists repositories that hold or held a manifest, page by page', async () => {
    const { registry: r } = testRegistry();
    for (const name of ['c', 'a', 'b/x']) await pushImage(r, name, 'v1', name);
    await r.blobs.startUpload('uploads-only');
    assert.deepEqual(await r.listing.catalog({}), { items: ['a', 'b/x', 'c'], next: null });
    assert.deepEqual(await r.listing.catalog({ n: 2 }), { items: ['a', 'b/x'], next: 'b/x' });
    assert.deepEqual(await r.listing.catalog({ n: 2, last: 'b/x' }), { items: ['c'], next: null });
    await assert.rejects(r.listing.tags('uploads-only', {}), code('NAME_UNKNOWN'));
  });
});
