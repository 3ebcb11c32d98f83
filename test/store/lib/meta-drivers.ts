// A fresh MetaStore per test on each database the project supports, for the aggregate tests that run
// once per driver: SQLite in memory, and a database of its own on the test PostgreSQL (dropped after).
import { SqliteMetaStore } from '../../../src/store/meta/sqlite-meta-store.js';
import { openPostgresMetaStore } from '../../../src/store/meta/postgres-meta-store.js';
import type { MetaStore } from '../../../src/store/meta/meta-store.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { createTestDatabase } from '../../helpers/postgres.js';

export type OpenMetaStore = (t: { after(fn: () => unknown): void }) => Promise<{ m: MetaStore; clock: FakeClock }>;

/** Opens a store on each driver; its clock starts at `t0`, and the store is closed (and dropped) after the test. */
export function metaDrivers(t0: number): Record<'sqlite' | 'postgres', OpenMetaStore> {
  return {
    sqlite: async (t) => {
      const clock = new FakeClock(t0);
      const m = new SqliteMetaStore({ path: ':memory:', durable: false, clock });
      t.after(() => m.close());
      return { m, clock };
    },
    postgres: async (t) => {
      const clock = new FakeClock(t0);
      const db = await createTestDatabase();
      const m = await openPostgresMetaStore({ url: db.url, maxConnections: 2, clock });
      t.after(async () => { await m.close(); await db.drop(); });
      return { m, clock };
    },
  };
}
