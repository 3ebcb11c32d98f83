// docker://HOST[:PORT]/REPO[:TAG|@DIGEST] — an image in a registry, through the Distribution API.
import type { Readable } from 'node:stream';
import { MediaTypes } from '../oci/media-types.js';
import { parseReference, referenceTarget, type Reference } from '../oci/reference.js';
import type { RegistryClient } from '../client/registry-client.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes, PutBlobOptions } from './types.js';

/** Every manifest type we can handle, for Accept. */
export const ACCEPT_MANIFESTS = [
  MediaTypes.ociIndex, MediaTypes.dockerManifestList, MediaTypes.ociManifest, MediaTypes.dockerManifest,
] as const;

/** Parses the part after `docker://` (also accepts a leading `//`). */
export function parseDockerSpec(spec: string): Reference {
  return parseReference(spec.replace(/^\/\//, ''));
}

export class DockerSource implements ImageSource {
  readonly name: string;

  constructor(readonly ref: Reference, readonly client: RegistryClient) {
    this.name = `docker://${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
  }

  /** The top-level manifest, fetched once (choosing a mirror fetches it first). */
  private top: Promise<ManifestBytes> | null = null;

  async getManifest(instanceDigest?: string): Promise<ManifestBytes> {
    if (instanceDigest === undefined) {
      this.top ??= this.fetchManifest(referenceTarget(this.ref));
      this.top.catch(() => { this.top = null; });
      return this.top;
    }
    return this.fetchManifest(instanceDigest);
  }

  private async fetchManifest(reference: string): Promise<ManifestBytes> {
    const m = await this.client.getManifest(this.ref.repository, reference, ACCEPT_MANIFESTS);
    return { bytes: m.bytes, mediaType: m.mediaType || sniffMediaType(m.bytes) };
  }

  async getBlob(blob: BlobInfo): Promise<Readable> {
    return this.client.getBlob(this.ref.repository, blob.digest);
  }

  async getBlobFrom(blob: BlobInfo, offset: number): Promise<Readable> {
    return this.client.getBlob(this.ref.repository, blob.digest, offset);
  }

  async listTags(): Promise<string[]> {
    return this.client.listTags(this.ref.repository);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

export class DockerDestination implements ImageDestination {
  readonly name: string;
  /** The registry verifies every upload against its digest before it commits it. */
  readonly verifiesBlobs = true;
  readonly registryRepository: { registry: string; repository: string };

  constructor(readonly ref: Reference, readonly client: RegistryClient) {
    this.name = `docker://${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}`;
    this.registryRepository = { registry: ref.registry, repository: ref.repository };
  }

  async hasBlob(blob: BlobInfo): Promise<boolean> {
    const size = await this.client.headBlob(this.ref.repository, blob.digest);
    return size !== null && (blob.size < 0 || size < 0 || size === blob.size);
  }

  async tryMount(blob: BlobInfo, from: { registry: string; repository: string }): Promise<boolean> {
    if (from.registry !== this.ref.registry || from.repository === this.ref.repository) return false;
    return this.client.mountBlob(this.ref.repository, blob.digest, from.repository);
  }

  async putBlob(blob: BlobInfo, body: Readable, opts?: PutBlobOptions): Promise<void> {
    await this.client.uploadBlob(this.ref.repository, blob.digest, blob.size, body, opts?.resume);
  }

  async putManifest(m: ManifestBytes, instanceDigest?: string): Promise<void> {
    // A digest-pinned destination gets the manifest by digest; otherwise by tag (default latest).
    const target = instanceDigest ?? this.ref.tag ?? this.ref.digest ?? 'latest';
    await this.client.putManifest(this.ref.repository, target, m.bytes, m.mediaType);
  }

  async commit(): Promise<void> { /* each manifest PUT is already atomic */ }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** Registries that omit Content-Type: take the body's mediaType, or guess from its shape. */
export function sniffMediaType(bytes: Buffer): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown; config?: unknown };
    if (doc.mediaType) return doc.mediaType;
    if (doc.manifests) return MediaTypes.ociIndex;
    return MediaTypes.ociManifest;
  } catch {
    return MediaTypes.ociManifest;
  }
}
