// The right to write one SQLite database, shared by the threads of one process (a SharedArrayBuffer):
// each takes it before SQLite's own write lock, so that two threads of Wharf never meet SQLite's busy
// handler. That handler sleeps the calling thread for a millisecond or more; on the main thread every
// request would wait through it. Waiting here is asynchronous (Atomics.waitAsync), so the main thread
// goes on serving while a webhook delivery thread commits. Other processes on the same database still
// meet SQLite's busy_timeout, as before.
//
// Word 0 holds the holder's id (0: free), word 1 counts the threads waiting (a release notifies only then).

/** Atomics.waitAsync (Node 16+; in TypeScript's lib from ES2024 on). */
const waitAsync = (Atomics as unknown as {
  waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> };
}).waitAsync;

/** How long a waiter sleeps before it looks again (a holder that ended without releasing is freed by its owner). */
const RECHECK_MS = 100;

export class WriterLock {
  private readonly words: Int32Array;

  /** `holder`: this thread's id, > 0 and unique among the threads sharing `buffer`. */
  constructor(readonly buffer: SharedArrayBuffer, private readonly holder: number) {
    if (holder <= 0) throw new Error('a writer lock holder id must be positive');
    this.words = new Int32Array(buffer);
  }

  static newBuffer(): SharedArrayBuffer {
    return new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  }

  /** Takes the lock (not re-entrant: a thread takes it once per unit of work or statement). */
  async acquire(): Promise<void> {
    for (;;) {
      const held = Atomics.compareExchange(this.words, 0, 0, this.holder);
      if (held === 0) return;
      Atomics.add(this.words, 1, 1);
      // A pending waitAsync does not keep Node's event loop alive; this timer does, while it waits.
      const alive = setTimeout(() => undefined, RECHECK_MS + 10);
      try {
        // 'not-equal' at once when it was released in between.
        const waited = waitAsync(this.words, 0, held, RECHECK_MS);
        if (waited.async) await waited.value;
      } finally {
        clearTimeout(alive);
        Atomics.sub(this.words, 1, 1);
      }
    }
  }

  release(): void {
    Atomics.compareExchange(this.words, 0, this.holder, 0);
    if (Atomics.load(this.words, 1) > 0) Atomics.notify(this.words, 0);
  }

  /** Frees the lock if thread `holder` has it (that thread ended without releasing it). */
  releaseHeldBy(holder: number): void {
    if (Atomics.compareExchange(this.words, 0, holder, 0) === holder) Atomics.notify(this.words, 0);
  }
}
