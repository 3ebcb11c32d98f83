// PostgreSQL under the SqlDatabase seam (node-postgres): a pool of connections, each statement
// prepared once per connection, units of work on one pooled connection, and the locks a unit of work
// names taken as transaction-scoped advisory locks, so that processes sharing the database serialize
// where SQLite's single writer serialized them.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { postgresDialect, type SqlDialect } from './dialect.js';
import { migrations } from './migrations.js';
import type { SqlDatabase, SqlExecutor } from './sql-database.js';

export interface PostgresDatabaseOptions {
  /** A libpq connection URL; unset, the standard PG* variables (PGHOST, PGUSER, …) apply. */
  url?: string;
  maxConnections: number;
  /** Name reported to the server (pg_stat_activity). */
  applicationName?: string;
}

/** Key of the session lock migrations run under ("wharf" in ASCII). */
const MIGRATION_LOCK = 0x7768617266;
/** A deadlock or a serialization failure: the unit of work is rolled back and can simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 4;

const INT8_OID = 20;
// BIGINT columns hold times, sizes and ids, all far below 2^53: numbers, as SQLite returns them.
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

interface Prepared { name: string; text: string }
const prepared = new Map<string, Prepared>();

/** The statement in PostgreSQL's form, with a stable name so that each connection prepares it once. */
function prepare(sql: string): Prepared {
  let p = prepared.get(sql);
  if (!p) {
    const text = postgresDialect.placeholders(sql);
    p = { name: `w_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`, text };
    prepared.set(sql, p);
  }
  return p;
}

type Queryable = pg.Pool | pg.PoolClient;

class PostgresExecutor implements SqlExecutor {
  readonly dialect: SqlDialect = postgresDialect;
  private savepoints = 0;

  /** `client` set: this executor is the open unit of work on that connection. */
  constructor(protected readonly pool: pg.Pool, private readonly client: pg.PoolClient | null) {}

  private query(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    const p = prepare(sql);
    const q: Queryable = this.client ?? this.pool;
    return q.query({ name: p.name, text: p.text, values: params });
  }

  async all<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async get<T>(sql: string, ...params: unknown[]): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, ...params: unknown[]): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }

  async lock(name: string): Promise<void> {
    if (!this.client) throw new Error('a lock is held by a unit of work: take it inside atomic()');
    await this.client.query({ name: 'w_lock', text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', values: [name] });
  }

  async atomic<T>(fn: (x: SqlExecutor) => Promise<T>, locks: readonly string[] = []): Promise<T> {
    return this.client ? this.savepoint(fn, locks) : this.transaction(fn, locks);
  }

  locked<T>(locks: readonly string[], fn: (x: SqlExecutor) => Promise<T>): Promise<T> {
    return this.atomic(fn, locks);
  }

  /**
   * Locks in one order everywhere (a digest's after any repository's), so that two units of work never
   * wait for each other in a cycle; a cycle that forms anyway is a deadlock the server breaks, and the
   * unit of work runs again.
   */
  private async lockAll(locks: readonly string[]): Promise<void> {
    const rank = (l: string): number => (l.startsWith('blob:') ? 1 : 0);
    for (const l of [...new Set(locks)].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0))) await this.lock(l);
  }

  private async transaction<T>(fn: (x: SqlExecutor) => Promise<T>, locks: readonly string[]): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const x = new PostgresExecutor(this.pool, client);
        await x.lockAll(locks);
        const result = await fn(x);
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch((err: unknown) => { broken = err as Error; });
        const code = (e as { code?: string }).code;
        if (code !== undefined && RETRYABLE.has(code) && attempt < ATTEMPTS) continue;
        throw e;
      } finally {
        // A connection that could not roll back is closed rather than handed to the next caller.
        client.release(broken);
      }
    }
  }

  private async savepoint<T>(fn: (x: SqlExecutor) => Promise<T>, locks: readonly string[]): Promise<T> {
    const client = this.client!;
    const name = `s${++this.savepoints}`;
    await client.query(`SAVEPOINT ${name}`);
    try {
      await this.lockAll(locks);
      const result = await fn(this);
      await client.query(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (e) {
      await client.query(`ROLLBACK TO SAVEPOINT ${name}`);
      await client.query(`RELEASE SAVEPOINT ${name}`);
      throw e;
    }
  }
}

export class PostgresDatabase extends PostgresExecutor implements SqlDatabase {
  private constructor(pool: pg.Pool) {
    super(pool, null);
  }

  /** Connects and brings the schema up to date (once, when several processes start together). */
  static async open(opts: PostgresDatabaseOptions): Promise<PostgresDatabase> {
    const pool = new pg.Pool({
      ...(opts.url !== undefined ? { connectionString: opts.url } : {}),
      max: opts.maxConnections,
      application_name: opts.applicationName ?? 'wharf',
      types,
      // A dead server must not hang a request forever.
      connectionTimeoutMillis: 10_000,
    });
    // An idle connection the server dropped reports here; the pool replaces it on the next checkout.
    pool.on('error', () => undefined);
    try {
      await migrate(pool);
    } catch (e) {
      await pool.end().catch(() => undefined);
      // The cause is node-postgres's error (a code and the server's message): it holds no connection string.
      throw new Error(`PostgreSQL at ${where(opts.url)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return new PostgresDatabase(pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Host, port and database of a connection URL, for messages: never its user or password. */
function where(url: string | undefined): string {
  if (url === undefined) return `${process.env.PGHOST ?? 'localhost'}:${process.env.PGPORT ?? 5432}/${process.env.PGDATABASE ?? ''} (from the PG* variables)`;
  try {
    const u = new URL(url);
    return `${u.host}${u.pathname}`;
  } catch {
    return 'meta.postgres.url (unparsable)';
  }
}

async function migrate(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    // A session lock: processes starting together wait here, and the later ones find nothing to do.
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
      const { rows } = await client.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
      for (let v = rows[0]?.v ?? 0; v < migrations.length; v++) {
        await client.query('BEGIN');
        try {
          await client.query(migrations[v]!(postgresDialect));
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [v + 1]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK');
          throw e;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}
