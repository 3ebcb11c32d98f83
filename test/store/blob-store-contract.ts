// The BlobStore contract: every driver runs this suite.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { BlobStore, StoredBlob } from '../../src/store/blobs/blob-store.js';
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
      let at = await s.createUpload('u1');
      assert.equal(at.offset, 0);
      at = await s.appendUpload('u1', Readable.from([data.subarray(0, 1000)]), at);
      assert.equal(at.offset, 1000);
      at = await s.appendUpload('u1', Readable.from([data.subarray(1000)]), at);
      assert.equal(at.offset, data.length);
      const digest = digestOf(data);
      assert.equal(await s.stat(digest), null);
      assert.equal(await s.commitUpload('u1', digest, at), data.length);
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
      // The caller removes the area once the blob is linked; then the upload is gone.
      await s.deleteUpload('u1');
      await assert.rejects(s.appendUpload('u1', Readable.from([Buffer.from('x')]), at), code('BLOB_UPLOAD_UNKNOWN'));
      const listed: StoredBlob[] = [];
      for await (const b of s.list()) listed.push(b);
      const mine = listed.find((b) => b.digest === digest);
      assert.ok(mine, 'the committed blob is listed');
      assert.equal(mine.size, data.length);
      assert.ok(Math.abs(mine.modifiedAt - Date.now()) < 10 * 60_000, `modifiedAt ${mine.modifiedAt} is about now`);
    });

    test('bytes past the recorded position (a refused chunk) are not part of the upload', async () => {
      const s = await h.create();
      const at0 = await s.createUpload('u2');
      const at3 = await s.appendUpload('u2', Readable.from([Buffer.from('abc')]), at0);
      // Written, then refused by the caller, who keeps the position at 3.
      await s.appendUpload('u2', Readable.from([Buffer.from('zzzzzzzz')]), at3);
      const at6 = await s.appendUpload('u2', Readable.from([Buffer.from('def')]), at3);
      assert.equal(at6.offset, 6);
      await s.appendUpload('u2', Readable.from([Buffer.from('tail')]), at6);
      assert.equal(await s.commitUpload('u2', digestOf('abcdef'), at6), 6);
      assert.ok((await s.readSmall(digestOf('abcdef')))!.equals(Buffer.from('abcdef')));
    });

    test('a wrong digest is refused; the blob is not visible and the upload can still complete', async () => {
      const s = await h.create();
      const at = await s.appendUpload('u3', Readable.from([Buffer.from('payload')]), await s.createUpload('u3'));
      const wrong = digestOf('other');
      await assert.rejects(s.commitUpload('u3', wrong, at), code('DIGEST_INVALID'));
      assert.equal(await s.stat(wrong), null);
      assert.equal(await s.commitUpload('u3', digestOf('payload'), at), 7);
    });

    test('an upload survives a restart and resumes from its recorded position (the hash is rebuilt from stored bytes)', async () => {
      const s = await h.create();
      const at = await s.appendUpload('u4', Readable.from([Buffer.from('first-')]), await s.createUpload('u4'));
      const s2 = await h.reopen(s);
      const end = await s2.appendUpload('u4', Readable.from([Buffer.from('second')]), at);
      assert.equal(await s2.commitUpload('u4', digestOf('first-second'), end), 12);
    });

    test('progress is reported as bytes land, up to the final position', async () => {
      const s = await h.create();
      const seen: number[] = [];
      const chunks = [Buffer.alloc(700_000, 1), Buffer.alloc(700_000, 2), Buffer.alloc(900_000, 3)];
      const end = await s.appendUpload('u7', Readable.from(chunks), await s.createUpload('u7'), { onProgress: (p) => { seen.push(p.offset); } });
      assert.equal(end.offset, 2_300_000);
      assert.ok(seen.length >= 1, 'at least one position reported');
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'positions only move forward');
      assert.equal(seen[seen.length - 1], end.offset);
      // A rejection from the listener fails the append.
      await assert.rejects(s.appendUpload('u7', Readable.from([Buffer.alloc(10)]), end, { onProgress: () => { throw new RegistryError('RANGE_INVALID'); } }), code('RANGE_INVALID'));
    });

    test('an append over its limit is refused', async () => {
      const s = await h.create();
      const at = await s.createUpload('u5');
      await assert.rejects(s.appendUpload('u5', Readable.from([Buffer.alloc(100)]), at, { maxBytes: 10 }), code('SIZE_INVALID'));
    });

    // A process may die after its commit made the blob but before the caller linked it: the client's retry,
    // on any process, commits again from the same recorded position.
    for (const [kind, size, chunks] of [['one chunk, no full part', 3 * 1024 * 1024 + 5, 1], ['several chunks, several parts', 17 * 1024 * 1024 + 9, 3]] as const) {
      test(`a commit repeated after one that completed (${kind}): the same blob where commits are repeatable; deleteUpload then removes the area`, async () => {
        const s = await h.create();
        const data = randomBytes(size);
        const digest = digestOf(data);
        let at = await s.createUpload('again');
        const step = Math.ceil(size / chunks);
        for (let o = 0; o < size; o += step) at = await s.appendUpload('again', Readable.from([data.subarray(o, o + step)]), at);
        assert.equal(at.offset, size);
        assert.equal(await s.commitUpload('again', digest, at), size);
        const ids = async (store: BlobStore): Promise<string[]> => { const out: string[] = []; for await (const id of store.listUploads()) out.push(id); return out; };
        // The retry comes to another process: it has no running hash, only the recorded position.
        const s2 = await h.reopen(s);
        if (s2.commitIsRepeatable) {
          assert.equal(await s2.commitUpload('again', digest, at), size, 'a repeat on another instance');
          assert.equal(await s2.commitUpload('again', digest, at), size, 'and again on the same one');
          assert.ok((await collect(await s2.read(digest))).equals(data), 'the blob is whole');
          assert.ok((await ids(s2)).includes('again'), 'the area stays until deleteUpload');
        } else {
          // The commit consumed the area (fs: a rename): a repeat finds no upload, and the blob stands.
          await assert.rejects(s2.commitUpload('again', digest, at), code('BLOB_UPLOAD_UNKNOWN'));
        }
        await s2.deleteUpload('again');
        await s2.deleteUpload('again');
        assert.ok(!(await ids(s2)).includes('again'), 'deleteUpload removes the area');
        await assert.rejects(s2.commitUpload('again', digest, at), code('BLOB_UPLOAD_UNKNOWN'), 'no commit without the area');
        assert.deepEqual(await s2.stat(digest), { size });
        assert.ok((await collect(await s2.read(digest))).equals(data), 'deleting the area leaves the blob whole');
      });
    }

    test('small puts, dedup, delete, and upload removal', async () => {
      const s = await h.create();
      const bytes = Buffer.from('{"x":1}');
      const digest = digestOf(bytes);
      await s.putSmall(digest, bytes);
      await s.putSmall(digest, bytes);
      assert.ok((await s.readSmall(digest))!.equals(bytes));
      await s.delete(digest);
      assert.equal(await s.readSmall(digest), null);
      // A missing blob fails when opened, before any response is under way, in a way the registry knows.
      await assert.rejects(s.read(digest), (e) => code('BLOB_UNKNOWN')(e) || (e as { code?: string }).code === 'ENOENT');
      const at = await s.createUpload('u6');
      const ids: string[] = [];
      for await (const id of s.listUploads()) ids.push(id);
      assert.ok(ids.includes('u6'));
      await s.deleteUpload('u6');
      await assert.rejects(s.appendUpload('u6', Readable.from([Buffer.from('x')]), at), code('BLOB_UPLOAD_UNKNOWN'));
    });
  });
}
