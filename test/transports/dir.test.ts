// dir: — skopeo's directory layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MediaTypes } from '../../src/oci/media-types.js';
import { DirImage, DIR_VERSION, dirBlobName, openDirDestination, openDirSource } from '../../src/transports/dir.js';
import { sampleImage, sampleIndex } from '../interop/lib/images.js';
import { MemorySource, copyImage, errorOf, fixtureContent, readAll, readImage, sameContent, tempDir } from './lib/helpers.js';

const IMG = sampleImage('dir-a');
const IMG2 = sampleImage('dir-b', { layers: 1 });
const IDX = sampleIndex('dir-idx');

const hex = (d: string) => d.slice('sha256:'.length);

test('an image round-trips through dir: in skopeo\'s file layout', async () => {
  const dir = join(tempDir(), 'img');
  await copyImage(new MemorySource(IMG), await openDirDestination(dir));
  assert.ok(readFileSync(join(dir, 'manifest.json')).equals(IMG.manifest));
  assert.equal(readFileSync(join(dir, 'version'), 'utf8'), 'Directory Transport Version: 1.1\n');
  assert.ok(readFileSync(join(dir, hex(IMG.configDigest))).equals(IMG.config));
  for (const l of IMG.layers) assert.ok(readFileSync(join(dir, hex(l.digest))).equals(l.data));
  assert.deepEqual(readdirSync(dir).sort(), ['manifest.json', 'version', hex(IMG.configDigest), ...IMG.layers.map((l) => hex(l.digest))].sort());
  const src = await openDirSource(dir);
  assert.equal(src.name, `dir:${dir}`);
  const got = await readImage(src);
  assert.equal(got.top.mediaType, MediaTypes.ociManifest);
  assert.equal(sameContent(got, fixtureContent(IMG)), null);
});

test('an index round-trips through dir: with children as <hex>.manifest.json', async () => {
  const dir = join(tempDir(), 'idx');
  await copyImage(new MemorySource(IDX), await openDirDestination(dir));
  assert.ok(readFileSync(join(dir, 'manifest.json')).equals(IDX.index));
  for (const im of IDX.images) assert.ok(readFileSync(join(dir, `${hex(im.manifestDigest)}.manifest.json`)).equals(im.manifest));
  const got = await readImage(await openDirSource(dir));
  assert.equal(got.top.mediaType, MediaTypes.ociIndex);
  assert.equal(sameContent(got, fixtureContent(IDX)), null);
  // The top-level manifest is also reachable by its digest.
  const src = await openDirSource(dir);
  assert.ok((await src.getManifest(IDX.indexDigest)).bytes.equals(IDX.index));
  await src.close();
});

test('writing over an image replaces it; the old one stays readable until commit, then its files go', async () => {
  const dir = join(tempDir(), 'img');
  await copyImage(new MemorySource(IDX), await openDirDestination(dir));
  // A copy that is not committed leaves the old image intact.
  await copyImage(new MemorySource(IMG2), await openDirDestination(dir), { commit: false });
  assert.equal(sameContent(await readImage(await openDirSource(dir)), fixtureContent(IDX)), null);
  // Shares no blob with IDX: after the commit only IMG2's files remain (plus stray non-image files).
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  await copyImage(new MemorySource(IMG2), await openDirDestination(dir));
  assert.deepEqual(readdirSync(dir).sort(), ['manifest.json', 'notes.txt', 'version', hex(IMG2.configDigest), ...IMG2.layers.map((l) => hex(l.digest))].sort());
  assert.equal(sameContent(await readImage(await openDirSource(dir)), fixtureContent(IMG2)), null);
});

test('dir: refuses to overwrite a directory that does not hold an image', async () => {
  const root = tempDir();
  const dir = join(root, 'other');
  mkdirSync(dir);
  writeFileSync(join(dir, 'precious.txt'), 'x');
  assert.match((await errorOf(() => openDirDestination(dir))).message, /refusing to overwrite/);
  writeFileSync(join(dir, 'version'), 'Directory Transport Version: 9\n');
  assert.match((await errorOf(() => openDirDestination(dir))).message, /refusing to overwrite/);
  writeFileSync(join(root, 'file'), 'x');
  assert.match((await errorOf(() => openDirDestination(join(root, 'file')))).message, /not a directory/);
  assert.match((await errorOf(() => openDirSource(join(root, 'nothing')))).message, /manifest\.json not found/);
  const empty = join(root, 'empty');
  mkdirSync(empty);
  const d = await DirImage.open(empty, { mode: 'write' });
  assert.equal(d.supportsManifestType(MediaTypes.dockerManifestList), true);
  await d.close();
});

test('dir: verification of reads and writes', async () => {
  const dir = join(tempDir(), 'img');
  await copyImage(new MemorySource(IDX), await openDirDestination(dir));
  const l = IDX.images[0]!.layers[0]!;
  const bad = Buffer.from(l.data);
  bad[3] ^= 1;
  writeFileSync(join(dir, hex(l.digest)), bad);
  const src = await openDirSource(dir);
  await assert.rejects(readAll(await src.getBlob({ digest: l.digest, size: l.data.length })), /digest mismatch/);
  const child = IDX.images[1]!;
  writeFileSync(join(dir, `${hex(child.manifestDigest)}.manifest.json`), IDX.images[0]!.manifest);
  await assert.rejects(src.getManifest(child.manifestDigest), /mismatch/);
  await assert.rejects(src.getBlob({ digest: `sha256:${'1'.repeat(64)}`, size: -1 }), /not found/);
  await src.close();

  const dst = await openDirDestination(join(tempDir(), 'w'));
  await assert.rejects(dst.putBlob({ digest: l.digest, size: -1 }, Readable.from([bad])), /digest mismatch/);
  assert.equal(await dst.hasBlob({ digest: l.digest, size: -1 }), false);
  await assert.rejects(dst.putManifest({ bytes: child.manifest, mediaType: MediaTypes.ociManifest }, IDX.images[0]!.manifestDigest), /digest mismatch/);
  await dst.close();
});

test('dir: sha512 blobs are stored as sha512-<hex>', () => {
  const d = `sha512:${'ab'.repeat(64)}`;
  assert.equal(dirBlobName(d), `sha512-${'ab'.repeat(64)}`);
  assert.equal(dirBlobName(`sha256:${'cd'.repeat(32)}`), 'cd'.repeat(32));
  assert.equal(DIR_VERSION, 'Directory Transport Version: 1.1\n');
});
