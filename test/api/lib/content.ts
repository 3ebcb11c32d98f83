// Test content: random blobs with their digests, and OCI / Docker manifest and index documents.
import { createHash, randomBytes } from 'node:crypto';

/** Bytes with their sha256 digest and size. */
export interface Content {
  data: Buffer;
  digest: string;
  size: number;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

export function content(data: Buffer | string): Content {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  return { data: buf, digest: sha256(buf), size: buf.length };
}

export function randomBlob(size: number): Content {
  return content(randomBytes(size));
}

/** The OCI empty JSON blob "{}" (sha256:44136f...aff8a, 2 bytes). */
export const EMPTY_JSON = content('{}');
/** The zero-length blob. */
export const ZERO = content(Buffer.alloc(0));

/** A well-formed digest of content nobody pushed. */
export function unknownDigest(): string {
  return randomBlob(16).digest;
}

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const ALL_MANIFEST_TYPES = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

export function desc(mediaType: string, c: { digest: string; size: number }, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: c.digest, size: c.size, ...extra };
}

export type Doc = Record<string, unknown>;

export function ociImage(config: Descriptor, layers: Descriptor[], extra: Doc = {}): Doc {
  return { schemaVersion: 2, mediaType: MT.ociManifest, config, layers, ...extra };
}

export function ociIndex(manifests: Descriptor[], extra: Doc = {}): Doc {
  return { schemaVersion: 2, mediaType: MT.ociIndex, manifests, ...extra };
}

export function dockerImage(config: Descriptor, layers: Descriptor[]): Doc {
  return { schemaVersion: 2, mediaType: MT.dockerManifest, config, layers };
}

export function dockerList(manifests: Descriptor[]): Doc {
  return { schemaVersion: 2, mediaType: MT.dockerList, manifests };
}

/** An OCI 1.1 artifact: artifactType, the empty config, the given layers. */
export function artifact(artifactType: string, layers: Descriptor[], extra: Doc = {}): Doc {
  return { schemaVersion: 2, mediaType: MT.ociManifest, artifactType, config: desc(MT.ociEmpty, EMPTY_JSON), layers, ...extra };
}

/**
 * Serialises a document. "odd" adds whitespace a registry must keep byte-for-byte: tabs, spaces
 * before colons, CRLF and trailing blank lines.
 */
export function encode(doc: object, style: 'compact' | 'pretty' | 'odd' = 'compact'): Content {
  if (style === 'compact') return content(JSON.stringify(doc));
  if (style === 'pretty') return content(`${JSON.stringify(doc, null, 2)}\n`);
  return content(`  ${JSON.stringify(doc, null, '\t').replace(/": /g, '" :  ').replace(/\n/g, '\r\n')}\r\n\n \t`);
}

let counter = 0;

/** A repository name unique within a test run: `<prefix>/<n>-<random>`. */
export function repoName(prefix: string): string {
  counter++;
  return `${prefix}/r${counter}-${randomBytes(3).toString('hex')}`;
}
