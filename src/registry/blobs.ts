// Blob rules: uploads (monolithic, chunked, streamed, resumable), cross-repository mount, reads, deletes.
import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../oci/errors.js';
import { parseDigest, tryParseDigest } from '../oci/digest.js';
import { isValidName } from '../oci/names.js';
import type { ByteRange, UploadPosition } from '../store/blobs/blob-store.js';
import { repositoryLock, type UploadRecord } from '../store/meta/meta-store.js';
import type { RegistryContext } from './context.js';
import { BlobClaim } from './blob-claims.js';
import type { Actor } from './events.js';
import { applicableQuotas, type ApplicableQuotas } from './quotas.js';

/** A streamed body records its progress at most this often (a crash loses at most about this much of it). */
const CHECKPOINT_EVERY_MS = 500;

export interface BlobInfo {
  digest: string;
  size: number;
}

/** How stale a link's time may get before a read renews it (see `stat`). */
const TOUCH_EVERY_MS = 10_000;

/** How many holders of a blob a mount without `from` considers before giving up (and uploading). */
const MOUNT_CANDIDATES = 100;

export class BlobService {
  /** Removals of committed uploads' areas under way (see removeArea). */
  private readonly removals = new Set<Promise<void>>();

  constructor(private readonly ctx: RegistryContext) {}

  /**
   * Removes a committed upload's area once its blob is linked and its record gone (nobody's bytes now),
   * without the client waiting: the commit is answered as soon as it is linked, so that a crash in the
   * few store calls this takes never turns an accomplished commit into a retried PUT that finds no
   * upload (404). Best effort: should it fail, or the process die first, the upload sweep removes bytes
   * that no record claims.
   */
  private removeArea(id: string): void {
    const removal: Promise<void> = this.ctx.blobs.deleteUpload(id)
      .catch(() => undefined)
      .finally(() => { this.removals.delete(removal); });
    this.removals.add(removal);
  }

  /** Waits for the removals under way (before the stores close). */
  async drain(): Promise<void> {
    while (this.removals.size > 0) await Promise.all([...this.removals]);
  }

  async startUpload(repository: string): Promise<string> {
    const repoId = await this.ctx.writableRepo(repository);
    const id = randomUUID();
    // Record first, bytes second: an upload the driver holds with no record is an orphan the sweeper
    // removes, so the record must exist before the bytes do.
    await this.ctx.meta.uploads.create(id, repoId, 'sha256', { offset: 0, driverState: null });
    const at = await this.ctx.blobs.createUpload(id);
    if (at.driverState !== null) await this.ctx.meta.uploads.advance(id, 0, at);
    return id;
  }

  /** The upload's current size; BLOB_UPLOAD_UNKNOWN when it is not this repository's. */
  async uploadOffset(repository: string, id: string): Promise<number> {
    return (await this.ownUpload(repository, id)).offset;
  }

  /**
   * Appends a chunk. With `range` the chunk must start where the upload ends (else RANGE_INVALID) and
   * arrive whole: a chunk shorter than its range is refused (SIZE_INVALID) and appends nothing. Without
   * it the body is streamed, and what arrives stays even when the body is cut short, so that the client
   * can resume. `length` is the declared body length, when known.
   */
  async append(repository: string, id: string, body: Readable, range: ByteRange | null, length: number | null): Promise<number> {
    return (await this.appendTo(await this.ownUpload(repository, id), body, range, length)).offset;
  }

  private async appendTo(u: UploadRecord, body: Readable, range: ByteRange | null, length: number | null): Promise<UploadPosition> {
    if (range) {
      if (range.start !== u.offset) {
        throw new RegistryError('RANGE_INVALID', `chunk starts at ${range.start}, upload is at ${u.offset}`);
      }
      if (length !== null && length !== range.end - range.start + 1) {
        throw new RegistryError('SIZE_INVALID', 'Content-Length does not match Content-Range');
      }
    }
    const limit = range ? range.end - range.start + 1 : (length ?? undefined);
    // The recorded position moves only forward, and only from where this request found it.
    let recorded: UploadPosition = u;
    const record = async (p: UploadPosition): Promise<void> => {
      if (p.offset === recorded.offset && p.driverState === recorded.driverState) return;
      if (!(await this.ctx.meta.uploads.advance(u.id, recorded.offset, p))) {
        throw new RegistryError('RANGE_INVALID', 'the upload was moved on by another request');
      }
      recorded = p;
    };
    // A streamed body records where it could resume from now and then, so that a crash of this
    // process mid-body loses little; a chunk with a range is all or nothing.
    let landed: UploadPosition | null = null;
    let lastCheckpoint = -Infinity;
    const onProgress = range ? undefined : async (p: UploadPosition): Promise<void> => {
      landed = p;
      const now = this.ctx.clock.now();
      if (now - lastCheckpoint < CHECKPOINT_EVERY_MS) return;
      lastCheckpoint = now;
      await record(p);
    };
    let end: UploadPosition;
    try {
      end = await this.ctx.blobs.appendUpload(u.id, body, u, { maxBytes: limit, onProgress });
    } catch (e) {
      if (landed !== null) await record(landed).catch(() => undefined);
      throw e;
    }
    const complete = limit === undefined || end.offset === u.offset + limit;
    if (range && !complete) throw new RegistryError('SIZE_INVALID', 'chunk shorter than its Content-Range; nothing appended');
    await record(end);
    if (!complete) throw new RegistryError('SIZE_INVALID', 'body shorter than declared');
    return end;
  }

  /** Finishes an upload (optionally with a last chunk) as the blob `digest`. */
  async complete(repository: string, id: string, digest: string, lastChunk: Readable | null, length: number | null, actor: Actor): Promise<BlobInfo> {
    parseDigest(digest);
    const u = await this.ownUpload(repository, id);
    const quotas = await applicableQuotas(this.ctx.meta, repository);
    // A size known before the body is read (the chunks so far, plus a declared last one) is checked
    // first, so that a push over its quota is refused before its bytes are received and stored.
    const expected = lastChunk === null ? u.offset : length === null ? null : u.offset + length;
    if (quotas && expected !== null) await this.refuseEarly(quotas, id, { digest, size: expected });
    const at = lastChunk ? await this.appendTo(u, lastChunk, null, length) : u;
    // Claimed before the bytes land, released as they are linked: no collector deletes them in between.
    const claim = await BlobClaim.take(this.ctx.meta, digest);
    let size: number;
    try {
      // The upload's area outlives the commit (on drivers whose commit is repeatable): a crash before the
      // link leaves the record and the bytes, and the client's retried PUT, on any process, commits again.
      size = await this.ctx.blobs.commitUpload(id, digest, at);
      const outcome = await claim.linkWith(async (m): Promise<'linked' | 'collected' | RegistryError> => {
        if (quotas) {
          // The decision, under the quota's lock. A refusal ends the upload here; its committed bytes
          // are nobody's, and GC frees them.
          await quotas.lock(m);
          const refusal = await quotas.refusal(m, { blob: { digest, size } });
          if (refusal) { await m.uploads.delete(id); return refusal; }
        }
        if (!(await m.blobs.link(u.repoId, digest, size))) return 'collected';
        await m.uploads.delete(id);
        return 'linked';
      });
      if (outcome instanceof RegistryError) { this.removeArea(id); throw outcome; }
      // Only when the claim outlived the grace period (a stuck process): the client uploads again.
      if (outcome === 'collected') throw new RegistryError('BLOB_UPLOAD_INVALID', `blob ${digest} was garbage-collected during its upload`);
    } finally {
      await claim.release();
    }
    this.removeArea(id);
    this.ctx.events.emitEvent({ type: 'blob.pushed', repository, digest, size, mounted: false, actor });
    return { digest, size };
  }

  /** Refuses (ending the upload) a blob the quotas cannot take even now, before it is received and committed. */
  private async refuseEarly(quotas: ApplicableQuotas, id: string, blob: { digest: string; size: number }): Promise<void> {
    const refusal = await quotas.refusal(this.ctx.meta, { blob });
    if (refusal === null) return;
    await this.ctx.meta.uploads.delete(id);
    this.removeArea(id);
    throw refusal;
  }

  /** POST ?digest= with the whole blob as the body. */
  async putMonolithic(repository: string, digest: string, body: Readable, length: number | null, actor: Actor): Promise<BlobInfo> {
    parseDigest(digest);
    const id = await this.startUpload(repository);
    try {
      return await this.complete(repository, id, digest, body, length, actor);
    } catch (e) {
      await this.cancel(repository, id).catch(() => undefined);
      throw e;
    }
  }

  async cancel(repository: string, id: string): Promise<void> {
    await this.ownUpload(repository, id);
    await this.ctx.meta.uploads.delete(id);
    await this.ctx.blobs.deleteUpload(id);
  }

  /**
   * Cross-repository mount. With `from`, the blob must be in that repository and the actor may read it
   * there; without it, any repository holding it that the actor may read will do. Returns null when it
   * cannot mount (the caller then starts an upload): a mount never reveals what the actor cannot read.
   */
  async mount(repository: string, digest: string, from: string | null, actor: Actor, mayRead: (repository: string) => Promise<boolean>): Promise<BlobInfo | null> {
    // An invalid digest or source is no reason to refuse: the spec says to fall back to an upload.
    if (!tryParseDigest(digest)) return null;
    if (from !== null && !isValidName(from)) return null;
    let source: string | undefined;
    if (from !== null) {
      source = (await mayRead(from)) ? from : undefined;
    } else {
      for (const holder of await this.ctx.meta.blobs.holders(digest, MOUNT_CANDIDATES)) {
        if (await mayRead(holder)) { source = holder; break; }
      }
    }
    const sourceId = source === undefined ? null : await this.ctx.meta.repositories.idOf(source);
    const size = sourceId === null ? null : ((await this.ctx.meta.blobs.get(sourceId, digest))?.size ?? null);
    if (size === null || !(await this.ctx.blobs.stat(digest))) return null;
    const repoId = await this.ctx.writableRepo(repository);
    const quotas = await applicableQuotas(this.ctx.meta, repository);
    // The source's link is checked again where the new link is made: while a repository links a blob
    // its bytes stay (see gc.ts), so the new link can never point at bytes a collector removed meanwhile.
    const linked = await this.ctx.meta.tx(async (m) => {
      await quotas?.lock(m);
      await m.lock(repositoryLock(sourceId!));
      if (!(await m.blobs.get(sourceId!, digest))) return false;
      // Over a quota the mount is refused (403), not turned into an upload that would be refused too.
      const refusal = await quotas?.refusal(m, { blob: { digest, size } });
      if (refusal) throw refusal;
      return m.blobs.link(repoId, digest, size);
    });
    if (!linked) return null;
    this.ctx.events.emitEvent({ type: 'blob.pushed', repository, digest, size, mounted: true, actor });
    return { digest, size };
  }

  /** Size of a blob this repository may read, or BLOB_UNKNOWN. */
  async stat(repository: string, digest: string): Promise<BlobInfo> {
    parseDigest(digest);
    const repoId = await this.ctx.existingRepo(repository).catch((e: unknown) => {
      if (e instanceof RegistryError && e.code === 'NAME_UNKNOWN') throw new RegistryError('BLOB_UNKNOWN');
      throw e;
    });
    const link = await this.ctx.meta.blobs.get(repoId, digest);
    if (link === null) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository`);
    // A client that finds the blob here (a push HEADs each layer, then skips its upload) may PUT a
    // manifest over it soon: the collector's grace period starts again. Written at most every
    // TOUCH_EVERY_MS per link, so that the read path stays a read. A link removed since it was read is
    // unknown: the client uploads the blob again rather than PUT a manifest over it.
    if (this.ctx.clock.now() - link.linkedAt > TOUCH_EVERY_MS && !(await this.ctx.meta.blobs.touch(repoId, digest))) {
      throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository`);
    }
    return { digest, size: link.size };
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    try {
      return await this.ctx.blobs.read(digest, range);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') throw new RegistryError('BLOB_UNKNOWN');
      throw e;
    }
  }

  /** Where a client may fetch the blob from directly (a presigned object-store URL), or null to serve it here. */
  async redirectUrl(digest: string): Promise<string | null> {
    return (await this.ctx.blobs.redirectUrl?.(digest)) ?? null;
  }

  /** Writes a blob (or a range) to `out`, by the store's fast path when it has one. Does not end `out`. */
  async sendTo(digest: string, out: Writable, range?: ByteRange): Promise<void> {
    const store = this.ctx.blobs;
    if (store.sendTo) return store.sendTo(digest, out, range);
    await pipeline(await this.read(digest, range), out, { end: false });
  }

  /** Removes the blob from this repository; the bytes stay until garbage collection. */
  async delete(repository: string, digest: string, actor: Actor): Promise<void> {
    parseDigest(digest);
    const repoId = await this.ctx.existingRepo(repository);
    if (!(await this.ctx.meta.blobs.unlink(repoId, digest))) throw new RegistryError('BLOB_UNKNOWN');
    this.ctx.events.emitEvent({ type: 'blob.deleted', repository, digest, actor });
  }

  private async ownUpload(repository: string, id: string): Promise<UploadRecord> {
    const u = await this.ctx.meta.uploads.get(id);
    if (!u || u.repoId !== (await this.ctx.meta.repositories.idOf(repository))) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} unknown`);
    }
    return u;
  }
}
