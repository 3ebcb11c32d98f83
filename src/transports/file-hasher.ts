// Hashing of files while they are being written, off the main thread.
//
// SHA-256 of a layer costs about as much CPU as receiving it. Done on the main thread it serialises with
// the network and disk work; here a small pool of worker threads follows each file as it grows (the writer
// reports how many bytes are on disk) and hashes what is there. The bytes hashed are the bytes in the file,
// so verification checks what was stored, not just what passed through memory.
//
// The worker is inline source (not a separate module file): it has no dependencies, starts in a few
// milliseconds and keeps working however the CLI is packaged. When no worker can run, hashing falls back
// to the main thread with the same interface.
import { createHash, type Hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Algorithm } from '../oci/digest.js';

/** Follows one file being written. */
export interface FileHasher {
  /** `chunks` were just written and the file now holds `end` bytes. */
  wrote(chunks: readonly Buffer[], end: number): void;
  /** All `total` bytes are written: the hex digest of the file's content. */
  finish(total: number): Promise<string>;
  /** The write failed or was abandoned: release the job (its result is never awaited). */
  abort(): void;
}

// Run with `eval: true`, as CommonJS or as an ES module depending on the parent's flags (--input-type), so
// it uses only dynamic import(). Messages, queued by the port until the listener is attached:
// {op:'open', id, path, algorithm} | {op:'feed'|'end', id, upTo} | {op:'abort', id}.
// Replies: {id, hex} after 'end', {id, error} when anything fails (once per job).
const WORKER_SOURCE = `
(async () => {
  const [{ parentPort }, { openSync, readSync, closeSync }, { createHash }] = await Promise.all([
    import('node:worker_threads'), import('node:fs'), import('node:crypto'),
  ]);
  const jobs = new Map();
  const buf = Buffer.allocUnsafe(1 << 20);
  const drop = (id) => {
    const j = jobs.get(id);
    if (!j) return;
    jobs.delete(id);
    try { closeSync(j.fd); } catch {}
  };
  parentPort.on('message', (m) => {
    try {
      if (m.op === 'open') { jobs.set(m.id, { fd: openSync(m.path, 'r'), hash: createHash(m.algorithm), pos: 0 }); return; }
      if (m.op === 'abort') { drop(m.id); return; }
      const j = jobs.get(m.id);
      if (!j) return; // its failure was already reported
      while (j.pos < m.upTo) {
        const n = readSync(j.fd, buf, 0, Math.min(buf.length, m.upTo - j.pos), j.pos);
        if (n <= 0) throw new Error('the file is shorter than what was written to it (' + j.pos + ' < ' + m.upTo + ' bytes)');
        j.hash.update(n === buf.length ? buf : buf.subarray(0, n));
        j.pos += n;
      }
      if (m.op === 'end') { drop(m.id); parentPort.postMessage({ id: m.id, hex: j.hash.digest('hex') }); }
    } catch (e) {
      drop(m.id);
      parentPort.postMessage({ id: m.id, error: String((e && e.message) || e) });
    }
  });
})();
`;

interface Reply {
  id: number;
  hex?: string;
  error?: string;
}

interface Job {
  result?: Reply;
  settle?: (r: Reply) => void;
}

class HashWorker {
  private readonly worker: Worker;
  private readonly jobs = new Map<number, Job>();
  private broken: Error | undefined;

  constructor(private readonly onBroken: () => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref(); // referenced only while a job is open: an idle pool never keeps the process alive
    this.worker.on('message', (r: Reply) => this.reply(r));
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`hash worker exited with code ${code}`)));
  }

  get load(): number {
    return this.jobs.size;
  }

  get healthy(): boolean {
    return this.broken === undefined;
  }

  open(id: number, path: string, algorithm: Algorithm): void {
    if (this.jobs.size === 0) this.worker.ref();
    this.jobs.set(id, {});
    this.worker.postMessage({ op: 'open', id, path, algorithm });
  }

  feed(id: number, upTo: number): void {
    const job = this.jobs.get(id);
    if (job && !job.result) this.worker.postMessage({ op: 'feed', id, upTo });
  }

  finish(id: number, upTo: number): Promise<string> {
    const job = this.jobs.get(id);
    if (!job) return Promise.reject(new Error('hash job is not open'));
    const settled = new Promise<Reply>((resolve) => {
      job.settle = resolve;
    });
    if (job.result) this.settle(id, job.result);
    else this.worker.postMessage({ op: 'end', id, upTo });
    return settled.then((r) => {
      if (r.hex === undefined) throw new Error(`hashing failed: ${r.error ?? 'no result'}`);
      return r.hex;
    });
  }

  abort(id: number): void {
    if (!this.jobs.has(id)) return;
    this.forget(id);
    if (this.healthy) this.worker.postMessage({ op: 'abort', id });
  }

  private reply(r: Reply): void {
    const job = this.jobs.get(r.id);
    if (!job) return;
    if (job.settle) this.settle(r.id, r);
    else job.result = r; // an early error: kept until finish() asks
  }

  private settle(id: number, r: Reply): void {
    const job = this.jobs.get(id)!;
    this.forget(id);
    job.settle!(r);
  }

  private forget(id: number): void {
    this.jobs.delete(id);
    if (this.jobs.size === 0 && this.healthy) this.worker.unref();
  }

  private fail(e: Error): void {
    if (this.broken) return;
    this.broken = e;
    this.onBroken();
    for (const id of [...this.jobs.keys()]) this.reply({ id, error: e.message });
  }
}

/** Hashes on the calling thread: the fallback when worker threads are unavailable. */
class InlineHasher implements FileHasher {
  private readonly hash: Hash;

  constructor(algorithm: Algorithm) {
    this.hash = createHash(algorithm);
  }

  wrote(chunks: readonly Buffer[]): void {
    for (const c of chunks) this.hash.update(c);
  }

  finish(): Promise<string> {
    return Promise.resolve(this.hash.digest('hex'));
  }

  abort(): void {
    /* nothing held */
  }
}

/** One worker per spare core (at least one, at most four), created on first use. */
class HashPool {
  private workers: HashWorker[] | undefined;
  private nextId = 1;
  private disabled = false;

  hasherFor(path: string, algorithm: Algorithm): FileHasher {
    const worker = this.pick();
    if (!worker) return new InlineHasher(algorithm);
    const id = this.nextId++;
    worker.open(id, path, algorithm);
    return {
      wrote: (_chunks, end) => worker.feed(id, end),
      finish: (total) => worker.finish(id, total),
      abort: () => worker.abort(id),
    };
  }

  private pick(): HashWorker | undefined {
    if (this.disabled) return undefined;
    if (!this.workers) {
      const n = Math.min(4, Math.max(1, availableParallelism() - 1));
      try {
        this.workers = Array.from({ length: n }, () => new HashWorker(() => this.retire()));
      } catch {
        this.disabled = true;
        return undefined;
      }
    }
    let best: HashWorker | undefined;
    for (const w of this.workers) if (w.healthy && (!best || w.load < best.load)) best = w;
    return best;
  }

  /** A worker died: the jobs it held fail (and are retried by the copy); later jobs go elsewhere. */
  private retire(): void {
    if (this.workers?.every((w) => !w.healthy)) this.disabled = true;
  }
}

const pool = new HashPool();

/** Below this size (or when the size is unknown) hashing stays on the calling thread: a worker round trip costs more. */
const WORKER_MIN_SIZE = 4 << 20;

/** A hasher for the file at `path`, which the caller is about to write from its start; `size` -1 when unknown. */
export function hashFileAsWritten(path: string, algorithm: Algorithm, size: number): FileHasher {
  return size >= WORKER_MIN_SIZE ? pool.hasherFor(path, algorithm) : new InlineHasher(algorithm);
}
