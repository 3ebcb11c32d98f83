// Unit tests of registry/blobs.ts over an in-memory blob store, SQLite in memory and a fake clock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { digestOf } from '../../src/oci/digest.js';
import { bytesOf, code, pushBlob, streamOf, testRegistry } from './lib.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';
import { sweepUploads } from '../../src/jobs/upload-sweep.js';

describe('registry: uploads', () => {
  test('chunked upload: offsets advance with each chunk; the blob is linked on completion', async () => {
    const { registry: r, meta, clock } = testRegistry();
    const data = bytesOf('0123456789abcdef');
    const id = await r.blobs.startUpload('team/app');
    assert.equal(await r.blobs.uploadOffset('team/app', id), 0);
    clock.advance(10);
    assert.equal(await r.blobs.append('team/app', id, streamOf(data.subarray(0, 6)), { start: 0, end: 5 }, 6), 6);
    assert.equal(await r.blobs.append('team/app', id, streamOf(data.subarray(6)), { start: 6, end: 15 }, null), 16);
    const u = await meta.uploads.get(id);
    assert.equal(u?.offset, 16, 'the offset lives in the MetaStore');
    assert.equal(u?.updatedAt, clock.now(), 'stamped by the injected clock');
    const info = await r.blobs.complete('team/app', id, digestOf(data), null, null, actor);
    assert.deepEqual(info, { digest: digestOf(data), size: 16 });
    assert.deepEqual(await r.blobs.stat('team/app', digestOf(data)), info);
    assert.equal(await meta.uploads.get(id), null);
    await assert.rejects(r.blobs.uploadOffset('team/app', id), code('BLOB_UPLOAD_UNKNOWN'));
  });

  test('a chunk shorter than its Content-Range is refused (SIZE_INVALID) and appends nothing', async () => {
    const { registry: r, blobs } = testRegistry();
    const data = bytesOf('abcdefghij');
    const id = await r.blobs.startUpload('short');
    await r.blobs.append('short', id, streamOf(data.subarray(0, 4)), { start: 0, end: 3 }, null);
    // The body ends after 3 of the 6 bytes its range announces.
    await assert.rejects(r.blobs.append('short', id, streamOf(bytesOf('XYZ')), { start: 4, end: 9 }, null), code('SIZE_INVALID'));
    assert.equal(await r.blobs.uploadOffset('short', id), 4);
    // The same range, whole, goes on from 4; the blob holds exactly the right bytes.
    assert.equal(await r.blobs.append('short', id, streamOf(data.subarray(4)), { start: 4, end: 9 }, null), 10);
    await r.blobs.complete('short', id, digestOf(data), null, null, actor);
    assert.ok((await blobs.readSmall(digestOf(data)))!.equals(data));
  });

  test('a streamed body cut short keeps what arrived, so the client can resume', async () => {
    const { registry: r } = testRegistry();
    const id = await r.blobs.startUpload('stream');
    await assert.rejects(r.blobs.append('stream', id, streamOf(bytesOf('abc')), null, 10), code('SIZE_INVALID'));
    assert.equal(await r.blobs.uploadOffset('stream', id), 3);
    // A body that fails midway keeps the bytes that landed before the failure.
    const failing = new Readable({ read() {} });
    failing.push(bytesOf('def'));
    setImmediate(() => failing.destroy(new Error('connection reset')));
    await assert.rejects(r.blobs.append('stream', id, failing, null, null), /connection reset/);
    assert.equal(await r.blobs.uploadOffset('stream', id), 6);
    await r.blobs.complete('stream', id, digestOf('abcdefghi'), streamOf(bytesOf('ghi')), 3, actor);
  });

  test('an out-of-order chunk is RANGE_INVALID and changes nothing', async () => {
    const { registry: r } = testRegistry();
    const id = await r.blobs.startUpload('order');
    await r.blobs.append('order', id, streamOf(bytesOf('abc')), { start: 0, end: 2 }, 3);
    await assert.rejects(r.blobs.append('order', id, streamOf(bytesOf('zz')), { start: 5, end: 6 }, 2), code('RANGE_INVALID'));
    await assert.rejects(r.blobs.append('order', id, streamOf(bytesOf('zz')), { start: 0, end: 1 }, 2), code('RANGE_INVALID'));
    await assert.rejects(r.blobs.append('order', id, streamOf(bytesOf('zz')), { start: 3, end: 4 }, 1), code('SIZE_INVALID'));
    assert.equal(await r.blobs.uploadOffset('order', id), 3);
  });

  test('an upload belongs to its repository; cancel removes it', async () => {
    const { registry: r, blobs } = testRegistry();
    const id = await r.blobs.startUpload('mine');
    await r.blobs.startUpload('other');
    await assert.rejects(r.blobs.uploadOffset('other', id), code('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(r.blobs.uploadOffset('never', id), code('BLOB_UPLOAD_UNKNOWN'));
    await assert.rejects(r.blobs.append('other', id, streamOf(bytesOf('x')), null, null), code('BLOB_UPLOAD_UNKNOWN'));
    await r.blobs.cancel('mine', id);
    await assert.rejects(r.blobs.uploadOffset('mine', id), code('BLOB_UPLOAD_UNKNOWN'));
    assert.equal(blobs.data.uploads.has(id), false);
  });

  test('a wrong digest is DIGEST_INVALID; the upload survives and completes with the right one', async () => {
    const { registry: r } = testRegistry();
    const id = await r.blobs.startUpload('dig');
    await r.blobs.append('dig', id, streamOf(bytesOf('payload')), null, null);
    await assert.rejects(r.blobs.complete('dig', id, digestOf('nope'), null, null, actor), code('DIGEST_INVALID'));
    await assert.rejects(r.blobs.stat('dig', digestOf('nope')), code('BLOB_UNKNOWN'));
    await r.blobs.complete('dig', id, digestOf('payload'), null, null, actor);
  });

  test('a commit whose link a crash prevented is completed by the retried PUT: the blob is linked and whole, the area removed', async () => {
    const { registry: r, blobs, meta } = testRegistry();
    const data = bytesOf('a layer whose first commit died before its link');
    const digest = digestOf(data);
    const id = await r.blobs.startUpload('retry');
    await r.blobs.append('retry', id, streamOf(data.subarray(0, 10)), { start: 0, end: 9 }, 10);
    await r.blobs.append('retry', id, streamOf(data.subarray(10)), null, null);
    // The dead process's commit: the blob made from the recorded position, then nothing (no link, the record kept).
    const u = (await meta.uploads.get(id))!;
    assert.equal(await blobs.commitUpload(id, digest, u), data.length);
    await assert.rejects(r.blobs.stat('retry', digestOf(data)), code('BLOB_UNKNOWN'));
    assert.deepEqual(await r.blobs.complete('retry', id, digest, null, null, actor), { digest, size: data.length });
    assert.deepEqual(await r.blobs.stat('retry', digest), { digest, size: data.length });
    assert.ok((await blobs.readSmall(digest))!.equals(data));
    assert.equal(await meta.uploads.get(id), null);
    assert.equal(blobs.data.uploads.has(id), false, 'the area is removed once the blob is linked');
    await assert.rejects(r.blobs.complete('retry', id, digest, null, null, actor), code('BLOB_UPLOAD_UNKNOWN'), 'a completed upload is gone');
  });

  test('removing the area after the link is best effort: a failure leaves the PUT successful and the bytes to the upload sweep', async () => {
    const { registry: r, blobs, meta, clock } = testRegistry();
    const data = bytesOf('linked, its area left behind');
    const id = await r.blobs.startUpload('leftover');
    await r.blobs.append('leftover', id, streamOf(data), null, null);
    const deleteUpload = blobs.deleteUpload.bind(blobs);
    blobs.deleteUpload = async () => { throw new Error('store unreachable'); };
    assert.deepEqual(await r.blobs.complete('leftover', id, digestOf(data), null, null, actor), { digest: digestOf(data), size: data.length });
    assert.deepEqual(await r.blobs.stat('leftover', digestOf(data)), { digest: digestOf(data), size: data.length });
    assert.equal(blobs.data.uploads.has(id), true);
    blobs.deleteUpload = deleteUpload;
    assert.equal(await sweepUploads({ blobs, meta, clock, ttlMs: 60_000 }), 1, 'bytes no record claims');
    assert.equal(blobs.data.uploads.has(id), false);
    assert.ok((await blobs.readSmall(digestOf(data)))!.equals(data));
  });

  test('a failed monolithic push leaves no upload behind', async () => {
    const { registry: r, blobs, meta } = testRegistry();
    await assert.rejects(r.blobs.putMonolithic('mono', digestOf('other'), streamOf(bytesOf('data')), 4, actor), code('DIGEST_INVALID'));
    assert.equal(blobs.data.uploads.size, 0);
    assert.deepEqual(await meta.uploads.idleSince(Number.MAX_SAFE_INTEGER, 10), []);
  });
});

/** A mount predicate that lets the actor read every repository. */
const anyone = async (): Promise<boolean> => true;

describe('registry: mount, stat, delete', () => {
  test('mount from a repository that holds the blob links it; from one that lacks it does not', async () => {
    const { registry: r, meta } = testRegistry();
    const digest = await pushBlob(r, 'src', bytesOf('shared layer'));
    assert.deepEqual(await r.blobs.mount('dst', digest, 'src', actor, anyone), { digest, size: 12 });
    assert.deepEqual(await r.blobs.stat('dst', digest), { digest, size: 12 });
    assert.equal(await r.blobs.mount('dst2', digest, 'nowhere', actor, anyone), null, 'unknown source');
    await pushBlob(r, 'empty', bytesOf('something else'));
    assert.equal(await r.blobs.mount('dst3', digest, 'empty', actor, anyone), null, 'source lacks the blob');
    assert.equal(await r.blobs.mount('dst4', digest, 'Not A Valid Name', actor, anyone), null, 'invalid source name');
    assert.equal(await meta.repositories.idOf('dst4'), null, 'a refused mount creates nothing');
  });

  test('mount without a source takes any copy the registry holds, and none when nobody has it', async () => {
    const { registry: r } = testRegistry();
    const digest = await pushBlob(r, 'holder', bytesOf('anywhere'));
    assert.deepEqual(await r.blobs.mount('taker', digest, null, actor, anyone), { digest, size: 8 });
    assert.equal(await r.blobs.mount('taker', digestOf('nobody has this'), null, actor, anyone), null);
  });

  test('mount needs the bytes too, not only the record', async () => {
    const { registry: r, blobs } = testRegistry();
    const digest = await pushBlob(r, 'src', bytesOf('bytes gone'));
    await blobs.delete(digest);
    assert.equal(await r.blobs.mount('dst', digest, 'src', actor, anyone), null);
  });

  test('delete unlinks the blob from one repository only; the link carries its time', async () => {
    const { registry: r, meta, clock } = testRegistry();
    const t0 = clock.now();
    const digest = await pushBlob(r, 'a', bytesOf('two homes'));
    clock.advance(1000);
    await r.blobs.mount('b', digest, 'a', actor, anyone);
    assert.equal((await meta.blobs.get((await meta.repositories.idOf('a'))!, digest))?.linkedAt, t0);
    assert.equal((await meta.blobs.get((await meta.repositories.idOf('b'))!, digest))?.linkedAt, t0 + 1000);
    await r.blobs.delete('a', digest, actor);
    await assert.rejects(r.blobs.stat('a', digest), code('BLOB_UNKNOWN'));
    assert.deepEqual(await r.blobs.stat('b', digest), { digest, size: 9 });
    await assert.rejects(r.blobs.delete('a', digest, actor), code('BLOB_UNKNOWN'));
    await assert.rejects(r.blobs.stat('unknown', digest), code('BLOB_UNKNOWN'));
  });
});
