// The BlobStore contract: every driver runs this suite.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { BlobStore } from '../../src/store/blobs/blob-store.js';
import { digestOf } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';

export interface BlobStoreHarness {
  /** A store over fresh storage. */
  create(): Promise<BlobStore>;
  /** A second instance over the same storage (a restart, or another replica). */
  reopen(store: BlobStore): Promise<BlobStore>;
  cleanup(): Promise<void>;
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const code = (c: string) => (e: unknown): boolean => e instanceof RegistryError && e.code === c;

export function blobStoreContract(driver: string, h: BlobStoreHarness): void {
  describe(`BlobStore contract: ${driver}`, () => {
    after(() => h.cleanup());

    test('chunked upload commits under its digest; reads and ranges return the bytes', async () => {
      const s = await h.create();
      const data = randomBytes(3 * 1024 * 1024 + 17);
      await s.createUpload('u1');
      let off = await s.appendUpload('u1', Readable.from([data.subarray(0, 1000)]), 0);
      assert.equal(off, 1000);
      off = await s.appendUpload('u1', Readable.from([data.subarray(1000)]), 1000);
      assert.equal(off, data.length);
      const digest = digestOf(data);
      assert.equal(await s.stat(digest), null);
      assert.equal(await s.commitUpload('u1', digest), data.length);
      assert.deepEqual(await s.stat(digest), { size: data.length });
      assert.ok((await collect(await s.read(digest))).equals(data));
      assert.ok((await collect(await s.read(digest, { start: 5, end: 9 }))).equals(data.subarray(5, 10)));
      if (s.sendTo) {
        for (const range of [undefined, { start: 0, end: 0 }, { start: 300_000, end: data.length - 1 }]) {
          const got: Buffer[] = [];
          const sink = new Writable({ write(chunk: Buffer, _enc, cb) { got.push(Buffer.from(chunk)); cb(); } });
          await s.sendTo(digest, sink, range);
          const want = range ? data.subarray(range.start, range.end + 1) : data;
          assert.ok(Buffer.concat(got).equals(want), `sendTo ${JSON.stringify(range)}`);
        }
      }
      assert.equal(await s.uploadSize('u1'), null);
      const listed: string[] = [];
      for await (const d of s.list()) listed.push(d);
      assert.ok(listed.includes(digest));
    });

    test('an out-of-order chunk is refused and changes nothing', async () => {
      const s = await h.create();
      await s.createUpload('u2');
      await s.appendUpload('u2', Readable.from([Buffer.from('abc')]), 0);
      await assert.rejects(s.appendUpload('u2', Readable.from([Buffer.from('xyz')]), 10), code('RANGE_INVALID'));
      assert.equal(await s.uploadSize('u2'), 3);
    });

    test('a wrong digest is refused; the blob is not visible and the upload can still complete', async () => {
      const s = await h.create();
      await s.createUpload('u3');
      await s.appendUpload('u3', Readable.from([Buffer.from('payload')]), 0);
      const wrong = digestOf('other');
      await assert.rejects(s.commitUpload('u3', wrong), code('DIGEST_INVALID'));
      assert.equal(await s.stat(wrong), null);
      assert.equal(await s.commitUpload('u3', digestOf('payload')), 7);
    });

    test('an upload survives a restart and resumes (the hash is rebuilt from stored bytes)', async () => {
      const s = await h.create();
      await s.createUpload('u4');
      await s.appendUpload('u4', Readable.from([Buffer.from('first-')]), 0);
      const s2 = await h.reopen(s);
      assert.equal(await s2.uploadSize('u4'), 6);
      await s2.appendUpload('u4', Readable.from([Buffer.from('second')]), 6);
      assert.equal(await s2.commitUpload('u4', digestOf('first-second')), 12);
    });

    test('an append over its limit is refused', async () => {
      const s = await h.create();
      await s.createUpload('u5');
      await assert.rejects(s.appendUpload('u5', Readable.from([Buffer.alloc(100)]), 0, 10), code('SIZE_INVALID'));
    });

    test('small puts, dedup, delete, and upload removal', async () => {
      const s = await h.create();
      const bytes = Buffer.from('{"x":1}');
      const digest = digestOf(bytes);
      await s.putSmall(digest, bytes);
      await s.putSmall(digest, bytes);
      assert.ok((await s.readSmall(digest))!.equals(bytes));
      await s.delete(digest);
      assert.equal(await s.readSmall(digest), null);
      await s.createUpload('u6');
      await s.deleteUpload('u6');
      assert.equal(await s.uploadSize('u6'), null);
    });
  });
}
