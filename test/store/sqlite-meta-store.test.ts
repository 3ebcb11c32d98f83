import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { metaStoreContract } from './meta-store-contract.js';

const dirs: string[] = [];
metaStoreContract('sqlite', {
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-sqlite-'));
    dirs.push(dir);
    return new SqliteMetaStore({ path: join(dir, 'meta.db'), durable: false });
  },
  async cleanup() {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  },
});
