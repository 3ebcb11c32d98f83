// Filesystem blob store: blobs/<alg>/<2 hex>/<hex>, uploads/<id>; every commit is write-to-temp + fsync + rename.
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import type { Hash } from 'node:crypto';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { RegistryError } from '../../oci/errors.js';
import { newHasher, parseDigest, type Algorithm } from '../../oci/digest.js';
import type { AppendOptions, BlobStat, BlobStore, ByteRange, StoredBlob, UploadPosition } from './blob-store.js';
import { writeFileAtomic, type AtomicFileSystem } from '../../files/atomic-file.js';

/** Batch small network chunks into writes of about this size. */
const WRITE_BATCH = 1 << 20;
/** Blob downloads: buffers of this size, this many in rotation per response. */
const SEND_CHUNK = 1 << 20;
const SEND_BUFFERS = 3;
/** With fsync on, uploads are flushed to disk in the background every this many bytes. */
const SYNC_EVERY = 64 << 20;

interface HashState {
  algorithm: Algorithm;
  hash: Hash;
  size: number;
}

export interface FsBlobStoreOptions {
  root: string;
  /** fsync data before a blob becomes visible (durability across power loss). */
  fsync: boolean;
  /** The file-system calls of small atomic writes (tests inject failures). */
  fs?: AtomicFileSystem;
}

/** A file in tmp/ older than this is a crash's leftover (a manifest is written there in milliseconds). */
const TMP_LEFTOVER_MS = 10 * 60_000;

export class FsBlobStore implements BlobStore {
  /**
   * A commit renames the upload's file into place (the area is consumed): a repeat after it answers
   * BLOB_UPLOAD_UNKNOWN. The window for that is the rename alone; deleteUpload after it is a no-op.
   */
  readonly commitIsRepeatable = false;
  private readonly blobsDir: string;
  private readonly uploadsDir: string;
  private readonly tmpDir: string;
  /** Running hashes of uploads appended by this process; a missing entry means "rehash from disk". */
  private readonly hashes = new Map<string, HashState>();
  /** Uploads with an append in progress: a second concurrent append is refused. */
  private readonly busy = new Set<string>();

  private constructor(private readonly opts: FsBlobStoreOptions) {
    this.blobsDir = join(opts.root, 'blobs');
    this.uploadsDir = join(opts.root, 'uploads');
    this.tmpDir = join(opts.root, 'tmp');
  }

  static async open(opts: FsBlobStoreOptions): Promise<FsBlobStore> {
    const s = new FsBlobStore(opts);
    await mkdir(s.blobsDir, { recursive: true });
    await mkdir(s.uploadsDir, { recursive: true });
    // Leftovers in tmp/ are half-written manifests from a crash: never visible, safe to drop. Only old
    // ones: another process on the same data directory (a server beside `wharf gc`) may be writing now.
    await mkdir(s.tmpDir, { recursive: true });
    for (const name of await readdirOrEmpty(s.tmpDir)) {
      const path = join(s.tmpDir, name);
      const st = await stat(path).catch(() => null);
      if (st && Date.now() - st.mtimeMs > TMP_LEFTOVER_MS) await rm(path, { recursive: true, force: true });
    }
    return s;
  }

  private blobPath(digest: string): string {
    const d = parseDigest(digest);
    return join(this.blobsDir, d.algorithm, d.hex.slice(0, 2), d.hex);
  }

  private uploadPath(id: string): string {
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    return join(this.uploadsDir, id);
  }

  async stat(digest: string): Promise<BlobStat | null> {
    try {
      const st = await stat(this.blobPath(digest));
      return { size: st.size };
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    // Open first so a missing blob fails here, not midway through a response.
    const fh = await open(this.blobPath(digest), 'r');
    return fh.createReadStream({ start: range?.start, end: range?.end, highWaterMark: WRITE_BATCH });
  }

  async sendTo(digest: string, out: Writable, range?: ByteRange): Promise<void> {
    const fh = await open(this.blobPath(digest), 'r');
    try {
      const end = range ? range.end + 1 : (await fh.stat()).size;
      let pos = range?.start ?? 0;
      // A few buffers in rotation: one is read into while the others drain to the socket.
      const free: Buffer[] = Array.from({ length: SEND_BUFFERS }, () => Buffer.allocUnsafe(SEND_CHUNK));
      const waiting: (() => void)[] = [];
      let failed: Error | null = null;
      const release = (b: Buffer, err?: Error | null): void => {
        if (err) failed ??= err;
        free.push(b);
        waiting.shift()?.();
      };
      const takeBuffer = async (): Promise<Buffer> => {
        while (free.length === 0) await new Promise<void>((r) => waiting.push(r));
        return free.pop()!;
      };
      while (pos < end && !failed && !out.destroyed) {
        const buf = await takeBuffer();
        const { bytesRead } = await fh.read(buf, 0, Math.min(SEND_CHUNK, end - pos), pos);
        if (bytesRead === 0) throw new Error(`blob ${digest} is shorter than expected`);
        pos += bytesRead;
        out.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead), (err) => release(buf, err));
      }
      // Buffers may be reused (or the file closed) only once every write has drained.
      while (free.length < SEND_BUFFERS && !out.destroyed) await new Promise<void>((r) => waiting.push(r));
      if (failed) throw failed;
    } finally {
      await fh.close();
    }
  }

  async readSmall(digest: string): Promise<Buffer | null> {
    try {
      return await readFile(this.blobPath(digest));
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async putSmall(digest: string, bytes: Uint8Array): Promise<void> {
    const target = this.blobPath(digest);
    // Kept only when it holds exactly these bytes: a file an older version left truncated by a crash
    // (it wrote in place) must be rewritten, or the manifest would stay broken forever.
    if (await this.holds(target, bytes)) return;
    await writeFileAtomic(target, bytes, { tmpDir: this.tmpDir, fsync: this.opts.fsync, mkdirMode: 0o755, fs: this.opts.fs });
  }

  /** Whether the file at `path` holds exactly `bytes` (small files only). */
  private async holds(path: string, bytes: Uint8Array): Promise<boolean> {
    try {
      if ((await stat(path)).size !== bytes.length) return false;
      return (await readFile(path)).equals(bytes);
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async delete(digest: string): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
  }

  async *list(): AsyncIterable<StoredBlob> {
    for (const alg of await readdirOrEmpty(this.blobsDir)) {
      for (const prefix of await readdirOrEmpty(join(this.blobsDir, alg))) {
        for (const hex of await readdirOrEmpty(join(this.blobsDir, alg, prefix))) {
          const st = await stat(join(this.blobsDir, alg, prefix, hex)).catch((e: unknown) => { if (isNotFound(e)) return null; throw e; });
          // Gone between the listing and the stat: deleted meanwhile, nothing to report.
          if (st) yield { digest: `${alg}:${hex}`, size: st.size, modifiedAt: st.mtimeMs };
        }
      }
    }
  }

  async createUpload(id: string): Promise<UploadPosition> {
    await writeFile(this.uploadPath(id), new Uint8Array(0), { flag: 'wx' });
    this.hashes.set(id, { algorithm: 'sha256', hash: newHasher('sha256'), size: 0 });
    // The file is named by the upload's id: nothing else is needed to find it again.
    return { offset: 0, driverState: null };
  }

  async appendUpload(id: string, body: Readable, from: UploadPosition, opts: AppendOptions = {}): Promise<UploadPosition> {
    const path = this.uploadPath(id);
    const maxBytes = opts.maxBytes ?? Number.MAX_SAFE_INTEGER;
    if (this.busy.has(id)) throw new RegistryError('BLOB_UPLOAD_INVALID', 'another request is writing to this upload');
    this.busy.add(id);
    let fh: FileHandle | undefined;
    try {
      try {
        fh = await open(path, 'r+');
      } catch (e) {
        if (isNotFound(e)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
        throw e;
      }
      const start = from.offset;
      await this.trimTo(fh, start);
      // The running hash counts only when it covers exactly the bytes below the offset.
      let state = this.hashes.get(id);
      if (state && state.size !== start) state = undefined;
      this.hashes.delete(id); // restored below only if every byte was both written and hashed
      let received = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      // One write in flight while the next batch fills: network, hashing and disk overlap.
      let inflight: Promise<void> = Promise.resolve();
      const fd = fh;
      const writeBatch = async (chunks: Buffer[], at: number, n: number): Promise<void> => {
        let written = 0;
        while (written < n) {
          const { bytesWritten } = await fd.writev(written === 0 ? chunks : sliceChunks(chunks, written), at + written);
          written += bytesWritten;
        }
        await opts.onProgress?.({ offset: at + n, driverState: null });
      };
      // With fsync on, flush to disk every SYNC_EVERY bytes while receiving, so that the final fsync at
      // commit has little left to do: the disk works while the network does.
      const syncs: Promise<void>[] = [];
      let unsynced = 0;
      const flush = async (): Promise<void> => {
        await inflight;
        if (pendingBytes === 0) return;
        inflight = writeBatch(pending, start + received - pendingBytes, pendingBytes);
        unsynced += pendingBytes;
        pending = [];
        pendingBytes = 0;
        if (this.opts.fsync && unsynced >= SYNC_EVERY) {
          unsynced = 0;
          const written = inflight;
          syncs.push(written.then(() => fd.datasync()));
        }
      };
      try {
        // Not destroyed on a refusal: the server drains the rest so the connection stays usable.
        for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
          if (received + chunk.length > maxBytes) {
            throw new RegistryError('SIZE_INVALID', `upload exceeds the limit of ${maxBytes} bytes`, { status: 413 });
          }
          state?.hash.update(chunk);
          pending.push(chunk);
          pendingBytes += chunk.length;
          received += chunk.length;
          if (pendingBytes >= WRITE_BATCH) await flush();
        }
        await flush();
      } finally {
        await inflight.catch(() => undefined);
        await Promise.allSettled(syncs);
      }
      await inflight;
      await Promise.all(syncs);
      const position = start + received;
      if (state) {
        state.size = position;
        this.hashes.set(id, state);
      }
      return { offset: position, driverState: null };
    } finally {
      await fh?.close();
      this.busy.delete(id);
    }
  }

  async commitUpload(id: string, digest: string, at: UploadPosition): Promise<number> {
    const path = this.uploadPath(id);
    const want = parseDigest(digest);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      if (isNotFound(e)) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
      throw e;
    }
    try {
      await this.trimTo(fh, at.offset);
      const state = this.hashes.get(id);
      let actual: string;
      if (state && state.size === at.offset && state.algorithm === want.algorithm) {
        actual = state.hash.copy().digest('hex');
      } else {
        // Another process wrote part of it, or this one restarted: rebuild the hash from the stored bytes.
        actual = await hashFile(path, want.algorithm);
      }
      if (actual !== want.hex) {
        throw new RegistryError('DIGEST_INVALID', `content digest ${want.algorithm}:${actual} does not match ${digest}`);
      }
      if (this.opts.fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
    this.hashes.delete(id);
    await this.moveIntoPlace(path, this.blobPath(digest));
    return at.offset;
  }

  /** Drops bytes past the recorded offset (a refused or cut-off chunk); refuses an upload that lost bytes below it. */
  private async trimTo(fh: FileHandle, offset: number): Promise<void> {
    const size = (await fh.stat()).size;
    if (size < offset) throw new RegistryError('BLOB_UPLOAD_INVALID', `upload holds ${size} bytes, ${offset} were recorded`);
    if (size > offset) await fh.truncate(offset);
  }

  async deleteUpload(id: string): Promise<void> {
    this.hashes.delete(id);
    await rm(this.uploadPath(id), { force: true });
  }

  async *listUploads(): AsyncIterable<string> {
    for (const id of await readdirOrEmpty(this.uploadsDir)) yield id;
  }

  async close(): Promise<void> {
    this.hashes.clear();
  }

  /** rename() is atomic: readers see the whole blob or nothing. Same content, so a racing rename is harmless. */
  private async moveIntoPlace(from: string, to: string): Promise<void> {
    const dir = to.slice(0, to.lastIndexOf('/'));
    await mkdir(dir, { recursive: true });
    await rename(from, to);
  }
}

function sliceChunks(chunks: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (skip >= c.length) { skip -= c.length; continue; }
    out.push(skip > 0 ? c.subarray(skip) : c);
    skip = 0;
  }
  return out;
}

async function hashFile(path: string, algorithm: Algorithm): Promise<string> {
  const h = newHasher(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: WRITE_BATCH })) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (isNotFound(e)) return [];
    throw e;
  }
}

export function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: string }).code === 'ENOENT';
}
