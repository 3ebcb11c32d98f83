// The upload sweeper: idle uploads go with their bytes; uploads started while it runs never do.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sweepUploads } from '../../src/jobs/upload-sweep.js';
import { streamOf, testRegistry } from '../registry/lib.js';

const TTL = 60_000;

describe('upload sweep', () => {
  test('uploads idle past the TTL are removed with their bytes; active ones stay', async () => {
    const { registry: r, blobs, meta, clock } = testRegistry();
    const idle = await r.blobs.startUpload('sweep');
    const active = await r.blobs.startUpload('sweep');
    clock.advance(TTL - 1);
    await r.blobs.append('sweep', active, streamOf(Buffer.from('x')), null, null);
    clock.advance(2);
    assert.equal(await sweepUploads({ blobs, meta, clock, ttlMs: TTL }), 1);
    assert.equal(await meta.uploads.get(idle), null);
    assert.equal(blobs.data.uploads.has(idle), false);
    assert.equal(await r.blobs.uploadOffset('sweep', active), 1);
  });

  test('bytes no upload record claims are removed', async () => {
    const { blobs, meta, clock } = testRegistry();
    await blobs.createUpload('orphan');
    assert.equal(await sweepUploads({ blobs, meta, clock, ttlMs: TTL }), 1);
    assert.equal(blobs.data.uploads.has('orphan'), false);
  });

  test('an upload started at any point of a sweep survives it', async () => {
    const { registry: r, blobs, meta, clock } = testRegistry();
    await blobs.createUpload('orphan');
    const started: string[] = [];
    // Before every read the sweep makes, of the driver's uploads or of the records, a new upload starts
    // (whole: record and bytes). Whatever order the sweep reads in, some upload lands between its reads.
    const startOne = async (): Promise<void> => { started.push(await r.blobs.startUpload('race')); };
    const listUploads = blobs.listUploads.bind(blobs);
    blobs.listUploads = async function* () {
      await startOne();
      yield* listUploads();
    };
    const uploads = meta.uploads;
    for (const name of ['idleSince', 'existing', 'deleteIfIdle'] as const) {
      const real = (uploads[name] as (...a: unknown[]) => Promise<unknown>).bind(uploads);
      (uploads as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => { await startOne(); return real(...args); };
    }
    clock.advance(TTL + 1);
    assert.equal(await sweepUploads({ blobs, meta, clock, ttlMs: TTL }), 1, 'only the orphan goes');
    assert.ok(started.length >= 2, `uploads started during the sweep: ${started.length}`);
    for (const id of [...started]) {
      assert.ok(blobs.data.uploads.has(id), `the bytes of ${id} are still there`);
      assert.notEqual(await meta.uploads.get(id), null);
    }
  });

  test('an upload whose record exists but whose bytes do not yet survives a whole sweep', async () => {
    const { registry: r, blobs, meta, clock } = testRegistry();
    // startUpload is held between writing its record and creating its bytes; a whole sweep runs meanwhile.
    const create = blobs.createUpload.bind(blobs);
    let resume!: () => void;
    const held = new Promise<void>((res) => { resume = res; });
    let reached!: () => void;
    const atCreate = new Promise<void>((res) => { reached = res; });
    blobs.createUpload = async (id) => { reached(); await held; return create(id); };
    const starting = r.blobs.startUpload('slow');
    await atCreate;
    assert.equal(await sweepUploads({ blobs, meta, clock, ttlMs: TTL }), 0);
    resume();
    const id = await starting;
    assert.equal(await r.blobs.append('slow', id, streamOf(Buffer.from('ok')), null, null), 2);
  });

  test('an upload that becomes active between the listing of idle uploads and their removal survives', async () => {
    const { registry: r, blobs, meta, clock } = testRegistry();
    const id = await r.blobs.startUpload('touch');
    clock.advance(TTL + 1);
    const idleSince = meta.uploads.idleSince.bind(meta.uploads);
    meta.uploads.idleSince = async (before, limit) => {
      const rows = await idleSince(before, limit);
      await r.blobs.append('touch', id, streamOf(Buffer.from('late chunk')), null, null);
      return rows;
    };
    assert.equal(await sweepUploads({ blobs, meta, clock, ttlMs: TTL }), 0);
    assert.equal(await r.blobs.uploadOffset('touch', id), 10);
  });
});
