// A Writable that stores a blob in a new file and only finishes cleanly when the file holds exactly the
// expected content: size checked as bytes arrive, digest checked (by a worker thread following the file)
// before the stream ends, data fsync'd. The caller renames the file into place afterwards.
//
// One stream instead of a hashing Transform piped into fs.WriteStream: each hop between streams costs a
// pause/resume round per chunk, which on a fast link is as expensive as the write itself.
import { close, fdatasync, fsync, open, writev } from 'node:fs';
import { Writable } from 'node:stream';
import { hashFileAsWritten, type FileHasher } from './file-hasher.js';
import { ExpectedBlob } from './verify.js';

/** Bytes gathered before a write: few system calls, thread-pool round trips and hasher messages. */
const WRITE_BATCH = 1 << 20;
/**
 * Every this many bytes a background fdatasync starts writeback: the disk works while the network
 * does, and the fsync that ends the blob has little left to wait for.
 */
const FLUSH_EVERY = 8 << 20;

export class VerifiedFileWriter extends Writable {
  private fd: number | undefined;
  private hasher: FileHasher | undefined;
  /** Bytes accepted (written or in the batch). */
  private received = 0;
  /** Bytes in the file. */
  private written = 0;
  private batch: Buffer[] = [];
  private batchLength = 0;
  /** Writes and syncs in flight: the descriptor is closed only after them (it could be reused meanwhile). */
  private ops = 0;
  private whenIdle: (() => void) | undefined;
  private flushedAt = 0;
  /** The background flush in flight, if any. */
  private writeback: Promise<void> | undefined;
  /** A background flush failed: the blob fails (a later fsync may not report the same error again). */
  private flushError: Error | undefined;
  private readonly expected: ExpectedBlob;

  /**
   * Creates `path` (which must not exist) with `mode`. `size` -1 means unknown. `what` names the content
   * in error messages.
   */
  constructor(private readonly path: string, digest: string, size: number, what: string, private readonly mode = 0o644) {
    super({ highWaterMark: WRITE_BATCH });
    this.expected = new ExpectedBlob(digest, size, what);
  }

  /** Bytes stored so far. */
  get bytes(): number {
    return this.written;
  }

  override _construct(cb: (e?: Error | null) => void): void {
    open(this.path, 'wx', this.mode, (e, fd) => {
      if (e) return cb(e);
      this.fd = fd;
      this.hasher = hashFileAsWritten(this.path, this.expected.algorithm, this.expected.size);
      cb();
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.store([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.store(chunks.map((c) => c.chunk), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    const wrongSize = this.expected.checkSize(this.received);
    if (wrongSize) return cb(wrongSize);
    this.flush((e) => {
      if (e) return cb(e);
      const hashed = this.hasher!.finish(this.written);
      this.hasher = undefined;
      // The final fsync waits for the background flush: run side by side, either could be the one told
      // of a write-back error (Linux reports it once per descriptor), and the descriptor stays open for both.
      const synced = (this.writeback ?? Promise.resolve()).then(() => new Promise<void>((resolve, reject) => {
        this.io((done) => fsync(this.fd!, done), (err) => {
          const failed = err ?? this.flushError;
          if (failed) reject(failed);
          else resolve();
        });
      }));
      Promise.all([hashed, synced]).then(([hex]) => {
        const wrongDigest = this.expected.checkDigest(hex);
        if (wrongDigest) throw wrongDigest;
        this.closeFile(cb);
      }).catch((err: unknown) => cb(err as Error));
    });
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.hasher?.abort();
    this.hasher = undefined;
    const close = (): void => this.closeFile(() => cb(err));
    if (this.ops > 0) this.whenIdle = close;
    else close();
  }

  /** Gathers chunks and writes them WRITE_BATCH at a time (a socket delivers ~64 KiB per read). */
  private store(chunks: Buffer[], cb: (e?: Error | null) => void): void {
    let len = 0;
    for (const c of chunks) len += c.length;
    const tooLong = this.expected.checkNotLonger(this.received + len);
    if (tooLong) return cb(tooLong);
    this.received += len;
    this.batch.push(...chunks);
    this.batchLength += len;
    if (this.batchLength < WRITE_BATCH) cb();
    else this.flush(cb);
  }

  private flush(cb: (e?: Error | null) => void): void {
    const chunks = this.batch;
    const len = this.batchLength;
    this.batch = [];
    this.batchLength = 0;
    if (len === 0) return cb();
    this.io((done) => this.writeAll(chunks, len, done), (e) => {
      if (e) return cb(e);
      this.written += len;
      this.hasher?.wrote(chunks, this.written);
      this.startWriteback();
      cb();
    });
  }

  private startWriteback(): void {
    if (this.writeback || this.written - this.flushedAt < FLUSH_EVERY) return;
    this.flushedAt = this.written;
    this.writeback = new Promise((resolve) => {
      this.io((done) => fdatasync(this.fd!, done), (e) => {
        this.writeback = undefined;
        if (e) this.flushError ??= e;
        resolve();
      });
    });
  }

  /** Runs an operation on the descriptor; once none is in flight, whatever waited for that. */
  private io(op: (done: (e: Error | null) => void) => void, cb: (e: Error | null) => void): void {
    this.ops++;
    op((e) => {
      this.ops--;
      if (!this.whenIdle) return cb(e);
      // Destroyed meanwhile: the stream has already failed; close once the last operation is back.
      if (this.ops === 0) {
        const waiting = this.whenIdle;
        this.whenIdle = undefined;
        waiting();
      }
    });
  }

  /** writev until every byte is written (a regular file normally takes all at once). */
  private writeAll(chunks: Buffer[], len: number, cb: (e: Error | null) => void): void {
    writev(this.fd!, chunks, (e, n) => {
      if (e) return cb(e);
      if (n === len) return cb(null);
      if (n <= 0) return cb(new Error(`${this.expected.what} ${this.expected.digest}: write to ${this.path} made no progress`));
      const rest: Buffer[] = [];
      let skip = n;
      for (const c of chunks) {
        if (skip >= c.length) skip -= c.length;
        else {
          rest.push(skip > 0 ? c.subarray(skip) : c);
          skip = 0;
        }
      }
      this.writeAll(rest, len - n, cb);
    });
  }

  private closeFile(cb: (e?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return cb();
    close(fd, (e) => cb(e));
  }
}
