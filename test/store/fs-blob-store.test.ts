import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
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

test('opening the store drops only old tmp/ leftovers: another process on the same directory may be writing now', async () => {
  const root = mkdtempSync(join(tmpdir(), 'wharf-fs-'));
  try {
    const first = await FsBlobStore.open({ root, fsync: false });
    const inFlight = join(root, 'tmp', '.wharf-in-flight.tmp');
    const leftover = join(root, 'tmp', '.wharf-leftover.tmp');
    writeFileSync(inFlight, 'being written');
    writeFileSync(leftover, 'a crash long ago');
    const longAgo = new Date(Date.now() - 3_600_000);
    utimesSync(leftover, longAgo, longAgo);
    const second = await FsBlobStore.open({ root, fsync: false });
    assert.ok(existsSync(inFlight), 'a fresh temporary file stays');
    assert.equal(existsSync(leftover), false, 'an old one goes');
    await first.close();
    await second.close();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
