// The thin seam between one portable SQL text and the databases that run it. Statements are written
// once, with `?` placeholders and standard upserts; the dialect supplies only what differs.

export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** Column type of an auto-assigned integer primary key. */
  readonly identityPrimaryKey: string;
  /** The statement as the driver expects it (SQLite takes `?`; PostgreSQL wants `$1`, `$2`, …). */
  placeholders(sql: string): string;
  /** What makes a text column compare and sort by bytes, as the Distribution spec's lexical order wants ('' where it already does). */
  byteOrder(table: string, column: string): string;
}

export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  // The rowid alias: SQLite assigns it, and existing databases already use it.
  identityPrimaryKey: 'INTEGER PRIMARY KEY',
  placeholders: (sql) => sql,
  // SQLite compares text with memcmp unless told otherwise.
  byteOrder: () => '',
};

export const postgresDialect: SqlDialect = {
  name: 'postgres',
  identityPrimaryKey: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY',
  placeholders: (sql) => {
    let n = 0;
    // Portable statements never put a literal `?` inside a string, so a plain scan is enough.
    return sql.replace(/\?/g, () => `$${++n}`);
  },
  // The database's default collation may be a language's (en_US sorts "a-b" after "ab").
  byteOrder: (table, column) => `ALTER TABLE ${table} ALTER COLUMN ${column} TYPE TEXT COLLATE "C";`,
};

/**
 * `INSERT … ON CONFLICT (key) DO UPDATE SET …`, which both SQLite (3.24+) and PostgreSQL accept.
 * `where`, when given, guards the update (the row is left alone, and no change is counted, when it is false).
 */
export function upsert(table: string, columns: string[], key: string[], update: string[], where?: string): string {
  const sets = update.map((c) => `${c} = excluded.${c}`).join(', ');
  return `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})
          ON CONFLICT (${key.join(', ')}) DO UPDATE SET ${sets}${where ? ` WHERE ${where}` : ''}`;
}

/** A bound for "every row" (PostgreSQL has no LIMIT -1; both accept a large LIMIT). */
export const NO_LIMIT = 2_147_483_647;
