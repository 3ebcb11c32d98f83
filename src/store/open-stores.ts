// The stores a configuration names, opened the same way for `wharf serve` and for the offline
// commands (`wharf gc`, `wharf fsck`), which may run beside a server on the same data directory.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config/config.js';
import type { Clock } from '../config/clock.js';
import type { BlobStore } from './blobs/blob-store.js';
import { openBlobStore } from './blobs/factory.js';
import type { MetaStore } from './meta/meta-store.js';
import { openMetaStore, type MetaStoreThreading } from './open-meta-store.js';

export interface Stores {
  dataDir: string;
  blobs: BlobStore;
  meta: MetaStore;
}

/** `threading`: for a server whose webhook delivery thread shares the SQLite database (its writer lock). */
export async function openStores(config: Config, clock: Clock, threading: MetaStoreThreading = {}): Promise<Stores> {
  const dataDir = resolve(config.data);
  mkdirSync(dataDir, { recursive: true });
  const blobs = await openBlobStore({ dataDir, storage: config.storage });
  return { dataDir, blobs, meta: await openMetaStore(config, clock, threading) };
}
