import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore } from '../../src/store/blobs/fs-blob-store.js';
import type { BlobStore } from '../../src/store/blobs/blob-store.js';
import { blobStoreContract } from './blob-store-contract.js';

const roots: string[] = [];
const rootOf = new WeakMap<BlobStore, string>();

blobStoreContract('fs', {
  async create() {
    const root = mkdtempSync(join(tmpdir(), 'wharf-fs-'));
    roots.push(root);
    const s = await FsBlobStore.open({ root, fsync: true });
    rootOf.set(s, root);
    return s;
  },
  async reopen(store) {
    const root = rootOf.get(store)!;
    await store.close();
    const s = await FsBlobStore.open({ root, fsync: true });
    rootOf.set(s, root);
    return s;
  },
  async cleanup() {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  },
});
