// Small S3 operations the blob driver composes: hash an object by streaming it, copy one of any size,
// delete everything under a prefix.
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { newHasher, type Algorithm } from '../../oci/digest.js';

/** CopyObject takes at most 5 GiB; above that a copy is a multipart upload of UploadPartCopy parts. */
export const MAX_SINGLE_COPY = 5 * 1024 ** 3;

/** The x-amz-copy-source value for a key (each path segment URL-encoded). */
export function copySource(bucket: string, key: string): string {
  return `${bucket}/${key}`.split('/').map(encodeURIComponent).join('/');
}

/** The hex digest of an object (or of its first `length` bytes), read as a stream: never whole in memory. */
export async function hashObject(client: S3Client, bucket: string, key: string, algorithm: Algorithm, length?: number): Promise<string> {
  const h = newHasher(algorithm);
  if (length === 0) return h.digest('hex');
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: length === undefined ? undefined : `bytes=0-${length - 1}` }));
  for await (const chunk of res.Body as Readable) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Reads a small object (or its first `length` bytes) whole; for part-sized tails and manifests only. */
export async function readObject(client: S3Client, bucket: string, key: string, length?: number): Promise<Buffer> {
  if (length === 0) return Buffer.alloc(0);
  const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: length === undefined ? undefined : `bytes=0-${length - 1}` }));
  const chunks: Buffer[] = [];
  for await (const chunk of res.Body as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export interface CopyLimits {
  maxSingleCopy: number;
  copyPartSize: number;
}

/** Server-side copy of `size` bytes from `src` to `dst` (no byte passes through this process). */
export async function copyObject(client: S3Client, bucket: string, src: string, dst: string, size: number, limits: CopyLimits): Promise<void> {
  if (size <= limits.maxSingleCopy) {
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: dst, CopySource: copySource(bucket, src) }));
    return;
  }
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: dst }));
  try {
    const parts: { PartNumber: number; ETag: string }[] = [];
    for (let start = 0, n = 1; start < size; start += limits.copyPartSize, n++) {
      const end = Math.min(size, start + limits.copyPartSize) - 1;
      const r = await client.send(new UploadPartCopyCommand({
        Bucket: bucket, Key: dst, UploadId, PartNumber: n, CopySource: copySource(bucket, src), CopySourceRange: `bytes=${start}-${end}`,
      }));
      parts.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag ?? '' });
    }
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: dst, UploadId, MultipartUpload: { Parts: parts } }));
  } catch (e) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: dst, UploadId })).catch(() => undefined);
    throw e;
  }
}

/** Deletes every object whose key starts with `prefix` (a page of up to 1000 at a time). */
export async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}
