import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openBlobStore } from '../../src/store/blobs/factory.js';
import { FsBlobStore } from '../../src/store/blobs/fs-blob-store.js';
import { loadConfig } from '../../src/config/config.js';

test('the factory builds the driver storage.driver names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-factory-'));
  try {
    const store = await openBlobStore({ dataDir: dir, storage: loadConfig({ env: {} }).storage });
    assert.ok(store instanceof FsBlobStore);
    assert.ok(statSync(join(dir, 'blobs')).isDirectory());
    await store.close();
    // A name the configuration would refuse never reaches a driver.
    assert.throws(() => openBlobStore({ dataDir: dir, storage: { ...loadConfig({ env: {} }).storage, driver: 'ftp' as 'fs' } }), /unknown storage driver "ftp"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
