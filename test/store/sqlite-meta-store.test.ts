import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { migrations } from '../../src/store/meta/migrations.js';
import { postgresDialect, sqliteDialect } from '../../src/store/meta/dialect.js';
import { metaStoreContract } from './meta-store-contract.js';
import { FakeClock } from '../helpers/fake-clock.js';

const dirs: string[] = [];
const pathOf = new WeakMap<object, string>();
const fresh = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-sqlite-'));
  dirs.push(dir);
  return join(dir, 'meta.db');
};

metaStoreContract('sqlite', {
  async create(clock) {
    const path = fresh();
    const m = new SqliteMetaStore({ path, durable: false, clock });
    pathOf.set(m, path);
    return m;
  },
  async reopen(store, clock) {
    const path = pathOf.get(store)!;
    const m = new SqliteMetaStore({ path, durable: false, clock });
    pathOf.set(m, path);
    return m;
  },
  async cleanup() {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  },
});

test('sqlite: a database made by the first schema keeps its data and gains the new columns', async () => {
  const path = fresh();
  const old = new Database(path);
  old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY)');
  old.exec(migrations[0]!(sqliteDialect));
  old.exec(`INSERT INTO schema_migrations (version) VALUES (1);
    INSERT INTO repositories (name, created_at) VALUES ('old/app', 5);
    INSERT INTO blobs (digest, size) VALUES ('sha256:${'1'.repeat(64)}', 3);
    INSERT INTO repo_blobs (repo_id, digest) VALUES (1, 'sha256:${'1'.repeat(64)}');
    INSERT INTO uploads (id, repo_id, created_at, updated_at) VALUES ('u-old', 1, 5, 6);`);
  old.close();
  const m = new SqliteMetaStore({ path, durable: false, clock: new FakeClock() });
  try {
    const r = await m.repositories.idOf('old/app');
    assert.equal(r, 1);
    assert.deepEqual(await m.blobs.get(r, `sha256:${'1'.repeat(64)}`), { size: 3, linkedAt: 0 });
    assert.deepEqual(await m.uploads.get('u-old'), { id: 'u-old', repoId: 1, offset: 0, driverState: null, algorithm: 'sha256', createdAt: 5, updatedAt: 6 });
    assert.equal(await m.leases.acquire('job', 'me', 10), true);
  } finally {
    await m.close();
  }
});

test('sqlite: an in-memory database serves unit tests', async () => {
  const m = new SqliteMetaStore({ path: ':memory:', durable: false, clock: new FakeClock() });
  assert.equal(await m.repositories.ensure('a'), 1);
  await m.close();
});

test('dialect: one statement text, placeholders as each database wants them', () => {
  const sql = 'SELECT a FROM t WHERE b = ? AND c > ? LIMIT ?';
  assert.equal(sqliteDialect.placeholders(sql), sql);
  assert.equal(postgresDialect.placeholders(sql), 'SELECT a FROM t WHERE b = $1 AND c > $2 LIMIT $3');
  for (const m of migrations) {
    assert.doesNotMatch(m(postgresDialect), /INTEGER PRIMARY KEY|AUTOINCREMENT|LIMIT -1/);
  }
});
