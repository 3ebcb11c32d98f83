// A registry over in-memory stores and a fake clock, for unit tests of registry/.
import { Readable } from 'node:stream';
import { Registry } from '../../src/registry/registry.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { RegistryError } from '../../src/oci/errors.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { MemoryBlobStore } from '../helpers/memory-blob-store.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';

export interface TestRegistry {
  registry: Registry;
  clock: FakeClock;
  blobs: MemoryBlobStore;
  meta: SqliteMetaStore;
}

export function testRegistry(): TestRegistry {
  const clock = new FakeClock();
  const blobs = new MemoryBlobStore(undefined, clock);
  const meta = new SqliteMetaStore({ path: ':memory:', durable: false, clock });
  return { registry: new Registry(blobs, meta, { maxManifestBytes: 1 << 20 }, clock), clock, blobs, meta };
}

export const bytesOf = (s: string): Buffer => Buffer.from(s);
export const streamOf = (...chunks: Buffer[]): Readable => Readable.from(chunks);
export const code = (c: string) => (e: unknown): boolean => e instanceof RegistryError && e.code === c;

/** Pushes a blob monolithically; returns its digest. */
export async function pushBlob(r: Registry, repo: string, data: Buffer): Promise<string> {
  const digest = digestOf(data);
  await r.blobs.putMonolithic(repo, digest, streamOf(data), data.length, actor);
  return digest;
}

/** An OCI image manifest over a config and layers already pushed to `repo`. */
export async function pushImage(r: Registry, repo: string, tag: string | null, seed: string, extra: Record<string, unknown> = {}): Promise<{ digest: string; bytes: Buffer }> {
  const config = bytesOf(`{"seed":"${seed}"}`);
  const layer = bytesOf(`layer of ${seed}`);
  const m = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await pushBlob(r, repo, config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: await pushBlob(r, repo, layer), size: layer.length }],
    ...extra,
  };
  const bytes = Buffer.from(JSON.stringify(m));
  const digest = digestOf(bytes);
  await r.manifests.put(repo, tag ?? digest, bytes, MediaTypes.ociManifest, actor);
  return { digest, bytes };
}

/** An OCI index over manifests already pushed to `repo`, under `tag` (or its digest when null); its digest. */
export async function pushIndex(r: Registry, repo: string, tag: string | null, children: { digest: string; bytes: Buffer }[]): Promise<string> {
  const bytes = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaTypes.ociIndex,
    manifests: children.map((c) => ({ mediaType: MediaTypes.ociManifest, digest: c.digest, size: c.bytes.length, platform: { os: 'linux', architecture: 'amd64' } })),
  }));
  const digest = digestOf(bytes);
  await r.manifests.put(repo, tag ?? digest, bytes, MediaTypes.ociIndex, actor);
  return digest;
}

/** The fields that make pushImage's manifest a referrer of `subject` (a signature). */
export function referrerOf(subject: { digest: string; bytes: Buffer }): Record<string, unknown> {
  return { artifactType: 'application/vnd.example.sig', subject: { mediaType: MediaTypes.ociManifest, digest: subject.digest, size: subject.bytes.length } };
}
