// The MetaStore contract on a real PostgreSQL, plus what only several processes on one server show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgresMetaStore } from '../../src/store/meta/postgres-meta-store.js';
import type { MetaStore } from '../../src/store/meta/meta-store.js';
import { metaStoreContract } from './meta-store-contract.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

const databases: TestDatabase[] = [];
const urlOf = new WeakMap<object, string>();

async function open(url: string, clock: FakeClock): Promise<MetaStore> {
  const m = await openPostgresMetaStore({ url, maxConnections: 4, clock });
  urlOf.set(m, url);
  return m;
}

metaStoreContract('postgres', {
  async create(clock) {
    const db = await createTestDatabase();
    databases.push(db);
    return open(db.url, clock);
  },
  reopen: (store, clock) => open(urlOf.get(store)!, clock),
  async cleanup() {
    for (const db of databases) await db.drop();
  },
});

test('postgres: processes starting together on a new database migrate it once', async () => {
  const db = await createTestDatabase();
  try {
    const stores = await Promise.all(Array.from({ length: 5 }, () => openPostgresMetaStore({ url: db.url, maxConnections: 2, clock: new FakeClock() })));
    const r = await stores[0]!.repositories.ensure('a/b');
    assert.equal(await stores[4]!.repositories.idOf('a/b'), r);
    await Promise.all(stores.map((s) => s.close()));
  } finally {
    await db.drop();
  }
});
