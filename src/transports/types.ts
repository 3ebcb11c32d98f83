// Where images live. Every transport is an ImageSource and an ImageDestination; the copy engine
// (copy/) moves images between any two of them.
import type { Readable } from 'node:stream';

export interface ManifestBytes {
  bytes: Buffer;
  mediaType: string;
}

export interface BlobInfo {
  digest: string;
  /** -1 when unknown */
  size: number;
  mediaType?: string;
}

export interface ImageSource {
  /** How the user named it, e.g. docker://r/app:1 or oci:/tmp/l:tag */
  readonly name: string;
  /** getBlob() streams fail unless the bytes match the digest (so the copy engine need not hash them again). */
  readonly verifiesBlobs?: boolean;
  /**
   * The top-level manifest (no argument) or, for an index, one of its children by digest.
   * Bytes are exactly as stored: digests are preserved.
   */
  getManifest(instanceDigest?: string): Promise<ManifestBytes>;
  /** A blob's bytes. Callers verify the digest while reading. */
  getBlob(blob: BlobInfo): Promise<Readable>;
  /**
   * Optional: the blob's bytes from `offset` on, to resume an interrupted upload. Not verified here:
   * only a destination that verifies the whole blob (a registry) asks for it.
   */
  getBlobFrom?(blob: BlobInfo, offset: number): Promise<Readable>;
  close(): Promise<void>;
}

export interface PutBlobOptions {
  /** Re-reads the blob from an offset, so a dropped upload continues where it stopped. */
  resume?: (offset: number) => Promise<Readable>;
}

export interface ImageDestination {
  readonly name: string;
  /** putBlob() refuses bytes that do not match the digest (a registry does, by the spec). */
  readonly verifiesBlobs?: boolean;
  /** Registry host and repository, when the destination is a registry (enables mounts). */
  readonly registryRepository?: { registry: string; repository: string };
  /** Whether the destination accepts this manifest media type (e.g. dir: anything, docker-archive: only v2s2). */
  supportsManifestType?(mediaType: string): boolean;
  /** Whether the destination already holds this blob (then it is not copied). */
  hasBlob(blob: BlobInfo): Promise<boolean>;
  /** Stores a blob; `body` is verified against `blob.digest` by the caller or the destination. */
  putBlob(blob: BlobInfo, body: Readable, opts?: PutBlobOptions): Promise<void>;
  /** Tries a cross-repository mount; true when the blob is now in the destination. */
  tryMount?(blob: BlobInfo, from: { registry: string; repository: string }): Promise<boolean>;
  /** Stores a manifest: a child of an index by digest (instanceDigest set), or the top-level one under the reference. */
  putManifest(manifest: ManifestBytes, instanceDigest?: string): Promise<void>;
  /** Makes everything written visible (atomic where the format allows). */
  commit(): Promise<void>;
  /** Releases resources; without commit(), leaves the destination as it was or clearly incomplete. */
  close(): Promise<void>;
}
