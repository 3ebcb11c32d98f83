// A throw-away PostgreSQL for the scale section, started with the project's own script
// (scripts/services/start-postgres.sh) in a temp dir on a free loopback port, exactly as `npm test` does
// (scripts/run-tests.mjs), but durable (PG_DURABLE=1: fsync and synchronous commits on), so that it is
// compared fairly with SQLite, which Wharf runs with synchronous=FULL (storage.fsync defaults to true).
import { chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { assertLoopback, errorMessage, freePort, log, makeTempDir, nowMs, removeTempDir, run, runOk } from './util.js';

const services = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'services');
/** psql of the newest installed server (start-postgres.sh picks its binaries the same way). */
const PSQL = '/usr/lib/postgresql/15/bin/psql';

export interface Postgres {
  /** postgres://postgres@127.0.0.1:PORT/wharf (trust auth, loopback only). */
  url: string;
  /** The server's settings that decide durability, as it reports them (fsync, synchronous_commit, …). */
  durability: Record<string, string>;
  /** A new empty database; its URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs SQL with psql against the database at `url` and returns its output (EXPLAIN ANALYZE, \d). */
  psql(url: string, sql: string): Promise<string>;
  /** Stops the server and removes its state. Safe to call twice. */
  stop(): Promise<void>;
}

/** Clusters started and not yet stopped, so that an interrupted run can stop them (see stopAllPostgres). */
const running = new Set<Postgres>();

/** Stops every cluster this process started (a signal, or a run that ended before its section's finally). */
export async function stopAllPostgres(): Promise<void> {
  for (const p of [...running]) {
    try { await p.stop(); } catch (err) { log(`stopping PostgreSQL: ${errorMessage(err)}`); }
  }
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function startPostgres(): Promise<Postgres> {
  const t0 = nowMs();
  const dir = makeTempDir('pg');
  // As root the server runs as the postgres user, which must be able to reach its folder.
  chmodSync(dir, 0o711);
  const data = join(dir, 'data');
  let stopping: Promise<void> | undefined;
  const self: Postgres = {
    url: '',
    durability: {},
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const c = new pg.Client({ connectionString: withDatabase(self.url, 'postgres') });
      await c.connect();
      try { await c.query(`CREATE DATABASE ${name}`); } finally { await c.end(); }
      return withDatabase(self.url, name);
    },
    async psql(url, sql) {
      const res = await runOk(PSQL, ['-X', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], { timeoutMs: 300000 });
      return res.stdout;
    },
    stop: () => (stopping ??= (async () => {
      running.delete(self);
      const res = await run(join(services, 'stop-postgres.sh'), [data], { timeoutMs: 120000 });
      if (res.code !== 0) log(`stop-postgres.sh: ${res.stderr.trim()}`);
      removeTempDir(dir);
    })()),
  };
  running.add(self);
  try {
    const res = await runOk(join(services, 'start-postgres.sh'), [data, String(await freePort())], {
      env: { ...process.env, PG_DB: 'wharf', PG_DURABLE: '1' }, timeoutMs: 120000,
    });
    const url = /DATABASE_URL=(\S+)/.exec(res.stdout)?.[1];
    if (!url) throw new Error(`start-postgres.sh printed no DATABASE_URL: ${res.stdout}`);
    self.url = assertLoopback(url).href;
    const c = new pg.Client({ connectionString: self.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ name: string; setting: string }>(
        "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_sync_method', 'shared_buffers', 'server_version') ORDER BY name");
      self.durability = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    } finally {
      await c.end();
    }
  } catch (err) {
    await self.stop();
    throw err;
  }
  log(`PostgreSQL on ${self.url} (state in ${dir}; ${JSON.stringify(self.durability)}), started in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  return self;
}
