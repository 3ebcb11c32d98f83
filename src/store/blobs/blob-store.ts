// The content-addressed blob store contract. Drivers: fs (default) and s3 (see factory.ts).
import type { Readable, Writable } from 'node:stream';

export interface BlobStat {
  size: number;
}

/** A blob as a listing of the store finds it (garbage collection reads the age of what it may remove). */
export interface StoredBlob {
  digest: string;
  size: number;
  /** When the bytes were stored, in milliseconds since the epoch (the driver's clock: file mtime, object LastModified). */
  modifiedAt: number;
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
  /**
   * Optional: a URL from which a client may fetch the blob itself (a presigned S3 GET), or null to serve
   * it here. Only for GET; the caller has checked that the blob exists.
   */
  redirectUrl?(digest: string): Promise<string | null>;
  /** Reads a small blob (a manifest) whole. */
  readSmall(digest: string): Promise<Buffer | null>;
  /** Stores bytes already in memory (manifests), atomically, under their digest. */
  putSmall(digest: string, bytes: Uint8Array): Promise<void>;
  delete(digest: string): Promise<void>;
  /** Every stored blob, in no particular order (for garbage collection and verification). */
  list(): AsyncIterable<StoredBlob>;

  /**
   * Upload sessions: byte areas that become a blob on commit. Where an upload stands (its offset and
   * whatever the driver needs to go on) is kept by the caller, in the MetaStore, and handed back on every
   * call, so that any process can continue any upload.
   */
  createUpload(id: string): Promise<UploadPosition>;
  /**
   * Writes `body` from `from.offset` on. Bytes the driver holds past that offset (a refused or cut-off
   * chunk) are not part of the upload and are dropped. `maxBytes` bounds the append (SIZE_INVALID, 413).
   * Returns the position after the last byte written.
   */
  appendUpload(id: string, body: Readable, from: UploadPosition, opts?: AppendOptions): Promise<UploadPosition>;
  /**
   * Verifies the upload's first `at.offset` bytes against `digest` and makes them the blob, atomically.
   * Returns its size. It may leave the upload's area in place: the caller removes it with `deleteUpload`
   * once the blob is linked (until then a crash must not cost the client its upload).
   *
   * With `commitIsRepeatable`, calling it again with the same position, after an earlier call that
   * completed or died at any point, succeeds with the same result (the caller retries a commit whose
   * link a crash prevented). A driver whose commit consumes the area (fs: a rename) answers
   * BLOB_UPLOAD_UNKNOWN to a repeat after a completed commit; its window for that is the consuming step.
   */
  commitUpload(id: string, digest: string, at: UploadPosition): Promise<number>;
  /**
   * Whether a commit may be repeated with the same position after an earlier one completed (see
   * commitUpload). Never true by treating a missing area as committed: the bytes must be the upload's.
   */
  readonly commitIsRepeatable: boolean;
  /** Removes the upload's area: an abandoned upload, or a committed one once its blob is linked. A no-op when there is none. */
  deleteUpload(id: string): Promise<void>;
  /** Every upload the driver holds bytes for, recorded or not (the sweeper removes those nobody recorded). */
  listUploads(): AsyncIterable<string>;
  close(): Promise<void>;
}

/** Where an upload stands: every byte below `offset` is written; `driverState` is what the driver needs to go on. */
export interface UploadPosition {
  offset: number;
  /** Opaque to everyone but the driver (JSON text), or null when the driver needs nothing. */
  driverState: string | null;
}

export interface AppendOptions {
  maxBytes?: number;
  /**
   * Told, as bytes land, each position from which the upload could resume (after each write for fs;
   * after each part for object stores). Awaited before the driver goes on; a rejection fails the append.
   */
  onProgress?: (p: UploadPosition) => Promise<void> | void;
}
