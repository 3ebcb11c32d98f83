// Delivers the webhook outbox (store/meta's webhooks; filled by registry/webhook-events.ts), at least once.
// Any process may deliver: each claims due deliveries for a short while (2 × the timeout + 5 s) in one
// statement, so two processes never send one delivery at once, and a delivery whose process died is
// claimed again when its claim lapses. A 2xx answer removes the delivery; anything else (an error
// status, a redirect, a timeout, no connection) counts an attempt and makes it due again after an
// exponential backoff with jitter, until `maxAttempts`, when it is given up. Every attempt goes to the
// delivery log. The dispatcher polls every second, is nudged right after a commit that recorded
// deliveries, and sends at most `concurrency` at once. Stopping stops claiming and waits for the
// deliveries in flight (each bounded by the timeout).
//
// Cheap beside a busy registry (whose units of work share the database with it): the dispatcher works in
// cycles, each one unit of work that records how the attempts that ended since the last one went and
// claims what is due; nudges within a few milliseconds share a cycle, and a claim's deliveries read each
// subscription once. It holds up to twice `concurrency` claimed deliveries, so that a slot that frees up
// starts the next one at once; one that waits starts within a timeout and ends within another, inside
// its claim.
//
// A subscription with `batch` > 1 gets up to that many of its deliveries in one request (the payload's
// batch shape): a claim is topped up with more of its due deliveries to fill its batches (so at most
// twice `concurrency` requests are held, each of up to 100 deliveries), and the request's outcome is each
// delivery's — a 2xx removes them all, anything else counts an attempt of each, with its own backoff. A
// batch request has its own X-Wharf-Delivery id (a retry may group the events differently).
import { randomUUID } from 'node:crypto';
import type { Clock } from '../config/clock.js';
import type { StoredEvent } from '../registry/webhook-events.js';
import type { ClaimedDelivery, DeliveryAttempt, DeliveryOutcome, MetaStore, MetaTx, WebhookRecord } from '../store/meta/meta-store.js';
import { renderBatch, renderEvent, renderTest, type EventToRender, type RenderOptions } from './webhook-payloads.js';
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
  /** Told as each cycle starts, before it reads the outbox (a nudge from now on asks for another). */
  onCycle?: () => void;
}

/** The wait before attempt `failed + 1`: min(max, initial · 2^(failed−1)), jittered into its upper half. */
export function backoffMs(failed: number, r: RetrySchedule, random: () => number = Math.random): number {
  const full = Math.min(r.maxMs, r.initialMs * 2 ** Math.max(0, failed - 1));
  return Math.round(full / 2 + (full / 2) * random());
}

export interface TestDeliveryResult extends SendResult {
  eventId: string;
}

/** How long a nudge waits for more (a burst of pushes shares one cycle). */
const NUDGE_DELAY_MS = 10;

/** X-Wharf-Event of a batch whose events are of several types. */
export const MIXED_BATCH_EVENT = 'batch';

/** What the outbox holds of an event it cannot read (given up at once rather than claimed again forever). */
const UNREADABLE = 'the event in the outbox is unreadable';

/** One request to make: a delivery, or up to the subscription's `batch` of them (null: deleted since the claim). */
interface Request {
  subscription: WebhookRecord | null;
  deliveries: ClaimedDelivery[];
}

/** An attempt's end, to be written by the next cycle. */
interface Settled {
  delivery: ClaimedDelivery;
  attempt: DeliveryAttempt;
  /** For a failed attempt: when to try again. */
  retryAt: number | null;
}

export class WebhookDispatcher {
  readonly holder = randomUUID();
  /** Deliveries being sent. */
  private sending = 0;
  /** Claimed, waiting for a slot. */
  private queued: Request[] = [];
  private settled: Settled[] = [];
  /** Claimed but not to be sent (the dispatcher stopped): given back by the next cycle. */
  private unsent: ClaimedDelivery[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private nudged: NodeJS.Timeout | null = null;
  private cycling: Promise<number> | null = null;
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

  /** Runs a cycle soon (after a commit that recorded deliveries, or an attempt that ended). */
  nudge(): void {
    if (this.nudged) return;
    this.nudged = setTimeout(() => {
      this.nudged = null;
      void this.poll();
    }, NUDGE_DELAY_MS);
  }

  /** Stops claiming; waits for the deliveries in flight and writes how they went. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.pump();
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.idle();
    if (this.nudged) clearTimeout(this.nudged);
    this.nudged = null;
  }

  /**
   * One cycle now (or right after the one under way): writes the attempts that ended, claims what is due
   * for the free slots and starts sending it. How many it claimed.
   */
  poll(): Promise<number> {
    if (this.stopped && this.settled.length === 0 && this.unsent.length === 0) return this.cycling ?? Promise.resolve(0);
    if (this.cycling) {
      this.again = true;
      return Promise.resolve(0);
    }
    this.cycling = this.cycle().finally(() => {
      this.cycling = null;
      if (this.again) {
        this.again = false;
        this.nudge();
      }
    });
    return this.cycling;
  }

  /** Waits until nothing is being sent and every ended attempt is written. */
  async idle(): Promise<void> {
    for (;;) {
      if (this.cycling) await this.cycling;
      else if (this.inFlight.size > 0 || this.queued.length > 0) await Promise.all([...this.inFlight]);
      else if (this.settled.length > 0 || this.unsent.length > 0) await this.poll();
      else return;
    }
  }

  private async cycle(): Promise<number> {
    this.o.onCycle?.();
    const settled = this.settled;
    const unsent = this.unsent;
    this.settled = [];
    this.unsent = [];
    const free = this.stopped ? 0 : 2 * this.o.concurrency - this.sending - this.queued.length;
    let claim: { due: ClaimedDelivery[]; requests: Request[] };
    try {
      claim = await this.o.meta.tx(async (m) => {
        // Removed, or due again, only while this process still holds the claim (else another has it now).
        for (const b of settled) {
          if (b.retryAt !== null) await m.webhooks.outbox.retryAt(b.delivery.id, this.holder, b.retryAt);
        }
        await m.webhooks.outbox.remove(settled.filter((b) => b.retryAt === null).map((b) => b.delivery.id), this.holder);
        await m.webhooks.log.append(settled.map((b) => b.attempt));
        for (const d of unsent) await m.webhooks.outbox.release(d.id, this.holder);
        const due = free > 0 ? await m.webhooks.outbox.claim(this.holder, this.claimMs, free) : [];
        return { due, requests: await this.requestsOf(m, due) };
      });
    } catch (err) {
      // Not written: those claims lapse and the deliveries are made again (at least once).
      this.o.onError?.(err);
      return 0;
    }
    for (const b of settled) this.o.onAttempt?.(b.attempt.outcome, b.attempt.durationMs);
    this.queued.push(...claim.requests);
    this.pump();
    // A full claim: more may be due.
    if (claim.due.length > 0 && claim.due.length === free) this.again = true;
    return claim.requests.reduce((n, r) => n + r.deliveries.length, 0);
  }

  /**
   * The claimed deliveries as requests, in the claim's order: one each, or for a batching subscription
   * its deliveries in batches, topped up from its other due deliveries so that each batch is full (at
   * most as many requests as deliveries were claimed). Reads each subscription once.
   */
  private async requestsOf(m: MetaTx, due: ClaimedDelivery[]): Promise<Request[]> {
    const bySubscription = new Map<number, ClaimedDelivery[]>();
    for (const d of due) {
      const list = bySubscription.get(d.webhookId);
      if (list) list.push(d);
      else bySubscription.set(d.webhookId, [d]);
    }
    const requests: Request[] = [];
    for (const [id, claimed] of bySubscription) {
      const w = await m.webhooks.subscriptions.get(id);
      const size = w?.batch ?? 1;
      if (size > 1) {
        const more = Math.ceil(claimed.length / size) * size - claimed.length;
        if (more > 0) claimed.push(...await m.webhooks.outbox.claimOf(id, this.holder, this.claimMs, more));
      }
      for (let i = 0; i < claimed.length; i += size) requests.push({ subscription: w, deliveries: claimed.slice(i, i + size) });
    }
    return requests.sort((a, b) => a.deliveries[0]!.id - b.deliveries[0]!.id);
  }

  /** Starts waiting deliveries while slots are free (once stopped, gives them back instead). */
  private pump(): void {
    if (this.stopped) {
      this.unsent.push(...this.queued.flatMap((q) => q.deliveries));
      this.queued = [];
      return;
    }
    while (this.sending < this.o.concurrency && this.queued.length > 0) {
      const request = this.queued.shift()!;
      this.sending++;
      const tracked = this.deliver(request).catch((err: unknown) => this.o.onError?.(err)).finally(() => {
        this.sending--;
        this.inFlight.delete(tracked);
        this.pump();
        // The next cycle writes how it went (and claims more when few are waiting).
        this.nudge();
      });
      this.inFlight.add(tracked);
    }
  }

  private async deliver({ subscription: w, deliveries }: Request): Promise<void> {
    // Deleted since it was claimed: its deliveries went with it.
    if (!w) return;
    const events: EventToRender[] = [];
    const readable: ClaimedDelivery[] = [];
    for (const d of deliveries) {
      let event: StoredEvent;
      try {
        event = JSON.parse(d.payload) as StoredEvent;
      } catch {
        this.settle(w, d, { delivered: false, status: null, response: null, error: UNREADABLE, durationMs: 0 }, true);
        continue;
      }
      events.push({ id: d.eventId, time: d.createdAt, event });
      readable.push(d);
    }
    if (readable.length === 0) return;
    let post: { body: string; contentType: string; deliveryId: string; eventType: string };
    if (w.batch === 1) {
      const d = readable[0]!;
      post = { ...renderEvent(w.format, events[0]!, this.o.render), deliveryId: d.eventId, eventType: d.eventType };
    } else {
      const types = new Set(readable.map((d) => d.eventType));
      post = {
        ...renderBatch(w.format, events, this.o.render), deliveryId: randomUUID(),
        eventType: types.size === 1 ? readable[0]!.eventType : MIXED_BATCH_EVENT,
      };
    }
    const result = await this.o.sender.send({ url: w.url, secret: w.secret, ...post });
    for (const d of readable) this.settle(w, d, result);
  }

  /** Records how an attempt of `d` went (each delivery of a batch has its own attempt count and backoff). */
  private settle(w: WebhookRecord, d: ClaimedDelivery, result: SendResult, giveUp = false): void {
    const attempt = d.attempts + 1;
    const outcome: DeliveryOutcome = result.delivered ? 'delivered' : giveUp || attempt >= this.o.maxAttempts ? 'gave_up' : 'failed_attempt';
    const at = this.o.clock.now();
    this.settled.push({
      delivery: d,
      attempt: {
        webhookId: w.id, eventId: d.eventId, eventType: d.eventType, attempt, at, durationMs: result.durationMs,
        status: result.status, response: result.response, error: result.error, outcome,
      },
      retryAt: outcome === 'failed_attempt' ? at + backoffMs(attempt, this.o.retry) : null,
    });
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
    }, { source: this.o.render?.source ?? origin }, w.batch > 1);
    const result = await this.o.sender.send({ url: w.url, secret: w.secret, ...rendered, deliveryId: eventId, eventType: 'io.wharf.webhook.test' });
    const outcome: DeliveryOutcome = result.delivered ? 'delivered' : 'failed_attempt';
    await this.o.meta.webhooks.log.append([{
      webhookId: w.id, eventId, eventType: 'io.wharf.webhook.test', attempt: 1, at, durationMs: result.durationMs,
      status: result.status, response: result.response, error: result.error, outcome,
    }]);
    this.o.onAttempt?.(outcome, result.durationMs);
    return { eventId, ...result };
  }
}
