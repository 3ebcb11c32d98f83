// The seam between the MetaStore's SQL and a database driver. The store writes each statement once,
// in portable SQL with `?` placeholders (dialect.ts); a driver (SQLite, PostgreSQL) runs it, prepares
// it once per connection, and gives units of work and cross-process locks their local meaning.
import type { SqlDialect } from './dialect.js';

export type Row = Record<string, unknown>;

export interface SqlExecutor {
  readonly dialect: SqlDialect;
  all<T = Row>(sql: string, ...params: unknown[]): Promise<T[]>;
  get<T = Row>(sql: string, ...params: unknown[]): Promise<T | undefined>;
  /** Runs a statement that returns no rows; the number of rows it changed. */
  run(sql: string, ...params: unknown[]): Promise<number>;
  /**
   * Runs `fn` as one transaction (a savepoint inside one), holding the named locks until the
   * outermost transaction ends. Locks serialize units of work across processes (PostgreSQL advisory
   * locks); on SQLite, whose writers are serial already, they cost nothing.
   */
  atomic<T>(fn: (x: SqlExecutor) => Promise<T>, locks?: readonly string[]): Promise<T>;
  /**
   * `fn`, a single statement, under the named locks: in a transaction where locks need one
   * (PostgreSQL), as it is where a statement alone is already serialized (SQLite).
   */
  locked<T>(locks: readonly string[], fn: (x: SqlExecutor) => Promise<T>): Promise<T>;
  /** Takes the named lock until the enclosing transaction ends. */
  lock(name: string): Promise<void>;
}

export interface SqlDatabase extends SqlExecutor {
  close(): Promise<void>;
}

/** Most values one `IN (…)` list carries; longer lists go in several statements. */
export const IN_LIST_MAX = 256;

/**
 * `?, ?, …` for `values`, padded (with the last value again) to a power of two, so that a query
 * over lists of any length prepares at most a handful of distinct statements.
 */
export function inList(values: readonly unknown[]): { marks: string; params: unknown[] } {
  let n = 1;
  while (n < values.length) n *= 2;
  const params = [...values];
  while (params.length < n) params.push(values[values.length - 1]);
  return { marks: params.map(() => '?').join(', '), params };
}

/** Splits a list into pieces of at most IN_LIST_MAX. */
export function chunks<T>(values: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += IN_LIST_MAX) out.push(values.slice(i, i + IN_LIST_MAX));
  return out;
}
