import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../src/oci/manifest.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { RegistryError } from '../../src/oci/errors.js';

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const enc = (o: unknown): Buffer => Buffer.from(JSON.stringify(o));
const invalid = (e: unknown): boolean => e instanceof RegistryError && e.code === 'MANIFEST_INVALID';

const image = {
  schemaVersion: 2,
  mediaType: MediaTypes.ociManifest,
  config: { mediaType: MediaTypes.ociConfig, digest: d('a'), size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('b'), size: 20 }],
};

test('an OCI image manifest yields its config and layers, and the config type as artifactType', () => {
  const p = parseManifest(enc(image), undefined);
  assert.equal(p.kind, 'image');
  assert.deepEqual(p.blobs.map((b) => b.digest), [d('a'), d('b')]);
  assert.equal(p.artifactType, MediaTypes.ociConfig);
});

test('the media type comes from Content-Type when the body has none', () => {
  const { mediaType: _mt, ...body } = image;
  assert.equal(parseManifest(enc(body), `${MediaTypes.ociManifest}; charset=utf-8`).mediaType, MediaTypes.ociManifest);
  assert.throws(() => parseManifest(enc(body), undefined), invalid);
  assert.throws(() => parseManifest(enc(image), MediaTypes.dockerManifest), invalid);
});

test('an index yields its children; subject, artifactType and annotations are kept', () => {
  const idx = {
    schemaVersion: 2, mediaType: MediaTypes.ociIndex, artifactType: 'application/x.test',
    manifests: [{ mediaType: MediaTypes.ociManifest, digest: d('c'), size: 5, platform: { os: 'linux', architecture: 'amd64' } }],
    subject: { mediaType: MediaTypes.ociManifest, digest: d('e'), size: 7 },
    annotations: { k: 'v' },
  };
  const p = parseManifest(enc(idx), undefined);
  assert.equal(p.kind, 'index');
  assert.deepEqual(p.children.map((c) => c.digest), [d('c')]);
  assert.equal(p.subject?.digest, d('e'));
  assert.equal(p.artifactType, 'application/x.test');
  assert.deepEqual(p.annotations, { k: 'v' });
});

test('foreign layers with urls need not be present', () => {
  const m = { ...image, mediaType: MediaTypes.dockerManifest, config: { ...image.config, mediaType: MediaTypes.dockerConfig },
    layers: [{ mediaType: MediaTypes.dockerForeignLayer, digest: d('f'), size: 1, urls: ['https://example.invalid/x'] }] };
  assert.deepEqual(parseManifest(enc(m), undefined).blobs.map((b) => b.digest), [d('a')]);
});

test('malformed manifests are MANIFEST_INVALID', () => {
  const bad: unknown[] = [
    'not json', [], { ...image, schemaVersion: 1 }, { ...image, config: { digest: d('a'), size: 1 } },
    { ...image, config: { ...image.config, digest: 'sha256:zz' } }, { ...image, layers: [{ ...image.layers[0], size: -1 }] },
    { ...image, mediaType: 'application/vnd.docker.distribution.manifest.v1+json' }, { ...image, manifests: [] },
    { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: 'x' }, { ...image, annotations: { a: 1 } },
  ];
  for (const b of bad) assert.throws(() => parseManifest(typeof b === 'string' ? Buffer.from(b) : enc(b), undefined), invalid, JSON.stringify(b));
});
