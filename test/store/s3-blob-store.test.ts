// The BlobStore contract and the S3 driver's own promises, against a real S3 endpoint (Ceph RGW under `npm test`).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/store/blobs/s3-blob-store.js';
import type { BlobStore, UploadPosition } from '../../src/store/blobs/blob-store.js';
import { digestOf } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';
import { blobStoreContract } from './blob-store-contract.js';
import { openBlobStore } from '../../src/store/blobs/factory.js';
import { loadConfig } from '../../src/config/config.js';
import { createTestBucket, listKeys, s3TestClient, s3TestEndpoint } from '../helpers/s3.js';

const MiB = 1 << 20;
const endpoint = s3TestEndpoint();
const admin = s3TestClient();
let bucket: { name: string; remove(): Promise<void> } | undefined;
const bucketName = async (): Promise<string> => (bucket ??= await createTestBucket(admin)).name;

function storeOn(prefix: string, opts: Partial<S3BlobStoreOptions> = {}): Promise<S3BlobStore> {
  return bucketName().then((name) => S3BlobStore.open({ ...endpoint, forcePathStyle: true, bucket: name, prefix, ...opts }));
}

const prefixOf = new WeakMap<BlobStore, string>();
blobStoreContract('s3', {
  async create() {
    const prefix = `contract-${randomBytes(4).toString('hex')}/`;
    const s = await storeOn(prefix);
    prefixOf.set(s, prefix);
    return s;
  },
  async reopen(store) {
    const prefix = prefixOf.get(store)!;
    await store.close();
    const s = await storeOn(prefix);
    prefixOf.set(s, prefix);
    return s;
  },
  async cleanup() { /* the bucket goes in the after() below */ },
});

/** Counts the S3 commands a client sends, by name (e.g. GetObjectCommand). */
function countCommands(client: S3Client): Map<string, number> {
  const counts = new Map<string, number>();
  client.middlewareStack.add((next, context) => async (args) => {
    const name = context.commandName ?? '?';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return next(args);
  }, { step: 'initialize', name: 'wharfTestCounter' });
  return counts;
}

async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Appends `data` in chunks of the given sizes (cycled), each a separate call as separate PATCH requests are. */
async function appendInChunks(s: BlobStore, id: string, data: Buffer, sizes: number[], at: UploadPosition): Promise<UploadPosition> {
  let i = 0;
  while (at.offset < data.length) {
    const n = sizes[i++ % sizes.length]!;
    at = await s.appendUpload(id, Readable.from([data.subarray(at.offset, at.offset + n)]), at);
  }
  return at;
}

const state = (p: UploadPosition): { parts: { n: number; size: number }[]; pendingBytes: number } => JSON.parse(p.driverState!) as never;

describe('S3 blob store', () => {
  after(async () => { await bucket?.remove(); admin.destroy(); });

  test('a multi-part upload (more than 2 parts, streamed) commits without reading a byte back, keys as documented', async () => {
    const prefix = `mp-${randomBytes(4).toString('hex')}/`;
    const s = await storeOn(prefix, { partSize: 5 * MiB });
    const gets = countCommands(s.client);
    const data = randomBytes(17 * MiB + 123);
    let at = await s.createUpload('big');
    const seen: number[] = [];
    // Many small network-sized chunks in one streamed body, as a PATCH without Content-Range brings them.
    const pieces: Buffer[] = [];
    for (let o = 0; o < data.length; o += 64 * 1024) pieces.push(data.subarray(o, o + 64 * 1024));
    at = await s.appendUpload('big', Readable.from(pieces), at, { onProgress: (p) => { seen.push(p.offset); } });
    assert.equal(at.offset, data.length);
    assert.deepEqual(state(at).parts.map((p) => p.size), [5 * MiB, 5 * MiB, 5 * MiB]);
    assert.equal(state(at).pendingBytes, 2 * MiB + 123);
    assert.deepEqual(seen, [5 * MiB, 10 * MiB, 15 * MiB, data.length], 'a resumable position after each part, then the end');
    const digest = digestOf(data);
    const before = new Map(gets);
    assert.equal(await s.commitUpload('big', digest, at), data.length);
    assert.equal(gets.get('GetObjectCommand') ?? 0, 0, 'the common path never reads the upload back');
    const sent = [...gets].map(([name, n]) => [name, n - (before.get(name) ?? 0)] as const).filter(([, n]) => n > 0);
    assert.deepEqual(Object.fromEntries(sent), { UploadPartCopyCommand: 1, CompleteMultipartUploadCommand: 1, CopyObjectCommand: 1 },
      'the commit completes and copies, and leaves the removal of the upload to deleteUpload');
    assert.deepEqual(await s.stat(digest), { size: data.length });
    assert.ok((await collect(await s.read(digest))).equals(data));
    assert.ok((await collect(await s.read(digest, { start: 5 * MiB - 2, end: 5 * MiB + 1 }))).equals(data.subarray(5 * MiB - 2, 5 * MiB + 2)));
    const hex = digest.slice('sha256:'.length);
    await s.deleteUpload('big'); // the caller's part, once the blob is linked
    assert.deepEqual(await listKeys(s.client, await bucketName(), prefix), [`${prefix}blobs/sha256/${hex.slice(0, 2)}/${hex}`], 'only the blob is left');
    await s.close();
  });

  test('chunks smaller than a part, appended repeatedly, are held in a tail object and become parts; the tail cache spares reads', async () => {
    const s = await storeOn(`small-${randomBytes(4).toString('hex')}/`, { partSize: 5 * MiB });
    const counts = countCommands(s.client);
    const data = randomBytes(12 * MiB + 5);
    let at = await s.createUpload('small');
    at = await appendInChunks(s, 'small', data, [1 * MiB + 3, 700 * 1024], at);
    assert.equal(at.offset, data.length);
    assert.deepEqual(state(at).parts.map((p) => p.size), [5 * MiB, 5 * MiB]);
    assert.equal(state(at).pendingBytes, 2 * MiB + 5);
    await s.commitUpload('small', digestOf(data), at);
    assert.equal(counts.get('GetObjectCommand') ?? 0, 0, 'held tails came from memory, and commit verified the running hash');
    assert.ok((await collect(await s.read(digestOf(data)))).equals(data));
    await s.close();
  });

  test('a refused chunk (bytes past the recorded position) is dropped, even one that had filled parts', async () => {
    const s = await storeOn(`refused-${randomBytes(4).toString('hex')}/`, { partSize: 5 * MiB });
    const good = randomBytes(11 * MiB);
    let at = await s.createUpload('r');
    at = await s.appendUpload('r', Readable.from([good.subarray(0, 3 * MiB)]), at);
    // Written (two parts' worth: parts 1 and 2 are sent), then refused by the caller, who keeps `at`.
    await s.appendUpload('r', Readable.from([randomBytes(9 * MiB)]), at);
    at = await s.appendUpload('r', Readable.from([good.subarray(3 * MiB)]), at);
    assert.equal(at.offset, good.length);
    assert.equal(await s.commitUpload('r', digestOf(good), at), good.length);
    assert.ok((await collect(await s.read(digestOf(good)))).equals(good));
    await s.close();
  });

  test('a second driver instance continues from the recorded position alone; its commit takes the staging path and verifies', async () => {
    const prefix = `two-${randomBytes(4).toString('hex')}/`;
    const a = await storeOn(prefix, { partSize: 5 * MiB });
    const b = await storeOn(prefix, { partSize: 5 * MiB });
    const reads = countCommands(b.client);
    const data = randomBytes(13 * MiB + 77);
    let at = await a.createUpload('x');
    at = await a.appendUpload('x', Readable.from([data.subarray(0, 6 * MiB)]), at); // a part, and a tail of 1 MiB
    at = await b.appendUpload('x', Readable.from([data.subarray(6 * MiB, 7 * MiB)]), at); // b reads a's tail back
    at = await a.appendUpload('x', Readable.from([data.subarray(7 * MiB)]), at); // a's hash no longer covers it
    // A wrong digest is refused on this path too, and the upload can still complete.
    await assert.rejects(a.commitUpload('x', digestOf('nope'), at), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID');
    assert.equal(await b.stat(digestOf('nope')), null);
    assert.equal(await b.commitUpload('x', digestOf(data), at), data.length);
    assert.ok((reads.get('GetObjectCommand') ?? 0) >= 2, 'b read the tail and hashed the staged upload');
    assert.ok((await collect(await a.read(digestOf(data)))).equals(data));
    await a.close();
    await b.close();
  });

  test('a streamed body cut off mid-way keeps what arrived (parts and a tail) and reports it before failing; a chunk with a range keeps nothing', async () => {
    const s = await storeOn(`cut-${randomBytes(4).toString('hex')}/`, { partSize: 5 * MiB });
    const data = randomBytes(9 * MiB);
    const sent = 6 * MiB + 100;
    const cutBody = (bytes: Buffer): Readable => Readable.from((async function* () {
      yield bytes.subarray(0, 4 * MiB);
      yield bytes.subarray(4 * MiB, sent);
      throw new Error('client hung up');
    })());
    const at0 = await s.createUpload('cut');
    // With a range (no listener), nothing is kept: the caller records nothing.
    await assert.rejects(s.appendUpload('cut', cutBody(data), at0), /client hung up/);
    let landed: UploadPosition | null = null;
    await assert.rejects(s.appendUpload('cut', cutBody(data), at0, { onProgress: (p) => { landed = p; } }), /client hung up/);
    const kept = landed as UploadPosition | null;
    assert.ok(kept);
    assert.equal(kept.offset, sent, 'every byte that arrived is kept');
    assert.equal(state(kept).pendingBytes, sent - 5 * MiB);
    const end = await s.appendUpload('cut', Readable.from([data.subarray(sent)]), kept);
    assert.equal(await s.commitUpload('cut', digestOf(data), end), data.length);
    assert.ok((await collect(await s.read(digestOf(data)))).equals(data));
    await s.close();
  });

  test('two appends racing from one position: the running hash of the one not recorded never vouches for the recorded bytes', async () => {
    const prefix = `race-${randomBytes(4).toString('hex')}/`;
    const a = await storeOn(prefix);
    const b = await storeOn(prefix);
    const at0 = await a.createUpload('race');
    await a.appendUpload('race', Readable.from([Buffer.from('AAAA')]), at0); // written, but the caller records b's
    const recorded = await b.appendUpload('race', Readable.from([Buffer.from('BBBB')]), at0);
    await assert.rejects(a.commitUpload('race', digestOf('AAAA'), recorded), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID');
    assert.equal(await a.stat(digestOf('AAAA')), null);
    assert.equal(await a.commitUpload('race', digestOf('BBBB'), recorded), 4);
    assert.ok((await a.readSmall(digestOf('BBBB')))!.equals(Buffer.from('BBBB')));
    await a.close();
    await b.close();
  });

  test('a commit by another instance of an upload with no full part hashes the tail; a zero-length blob commits', async () => {
    const prefix = `tail-${randomBytes(4).toString('hex')}/`;
    const a = await storeOn(prefix);
    const b = await storeOn(prefix);
    let at = await a.createUpload('t');
    at = await a.appendUpload('t', Readable.from([Buffer.from('tail only')]), at);
    await assert.rejects(b.commitUpload('t', digestOf('tail onlx'), at), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID');
    assert.equal(await b.commitUpload('t', digestOf('tail only'), at), 9);
    const z = await a.createUpload('z');
    assert.equal(await b.commitUpload('z', digestOf(''), z), 0);
    assert.deepEqual(await a.stat(digestOf('')), { size: 0 });
    await a.close();
    await b.close();
  });

  test('a commit cut short at any step is repeated from the same position, by another instance', async () => {
    const prefix = `crash-${randomBytes(4).toString('hex')}/`;
    const a = await storeOn(prefix, { partSize: 5 * MiB });
    const b = await storeOn(prefix, { partSize: 5 * MiB });
    const data = randomBytes(11 * MiB + 3);
    const digest = digestOf(data);
    let at = await a.createUpload('k');
    at = await appendInChunks(a, 'k', data, [6 * MiB], at);
    assert.deepEqual(state(at).parts.map((p) => p.size), [5 * MiB, 5 * MiB]);
    // Died after the multipart upload was completed, before the copy into the blob key: the blob is absent.
    await a.commitUpload('k', digest, at);
    await a.delete(digest);
    assert.equal(await b.stat(digest), null);
    const reads = countCommands(b.client);
    assert.equal(await b.commitUpload('k', digest, at), data.length);
    assert.ok((reads.get('GetObjectCommand') ?? 0) >= 1, 'b hashed the completed data object before copying it');
    assert.ok((await collect(await b.read(digest))).equals(data));
    // A data object of another size is not this position's upload: refused, never copied.
    const shorter = { offset: 5 * MiB, driverState: JSON.stringify({ ...JSON.parse(at.driverState!), parts: [state(at).parts[0]], pendingKey: null, pendingBytes: 0 }) };
    await assert.rejects(b.commitUpload('k', digestOf(data.subarray(0, 5 * MiB)), shorter), (e: unknown) => e instanceof RegistryError && e.code === 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await b.stat(digestOf(data.subarray(0, 5 * MiB))), null);
    // A wrong digest on a repeat is still refused.
    await assert.rejects(b.commitUpload('k', digestOf('nope'), at), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID');
    await b.deleteUpload('k');
    assert.deepEqual(await listKeys(b.client, await bucketName(), `${prefix}uploads/`), []);
    await a.close();
    await b.close();
  });

  test('copies above the single-copy limit go by UploadPartCopy', async () => {
    const s = await storeOn(`copy-${randomBytes(4).toString('hex')}/`, { partSize: 5 * MiB, maxSingleCopy: 6 * MiB, copyPartSize: 5 * MiB });
    const counts = countCommands(s.client);
    const data = randomBytes(12 * MiB);
    const at = await s.appendUpload('c', Readable.from([data]), await s.createUpload('c'));
    await s.commitUpload('c', digestOf(data), at);
    assert.ok((counts.get('UploadPartCopyCommand') ?? 0) >= 3, 'the tail part and the copy parts');
    assert.equal(createHash('sha256').update(await collect(await s.read(digestOf(data)))).digest('hex'), digestOf(data).slice(7));
    await s.close();
  });

  test('abort: deleteUpload removes the multipart upload and the held tail; listUploads forgets it', async () => {
    const prefix = `abort-${randomBytes(4).toString('hex')}/`;
    const s = await storeOn(prefix, { partSize: 5 * MiB });
    let at = await s.createUpload('gone');
    at = await s.appendUpload('gone', Readable.from([randomBytes(6 * MiB)]), at);
    const ids = async (): Promise<string[]> => { const out: string[] = []; for await (const id of s.listUploads()) out.push(id); return out; };
    assert.deepEqual(await ids(), ['gone']);
    await s.deleteUpload('gone');
    assert.deepEqual(await ids(), []);
    assert.deepEqual(await listKeys(s.client, await bucketName(), prefix), []);
    await assert.rejects(s.appendUpload('gone', Readable.from([Buffer.from('x')]), at), (e: unknown) => e instanceof RegistryError && e.code === 'BLOB_UPLOAD_UNKNOWN');
    await s.close();
  });

  test('the factory builds the s3 driver from the configuration; a missing bucket fails at open', async () => {
    const env = { WHARF_STORAGE_DRIVER: 's3', WHARF_STORAGE_S3_ENDPOINT: endpoint.endpoint, WHARF_STORAGE_S3_REGION: endpoint.region,
      WHARF_STORAGE_S3_ACCESS_KEY_ID: endpoint.accessKeyId, WHARF_STORAGE_S3_SECRET_ACCESS_KEY: endpoint.secretAccessKey, WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true' };
    const store = await openBlobStore({ dataDir: '/nonexistent', storage: loadConfig({ env: { ...env, WHARF_STORAGE_S3_BUCKET: await bucketName() } }).storage });
    assert.ok(store instanceof S3BlobStore);
    await store.close();
    await assert.rejects(openBlobStore({ dataDir: '/nonexistent', storage: loadConfig({ env: { ...env, WHARF_STORAGE_S3_BUCKET: 'wharf-no-such-bucket' } }).storage }), /NoSuchBucket|not exist/i);
  });

  test('redirectUrl: null unless enabled; a presigned GET that honours Range', async () => {
    const prefix = `redir-${randomBytes(4).toString('hex')}/`;
    const plain = await storeOn(prefix);
    const s = await storeOn(prefix, { redirect: true });
    const bytes = Buffer.from('0123456789');
    await s.putSmall(digestOf(bytes), bytes);
    assert.equal(await plain.redirectUrl(digestOf(bytes)), null);
    const url = await s.redirectUrl(digestOf(bytes));
    assert.ok(url && url.startsWith(endpoint.endpoint) && url.includes('X-Amz-Signature='));
    const res = await fetch(url, { headers: { Range: 'bytes=2-4' } });
    assert.equal(res.status, 206);
    assert.equal(await res.text(), '234');
    await plain.close();
    await s.close();
  });
});

