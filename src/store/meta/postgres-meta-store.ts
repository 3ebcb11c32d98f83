// The MetaStore on PostgreSQL (scale-out): the portable store over a connection pool.
import type { Clock } from '../../config/clock.js';
import { PostgresDatabase, type PostgresDatabaseOptions } from './postgres-database.js';
import { SqlMetaStore } from './sql-meta-store.js';

export async function openPostgresMetaStore(opts: PostgresDatabaseOptions & { clock: Clock }): Promise<SqlMetaStore> {
  return new SqlMetaStore(await PostgresDatabase.open(opts), opts.clock);
}
