// Blob rules: uploads (monolithic, chunked, streamed, resumable), cross-repository mount, reads, deletes.
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../oci/errors.js';
import { parseDigest, tryParseDigest } from '../oci/digest.js';
import { isValidName } from '../oci/names.js';
import type { ByteRange } from '../store/blobs/blob-store.js';
import type { RegistryContext } from './context.js';

export interface BlobInfo {
  digest: string;
  size: number;
}

export class BlobService {
  constructor(private readonly ctx: RegistryContext) {}

  async startUpload(repository: string): Promise<string> {
    const repoId = await this.ctx.writableRepo(repository);
    const id = randomUUID();
    // Record first: an upload file with no record is an orphan the sweeper removes.
    await this.ctx.meta.createUpload(id, repoId, Date.now());
    await this.ctx.blobs.createUpload(id);
    return id;
  }

  /** The upload's current size; BLOB_UPLOAD_UNKNOWN when it is not this repository's. */
  async uploadOffset(repository: string, id: string): Promise<number> {
    await this.ownUpload(repository, id);
    const size = await this.ctx.blobs.uploadSize(id);
    if (size === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return size;
  }

  /**
   * Appends a chunk. With `range` the chunk must start where the upload ends (else RANGE_INVALID);
   * without it the body is appended (streamed upload). `length` is the declared body length, when known.
   */
  async append(repository: string, id: string, body: Readable, range: ByteRange | null, length: number | null): Promise<number> {
    await this.ownUpload(repository, id);
    const offset = await this.ctx.blobs.uploadSize(id);
    if (offset === null) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    if (range) {
      if (range.start !== offset) {
        throw new RegistryError('RANGE_INVALID', `chunk starts at ${range.start}, upload is at ${offset}`);
      }
      if (length !== null && length !== range.end - range.start + 1) {
        throw new RegistryError('SIZE_INVALID', 'Content-Length does not match Content-Range');
      }
    }
    const limit = range ? range.end - range.start + 1 : (length ?? undefined);
    const size = await this.ctx.blobs.appendUpload(id, body, offset, limit);
    const wanted = limit === undefined ? null : offset + limit;
    await this.ctx.meta.touchUpload(id, Date.now());
    if (wanted !== null && size !== wanted) throw new RegistryError('SIZE_INVALID', 'body shorter than declared');
    return size;
  }

  /** Finishes an upload (optionally with a last chunk) as the blob `digest`. */
  async complete(repository: string, id: string, digest: string, lastChunk: Readable | null, length: number | null): Promise<BlobInfo> {
    parseDigest(digest);
    const repoId = await this.ownUpload(repository, id);
    if (lastChunk) await this.append(repository, id, lastChunk, null, length);
    const size = await this.ctx.blobs.commitUpload(id, digest);
    await this.ctx.meta.linkBlob(repoId, digest, size);
    await this.ctx.meta.deleteUpload(id);
    this.ctx.events.emitEvent({ type: 'blob.pushed', repository, digest, size, mounted: false });
    return { digest, size };
  }

  /** POST ?digest= with the whole blob as the body. */
  async putMonolithic(repository: string, digest: string, body: Readable, length: number | null): Promise<BlobInfo> {
    parseDigest(digest);
    const id = await this.startUpload(repository);
    try {
      return await this.complete(repository, id, digest, body, length);
    } catch (e) {
      await this.cancel(repository, id).catch(() => undefined);
      throw e;
    }
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.ownUpload(repository, id);
    await this.ctx.meta.deleteUpload(id);
    await this.ctx.blobs.deleteUpload(id);
  }

  /**
   * Cross-repository mount. With `from`, the blob must be readable in that repository; without it,
   * any copy the registry holds will do. Returns null when it cannot mount (the caller then starts an upload).
   */
  async mount(repository: string, digest: string, from: string | null): Promise<BlobInfo | null> {
    // An invalid digest or source is no reason to refuse: the spec says to fall back to an upload.
    if (!tryParseDigest(digest)) return null;
    let size: number | null = null;
    if (from !== null) {
      if (!isValidName(from)) return null;
      const fromId = await this.ctx.meta.repositoryId(from);
      if (fromId !== null) size = await this.ctx.meta.linkedBlobSize(fromId, digest);
    } else {
      size = await this.ctx.meta.knownBlobSize(digest);
    }
    if (size === null || !(await this.ctx.blobs.stat(digest))) return null;
    const repoId = await this.ctx.writableRepo(repository);
    await this.ctx.meta.linkBlob(repoId, digest, size);
    this.ctx.events.emitEvent({ type: 'blob.pushed', repository, digest, size, mounted: true });
    return { digest, size };
  }

  /** Size of a blob this repository may read, or BLOB_UNKNOWN. */
  async stat(repository: string, digest: string): Promise<BlobInfo> {
    parseDigest(digest);
    const repoId = await this.ctx.existingRepo(repository).catch((e: unknown) => {
      if (e instanceof RegistryError && e.code === 'NAME_UNKNOWN') throw new RegistryError('BLOB_UNKNOWN');
      throw e;
    });
    const size = await this.ctx.meta.linkedBlobSize(repoId, digest);
    if (size === null) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository`);
    return { digest, size };
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    try {
      return await this.ctx.blobs.read(digest, range);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') throw new RegistryError('BLOB_UNKNOWN');
      throw e;
    }
  }

  /** Writes a blob (or a range) to `out`, by the store's fast path when it has one. Does not end `out`. */
  async sendTo(digest: string, out: Writable, range?: ByteRange): Promise<void> {
    const store = this.ctx.blobs;
    if (store.sendTo) return store.sendTo(digest, out, range);
    await pipeline(await this.read(digest, range), out, { end: false });
  }

  /** Removes the blob from this repository; the bytes stay until garbage collection. */
  async delete(repository: string, digest: string): Promise<void> {
    parseDigest(digest);
    const repoId = await this.ctx.existingRepo(repository);
    if (!(await this.ctx.meta.unlinkBlob(repoId, digest))) throw new RegistryError('BLOB_UNKNOWN');
    this.ctx.events.emitEvent({ type: 'blob.deleted', repository, digest });
  }

  /** Removes upload sessions idle past the TTL, and upload files nobody recorded. */
  async expireUploads(now: number): Promise<number> {
    let removed = 0;
    for (const u of await this.ctx.meta.uploadsOlderThan(now - this.ctx.limits.uploadTtlMs)) {
      await this.ctx.meta.deleteUpload(u.id);
      await this.ctx.blobs.deleteUpload(u.id);
      removed++;
    }
    // List files before records: a record is written before its file, so a live upload is never taken for an orphan.
    const files: string[] = [];
    for await (const id of this.ctx.blobs.listUploads()) files.push(id);
    const known = await this.ctx.meta.allUploadIds();
    for (const id of files) {
      if (!known.has(id)) {
        await this.ctx.blobs.deleteUpload(id);
        removed++;
      }
    }
    return removed;
  }

  private async ownUpload(repository: string, id: string): Promise<number> {
    const u = await this.ctx.meta.upload(id);
    if (!u || u.repository !== repository) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} unknown`);
    return this.ctx.existingRepo(repository);
  }
}
