// The S3 endpoint tests use: a real Ceph RGW that `npm test` starts (scripts/run-tests.mjs), or any
// endpoint named by WHARF_TEST_S3_*. Tests that need S3 fail, never skip, when there is none.
import {
  AbortMultipartUploadCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, ListMultipartUploadsCommand,
  ListObjectsV2Command, S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { createS3Client } from '../../src/store/blobs/s3-client.js';

export interface S3TestEndpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export function s3TestEndpoint(): S3TestEndpoint {
  const env = process.env;
  const endpoint = env.WHARF_TEST_S3_ENDPOINT;
  if (!endpoint || !env.WHARF_TEST_S3_ACCESS_KEY || !env.WHARF_TEST_S3_SECRET_KEY) {
    throw new Error('no S3 endpoint for the tests: run them with `npm test` (it starts Ceph RGW), or set WHARF_TEST_S3_ENDPOINT, WHARF_TEST_S3_ACCESS_KEY and WHARF_TEST_S3_SECRET_KEY (and WHARF_TEST_S3_REGION)');
  }
  return { endpoint, accessKeyId: env.WHARF_TEST_S3_ACCESS_KEY, secretAccessKey: env.WHARF_TEST_S3_SECRET_KEY, region: env.WHARF_TEST_S3_REGION ?? 'us-east-1' };
}

export function s3TestClient(): S3Client {
  return createS3Client({ ...s3TestEndpoint(), forcePathStyle: true });
}

/** A fresh bucket with a random name; `remove()` empties and deletes it. */
export async function createTestBucket(client: S3Client = s3TestClient()): Promise<{ name: string; remove(): Promise<void> }> {
  const name = `wharf-test-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: name }));
  return { name, remove: () => removeBucket(client, name) };
}

export async function removeBucket(client: S3Client, bucket: string): Promise<void> {
  for (let round = 0; round < 100; round++) {
    const ups = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of ups.Uploads ?? []) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    for (const o of page.Contents ?? []) await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key! }));
    if (!page.IsTruncated && !ups.IsTruncated) break;
  }
  await client.send(new DeleteBucketCommand({ Bucket: bucket }));
}

/** Every key under `prefix` in `bucket` (what a test left behind, or what the driver holds). */
export async function listKeys(client: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) keys.push(o.Key!);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

/** WHARF_* variables that point a `wharf serve` at `bucket` (and `prefix`) on the test endpoint. */
export function s3ServerEnv(bucket: string, prefix = '', extra: Record<string, string> = {}): Record<string, string> {
  const e = s3TestEndpoint();
  return {
    WHARF_STORAGE_DRIVER: 's3',
    WHARF_STORAGE_S3_ENDPOINT: e.endpoint,
    WHARF_STORAGE_S3_REGION: e.region,
    WHARF_STORAGE_S3_BUCKET: bucket,
    WHARF_STORAGE_S3_PREFIX: prefix,
    WHARF_STORAGE_S3_ACCESS_KEY_ID: e.accessKeyId,
    WHARF_STORAGE_S3_SECRET_ACCESS_KEY: e.secretAccessKey,
    WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
    ...extra,
  };
}
