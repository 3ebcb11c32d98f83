// SQLite under the SqlDatabase seam. better-sqlite3 is synchronous: a statement costs microseconds
// and no I/O wait, so the async contract adds only a resolved promise. One connection per store;
// a unit of work holds it (BEGIN IMMEDIATE) and other callers wait at a gate until it ends, so
// that their statements never land inside it.
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { sqliteDialect, type SqlDialect } from './dialect.js';
import { migrations } from './migrations.js';
import type { SqlDatabase, SqlExecutor } from './sql-database.js';
import type { WriterLock } from './writer-lock.js';

export interface SqliteDatabaseOptions {
  /** A file, or ':memory:' (unit tests). */
  path: string;
  /** FULL synchronous commits (survive power loss) instead of NORMAL (survive process crashes). */
  durable: boolean;
  /** Shared with the other threads of this process that write the database (see writer-lock.ts). */
  writerLock?: WriterLock;
  /** Bring the schema up to date (false: a thread beside the one that did). */
  migrate?: boolean;
}

class Connection {
  readonly db: Database.Database;
  private readonly statements = new Map<string, Statement>();
  /** Units of work run one at a time on this connection; this is the tail of their queue. */
  txTail: Promise<void> = Promise.resolve();
  /** Set while a unit of work is open: calls from outside it wait. */
  openTx: Promise<void> | null = null;
  savepoints = 0;
  readonly writerLock: WriterLock | undefined;

  constructor(opts: SqliteDatabaseOptions) {
    this.writerLock = opts.writerLock;
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.durable ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
  }

  statement(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Null when a caller outside any unit of work may go ahead now. */
  gate(): Promise<void> | null {
    return this.openTx ? this.whenIdle() : null;
  }

  private async whenIdle(): Promise<void> {
    while (this.openTx) await this.openTx;
  }

  /** A statement outside any unit of work: after the gate, and holding the writer lock if it writes. */
  async outside<T>(sql: string, fn: (s: Statement) => T): Promise<T> {
    const g = this.gate();
    if (g) await g;
    const s = this.statement(sql);
    if (!this.writerLock || s.readonly) return fn(s);
    await this.writerLock.acquire();
    try {
      return fn(s);
    } finally {
      this.writerLock.release();
    }
  }
}

class SqliteExecutor implements SqlExecutor {
  readonly dialect: SqlDialect = sqliteDialect;

  /** `inTx`: this executor is the open unit of work's (ungated). */
  constructor(protected readonly c: Connection, private readonly inTx: boolean) {}

  async all<T>(sql: string, ...params: unknown[]): Promise<T[]> {
    if (!this.inTx) return this.c.outside(sql, (s) => s.all(...params) as T[]);
    return this.c.statement(sql).all(...params) as T[];
  }

  async get<T>(sql: string, ...params: unknown[]): Promise<T | undefined> {
    if (!this.inTx) return this.c.outside(sql, (s) => s.get(...params) as T | undefined);
    return this.c.statement(sql).get(...params) as T | undefined;
  }

  async run(sql: string, ...params: unknown[]): Promise<number> {
    if (!this.inTx) return this.c.outside(sql, (s) => s.run(...params).changes);
    return this.c.statement(sql).run(...params).changes;
  }

  async atomic<T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T> {
    return this.inTx ? this.savepoint(fn) : this.transaction(fn);
  }

  locked<T>(_locks: readonly string[], fn: (x: SqlExecutor) => Promise<T>): Promise<T> {
    return fn(this);
  }

  async lock(): Promise<void> { /* writers are serial: BEGIN IMMEDIATE holds the database */ }

  private async transaction<T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T> {
    const c = this.c;
    const prev = c.txTail;
    let finished!: () => void;
    const mine = new Promise<void>((r) => { finished = r; });
    c.txTail = prev.then(() => mine);
    await prev;
    c.openTx = mine;
    let locked = false;
    try {
      if (c.writerLock) {
        await c.writerLock.acquire();
        locked = true;
      }
      // IMMEDIATE: take the write lock now, so that two processes never deadlock upgrading a read.
      c.db.exec('BEGIN IMMEDIATE');
      const result = await fn(new SqliteExecutor(c, true));
      c.db.exec('COMMIT');
      return result;
    } catch (e) {
      if (c.db.inTransaction) c.db.exec('ROLLBACK');
      throw e;
    } finally {
      if (locked) c.writerLock!.release();
      c.openTx = null;
      finished();
    }
  }

  private async savepoint<T>(fn: (x: SqlExecutor) => Promise<T>): Promise<T> {
    const name = `s${++this.c.savepoints}`;
    this.c.db.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn(this);
      this.c.db.exec(`RELEASE ${name}`);
      return result;
    } catch (e) {
      this.c.db.exec(`ROLLBACK TO ${name}`);
      this.c.db.exec(`RELEASE ${name}`);
      throw e;
    }
  }
}

export class SqliteDatabase extends SqliteExecutor implements SqlDatabase {
  constructor(opts: SqliteDatabaseOptions) {
    const c = new Connection(opts);
    super(c, false);
    if (opts.migrate !== false) migrate(c.db);
  }

  async close(): Promise<void> {
    await this.c.txTail;
    this.c.db.close();
  }
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
  // Under the write lock: two processes opening a new database at once migrate it once.
  db.transaction(() => {
    const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    for (let v = row.v ?? 0; v < migrations.length; v++) {
      db.exec(migrations[v]!(sqliteDialect));
      db.prepare('INSERT INTO schema_migrations (version) VALUES (?)').run(v + 1);
    }
  }).immediate();
}
