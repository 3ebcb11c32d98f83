// Blob drivers by name, as `storage.driver` names them (in the manner of Distribution's storage
// factory). A new driver is one new entry here and one value in the configuration's enum.
import type { Config } from '../../config/config.js';
import type { BlobStore } from './blob-store.js';
import { FsBlobStore } from './fs-blob-store.js';

export type BlobDriverName = Config['storage']['driver'];

export interface BlobDriverParams {
  /** The data directory (the fs driver keeps blobs/, uploads/ and tmp/ under it). */
  dataDir: string;
  storage: Config['storage'];
}

type BlobDriverFactory = (p: BlobDriverParams) => Promise<BlobStore>;

const drivers: Record<BlobDriverName, BlobDriverFactory> = {
  fs: (p) => FsBlobStore.open({ root: p.dataDir, fsync: p.storage.fsync }),
  // The configuration guarantees a bucket for s3. Loaded on use: the AWS SDK is large, and a registry
  // on fs (or a client command) should not pay for parsing it.
  s3: async (p) => (await import('./s3-blob-store.js')).S3BlobStore.open({ ...p.storage.s3, bucket: p.storage.s3.bucket! }),
};

export function openBlobStore(p: BlobDriverParams): Promise<BlobStore> {
  const factory = drivers[p.storage.driver] as BlobDriverFactory | undefined;
  if (!factory) throw new Error(`unknown storage driver ${JSON.stringify(p.storage.driver)}`);
  return factory(p);
}
