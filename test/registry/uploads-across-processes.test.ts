// An upload started by one process is continued and finished by another: two registries, each with
// its own FsBlobStore and SqliteMetaStore, over one data directory (SQLite in WAL mode allows it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Registry } from '../../src/registry/registry.js';
import { FsBlobStore } from '../../src/store/blobs/fs-blob-store.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { digestOf } from '../../src/oci/digest.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { code, streamOf } from './lib.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';

async function openRegistry(dir: string, clock: FakeClock): Promise<Registry> {
  const blobs = await FsBlobStore.open({ root: dir, fsync: false });
  const meta = new SqliteMetaStore({ path: join(dir, 'meta.db'), durable: false, clock });
  return new Registry(blobs, meta, { maxManifestBytes: 1 << 20 }, clock);
}

test('an upload moves between processes chunk by chunk and completes with the right digest', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-two-'));
  const clock = new FakeClock();
  const a = await openRegistry(dir, clock);
  const b = await openRegistry(dir, clock);
  try {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const cuts = [0, 1_000_000, 2_000_000, 2_500_000, data.length];
    const id = await a.blobs.startUpload('team/shared');
    // A, B, B, A: when A goes on, its running hash (of the first chunk only) is stale and must not be
    // used; it then covers every byte, and A finishes the upload.
    const writers = [a, b, b, a];
    for (let i = 0; i < writers.length; i++) {
      const w = writers[i]!;
      const [from, to] = [cuts[i]!, cuts[i + 1]!];
      assert.equal(await w.blobs.uploadOffset('team/shared', id), from, `offset seen by writer ${i}`);
      assert.equal(await w.blobs.append('team/shared', id, streamOf(data.subarray(from, to)), { start: from, end: to - 1 }, to - from), to);
    }
    // A short chunk sent to B leaves bytes past the offset in the file; A finishes regardless.
    await assert.rejects(b.blobs.append('team/shared', id, streamOf(Buffer.from('junk')), { start: data.length, end: data.length + 99 }, null), code('SIZE_INVALID'));
    const digest = digestOf(data);
    assert.deepEqual(await a.blobs.complete('team/shared', id, digest, null, null, actor), { digest, size: data.length });
    assert.deepEqual(await b.blobs.stat('team/shared', digest), { digest, size: data.length });
    await assert.rejects(b.blobs.uploadOffset('team/shared', id), code('BLOB_UPLOAD_UNKNOWN'));
  } finally {
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
