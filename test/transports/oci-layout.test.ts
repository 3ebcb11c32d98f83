// oci: — OCI image layouts: round trips, several images per layout, crash safety, verification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MediaTypes } from '../../src/oci/media-types.js';
import { OciLayout, openOciDestination, openOciSource, REF_NAME_ANNOTATION } from '../../src/transports/oci-layout.js';
import { layoutRef, readLayoutBlob, sampleImage, sampleIndex, writeOciLayout } from '../interop/lib/images.js';
import { MemorySource, copyImage, errorOf, fixtureContent, readAll, readImage, sameContent, tempDir } from './lib/helpers.js';

const IMG = sampleImage('layout-a');
const IMG2 = sampleImage('layout-b', { layers: 1 });
const IDX = sampleIndex('layout-idx');

function indexJson(dir: string): { schemaVersion: number; manifests: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }[] } {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
}

test('an image round-trips through oci: with identical bytes and digests', async () => {
  const dir = join(tempDir(), 'layout');
  await copyImage(new MemorySource(IMG), await openOciDestination(`${dir}:v1`));
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const desc = layoutRef(dir, 'v1');
  assert.deepEqual(desc, { mediaType: MediaTypes.ociManifest, digest: IMG.manifestDigest, size: IMG.manifest.length, annotations: { [REF_NAME_ANNOTATION]: 'v1' } });
  for (const b of IMG.blobs) assert.ok(readLayoutBlob(dir, b.digest).equals(b.data), `blob ${b.digest}`);
  assert.deepEqual(readdirSync(join(dir, 'blobs', 'sha256')).sort(), IMG.blobs.map((b) => b.digest.slice(7)).sort());
  assert.deepEqual(readdirSync(dir).sort(), ['blobs', 'index.json', 'oci-layout'], 'no temp files left behind');

  const src = await openOciSource(`${dir}:v1`);
  assert.equal(src.name, `oci:${dir}:v1`);
  const got = await readImage(src);
  assert.equal(got.top.mediaType, MediaTypes.ociManifest);
  assert.equal(sameContent(got, fixtureContent(IMG)), null);
});

test('an index round-trips through oci: with its children stored as blobs', async () => {
  const dir = join(tempDir(), 'layout');
  await copyImage(new MemorySource(IDX), await openOciDestination(`${dir}:multi`));
  const desc = layoutRef(dir, 'multi');
  assert.equal(desc.mediaType, MediaTypes.ociIndex);
  assert.equal(desc.digest, IDX.indexDigest);
  for (const b of IDX.blobs) assert.ok(readLayoutBlob(dir, b.digest).equals(b.data), `blob ${b.digest}`);
  const got = await readImage(await openOciSource(`${dir}:multi`));
  assert.equal(got.top.mediaType, MediaTypes.ociIndex);
  assert.equal(sameContent(got, fixtureContent(IDX)), null);
  for (const im of IDX.images) assert.equal(got.children.get(im.manifestDigest)?.mediaType, MediaTypes.ociManifest);
});

test('several images share a layout; writing a ref replaces only that entry, in place', async () => {
  const dir = join(tempDir(), 'layout');
  await copyImage(new MemorySource(IMG), await openOciDestination(`${dir}:a`));
  await copyImage(new MemorySource(IDX), await openOciDestination(`${dir}:b`));
  await copyImage(new MemorySource(IMG), await openOciDestination(`${dir}:c`));
  assert.deepEqual(indexJson(dir).manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]), ['a', 'b', 'c']);
  await copyImage(new MemorySource(IMG2), await openOciDestination(`${dir}:a`));
  const ms = indexJson(dir).manifests;
  assert.deepEqual(ms.map((m) => m.annotations?.[REF_NAME_ANNOTATION]), ['a', 'b', 'c']);
  assert.equal(ms[0]!.digest, IMG2.manifestDigest);
  assert.equal(sameContent(await readImage(await openOciSource(`${dir}:a`)), fixtureContent(IMG2)), null);
  assert.equal(sameContent(await readImage(await openOciSource(`${dir}:b`)), fixtureContent(IDX)), null);
  assert.equal(sameContent(await readImage(await openOciSource(`${dir}:c`)), fixtureContent(IMG)), null);
  // Without a ref, a layout of several images is ambiguous.
  assert.match((await errorOf(() => openOciSource(dir))).message, /holds 3 images; name one/);
  assert.match((await errorOf(() => openOciSource(`${dir}:nope`))).message, /no image named "nope".*it has: a, b, c/);
});

test('a layout written by another tool keeps its entries and fields', async () => {
  const dir = join(tempDir(), 'layout');
  writeOciLayout(dir, [{ tag: 'old', image: IMG }]);
  const before = indexJson(dir);
  await copyImage(new MemorySource(IMG2), await openOciDestination(`${dir}:new`));
  const after = indexJson(dir);
  assert.deepEqual(after.manifests[0], before.manifests[0]);
  assert.equal(after.manifests[1]!.digest, IMG2.manifestDigest);
});

test('without a ref, writing appends an unnamed entry (once per digest) and reading takes the only image', async () => {
  const dir = join(tempDir(), 'layout');
  await copyImage(new MemorySource(IMG), await openOciDestination(dir));
  assert.deepEqual(indexJson(dir).manifests, [{ mediaType: MediaTypes.ociManifest, digest: IMG.manifestDigest, size: IMG.manifest.length }]);
  assert.equal(sameContent(await readImage(await openOciSource(dir)), fixtureContent(IMG)), null);
  await copyImage(new MemorySource(IMG), await openOciDestination(dir));
  assert.equal(indexJson(dir).manifests.length, 1);
  await copyImage(new MemorySource(IMG2), await openOciDestination(`${dir}:`));
  assert.equal(indexJson(dir).manifests.length, 2);
});

test('an interrupted copy leaves the old index.json valid; closing without commit changes nothing visible', async () => {
  const dir = join(tempDir(), 'layout');
  await copyImage(new MemorySource(IMG), await openOciDestination(`${dir}:v1`));
  const before = readFileSync(join(dir, 'index.json'));
  // A copy of a new image to the same ref that dies half-way through a layer.
  const dst = await openOciDestination(`${dir}:v1`);
  const layer = IMG2.layers[0]!;
  const dying = new Readable({
    read() {
      this.push(layer.data.subarray(0, 10));
      this.destroy(new Error('connection reset'));
    },
  });
  await assert.rejects(dst.putBlob({ digest: layer.digest, size: layer.data.length }, dying), /connection reset/);
  await dst.close();
  assert.ok(readFileSync(join(dir, 'index.json')).equals(before));
  assert.ok(!existsSync(join(dir, 'blobs', 'sha256', layer.digest.slice(7))), 'no partial blob');
  assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), [], 'temp file removed');
  // The whole copy but no commit.
  await copyImage(new MemorySource(IMG2), await openOciDestination(`${dir}:v1`), { commit: false });
  assert.ok(readFileSync(join(dir, 'index.json')).equals(before));
  assert.equal(sameContent(await readImage(await openOciSource(`${dir}:v1`)), fixtureContent(IMG)), null);
});

test('putBlob refuses content that does not match its digest or size, and stores nothing', async () => {
  const dir = join(tempDir(), 'layout');
  const dst = await openOciDestination(`${dir}:x`);
  const l = IMG.layers[0]!;
  const bad = Buffer.from(l.data);
  bad[bad.length - 1] ^= 0xff;
  await assert.rejects(dst.putBlob({ digest: l.digest, size: l.data.length }, Readable.from([bad])), /digest mismatch/);
  await assert.rejects(dst.putBlob({ digest: l.digest, size: l.data.length + 1 }, Readable.from([l.data])), /size mismatch/);
  assert.equal(await dst.hasBlob({ digest: l.digest, size: l.data.length }), false);
  await dst.putBlob({ digest: l.digest, size: -1 }, Readable.from([l.data]));
  assert.equal(await dst.hasBlob({ digest: l.digest, size: l.data.length }), true);
  assert.equal(await dst.hasBlob({ digest: l.digest, size: 1 }), false, 'a different size is not the blob');
  await assert.rejects(dst.putManifest({ bytes: IMG.manifest, mediaType: MediaTypes.ociManifest }, IMG2.manifestDigest), /digest mismatch/);
  await assert.rejects(dst.commit(), /nothing to commit/);
  await dst.close();
  assert.ok(!existsSync(join(dir, 'index.json')));
});

test('reading detects corrupted blobs and manifests', async () => {
  const dir = join(tempDir(), 'layout');
  writeOciLayout(dir, [{ tag: 'v1', image: IMG }]);
  const l = IMG.layers[1]!;
  const path = join(dir, 'blobs', 'sha256', l.digest.slice(7));
  const bad = Buffer.from(l.data);
  bad[20] ^= 0x55;
  writeFileSync(path, bad);
  const src = await openOciSource(`${dir}:v1`);
  await assert.rejects(readAll(await src.getBlob({ digest: l.digest, size: l.data.length })), /digest mismatch/);
  writeFileSync(path, l.data.subarray(1));
  await assert.rejects(src.getBlob({ digest: l.digest, size: l.data.length }), /size mismatch/);
  await assert.rejects(readAll(await src.getBlob({ digest: l.digest, size: -1 })), /digest mismatch/);
  await assert.rejects(src.getBlob({ digest: `sha256:${'0'.repeat(64)}`, size: 1 }), /not found/);
  writeFileSync(join(dir, 'blobs', 'sha256', IMG.manifestDigest.slice(7)), IMG2.manifest);
  await assert.rejects(src.getManifest(), /size mismatch|digest mismatch/);
  await src.close();
});

test('opening: not a layout, wrong version, modes', async () => {
  const root = tempDir();
  assert.match((await errorOf(() => openOciSource(join(root, 'missing')))).message, /not an OCI image layout/);
  const dir = join(root, 'layout');
  writeOciLayout(dir, [{ tag: 'v1', image: IMG }]);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '2.0.0' }));
  assert.match((await errorOf(() => openOciSource(`${dir}:v1`))).message, /unsupported image layout version/);
  assert.match((await errorOf(() => openOciDestination(`${dir}:v1`))).message, /unsupported image layout version/);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const r = await OciLayout.open(dir, 'v1', { mode: 'read' });
  await assert.rejects(r.hasBlob({ digest: IMG.configDigest, size: -1 }), /opened for reading/);
  assert.equal(r.descriptor.digest, IMG.manifestDigest);
  const w = await OciLayout.open(dir, 'v1', { mode: 'write' });
  await assert.rejects(w.getManifest(), /opened for writing/);
  assert.equal(w.supportsManifestType(MediaTypes.ociIndex), true);
  assert.equal(w.supportsManifestType(MediaTypes.dockerManifest), false);
  writeFileSync(join(root, 'file'), 'x');
  assert.match((await errorOf(() => openOciDestination(join(root, 'file')))).message, /not a directory/);
});
