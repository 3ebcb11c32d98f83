// S3 blob store: blobs at <prefix>blobs/<alg>/<2 hex>/<hex>; an upload is an S3 multipart upload at
// <prefix>uploads/<id>/data plus, for the bytes after its last full part, a tail object
// <prefix>uploads/<id>/pending-<uuid> (a fresh name per write, so a refused or racing append never
// changes the tail the recorded state names). The state (upload id, parts, tail) goes back to the
// caller as driverState, so any process can continue any upload. A commit copies the upload into the
// blob key and leaves the upload's objects to deleteUpload, so that it can be repeated after a crash.
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, ListPartsCommand,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { randomUUID, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { RegistryError } from '../../oci/errors.js';
import { newHasher, parseDigest, type Algorithm } from '../../oci/digest.js';
import type { AppendOptions, BlobStat, BlobStore, ByteRange, StoredBlob, UploadPosition } from './blob-store.js';
import { createS3Client, isNoSuchUpload, isS3NotFound, type S3ConnectionOptions } from './s3-client.js';
import { S3Downloads, S3ObjectNotFound } from './s3-download.js';
import { copyObject, copySource, deletePrefix, hashObject, MAX_SINGLE_COPY, readObject } from './s3-objects.js';
import { decodeState, encodeState, type S3Part, type S3UploadState } from './s3-upload-state.js';

/** S3 refuses parts under 5 MiB (but the last). */
export const MIN_PART_SIZE = 5 << 20;
const DEFAULT_PART_SIZE = 8 << 20;
/** Tails kept in memory to prepend to the next chunk without reading them back (all uploads together). */
const TAIL_CACHE_BYTES = 64 << 20;
/** Presigned redirect URLs live this long: enough for a slow layer download to start. */
const REDIRECT_EXPIRY_S = 20 * 60;

export interface S3BlobStoreOptions extends S3ConnectionOptions {
  bucket: string;
  /** Key prefix inside the bucket ("" or e.g. "wharf/"). */
  prefix?: string;
  /** Answer blob GETs with a presigned URL (see redirectUrl). */
  redirect?: boolean;
  /** An existing client (tests count its requests); built from the connection options otherwise. */
  client?: S3Client;
  /** Size of each full part (at least 5 MiB); default 8 MiB (S3 allows 10,000 parts: blobs up to 80 GiB). */
  partSize?: number;
  /** Parts being sent at once per append; memory per append is about (this + 1) parts. Default 2. */
  partsInFlight?: number;
  /** Copies above this use UploadPartCopy (S3's limit for CopyObject is 5 GiB); tests lower it. */
  maxSingleCopy?: number;
  copyPartSize?: number;
}

interface HashState {
  algorithm: Algorithm;
  hash: Hash;
  size: number;
  /**
   * The driverState this process produced with these bytes. It names the tail object (a fresh name per
   * write) and the parts' ETags, so a position recorded by a racing append elsewhere never matches it.
   */
  state: string | null;
}

export class S3BlobStore implements BlobStore {
  /** A commit leaves the upload's objects in place (see commitUpload): it can be repeated. */
  readonly commitIsRepeatable = true;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly partSize: number;
  private readonly partsInFlight: number;
  private readonly copyLimits: { maxSingleCopy: number; copyPartSize: number };
  /** Running hashes of uploads appended by this process; a missing entry means "hash the stored bytes". */
  private readonly hashes = new Map<string, HashState>();
  /** Tails this process wrote, by upload id (a cache: the tail object is the truth). */
  private readonly tails = new Map<string, { key: string; bytes: Buffer }>();
  private tailBytes = 0;
  private readonly busy = new Set<string>();
  private readonly downloads: S3Downloads;

  constructor(private readonly opts: S3BlobStoreOptions) {
    this.client = opts.client ?? createS3Client(opts);
    this.bucket = opts.bucket;
    this.downloads = new S3Downloads(this.client, this.bucket);
    const p = opts.prefix ?? '';
    this.prefix = p === '' || p.endsWith('/') ? p : `${p}/`;
    this.partSize = Math.max(MIN_PART_SIZE, opts.partSize ?? DEFAULT_PART_SIZE);
    this.partsInFlight = Math.max(1, opts.partsInFlight ?? 2);
    this.copyLimits = { maxSingleCopy: opts.maxSingleCopy ?? MAX_SINGLE_COPY, copyPartSize: opts.copyPartSize ?? (512 << 20) };
  }

  static async open(opts: S3BlobStoreOptions): Promise<S3BlobStore> {
    const s = new S3BlobStore(opts);
    // Fail at start, with the store's own words, when the bucket is unreachable or the keys are wrong.
    try {
      await s.client.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: `${s.prefix}blobs/`, MaxKeys: 1 }));
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  private blobKey(digest: string): string {
    const d = parseDigest(digest);
    return `${this.prefix}blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
  }

  private uploadDir(id: string): string {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return `${this.prefix}uploads/${id}/`;
  }

  private dataKey(id: string): string {
    return `${this.uploadDir(id)}data`;
  }

  async stat(digest: string): Promise<BlobStat | null> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
      return { size: h.ContentLength ?? 0 };
    } catch (e) {
      if (isS3NotFound(e)) return null;
      throw e;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    // The body is the HTTP response itself: reading it at the client's pace is the backpressure.
    return this.downloads.open(this.blobKey(digest), range)
      .catch((e: unknown) => { throw e instanceof S3ObjectNotFound ? new RegistryError('BLOB_UNKNOWN') : e; });
  }

  async readSmall(digest: string): Promise<Buffer | null> {
    try {
      return await readObject(this.client, this.bucket, this.blobKey(digest));
    } catch (e) {
      if (isS3NotFound(e)) return null;
      throw e;
    }
  }

  async putSmall(digest: string, bytes: Uint8Array): Promise<void> {
    // A PutObject is atomic: readers see the old object, the new one, or none, never part of one.
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest), Body: bytes, ContentLength: bytes.length }));
  }

  async delete(digest: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
  }

  async *list(): AsyncIterable<StoredBlob> {
    const base = `${this.prefix}blobs/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const m = /^([a-z0-9]+)\/[0-9a-f]{2}\/([0-9a-f]+)$/.exec(o.Key!.slice(base.length));
        if (m) yield { digest: `${m[1]}:${m[2]}`, size: o.Size ?? 0, modifiedAt: o.LastModified?.getTime() ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** A presigned GET of the blob for clients to fetch from the store directly, or null when redirects are off. */
  async redirectUrl(digest: string): Promise<string | null> {
    if (!this.opts.redirect) return null;
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }), { expiresIn: REDIRECT_EXPIRY_S });
  }

  async createUpload(id: string): Promise<UploadPosition> {
    const r = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: this.dataKey(id) }));
    const driverState = encodeState({ uploadId: r.UploadId!, parts: [], pendingKey: null, pendingBytes: 0 });
    this.hashes.set(id, { algorithm: 'sha256', hash: newHasher('sha256'), size: 0, state: driverState });
    return { offset: 0, driverState };
  }

  /** BLOB_UPLOAD_UNKNOWN when the multipart upload is gone (committed or cancelled meanwhile). */
  private async assertAlive(id: string, s: S3UploadState): Promise<void> {
    try {
      await this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: this.dataKey(id), UploadId: s.uploadId, MaxParts: 1 }));
    } catch (e) {
      if (isNoSuchUpload(e) || isS3NotFound(e)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      throw e;
    }
  }

  async appendUpload(id: string, body: Readable, from: UploadPosition, opts: AppendOptions = {}): Promise<UploadPosition> {
    const dataKey = this.dataKey(id);
    const state = decodeState(from.driverState, from.offset);
    const maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
    if (this.busy.has(id)) throw new RegistryError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload');
    this.busy.add(id);
    try {
      await this.assertAlive(id, state);
      // The running hash counts only when it covers exactly the bytes of the recorded position.
      let hs = this.hashes.get(id);
      if (hs && !(hs.size === from.offset && hs.state === from.driverState)) hs = undefined;
      this.hashes.delete(id); // restored below only if every byte was both stored and hashed

      // Where the recorded state stands; it moves as parts land, and only by whole parts or a new tail.
      const parts: S3Part[] = [...state.parts];
      let base = parts.reduce((a, p) => a + p.size, 0);
      const stateAt = (pendingKey: string | null, pendingBytes: number): UploadPosition =>
        ({ offset: base + pendingBytes, driverState: encodeState({ uploadId: state.uploadId, parts: [...parts], pendingKey, pendingBytes }) });

      // The part being filled, starting with the recorded tail (from memory when this process wrote it).
      // Each byte is copied once, into it; a full part is sent as it is and a fresh buffer takes over.
      let part = Buffer.allocUnsafe(this.partSize);
      let filled = 0;
      if (state.pendingKey && state.pendingBytes > 0) {
        const tail = await this.tailBytesOf(id, state.pendingKey, state.pendingBytes);
        filled = tail.copy(part, 0);
      }

      // Parts being sent, oldest first; at most partsInFlight at once (the body waits: backpressure).
      const inflight: { size: number; done: Promise<string> }[] = [];
      const settleOldest = async (): Promise<void> => {
        const p = inflight[0]!;
        const etag = await p.done;
        inflight.shift();
        parts.push({ n: parts.length + 1, etag, size: p.size });
        base += p.size;
        await opts.onProgress?.(stateAt(null, 0));
      };
      const sendPart = (bytes: Buffer): void => {
        const n = parts.length + inflight.length + 1;
        const done = this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: dataKey, UploadId: state.uploadId, PartNumber: n, Body: bytes, ContentLength: bytes.length }))
          .then((r) => r.ETag ?? '', (e: unknown) => { throw isNoSuchUpload(e) ? new RegistryError('BLOB_UPLOAD_UNKNOWN') : e; });
        done.catch(() => undefined); // awaited in order below; never an unhandled rejection meanwhile
        inflight.push({ size: bytes.length, done });
      };

      let received = 0;
      // A body cut off mid-way (the client hung up) is not the end of a streamed upload: with a
      // listener for positions, what arrived is kept (parts, then a tail) and reported before the error.
      let cut: { error: unknown } | null = null;
      const chunks = (async function* () {
        try {
          // Not destroyed on a refusal: the server drains the rest so the connection stays usable.
          for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) yield chunk;
        } catch (error) {
          cut = { error };
        }
      })();
      try {
        for await (const chunk of chunks) {
          if (received + chunk.length > maxBytes) {
            throw new RegistryError('SIZE_INVALID', `upload exceeds the limit of ${maxBytes} bytes`, { status: 413 });
          }
          hs?.hash.update(chunk);
          received += chunk.length;
          let used = 0;
          while (used < chunk.length) {
            const n = chunk.copy(part, filled, used);
            used += n;
            filled += n;
            if (filled === this.partSize) {
              if (inflight.length >= this.partsInFlight) await settleOldest();
              sendPart(part);
              part = Buffer.allocUnsafe(this.partSize);
              filled = 0;
            }
          }
        }
      } finally {
        // Whatever happened, no part is left running behind the caller's back.
        await Promise.allSettled(inflight.map((p) => p.done));
      }
      const failed = cut as { error: unknown } | null;
      if (failed && !opts.onProgress) throw failed.error;
      while (inflight.length > 0) await settleOldest();
      if (received === 0) {
        if (hs) this.hashes.set(id, hs);
        if (failed) throw failed.error;
        return from;
      }
      let end: UploadPosition;
      if (filled > 0) {
        // A copy of just the tail: the part-sized buffer is not kept alive by the cache.
        const tail = Buffer.from(part.subarray(0, filled));
        const key = `${this.uploadDir(id)}pending-${randomUUID()}`;
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: tail, ContentLength: tail.length }));
        this.rememberTail(id, key, tail);
        end = stateAt(key, tail.length);
      } else {
        end = stateAt(null, 0);
      }
      await opts.onProgress?.(end);
      if (hs) {
        hs.size = end.offset;
        hs.state = end.driverState;
        this.hashes.set(id, hs);
      }
      if (failed) throw failed.error;
      return end;
    } finally {
      this.busy.delete(id);
    }
  }

  private async tailBytesOf(id: string, key: string, length: number): Promise<Buffer> {
    const cached = this.tails.get(id);
    if (cached && cached.key === key && cached.bytes.length === length) return cached.bytes;
    return readObject(this.client, this.bucket, key, length);
  }

  private rememberTail(id: string, key: string, bytes: Buffer): void {
    this.forgetTail(id);
    if (bytes.length > TAIL_CACHE_BYTES) return;
    // Oldest first out when over budget: a miss only costs reading the tail object back.
    for (const [other, t] of this.tails) {
      if (this.tailBytes + bytes.length <= TAIL_CACHE_BYTES) break;
      this.tails.delete(other);
      this.tailBytes -= t.bytes.length;
    }
    this.tails.set(id, { key, bytes });
    this.tailBytes += bytes.length;
  }

  private forgetTail(id: string): void {
    const t = this.tails.get(id);
    if (!t) return;
    this.tails.delete(id);
    this.tailBytes -= t.bytes.length;
  }

  async commitUpload(id: string, digest: string, at: UploadPosition): Promise<number> {
    const want = parseDigest(digest);
    const s = decodeState(at.driverState, at.offset);
    const dataKey = this.dataKey(id);
    const hs = this.hashes.get(id);
    // The common path: this process hashed every byte as it arrived, so nothing is read back.
    const known = hs && hs.size === at.offset && hs.state === at.driverState && hs.algorithm === want.algorithm ? hs.hash.copy().digest('hex') : null;
    const mismatch = (actual: string): RegistryError =>
      new RegistryError('DIGEST_INVALID', `content digest ${want.algorithm}:${actual} does not match ${digest}`);
    if (known !== null && known !== want.hex) throw mismatch(known);

    if (s.parts.length === 0) {
      // No full part: the blob is the tail (or nothing), copied into place by the store itself.
      await this.assertAlive(id, s);
      if (known === null) {
        const actual = await hashObject(this.client, this.bucket, s.pendingKey ?? '', want.algorithm, s.pendingBytes);
        if (actual !== want.hex) throw mismatch(actual);
      }
      if (s.pendingBytes === 0) {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest), Body: new Uint8Array(0), ContentLength: 0 }));
      } else {
        await copyObject(this.client, this.bucket, s.pendingKey!, this.blobKey(digest), s.pendingBytes, this.copyLimits);
      }
    } else {
      await this.completeData(id, s, at.offset);
      if (known === null) {
        // Another process wrote some of it: the completed upload is hashed before it becomes the blob.
        const actual = await hashObject(this.client, this.bucket, dataKey, want.algorithm);
        if (actual !== want.hex) throw mismatch(actual);
      }
      await copyObject(this.client, this.bucket, dataKey, this.blobKey(digest), at.offset, this.copyLimits);
    }
    // The upload's objects stay until the caller, the blob linked, calls deleteUpload: a commit cut short
    // after this point by a crash is repeated from the same position (the tail and the multipart upload
    // or its data object are all still there).
    return at.offset;
  }

  /** Completes the multipart upload into the data object (the tail becomes the last part, copied server-side). */
  private async completeData(id: string, s: S3UploadState, size: number): Promise<void> {
    const dataKey = this.dataKey(id);
    const parts = s.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag }));
    try {
      if (s.pendingKey && s.pendingBytes > 0) {
        const n = s.parts.length + 1;
        const r = await this.client.send(new UploadPartCopyCommand({
          Bucket: this.bucket, Key: dataKey, UploadId: s.uploadId, PartNumber: n,
          CopySource: copySource(this.bucket, s.pendingKey), CopySourceRange: `bytes=0-${s.pendingBytes - 1}`,
        }));
        parts.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag ?? '' });
      }
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: dataKey, UploadId: s.uploadId, MultipartUpload: { Parts: parts } }));
    } catch (e) {
      // Perhaps completed by an earlier commit (whose digest was refused, or whose link a crash
      // prevented): its data object is the upload now, when it holds exactly the recorded bytes' count
      // (the caller hashes it unless this process hashed every byte of this very position). Stores
      // answer a repeated completion differently: AWS with NoSuchUpload; RGW with a success when the
      // parts are the same, else with an InternalError ("already in progress"), also once the data
      // object is gone.
      const size0 = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: dataKey }))
        .then((h) => h.ContentLength, (e2: unknown) => { if (isS3NotFound(e2)) return undefined; throw e2; });
      if (size0 === size) return;
      // Completed from another position, or the upload (or its tail) removed meanwhile.
      if (size0 !== undefined || isNoSuchUpload(e) || isS3NotFound(e)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      await this.assertAlive(id, s);
      throw e; // the multipart upload is still there: a failure to retry (a completion under way elsewhere)
    }
  }

  async deleteUpload(id: string): Promise<void> {
    const dir = this.uploadDir(id);
    this.hashes.delete(id);
    this.forgetTail(id);
    for await (const u of this.multipartUploads(dir)) {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.key, UploadId: u.uploadId }))
        .catch((e: unknown) => { if (!isNoSuchUpload(e)) throw e; });
    }
    await deletePrefix(this.client, this.bucket, dir);
  }

  async *listUploads(): AsyncIterable<string> {
    const base = `${this.prefix}uploads/`;
    const seen = new Set<string>();
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token }));
      for (const p of page.CommonPrefixes ?? []) {
        const id = p.Prefix!.slice(base.length, -1);
        if (!seen.has(id)) { seen.add(id); yield id; }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    for await (const u of this.multipartUploads(base)) {
      const id = u.key.slice(base.length).split('/')[0]!;
      if (id && !seen.has(id)) { seen.add(id); yield id; }
    }
  }

  private async *multipartUploads(prefix: string): AsyncIterable<{ key: string; uploadId: string }> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker }));
      for (const u of page.Uploads ?? []) yield { key: u.Key!, uploadId: u.UploadId! };
      if (!page.IsTruncated) return;
      keyMarker = page.NextKeyMarker;
      idMarker = page.NextUploadIdMarker;
    }
  }

  async close(): Promise<void> {
    this.hashes.clear();
    this.tails.clear();
    this.tailBytes = 0;
    await this.downloads.close();
    if (!this.opts.client) this.client.destroy();
  }
}
