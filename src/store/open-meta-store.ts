// The metadata store a configuration names: for openStores (the server, the offline commands) and for
// the webhook delivery thread, which opens its own beside the server's (and needs no blob store).
import { join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import type { Clock } from '../config/clock.js';
import type { MetaStore } from './meta/meta-store.js';
import { openPostgresMetaStore } from './meta/postgres-meta-store.js';
import { SqliteMetaStore } from './meta/sqlite-meta-store.js';
import type { WriterLock } from './meta/writer-lock.js';

/** What a thread beside the one that opened the stores passes: the SQLite writer lock, and no migration. */
export interface MetaStoreThreading {
  writerLock?: WriterLock;
  migrate?: boolean;
  /** A PostgreSQL pool smaller than meta.postgres.maxConnections. */
  maxConnections?: number;
}

/** The metadata store alone (the webhook delivery thread opens its own). */
export async function openMetaStore(config: Pick<Config, 'data' | 'meta' | 'storage'>, clock: Clock, t: MetaStoreThreading = {}): Promise<MetaStore> {
  if (config.meta.driver === 'postgres') {
    return openPostgresMetaStore({ url: config.meta.postgres.url, maxConnections: t.maxConnections ?? config.meta.postgres.maxConnections, clock });
  }
  return new SqliteMetaStore({ path: join(resolve(config.data), 'meta.db'), durable: config.storage.fsync, clock, writerLock: t.writerLock, migrate: t.migrate });
}
