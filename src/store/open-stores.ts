// The stores a configuration names, opened the same way for `wharf serve` and for the offline
// commands (`wharf gc`, `wharf fsck`), which may run beside a server on the same data directory.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import type { Clock } from '../config/clock.js';
import type { BlobStore } from './blobs/blob-store.js';
import { openBlobStore } from './blobs/factory.js';
import type { MetaStore } from './meta/meta-store.js';
import { openPostgresMetaStore } from './meta/postgres-meta-store.js';
import { SqliteMetaStore } from './meta/sqlite-meta-store.js';

export interface Stores {
  dataDir: string;
  blobs: BlobStore;
  meta: MetaStore;
}

export async function openStores(config: Config, clock: Clock): Promise<Stores> {
  const dataDir = resolve(config.data);
  mkdirSync(dataDir, { recursive: true });
  const blobs = await openBlobStore({ dataDir, storage: config.storage });
  const meta = config.meta.driver === 'postgres'
    ? await openPostgresMetaStore({ url: config.meta.postgres.url, maxConnections: config.meta.postgres.maxConnections, clock })
    : new SqliteMetaStore({ path: join(dataDir, 'meta.db'), durable: config.storage.fsync, clock });
  return { dataDir, blobs, meta };
}
