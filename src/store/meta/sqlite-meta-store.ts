// The MetaStore on SQLite (the embedded default): the portable store over one better-sqlite3 connection.
import type { Clock } from '../../config/clock.js';
import { SqlMetaStore } from './sql-meta-store.js';
import { SqliteDatabase, type SqliteDatabaseOptions } from './sqlite-database.js';

export interface SqliteOptions extends SqliteDatabaseOptions {
  clock: Clock;
}

export class SqliteMetaStore extends SqlMetaStore {
  constructor(opts: SqliteOptions) {
    super(new SqliteDatabase(opts), opts.clock);
  }
}
