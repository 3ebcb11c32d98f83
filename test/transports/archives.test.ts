// oci-archive: and docker-archive: — round trips, archive contents, image selection, verification.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { digestOf } from '../../src/oci/digest.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { OciArchive, openOciArchiveDestination, openOciArchiveSource } from '../../src/transports/oci-archive.js';
import { openDirDestination, openDirSource } from '../../src/transports/dir.js';
import { openOciDestination, openOciSource } from '../../src/transports/oci-layout.js';
import { DockerArchive, DOCKER_LAYER_TAR, openDockerArchiveDestination, openDockerArchiveSource } from '../../src/transports/docker-archive.js';
import { buildImage, makeTar, pseudoRandom, readTar, sampleImage, sampleIndex, sha256, type BuiltImage } from '../interop/lib/images.js';
import { MemorySource, copyImage, errorOf, fixtureContent, readAll, readImage, sameContent, tempDir } from './lib/helpers.js';

const IMG = sampleImage('archive-a');
const IMG2 = sampleImage('archive-b', { layers: 1 });
const IDX = sampleIndex('archive-idx');
const hex = (d: string) => d.slice('sha256:'.length);

// ---------------------------------------------------------------------------------------------
// oci-archive
// ---------------------------------------------------------------------------------------------

test('oci-archive: an image and an index round-trip; the tar holds a plain OCI layout', async () => {
  const root = tempDir();
  const file = join(root, 'img.tar');
  await copyImage(new MemorySource(IMG), await openOciArchiveDestination(`${file}:v1`));
  const entries = readTar(readFileSync(file));
  assert.deepEqual(entries.map((e) => e.path), [
    'oci-layout', 'index.json', 'blobs/', 'blobs/sha256/', ...IMG.blobs.map((b) => `blobs/sha256/${hex(b.digest)}`).sort(),
  ]);
  for (const b of IMG.blobs) assert.ok(entries.find((e) => e.path === `blobs/sha256/${hex(b.digest)}`)!.content.equals(b.data));
  const index = JSON.parse(entries.find((e) => e.path === 'index.json')!.content.toString());
  assert.equal(index.manifests[0].digest, IMG.manifestDigest);
  assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'v1');
  assert.deepEqual(readdirSync(root), ['img.tar'], 'no temp file left next to the archive');
  const src = await openOciArchiveSource(`${file}:v1`);
  assert.equal(src.name, `oci-archive:${file}:v1`);
  assert.equal(sameContent(await readImage(src), fixtureContent(IMG)), null);
  assert.equal(sameContent(await readImage(await openOciArchiveSource(file)), fixtureContent(IMG)), null);

  const ifile = join(root, 'idx.tar');
  await copyImage(new MemorySource(IDX), await openOciArchiveDestination(ifile));
  assert.equal(sameContent(await readImage(await openOciArchiveSource(ifile)), fixtureContent(IDX)), null);
  // Same content, same archive bytes (fixed mtimes and order).
  const again = join(root, 'again.tar');
  await copyImage(new MemorySource(IDX), await openOciArchiveDestination(again));
  assert.ok(readFileSync(again).equals(readFileSync(ifile)));
});

test('oci-archive: writing replaces the file atomically; without commit the old file stays', async () => {
  const file = join(tempDir(), 'a.tar');
  await copyImage(new MemorySource(IMG), await openOciArchiveDestination(`${file}:x`));
  const before = readFileSync(file);
  await copyImage(new MemorySource(IMG2), await openOciArchiveDestination(`${file}:x`), { commit: false });
  assert.ok(readFileSync(file).equals(before));
  await copyImage(new MemorySource(IMG2), await openOciArchiveDestination(`${file}:y`));
  assert.equal(sameContent(await readImage(await openOciArchiveSource(`${file}:y`)), fixtureContent(IMG2)), null);
  assert.match((await errorOf(() => openOciArchiveSource(`${file}:x`))).message, /no image named "x"/);
});

test('oci-archive: reads gzip-compressed archives and ./-prefixed names; rejects escaping paths', async () => {
  const root = tempDir();
  const layout = [
    { path: './oci-layout', content: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { path: './index.json', content: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaTypes.ociManifest, digest: IMG.manifestDigest, size: IMG.manifest.length }] }) },
    { path: './blobs/' },
    { path: './blobs/sha256/' },
    ...IMG.blobs.map((b) => ({ path: `./blobs/sha256/${hex(b.digest)}`, content: b.data })),
  ];
  const gz = join(root, 'a.tar.gz');
  writeFileSync(gz, gzipSync(makeTar(layout)));
  assert.equal(sameContent(await readImage(await openOciArchiveSource(gz)), fixtureContent(IMG)), null);
  const evil = join(root, 'evil.tar');
  writeFileSync(evil, makeTar([...layout, { path: '../escaped', content: 'x' }]));
  assert.match((await errorOf(() => openOciArchiveSource(evil))).message, /unsafe path/);
  assert.ok(!existsSync(join(root, '..', 'escaped')));
  const notTar = join(root, 'junk.tar');
  writeFileSync(notTar, 'this is not a tar archive at all'.repeat(40));
  await assert.rejects(openOciArchiveSource(notTar));
  const o = await OciArchive.open(gz, undefined, { mode: 'read' });
  assert.ok(o.file.endsWith('a.tar.gz'));
  await assert.rejects(o.putManifest({ bytes: IMG.manifest, mediaType: MediaTypes.ociManifest }), /opened for reading/);
  await o.close();
});

// ---------------------------------------------------------------------------------------------
// docker-archive
// ---------------------------------------------------------------------------------------------

/** The Docker schema 2 manifest a docker-archive source presents for a fixture image. */
function expectedDockerManifest(im: BuiltImage): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaTypes.dockerManifest,
    config: { mediaType: MediaTypes.dockerConfig, size: im.config.length, digest: im.configDigest },
    layers: im.layers.map((l, i) => ({ mediaType: DOCKER_LAYER_TAR, size: gunzipSync(l.data).length, digest: im.diffIds[i] })),
  }));
}

test('docker-archive: writing decompresses gzip layers and names them by diff_id', async () => {
  const file = join(tempDir(), 'img.tar');
  await copyImage(new MemorySource(IMG), await openDockerArchiveDestination(`${file}:wharf.test/app:v1`));
  const entries = readTar(readFileSync(file));
  const byPath = new Map(entries.map((e) => [e.path, e]));
  const manifest = JSON.parse(byPath.get('manifest.json')!.content.toString());
  assert.deepEqual(manifest, [{ Config: `${hex(IMG.configDigest)}.json`, RepoTags: ['wharf.test/app:v1'], Layers: IMG.diffIds.map((d) => `${hex(d)}.tar`) }]);
  assert.ok(byPath.get(`${hex(IMG.configDigest)}.json`)!.content.equals(IMG.config));
  for (const [i, l] of IMG.layers.entries()) {
    const tarBytes = byPath.get(`${hex(IMG.diffIds[i]!)}.tar`)!.content;
    assert.ok(tarBytes.equals(gunzipSync(l.data)), `layer ${i} is the uncompressed tar`);
    assert.equal(sha256(tarBytes), IMG.diffIds[i]);
  }
  // Legacy metadata: ChainID-named directories, the top one in `repositories`.
  const chain1 = IMG.diffIds[0]!;
  const chain2 = digestOf(`${IMG.diffIds[0]} ${IMG.diffIds[1]}`);
  assert.deepEqual(JSON.parse(byPath.get('repositories')!.content.toString()), { 'wharf.test/app': { v1: hex(chain2) } });
  assert.equal(byPath.get(`${hex(chain1)}/VERSION`)!.content.toString(), '1.0');
  assert.equal(byPath.get(`${hex(chain2)}/layer.tar`)!.type, '2');
  const top = JSON.parse(byPath.get(`${hex(chain2)}/json`)!.content.toString());
  assert.equal(top.id, hex(chain2));
  assert.equal(top.parent, hex(chain1));
  assert.equal(top.architecture, 'amd64');

  // Reading it back: a Docker schema 2 manifest of the uncompressed layers.
  const src = await openDockerArchiveSource(`${file}:wharf.test/app:v1`);
  assert.equal(src.name, `docker-archive:${file}:wharf.test/app:v1`);
  const m = await src.getManifest();
  assert.equal(m.mediaType, MediaTypes.dockerManifest);
  assert.ok(m.bytes.equals(expectedDockerManifest(IMG)), m.bytes.toString());
  const got = await readImage(src);
  assert.ok(got.blobs.get(IMG.configDigest)!.equals(IMG.config));
  for (const [i, l] of IMG.layers.entries()) assert.ok(got.blobs.get(IMG.diffIds[i]!)!.equals(gunzipSync(l.data)));
});

test('docker-archive: archive to archive keeps the layers and config byte for byte', async () => {
  const root = tempDir();
  const a = join(root, 'a.tar');
  const b = join(root, 'b.tar');
  await copyImage(new MemorySource(IMG), await openDockerArchiveDestination(`${a}:app:1`));
  await copyImage(await openDockerArchiveSource(a), await openDockerArchiveDestination(`${b}:app:1`));
  assert.ok(readFileSync(a).equals(readFileSync(b)), 'identical archives');
  const src = await openDockerArchiveSource(`${b}:docker.io/library/app:1`);
  assert.ok((await src.getManifest()).bytes.equals(expectedDockerManifest(IMG)));
  await src.close();
  // Untagged: empty RepoTags, readable as the only image or @0.
  const c = join(root, 'c.tar');
  await copyImage(await openDockerArchiveSource(`${a}:@0`), await openDockerArchiveDestination(c));
  const manifest = JSON.parse(readTar(readFileSync(c)).find((e) => e.path === 'manifest.json')!.content.toString());
  assert.deepEqual(manifest[0].RepoTags, []);
  assert.ok((await readImage(await openDockerArchiveSource(c))).top.bytes.equals(expectedDockerManifest(IMG)));
});

test('docker-archive: a docker-save style archive with several images; selection by tag and @N', async () => {
  const root = tempDir();
  const images = [IMG, IMG2];
  const entries = [];
  for (const im of images) {
    entries.push({ path: `${hex(im.configDigest)}.json`, content: im.config });
    for (const [i, l] of im.layers.entries()) {
      entries.push({ path: `${hex(im.diffIds[i]!)}/` }, { path: `${hex(im.diffIds[i]!)}/layer.tar`, content: gunzipSync(l.data) });
    }
  }
  const manifest = [
    { Config: `${hex(IMG.configDigest)}.json`, RepoTags: ['app:1', 'quay.io/x/app:latest'], Layers: IMG.diffIds.map((d) => `${hex(d)}/layer.tar`) },
    { Config: `${hex(IMG2.configDigest)}.json`, RepoTags: ['docker.io/library/other:2'], Layers: IMG2.diffIds.map((d) => `${hex(d)}/layer.tar`) },
  ];
  entries.push({ path: 'manifest.json', content: JSON.stringify(manifest) });
  const file = join(root, 'multi.tar');
  writeFileSync(file, makeTar(entries));
  const manifestOf = async (spec: string) => { const s = await openDockerArchiveSource(spec); try { return (await s.getManifest()).bytes; } finally { await s.close(); } };
  assert.ok((await manifestOf(`${file}:app:1`)).equals(expectedDockerManifest(IMG)));
  assert.ok((await manifestOf(`${file}:docker.io/library/app:1`)).equals(expectedDockerManifest(IMG)));
  assert.ok((await manifestOf(`${file}:quay.io/x/app`)).equals(expectedDockerManifest(IMG)));
  assert.ok((await manifestOf(`${file}:other:2`)).equals(expectedDockerManifest(IMG2)));
  assert.ok((await manifestOf(`${file}:@1`)).equals(expectedDockerManifest(IMG2)));
  assert.match((await errorOf(() => openDockerArchiveSource(file))).message, /holds 2 images; choose one/);
  assert.match((await errorOf(() => openDockerArchiveSource(`${file}:app:2`))).message, /no image tagged docker.io\/library\/app:2/);
  assert.match((await errorOf(() => openDockerArchiveSource(`${file}:@2`))).message, /out of range/);
  // Every blob reads back verified.
  const got = await readImage(await openDockerArchiveSource(`${file}:other:2`));
  assert.ok(got.blobs.get(IMG2.diffIds[0]!)!.equals(gunzipSync(IMG2.layers[0]!.data)));
  // A corrupted layer is detected.
  const bad = entries.map((e) => (e.path === `${hex(IMG2.diffIds[0]!)}/layer.tar` ? { ...e, content: Buffer.concat([gunzipSync(IMG2.layers[0]!.data).subarray(0, 600), Buffer.alloc(gunzipSync(IMG2.layers[0]!.data).length - 600, 7)]) } : e));
  writeFileSync(file, makeTar(bad));
  const src = await openDockerArchiveSource(`${file}:other:2`);
  await assert.rejects(readAll(await src.getBlob({ digest: IMG2.diffIds[0]!, size: -1 })), /digest mismatch/);
  await src.close();
});

test('docker-archive: reads gzip-compressed archives and gzip layers inside archives (uncompressed on the fly)', async () => {
  const root = tempDir();
  const entries = [
    { path: 'cfg.json', content: IMG.config },
    ...IMG.layers.map((l, i) => ({ path: `layers/${i}.tar.gz`, content: l.data })),
    { path: 'manifest.json', content: JSON.stringify([{ Config: 'cfg.json', RepoTags: null, Layers: IMG.layers.map((_, i) => `layers/${i}.tar.gz`) }]) },
  ];
  const file = join(root, 'odd.tar.gz');
  writeFileSync(file, gzipSync(makeTar(entries)));
  const src = await openDockerArchiveSource(file);
  assert.ok((await src.getManifest()).bytes.equals(expectedDockerManifest(IMG)));
  const got = await readImage(src);
  for (const [i, l] of IMG.layers.entries()) assert.ok(got.blobs.get(IMG.diffIds[i]!)!.equals(gunzipSync(l.data)));
});

test('docker-archive: single images only, and the config must agree with the layers', async () => {
  const root = tempDir();
  const d = await DockerArchive.open(join(root, 'x.tar'), { ref: 'x:1' }, { mode: 'write' });
  assert.equal(d.supportsManifestType(MediaTypes.dockerManifest), true);
  assert.equal(d.supportsManifestType(MediaTypes.ociIndex), false);
  assert.equal(d.supportsManifestType(MediaTypes.dockerManifestList), false);
  await assert.rejects(d.putManifest({ bytes: IDX.index, mediaType: MediaTypes.ociIndex }), /single image, not an index/);
  await assert.rejects(d.putManifest({ bytes: IMG.manifest, mediaType: MediaTypes.ociManifest }, IMG.manifestDigest), /single image/);
  await assert.rejects(d.putManifest({ bytes: IMG.manifest, mediaType: MediaTypes.ociManifest }), /config .* was not written/);
  // A layer whose content is not what the config's diff_ids say.
  const src = new MemorySource(IMG);
  await d.putBlob({ digest: IMG.configDigest, size: IMG.config.length }, await src.getBlob({ digest: IMG.configDigest, size: -1 }));
  await d.putBlob({ digest: IMG.layers[1]!.digest, size: -1 }, Readable.from([IMG.layers[1]!.data]));
  assert.equal(await d.hasBlob({ digest: IMG.layers[1]!.digest, size: -1 }), true);
  const swapped = JSON.parse(IMG.manifest.toString());
  swapped.layers = [swapped.layers[1], swapped.layers[1]];
  await assert.rejects(d.putManifest({ bytes: Buffer.from(JSON.stringify(swapped)), mediaType: MediaTypes.ociManifest }), /diff_id/);
  // A compressed blob that does not match its digest is refused.
  const bad = Buffer.from(IMG.layers[0]!.data);
  bad[bad.length - 10] ^= 1;
  await assert.rejects(d.putBlob({ digest: IMG.layers[0]!.digest, size: -1 }, Readable.from([bad])));
  assert.equal(await d.hasBlob({ digest: IMG.layers[0]!.digest, size: -1 }), false);
  await assert.rejects(d.commit(), /nothing to commit/);
  await d.close();
  assert.ok(!existsSync(join(root, 'x.tar')));
  assert.deepEqual(readdirSync(root), []);
  assert.match((await errorOf(() => openDockerArchiveDestination(`${join(root, 'y.tar')}:@0`))).message, /@N selects an image to read/);
  await assert.rejects(openDockerArchiveSource(join(root, 'missing.tar')), /ENOENT/);
});

test('a multi-megabyte layer streams through every transport and back', { timeout: 120_000 }, async () => {
  const big = buildImage({
    layers: [[{ path: 'big/' }, { path: 'big/random.bin', content: pseudoRandom(6 * 1024 * 1024 + 123, 7) }], [{ path: 'small.txt', content: 'small\n' }]],
  });
  const root = tempDir();
  await copyImage(new MemorySource(big), await openOciDestination(`${root}/layout:big`));
  await copyImage(await openOciSource(`${root}/layout:big`), await openDirDestination(`${root}/dir`));
  await copyImage(await openDirSource(`${root}/dir`), await openOciArchiveDestination(`${root}/big.oci.tar:big`));
  assert.equal(sameContent(await readImage(await openOciArchiveSource(`${root}/big.oci.tar:big`)), fixtureContent(big)), null);
  await copyImage(await openOciArchiveSource(`${root}/big.oci.tar`), await openDockerArchiveDestination(`${root}/big.docker.tar:big:1`));
  const got = await readImage(await openDockerArchiveSource(`${root}/big.docker.tar`));
  assert.ok(got.top.bytes.equals(expectedDockerManifest(big)));
  assert.ok(got.blobs.get(big.diffIds[0]!)!.equals(gunzipSync(big.layers[0]!.data)));
});
