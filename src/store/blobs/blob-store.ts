// The content-addressed blob store contract. Drivers: fs (default); s3 to come.
import type { Readable, Writable } from 'node:stream';

export interface BlobStat {
  size: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface BlobStore {
  stat(digest: string): Promise<BlobStat | null>;
  /** A stream of the blob's bytes (or a range of them). Caller checks existence first. */
  read(digest: string, range?: ByteRange): Promise<Readable>;
  /**
   * Optional fast path: writes the blob (or a range) to `out` with reusable buffers, without
   * allocating per chunk. Does not end `out`.
   */
  sendTo?(digest: string, out: Writable, range?: ByteRange): Promise<void>;
  /** Reads a small blob (a manifest) whole. */
  readSmall(digest: string): Promise<Buffer | null>;
  /** Stores bytes already in memory (manifests), atomically, under their digest. */
  putSmall(digest: string, bytes: Uint8Array): Promise<void>;
  delete(digest: string): Promise<void>;
  /** Every stored digest (for garbage collection and verification). */
  list(): AsyncIterable<string>;

  /** Upload sessions: append-only byte areas that become a blob on commit. */
  createUpload(id: string): Promise<void>;
  /** Current size of an upload, or null when it does not exist. */
  uploadSize(id: string): Promise<number | null>;
  /**
   * Appends a stream to an upload, hashing as it goes. `expectedOffset` guards against
   * out-of-order chunks; `maxBytes` bounds the append. Returns the new size.
   */
  appendUpload(id: string, body: Readable, expectedOffset: number, maxBytes?: number): Promise<number>;
  /** Verifies the upload against `digest` and makes it the blob, atomically. Returns its size. */
  commitUpload(id: string, digest: string): Promise<number>;
  deleteUpload(id: string): Promise<void>;
  listUploads(): AsyncIterable<string>;
  close(): Promise<void>;
}
