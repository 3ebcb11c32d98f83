// The S3 client as Wharf uses it: one place for endpoint, credentials and the quirks of S3-compatible stores.
import { S3Client } from '@aws-sdk/client-s3';

export interface S3ConnectionOptions {
  /** e.g. http://127.0.0.1:7480 (Ceph RGW, MinIO); unset: AWS's own endpoint for the region. */
  endpoint?: string;
  region?: string;
  /** Both or neither: without them the SDK's default chain applies (AWS_* variables, profiles, instance roles). */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Path-style addressing (bucket in the path): Ceph RGW and MinIO need it. */
  forcePathStyle?: boolean;
}

export function createS3Client(o: S3ConnectionOptions): S3Client {
  return new S3Client({
    endpoint: o.endpoint,
    region: o.region ?? process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: o.forcePathStyle ?? false,
    credentials: o.accessKeyId && o.secretAccessKey ? { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } : undefined,
    // SDK >= 3.729 streams bodies aws-chunked with a CRC32 trailer unless told otherwise; Ceph RGW 16
    // (and other S3 look-alikes) refuse that with 411. Checksums only where the API demands them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** The error name or S3 code of an SDK failure (NoSuchKey, NoSuchUpload, NotFound, ...). */
export function s3ErrorName(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const x = e as { name?: string; Code?: string; $metadata?: { httpStatusCode?: number } };
  return x.Code ?? x.name;
}

export function isS3NotFound(e: unknown): boolean {
  const n = s3ErrorName(e);
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  return n === 'NoSuchKey' || n === 'NotFound' || status === 404 && n !== 'NoSuchUpload' && n !== 'NoSuchBucket';
}

export function isNoSuchUpload(e: unknown): boolean {
  return s3ErrorName(e) === 'NoSuchUpload';
}
