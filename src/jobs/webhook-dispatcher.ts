// Delivers the webhook outbox (store/meta's webhooks; filled by registry/webhook-events.ts), at least once.
// Any process may deliver: each claims due deliveries for a short while (2 × the timeout + 5 s) in one
// statement, so two processes never send one delivery at once, and a delivery whose process died is
// claimed again when its claim lapses. A 2xx answer removes the delivery; anything else (an error
// status, a redirect, a timeout, no connection) counts an attempt and makes it due again after an
// exponential backoff with jitter, until `maxAttempts`, when it is given up. Every attempt goes to the
// delivery log. The dispatcher polls every second, is nudged right after a commit that recorded
// deliveries, and sends at most `concurrency` at once. Stopping stops claiming and waits for the
// deliveries in flight (each bounded by the timeout).
import { randomUUID } from 'node:crypto';
import type { Clock } from '../config/clock.js';
import type { StoredEvent } from '../registry/webhook-events.js';
import type { ClaimedDelivery, DeliveryOutcome, MetaStore, WebhookRecord } from '../store/meta/meta-store.js';
import { renderEvent, renderTest, type RenderOptions } from './webhook-payloads.js';
import type { SendResult, WebhookSender } from './webhook-sender.js';

export interface RetrySchedule {
  /** The wait after the first failed attempt. */
  initialMs: number;
  /** The longest wait between attempts. */
  maxMs: number;
}

export interface DispatcherOptions {
  meta: MetaStore;
  sender: WebhookSender;
  clock: Clock;
  retry: RetrySchedule;
  /** Attempts before a delivery is given up. */
  maxAttempts: number;
  /** Deliveries in flight at once, per process. */
  concurrency: number;
  /** The sender's timeout: claims last twice as long, plus a margin. */
  timeoutMs: number;
  render?: RenderOptions;
  pollMs?: number;
  /** Told of every attempt (metrics). */
  onAttempt?: (outcome: DeliveryOutcome, durationMs: number) => void;
  /** Told when the outbox could not be read or written (the dispatcher goes on). */
  onError?: (err: unknown) => void;
}

/** The wait before attempt `failed + 1`: min(max, initial · 2^(failed−1)), jittered into its upper half. */
export function backoffMs(failed: number, r: RetrySchedule, random: () => number = Math.random): number {
  const full = Math.min(r.maxMs, r.initialMs * 2 ** Math.max(0, failed - 1));
  return Math.round(full / 2 + (full / 2) * random());
}

export interface TestDeliveryResult extends SendResult {
  eventId: string;
}

export class WebhookDispatcher {
  readonly holder = randomUUID();
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private again = false;
  private stopped = false;

  constructor(private readonly o: DispatcherOptions) {}

  private get claimMs(): number {
    return 2 * this.o.timeoutMs + 5_000;
  }

  start(): void {
    this.stopped = false;
    this.timer = setInterval(() => void this.poll(), this.o.pollMs ?? 1_000);
    this.timer.unref();
    this.nudge();
  }

  /** Looks for due deliveries now (after a commit that recorded some, or a delivery that freed a slot). */
  nudge(): void {
    if (this.stopped) return;
    setImmediate(() => void this.poll());
  }

  /** Stops claiming; waits for the deliveries in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Claims what is due and free slots allow, and starts delivering it; how many were claimed. */
  async poll(): Promise<number> {
    if (this.stopped) return 0;
    if (this.polling) {
      this.again = true;
      return 0;
    }
    this.polling = true;
    let claimed = 0;
    try {
      do {
        this.again = false;
        const free = this.o.concurrency - this.inFlight.size;
        if (free <= 0) break;
        const due = await this.o.meta.webhooks.outbox.claim(this.holder, this.claimMs, free);
        claimed += due.length;
        for (const d of due) this.track(this.deliver(d));
        if (due.length === free) this.again = true;
      } while (this.again && !this.stopped);
    } catch (err) {
      this.o.onError?.(err);
    } finally {
      this.polling = false;
    }
    return claimed;
  }

  /** Waits until nothing is in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0 || this.polling) await Promise.all([...this.inFlight, new Promise((r) => setImmediate(r))]);
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.o.onError?.(err)).finally(() => {
      this.inFlight.delete(tracked);
      this.nudge();
    });
    this.inFlight.add(tracked);
  }

  private async deliver(d: ClaimedDelivery): Promise<void> {
    const w = await this.o.meta.webhooks.subscriptions.get(d.webhookId);
    // Deleted since it was claimed: its deliveries went with it.
    if (!w) return;
    const rendered = renderEvent(w.format, { id: d.eventId, time: d.createdAt, event: JSON.parse(d.payload) as StoredEvent }, this.o.render);
    const result = await this.o.sender.send({ url: w.url, secret: w.secret, ...rendered, eventId: d.eventId, eventType: d.eventType });
    const attempt = d.attempts + 1;
    const outcome: DeliveryOutcome = result.delivered ? 'delivered' : attempt >= this.o.maxAttempts ? 'gave_up' : 'failed_attempt';
    const now = this.o.clock.now();
    await this.o.meta.tx(async (m) => {
      if (outcome === 'failed_attempt') await m.webhooks.outbox.retryAt(d.id, this.holder, now + backoffMs(attempt, this.o.retry));
      else await m.webhooks.outbox.remove(d.id, this.holder);
      await m.webhooks.log.append({
        webhookId: w.id, eventId: d.eventId, eventType: d.eventType, attempt, at: now, durationMs: result.durationMs,
        status: result.status, response: result.response, error: result.error, outcome,
      });
    });
    this.o.onAttempt?.(outcome, result.durationMs);
  }

  /**
   * Sends a test event to the subscription now, through the same signer and sender, and logs it. `origin`:
   * the scheme://host the caller addressed (the CloudEvents source unless webhooks.source says otherwise).
   */
  async test(w: WebhookRecord, actor: { name: string; kind: string }, origin?: string): Promise<TestDeliveryResult> {
    const eventId = randomUUID();
    const at = this.o.clock.now();
    const rendered = renderTest(w.format, {
      id: eventId, time: at, webhook: { id: w.id, namespace: w.namespace, repository: w.repository }, actor: { name: actor.name, kind: actor.kind },
    }, { source: this.o.render?.source ?? origin });
    const result = await this.o.sender.send({ url: w.url, secret: w.secret, ...rendered, eventId, eventType: 'io.wharf.webhook.test' });
    const outcome: DeliveryOutcome = result.delivered ? 'delivered' : 'failed_attempt';
    await this.o.meta.webhooks.log.append({
      webhookId: w.id, eventId, eventType: 'io.wharf.webhook.test', attempt: 1, at, durationMs: result.durationMs,
      status: result.status, response: result.response, error: result.error, outcome,
    });
    this.o.onAttempt?.(outcome, result.durationMs);
    return { eventId, ...result };
  }
}
