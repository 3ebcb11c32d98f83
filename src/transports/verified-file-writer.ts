// A Writable that stores a blob in a new file and only finishes cleanly when the file holds exactly the
// expected content: size checked as bytes arrive, digest checked (by a worker thread following the file)
// before the stream ends, data fsync'd. The caller renames the file into place afterwards.
//
// One stream instead of a hashing Transform piped into fs.WriteStream: each hop between streams costs a
// pause/resume round per chunk, which on a fast link is as expensive as the write itself.
import { close, fsync, open, writev } from 'node:fs';
import { Writable } from 'node:stream';
import { parseDigest } from '../oci/digest.js';
import { hashFileAsWritten, type FileHasher } from './file-hasher.js';
import { VerificationError } from './verify.js';

/** Bytes gathered before a write: few system calls, thread-pool round trips and hasher messages. */
const WRITE_BATCH = 1 << 20;

export class VerifiedFileWriter extends Writable {
  private fd: number | undefined;
  private hasher: FileHasher | undefined;
  /** Bytes accepted (written or in the batch). */
  private received = 0;
  /** Bytes in the file. */
  private written = 0;
  private batch: Buffer[] = [];
  private batchLength = 0;
  /** A write or fsync in flight: the descriptor is closed only after it (it could be reused meanwhile). */
  private busy = false;
  private whenIdle: (() => void) | undefined;
  private readonly algorithm;
  private readonly hex;

  /**
   * Creates `path` (which must not exist) with `mode`. `size` -1 means unknown. `what` names the content
   * in error messages.
   */
  constructor(private readonly path: string, private readonly digest: string, private readonly size: number, private readonly what: string, private readonly mode = 0o644) {
    super({ highWaterMark: WRITE_BATCH });
    const d = parseDigest(digest);
    this.algorithm = d.algorithm;
    this.hex = d.hex;
  }

  /** Bytes stored so far. */
  get bytes(): number {
    return this.written;
  }

  override _construct(cb: (e?: Error | null) => void): void {
    open(this.path, 'wx', this.mode, (e, fd) => {
      if (e) return cb(e);
      this.fd = fd;
      this.hasher = hashFileAsWritten(this.path, this.algorithm, this.size);
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
    if (this.size >= 0 && this.received !== this.size) {
      cb(this.mismatch(`size mismatch: expected ${this.size} bytes, got ${this.received}`));
      return;
    }
    this.flush((e) => {
      if (e) return cb(e);
      const hashed = this.hasher!.finish(this.written);
      this.hasher = undefined;
      const synced = new Promise<void>((resolve, reject) => this.io((done) => fsync(this.fd!, done), (err) => (err ? reject(err) : resolve())));
      Promise.all([hashed, synced]).then(([hex]) => {
        if (hex !== this.hex) throw this.mismatch(`digest mismatch: content hashes to ${this.algorithm}:${hex}`);
        this.closeFile(cb);
      }).catch((err: unknown) => cb(err as Error));
    });
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.hasher?.abort();
    this.hasher = undefined;
    const close = (): void => this.closeFile(() => cb(err));
    if (this.busy) this.whenIdle = close;
    else close();
  }

  /** Gathers chunks and writes them WRITE_BATCH at a time (a socket delivers ~64 KiB per read). */
  private store(chunks: Buffer[], cb: (e?: Error | null) => void): void {
    let len = 0;
    for (const c of chunks) len += c.length;
    if (this.size >= 0 && this.received + len > this.size) {
      cb(this.mismatch(`size mismatch: more than the expected ${this.size} bytes`));
      return;
    }
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
      cb();
    });
  }

  /** Runs one operation on the descriptor, then whatever waited for it to be idle. */
  private io(op: (done: (e: Error | null) => void) => void, cb: (e: Error | null) => void): void {
    this.busy = true;
    op((e) => {
      this.busy = false;
      const waiting = this.whenIdle;
      this.whenIdle = undefined;
      if (waiting) waiting(); // destroyed meanwhile: close now; the stream has already failed
      else cb(e);
    });
  }

  /** writev until every byte is written (a regular file normally takes all at once). */
  private writeAll(chunks: Buffer[], len: number, cb: (e: Error | null) => void): void {
    writev(this.fd!, chunks, (e, n) => {
      if (e) return cb(e);
      if (n === len) return cb(null);
      if (n <= 0) return cb(new Error(`${this.what} ${this.digest}: write to ${this.path} made no progress`));
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

  private mismatch(detail: string): VerificationError {
    return new VerificationError(`${this.what} ${this.digest}: ${detail}`, this.digest);
  }
}
