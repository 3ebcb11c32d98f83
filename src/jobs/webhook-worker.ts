// The webhook delivery thread's entry (started by webhook-delivery-thread.ts): a WebhookDispatcher on
// its own metadata store connection, so that claiming, rendering, signing, sending and logging the
// outbox's deliveries take none of the main thread's time. On SQLite it shares the main thread's writer
// lock (store/meta/writer-lock.ts); on PostgreSQL it has a small pool of its own.
//
// Messages in: 'nudge' (a commit recorded deliveries) and 'stop'. Out: 'ready', the attempts' outcomes
// (batched, for the main thread's metrics), errors (for its log) and 'stopped'.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../config/clock.js';
import { WHARF_VERSION } from '../config/version.js';
import { openMetaStore } from '../store/open-meta-store.js';
import { WriterLock } from '../store/meta/writer-lock.js';
import type { DeliveryOutcome } from '../store/meta/meta-store.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import { WebhookSender } from './webhook-sender.js';
import { DELIVERY_THREAD_HOLDER, errorFromThread, type DeliveryThreadData, type FromDeliveryThread } from './webhook-delivery-thread.js';

const port = parentPort!;
const data = workerData as DeliveryThreadData;
const post = (m: FromDeliveryThread): void => port.postMessage(m);

async function main(): Promise<void> {
  const { config } = data;
  const nudged = new Int32Array(data.nudged);
  const meta = await openMetaStore(config, systemClock, {
    migrate: false, maxConnections: 2,
    ...(data.writerLock ? { writerLock: new WriterLock(data.writerLock, DELIVERY_THREAD_HOLDER) } : {}),
  });
  const sender = new WebhookSender({ timeoutMs: config.webhooks.timeout, userAgent: `wharf/${WHARF_VERSION}` });
  // Outcomes go to the main thread a batch at a time (a message per attempt would cost it more than the metric).
  let attempts: [DeliveryOutcome, number][] = [];
  const flush = (): void => {
    if (attempts.length === 0) return;
    post({ type: 'attempts', attempts });
    attempts = [];
  };
  const dispatcher = new WebhookDispatcher({
    meta, sender, clock: systemClock, timeoutMs: config.webhooks.timeout, maxAttempts: config.webhooks.maxAttempts, concurrency: config.webhooks.concurrency,
    retry: { initialMs: config.webhooks.retry.initial, maxMs: config.webhooks.retry.max }, render: { source: config.webhooks.source },
    onAttempt: (outcome, ms) => {
      if (attempts.push([outcome, ms]) === 1) setImmediate(flush);
    },
    onError: (err) => post({ type: 'error', error: errorFromThread.pack(err) }),
    // The main thread posts a nudge only while none is on its way: one per cycle at most, not one per commit.
    onCycle: () => Atomics.store(nudged, 0, 0),
  });
  port.on('message', (m: 'nudge' | 'stop') => {
    if (m === 'nudge') {
      dispatcher.nudge();
      return;
    }
    void (async () => {
      try {
        await dispatcher.stop();
        flush();
        await sender.close();
        await meta.close();
      } finally {
        post({ type: 'stopped' });
        port.close();
      }
    })();
  });
  dispatcher.start();
  post({ type: 'ready' });
}

main().catch((err: unknown) => {
  post({ type: 'failed', error: errorFromThread.pack(err) });
  port.close();
});
