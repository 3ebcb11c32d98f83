// What the S3 driver records about an upload (the MetaStore keeps it as UploadPosition.driverState),
// enough for any process to continue it: the multipart upload, its parts, and the held tail.
import { RegistryError } from '../../oci/errors.js';

export interface S3Part {
  /** Part number, from 1. */
  n: number;
  etag: string;
  size: number;
}

export interface S3UploadState {
  /** The S3 multipart upload (its key is the upload's data key). */
  uploadId: string;
  /** Full parts, in order; together they are the upload's first bytes. */
  parts: S3Part[];
  /** The bytes after the last part (fewer than a part), in an object of their own; null when none. */
  pendingKey: string | null;
  pendingBytes: number;
}

export function encodeState(s: S3UploadState): string {
  return JSON.stringify(s);
}

export function decodeState(text: string | null, offset: number): S3UploadState {
  if (text === null) throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload has no S3 state');
  let s: S3UploadState;
  try {
    s = JSON.parse(text) as S3UploadState;
  } catch {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload state is not JSON');
  }
  if (typeof s.uploadId !== 'string' || !Array.isArray(s.parts) || typeof s.pendingBytes !== 'number') {
    throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload state is not an S3 upload state');
  }
  const total = s.parts.reduce((a, p) => a + p.size, 0) + s.pendingBytes;
  if (total !== offset) throw new RegistryError('BLOB_UPLOAD_INVALID', `upload state holds ${total} bytes, ${offset} were recorded`);
  return s;
}
