// The MetaStore contract on a real PostgreSQL, plus what only several processes on one server show.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openPostgresMetaStore } from '../../src/store/meta/postgres-meta-store.js';
import { repositoryLock, type MetaStore } from '../../src/store/meta/meta-store.js';
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

test('postgres: a tag move in another process waits while a unit of work holds the repository (what a collection plans from)', async () => {
  const db = await createTestDatabase();
  const clock = new FakeClock();
  const gcSide = await openPostgresMetaStore({ url: db.url, maxConnections: 2, clock });
  const pushSide = await openPostgresMetaStore({ url: db.url, maxConnections: 2, clock });
  try {
    const repo = await gcSide.repositories.ensure('lock/repo');
    const digest = `sha256:${'a'.repeat(64)}`;
    await gcSide.manifests.put(repo, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, artifactType: null, subject: null, annotations: null }, []);
    const order: string[] = [];
    let planning!: () => void;
    const planned = new Promise<void>((r) => { planning = r; });
    const collection = gcSide.tx(async (m) => {
      await m.lock(repositoryLock(repo));
      const graph = await m.gc.graph(repo);
      planning();
      await new Promise((r) => setTimeout(r, 300));
      // The plan: untagged, so it goes.
      if (graph.tagged.length === 0) await m.manifests.delete(repo, digest);
      order.push('collected');
    });
    await planned;
    await pushSide.manifests.put(repo, { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 2, artifactType: null, subject: null, annotations: null }, []);
    await pushSide.tags.move(repo, 'v1', digest);
    order.push('tagged');
    await collection;
    assert.deepEqual(order, ['collected', 'tagged'], 'the push waited for the collection to end');
    assert.equal((await pushSide.tags.resolve(repo, 'v1'))?.digest, digest, 'the manifest the push tagged is there');
  } finally {
    await gcSide.close();
    await pushSide.close();
    await db.drop();
  }
});

test('postgres: an unreachable server is named by host, port and database, never with its password', async () => {
  const err = await openPostgresMetaStore({ url: 'postgres://wharf:s3cret-pw@127.0.0.1:1/registry', maxConnections: 1, clock: new FakeClock() })
    .then(() => null, (e: unknown) => e as Error);
  assert.ok(err, 'opening failed');
  assert.match(err.message, /^PostgreSQL at 127\.0\.0\.1:1\/registry: /);
  assert.doesNotMatch(err.message, /s3cret-pw|wharf:/);
});
