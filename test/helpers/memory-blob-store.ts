// An in-memory BlobStore for unit tests of registry/ (it runs the BlobStore contract too).
// Test-only: it holds blobs in memory, which no real driver may do.
import { Readable, type Writable } from 'node:stream';
import { RegistryError } from '../../src/oci/errors.js';
import { newHasher, parseDigest } from '../../src/oci/digest.js';
import type { AppendOptions, BlobStat, BlobStore, ByteRange, StoredBlob, UploadPosition } from '../../src/store/blobs/blob-store.js';
import { systemClock, type Clock } from '../../src/config/clock.js';

/** Blobs and uploads that outlive one store instance (a "restart" reopens over the same contents). */
export class MemoryBlobData {
  readonly blobs = new Map<string, Buffer>();
  /** When each blob was stored (the store's clock). */
  readonly storedAt = new Map<string, number>();
  readonly uploads = new Map<string, Buffer>();
}

export class MemoryBlobStore implements BlobStore {
  /** Like S3: a commit leaves the upload in place for deleteUpload, so it can be repeated. */
  readonly commitIsRepeatable = true;

  constructor(readonly data = new MemoryBlobData(), private readonly clock: Clock = systemClock) {}

  async stat(digest: string): Promise<BlobStat | null> {
    const b = this.data.blobs.get(digest);
    return b ? { size: b.length } : null;
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const b = this.data.blobs.get(digest);
    if (!b) throw Object.assign(new Error(`no blob ${digest}`), { code: 'ENOENT' });
    return Readable.from([range ? b.subarray(range.start, range.end + 1) : b]);
  }

  async sendTo(digest: string, out: Writable, range?: ByteRange): Promise<void> {
    const b = this.data.blobs.get(digest);
    if (!b) throw new Error(`no blob ${digest}`);
    await new Promise<void>((resolve, reject) => out.write(range ? b.subarray(range.start, range.end + 1) : b, (e) => (e ? reject(e) : resolve())));
  }

  async readSmall(digest: string): Promise<Buffer | null> {
    return this.data.blobs.get(digest) ?? null;
  }

  async putSmall(digest: string, bytes: Uint8Array): Promise<void> {
    if (!this.data.blobs.has(digest)) {
      this.data.blobs.set(digest, Buffer.from(bytes));
      this.data.storedAt.set(digest, this.clock.now());
    }
  }

  async delete(digest: string): Promise<void> {
    this.data.blobs.delete(digest);
    this.data.storedAt.delete(digest);
  }

  async *list(): AsyncIterable<StoredBlob> {
    for (const [digest, b] of [...this.data.blobs]) yield { digest, size: b.length, modifiedAt: this.data.storedAt.get(digest) ?? 0 };
  }

  async createUpload(id: string): Promise<UploadPosition> {
    if (this.data.uploads.has(id)) throw new Error(`upload ${id} exists`);
    this.data.uploads.set(id, Buffer.alloc(0));
    return { offset: 0, driverState: null };
  }

  async appendUpload(id: string, body: Readable, from: UploadPosition, opts: AppendOptions = {}): Promise<UploadPosition> {
    const held = this.bytesOf(id, from.offset);
    const maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
    const parts: Buffer[] = [held];
    let received = 0;
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (received + chunk.length > maxBytes) {
        throw new RegistryError('SIZE_INVALID', `upload exceeds the limit of ${maxBytes} bytes`, { status: 413 });
      }
      parts.push(Buffer.from(chunk));
      received += chunk.length;
      // Each chunk "lands" at once, as a write would.
      this.data.uploads.set(id, Buffer.concat(parts));
      await opts.onProgress?.({ offset: from.offset + received, driverState: null });
    }
    return { offset: from.offset + received, driverState: null };
  }

  async commitUpload(id: string, digest: string, at: UploadPosition): Promise<number> {
    const want = parseDigest(digest);
    const bytes = this.bytesOf(id, at.offset);
    const actual = newHasher(want.algorithm).update(bytes).digest('hex');
    if (actual !== want.hex) throw new RegistryError('DIGEST_INVALID', `content digest ${want.algorithm}:${actual} does not match ${digest}`);
    this.data.blobs.set(digest, Buffer.from(bytes));
    this.data.storedAt.set(digest, this.clock.now());
    return bytes.length;
  }

  async deleteUpload(id: string): Promise<void> {
    this.data.uploads.delete(id);
  }

  async *listUploads(): AsyncIterable<string> {
    yield* [...this.data.uploads.keys()];
  }

  async close(): Promise<void> {}

  /** The upload's bytes below `offset`; what lies past it is not part of the upload. */
  private bytesOf(id: string, offset: number): Buffer {
    const b = this.data.uploads.get(id);
    if (!b) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    if (b.length < offset) throw new RegistryError('BLOB_UPLOAD_INVALID', `upload holds ${b.length} bytes, ${offset} were recorded`);
    return b.subarray(0, offset);
  }
}
