// Webhook delivery on a worker thread (webhook-worker.ts runs there). A manifest PUT's unit of work
// records its events in the outbox; everything after that — claiming, rendering, signing, sending,
// logging — would otherwise share the main thread with the requests, and on a busy registry it cost
// about a tenth of the push rate. Distribution sends notifications from goroutines of their own, Harbor
// from a separate job service; this is the same on Node.
//
// The main thread's part is a nudge after each commit that recorded deliveries: one message per cycle
// at most (a shared flag says one is already on its way), and the worker's outcomes for the metrics.
// A worker that ends unexpectedly is started again after a second (its claims lapse, its deliveries are
// made again: at least once, as after a crash).
import { Worker } from 'node:worker_threads';
import type { Config } from '../config/config.js';
import type { DeliveryOutcome } from '../store/meta/meta-store.js';
import type { WriterLock } from '../store/meta/writer-lock.js';

/** The worker's id in the writer lock (the main thread's is 1). */
export const DELIVERY_THREAD_HOLDER = 2;

/** How long stop() waits for the deliveries in flight before it ends the thread. */
const STOP_WAIT_MS = 30_000;
const RESTART_DELAY_MS = 1_000;

export interface DeliveryThreadData {
  config: Pick<Config, 'data' | 'meta' | 'storage' | 'webhooks'>;
  /** SQLite: the writer lock's buffer. */
  writerLock?: SharedArrayBuffer;
  /** One Int32: 1 while a nudge is on its way. */
  nudged: SharedArrayBuffer;
}

export type FromDeliveryThread =
  | { type: 'ready' | 'stopped' }
  | { type: 'attempts'; attempts: [DeliveryOutcome, number][] }
  | { type: 'error' | 'failed'; error: PackedError };

interface PackedError { name: string; message: string; stack?: string; code?: string }

/** Errors cross the thread boundary as plain fields (and become Errors again for the log). */
export const errorFromThread = {
  pack(err: unknown): PackedError {
    const e = err instanceof Error ? err : new Error(String(err));
    const code = (e as { code?: unknown }).code;
    return { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), ...(typeof code === 'string' ? { code } : {}) };
  },
  unpack(p: PackedError): Error {
    return Object.assign(new Error(p.message), { name: p.name, stack: p.stack, ...(p.code ? { code: p.code } : {}) });
  },
};

export interface DeliveryThreadOptions {
  config: DeliveryThreadData['config'];
  writerLock?: WriterLock;
  onAttempt?: (outcome: DeliveryOutcome, durationMs: number) => void;
  /** The outbox could not be read or written, or the thread failed. */
  onError: (err: Error) => void;
}

/** The worker's file: beside the bundle (dist/webhook-worker.cjs), or beside this module when run unbundled. */
function workerFile(): URL {
  const here = import.meta.url;
  return new URL(here.endsWith('.cjs') ? './webhook-worker.cjs' : './webhook-worker.js', here);
}

export class WebhookDeliveryThread {
  private worker: Worker | null = null;
  private readonly nudged = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  private stopping = false;
  private restart: NodeJS.Timeout | null = null;
  /** Settles when the thread delivers (rejected if it could not open the store): the server waits for it before it listens. */
  readonly ready: Promise<void>;

  /** Starts the thread (it starts beside the rest of the server; nudges before it is ready wait in its port). */
  constructor(private readonly o: DeliveryThreadOptions) {
    this.ready = this.spawn();
    // Awaited by the caller; a failure the caller never awaits (it failed first) is not unhandled.
    this.ready.catch(() => undefined);
  }

  private spawn(): Promise<void> {
    const data: DeliveryThreadData = {
      config: this.o.config, nudged: this.nudged.buffer as SharedArrayBuffer, writerLock: this.o.writerLock?.buffer,
    };
    const worker = new Worker(workerFile(), { workerData: data, name: 'wharf-webhooks' });
    // The server's listener keeps the process alive; a server that failed to start leaves nothing behind.
    worker.unref();
    this.worker = worker;
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromDeliveryThread) => {
        if (m.type === 'ready') {
          ready = true;
          resolve();
        } else if (m.type === 'attempts') {
          for (const [outcome, ms] of m.attempts) this.o.onAttempt?.(outcome, ms);
        } else if (m.type === 'error') {
          this.o.onError(errorFromThread.unpack(m.error));
        } else if (m.type === 'failed') {
          const err = errorFromThread.unpack(m.error);
          if (ready) this.o.onError(err);
          else reject(err);
        }
      });
      worker.on('error', (err) => {
        if (ready) this.o.onError(err);
        else reject(err);
      });
      worker.once('exit', (code) => {
        // A thread that ended holding the writer lock must not keep it.
        this.o.writerLock?.releaseHeldBy(DELIVERY_THREAD_HOLDER);
        if (this.worker === worker) this.worker = null;
        if (!ready) {
          reject(new Error(`the webhook delivery thread ended at start (exit code ${code})`));
        } else if (!this.stopping) {
          this.o.onError(new Error(`the webhook delivery thread ended (exit code ${code}); starting it again`));
          this.restart = setTimeout(() => {
            this.restart = null;
            if (!this.stopping) this.spawn().catch((err: Error) => this.o.onError(err));
          }, RESTART_DELAY_MS);
          this.restart.unref();
        }
      });
    });
  }

  /** After a commit that recorded deliveries: a cycle soon (one message while none is on its way). */
  nudge(): void {
    if (this.worker && Atomics.exchange(this.nudged, 0, 1) === 0) this.worker.postMessage('nudge');
  }

  /** Stops claiming, waits for the deliveries in flight (bounded) and ends the thread. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restart) clearTimeout(this.restart);
    const worker = this.worker;
    if (!worker) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop');
    const timer = setTimeout(() => void worker.terminate(), STOP_WAIT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
