// The PostgreSQL the tests use: a throw-away cluster `npm test` starts (scripts/run-tests.mjs), or any
// server named by WHARF_TEST_POSTGRES_URL. Each store or server under test gets a database of its own.
// Tests that need PostgreSQL fail, never skip, when there is none.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export function postgresTestUrl(): string {
  const url = process.env.WHARF_TEST_POSTGRES_URL;
  if (!url) {
    throw new Error('no PostgreSQL for the tests: run them with `npm test` (it starts one), or set WHARF_TEST_POSTGRES_URL to a server where they may create databases');
  }
  return url;
}

/** The same server, another database. */
function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: withDatabase(postgresTestUrl(), 'postgres') });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

/** A fresh, empty database with a random name. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `wharf_test_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: withDatabase(postgresTestUrl(), name),
    drop: () => admin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); }),
  };
}
