// The places a Distribution tree is read from in tests: the directory DistributionTree writes, and a
// fresh bucket on the test S3 endpoint holding the same files under a rootdirectory, as Distribution's
// s3 driver lays them out (`<rootdirectory>/docker/registry/v2/...`). S3 sources fail, never skip,
// without an endpoint (s3TestEndpoint).
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { openS3Distribution } from '../../src/migrate/distribution-s3-storage.js';
import { openFsDistribution, type DistributionStorage } from '../../src/migrate/distribution-storage.js';
import { createTestBucket, s3TestClient, s3TestEndpoint } from '../helpers/s3.js';
import type { DistributionTree } from './distribution-tree.js';

/** Distribution's rootdirectory in the test buckets (its s3 driver drops the leading `/`). */
export const S3_ROOT = 'distribution/root';

export interface DistributionSource {
  readonly name: 'fs' | 's3';
  /** Makes the tree's current files readable from this source and opens it there. */
  open(t: DistributionTree, opts?: { pageSize?: number }): Promise<DistributionStorage>;
  /** Removes what `open` made (buckets). */
  cleanup(): Promise<void>;
}

export function fsSource(): DistributionSource {
  const opened: DistributionStorage[] = [];
  return {
    name: 'fs',
    async open(t) {
      const s = await openFsDistribution(t.root);
      opened.push(s);
      return s;
    },
    async cleanup() {
      for (const s of opened.splice(0)) await s.close();
    },
  };
}

export function s3Source(): DistributionSource {
  let client: S3Client | null = null;
  const buckets: { remove(): Promise<void> }[] = [];
  const opened: DistributionStorage[] = [];
  return {
    name: 's3',
    async open(t, opts = {}) {
      client ??= s3TestClient();
      const bucket = await createTestBucket(client);
      buckets.push(bucket);
      await uploadTree(client, t, bucket.name, S3_ROOT);
      const s = await openS3Distribution({ bucket: bucket.name, prefix: S3_ROOT, connection: s3TestConnection(), pageSize: opts.pageSize });
      opened.push(s);
      return s;
    },
    async cleanup() {
      for (const s of opened.splice(0)) await s.close();
      for (const b of buckets.splice(0)) await b.remove();
      client?.destroy();
    },
  };
}

/** The test endpoint as openS3Distribution takes it. */
export function s3TestConnection(): { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; forcePathStyle: true } {
  return { ...s3TestEndpoint(), forcePathStyle: true };
}

/** Every file of the tree under `<prefix>/docker/registry/v2/` in the bucket (directories exist only through their files, as in S3). */
export async function uploadTree(client: S3Client, t: DistributionTree, bucket: string, prefix: string): Promise<number> {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else files.push(join(dir, e.name));
    }
  };
  walk(t.root);
  const base = prefix === '' ? '' : `${prefix}/`;
  // A few at a time: the test endpoint is shared.
  for (let i = 0; i < files.length; i += 8) {
    await Promise.all(files.slice(i, i + 8).map((f) => client.send(new PutObjectCommand({
      Bucket: bucket, Key: base + relative(t.root, f).split(sep).join('/'), Body: readFileSync(f),
    }))));
  }
  return files.length;
}
