// Webhooks in the MetaStore's portable SQL (sql-meta-store.ts): subscriptions, the outbox of deliveries
// to make, and the log of attempts. A subscription on a whole namespace has repository '' in the table
// (the interface says null). Deliveries are claimed with one UPDATE … RETURNING that re-checks the claim
// on each row it changes: on PostgreSQL a second claimer blocked on a row sees the first one's claim
// when it gets the row and passes it by; on SQLite writers are serial anyway.
//
// The outbox is two tables. Every push records its events in webhook_outbox, which has no secondary
// index to keep (each one is another page every push's commit writes): its deliveries were never
// attempted, so all are due, and a claim takes the oldest by id. A delivery that fails moves to
// webhook_retries, indexed by due time, as do the waiting deliveries of a subscription that is disabled
// (the outbox's walk by id would read them at every claim). A claim takes due retries first. A claimed
// delivery's id says where it is: a retry's is its row's id less 2^53 (negative, in the rows' order).
import {
  DELIVERY_LOG_KEPT,
  type ClaimedDelivery, type DeliveryAttempt, type DeliveryLogEntry, type NewWebhook, type OutboxEntry, type WebhookDeliveryLog,
  type WebhookEventKind, type WebhookFormat, type WebhookOutbox, type WebhookRecord, type WebhookSettings, type WebhookStore, type WebhookSubscriptions,
} from './meta-store.js';
import type { Row } from './sql-database.js';
import type { SqlDeps } from './sql-meta-store.js';

const WEBHOOK = `id, namespace, repository, url, events, repositories, tags, format, secret, enabled, batch,
  created_at AS "createdAt", updated_at AS "updatedAt"`;
const CLAIMED = 'id, webhook_id AS "webhookId", event_id AS "eventId", event_type AS "eventType", payload, attempts, created_at AS "createdAt"';
const ATTEMPT = `id, webhook_id AS "webhookId", event_id AS "eventId", event_type AS "eventType", attempt, at, duration_ms AS "durationMs",
  status, response, error, outcome`;

const Q = {
  insert: `INSERT INTO webhooks (namespace, repository, url, events, repositories, tags, format, secret, enabled, batch, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  byId: `SELECT ${WEBHOOK} FROM webhooks WHERE id = ?`,
  all: `SELECT ${WEBHOOK} FROM webhooks ORDER BY id`,
  inNamespace: `SELECT ${WEBHOOK} FROM webhooks WHERE namespace = ? ORDER BY id`,
  update: `UPDATE webhooks SET url = ?, events = ?, repositories = ?, tags = ?, format = ?, secret = ?, enabled = ?, batch = ?, updated_at = ? WHERE id = ?`,
  delete: 'DELETE FROM webhooks WHERE id = ?',
  // Walks webhooks_by_target: (namespace, '') and (namespace, repository).
  forRepository: `SELECT ${WEBHOOK} FROM webhooks WHERE namespace = ? AND repository IN ('', ?) AND enabled = 1 ORDER BY id`,
  withPulls: "SELECT DISTINCT namespace FROM webhooks WHERE enabled = 1 AND events LIKE '%pull%' ORDER BY namespace",

  // One statement for a change's deliveries (a few rows: a push and its tag move, for each subscription).
  enqueue: byCount((rows) => `INSERT INTO webhook_outbox (webhook_id, event_id, event_type, payload, created_at, next_attempt_at)
    VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}`),
  // Never attempted: all due, oldest first by id (the table's own order, no index to keep).
  claimFresh: `UPDATE webhook_outbox SET claim_holder = ?, claimed_until = ?
               WHERE id IN (SELECT o.id FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id
                            WHERE o.claimed_until <= ? AND w.enabled = 1 ORDER BY o.id LIMIT ?)
                 AND claimed_until <= ?
               RETURNING ${CLAIMED}`,
  // Failed before: those due, by due time (walks webhook_retries_by_due).
  claimRetries: `UPDATE webhook_retries SET claim_holder = ?, claimed_until = ?
                 WHERE id IN (SELECT o.id FROM webhook_retries o JOIN webhooks w ON w.id = o.webhook_id
                              WHERE o.next_attempt_at <= ? AND o.claimed_until <= ? AND w.enabled = 1
                              ORDER BY o.next_attempt_at, o.id LIMIT ?)
                   AND claimed_until <= ?
                 RETURNING ${CLAIMED}`,
  // The same, of one subscription.
  claimFreshOf: `UPDATE webhook_outbox SET claim_holder = ?, claimed_until = ?
                 WHERE id IN (SELECT id FROM webhook_outbox WHERE webhook_id = ? AND claimed_until <= ? ORDER BY id LIMIT ?)
                   AND claimed_until <= ?
                 RETURNING ${CLAIMED}`,
  claimRetriesOf: `UPDATE webhook_retries SET claim_holder = ?, claimed_until = ?
                   WHERE id IN (SELECT id FROM webhook_retries
                                WHERE webhook_id = ? AND next_attempt_at <= ? AND claimed_until <= ?
                                ORDER BY next_attempt_at, id LIMIT ?)
                     AND claimed_until <= ?
                   RETURNING ${CLAIMED}`,
  // A cycle's made deliveries in one statement per table (ids padded to a few list lengths: few statements to prepare).
  remove: { webhook_outbox: byCount((n) => removeIn('webhook_outbox', n)), webhook_retries: byCount((n) => removeIn('webhook_retries', n)) },
  retryAt: `UPDATE webhook_retries SET attempts = attempts + 1, next_attempt_at = ?, claim_holder = NULL, claimed_until = 0
            WHERE id = ? AND claim_holder = ?`,
  // A first failure moves the delivery from the outbox to the retries.
  firstRetry: `INSERT INTO webhook_retries (webhook_id, event_id, event_type, payload, created_at, attempts, next_attempt_at, claim_holder, claimed_until)
               SELECT webhook_id, event_id, event_type, payload, created_at, attempts + 1, ?, NULL, 0 FROM webhook_outbox
               WHERE id = ? AND claim_holder = ?`,
  release: (table: Part) => `UPDATE ${table} SET claim_holder = NULL, claimed_until = 0 WHERE id = ? AND claim_holder = ?`,
  pending: 'SELECT (SELECT COUNT(*) FROM webhook_outbox) + (SELECT COUNT(*) FROM webhook_retries) AS n',
  // A subscription disabled: its waiting deliveries move to the retries (due as they were, claims kept),
  // where the claim's by-due walk passes them by; the outbox's walk by id would read them every time.
  park: `INSERT INTO webhook_retries (webhook_id, event_id, event_type, payload, created_at, attempts, next_attempt_at, claim_holder, claimed_until)
         SELECT webhook_id, event_id, event_type, payload, created_at, attempts, next_attempt_at, claim_holder, claimed_until
         FROM webhook_outbox WHERE webhook_id = ?`,
  parked: 'DELETE FROM webhook_outbox WHERE webhook_id = ?',

  logAttempt: `INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, attempt, at, duration_ms, status, response, error, outcome)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  // Everything older than the newest DELIVERY_LOG_KEPT (nothing while there are fewer: the bound is NULL).
  pruneLog: `DELETE FROM webhook_deliveries WHERE webhook_id = ? AND id <= (
               SELECT id FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT 1 OFFSET ${DELIVERY_LOG_KEPT})`,
  recent: `SELECT ${ATTEMPT} FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`,
};

/** SQL made once per count (a statement for n rows or ids is looked up by its text at every call). */
function byCount(make: (n: number) => string): (n: number) => string {
  const made: string[] = [];
  return (n) => (made[n] ??= make(n));
}

const removeIn = (table: string, n: number): string =>
  `DELETE FROM ${table} WHERE claim_holder = ? AND id IN (${Array.from({ length: n }, () => '?').join(', ')})`;

/** Most ids one DELETE names; lists are padded (with their last id) to a power of two up to this. */
const REMOVED_AT_ONCE = 128;

/** The outbox's two tables: deliveries never attempted, and those that failed (see migrations.ts). */
type Part = 'webhook_outbox' | 'webhook_retries';
/** Where a claimed delivery is, by its id, and its row's id there. */
const RETRY_IDS = 2 ** 53;
const partOf = (id: number): Part => (id < 0 ? 'webhook_retries' : 'webhook_outbox');
const rowId = (id: number): number => (id < 0 ? id + RETRY_IDS : id);

/** Most deliveries one INSERT adds (longer lists take several; statements are prepared per row count). */
const ENQUEUED_AT_ONCE = 32;

const webhook = (r: Row): WebhookRecord => ({
  id: Number(r.id), namespace: r.namespace as string, repository: r.repository === '' ? null : (r.repository as string),
  url: r.url as string, events: (r.events as string).split(',').filter(Boolean) as WebhookEventKind[],
  repositories: (r.repositories as string | null) ?? null, tags: (r.tags as string | null) ?? null,
  format: r.format as WebhookFormat, secret: r.secret as string, enabled: Number(r.enabled) === 1, batch: Number(r.batch),
  createdAt: Number(r.createdAt), updatedAt: Number(r.updatedAt),
});

class SqlWebhookSubscriptions implements WebhookSubscriptions {
  constructor(private readonly d: SqlDeps) {}

  async create(w: NewWebhook): Promise<WebhookRecord> {
    const now = this.d.clock.now();
    const row = await this.d.x.get<{ id: number }>(Q.insert, w.namespace, w.repository ?? '', w.url, w.events.join(','), w.repositories, w.tags,
      w.format, w.secret, w.enabled ? 1 : 0, w.batch, now, now);
    return { ...w, id: Number(row!.id), createdAt: now, updatedAt: now };
  }

  async get(id: number): Promise<WebhookRecord | null> {
    const r = await this.d.x.get<Row>(Q.byId, id);
    return r ? webhook(r) : null;
  }

  async list(namespace?: string): Promise<WebhookRecord[]> {
    const rows = namespace === undefined ? await this.d.x.all<Row>(Q.all) : await this.d.x.all<Row>(Q.inNamespace, namespace);
    return rows.map(webhook);
  }

  update(id: number, changes: Partial<WebhookSettings> & { secret?: string }): Promise<WebhookRecord | null> {
    return this.d.x.atomic(async (x) => {
      const r = await x.get<Row>(Q.byId, id);
      if (!r) return null;
      const was = webhook(r);
      const w = { ...was, ...definedOf(changes), updatedAt: this.d.clock.now() };
      await x.run(Q.update, w.url, w.events.join(','), w.repositories, w.tags, w.format, w.secret, w.enabled ? 1 : 0, w.batch, w.updatedAt, id);
      if (was.enabled && !w.enabled) {
        await x.run(Q.park, id);
        await x.run(Q.parked, id);
      }
      return w;
    }, [`webhook:${id}`]);
  }

  async delete(id: number): Promise<boolean> {
    return (await this.d.x.run(Q.delete, id)) > 0;
  }

  async forRepository(namespace: string, repository: string): Promise<WebhookRecord[]> {
    return (await this.d.x.all<Row>(Q.forRepository, namespace, repository)).map(webhook);
  }

  async namespacesWithPulls(): Promise<string[]> {
    return (await this.d.x.all<{ namespace: string }>(Q.withPulls)).map((r) => r.namespace);
  }
}

/** The keys of `o` whose value is not undefined (a PATCH leaves the others as they are). */
function definedOf<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Claimed rows of one table (`part`) as deliveries (a retry's id is negative: retries sort first). */
const claimed = (rows: Row[], part: Part): ClaimedDelivery[] => rows.map((r) => ({
  id: part === 'webhook_retries' ? Number(r.id) - RETRY_IDS : Number(r.id), webhookId: Number(r.webhookId), eventId: r.eventId as string, eventType: r.eventType as string,
  payload: r.payload as string, attempts: Number(r.attempts), createdAt: Number(r.createdAt),
})).sort((a, b) => a.id - b.id);

class SqlWebhookOutbox implements WebhookOutbox {
  constructor(private readonly d: SqlDeps) {}

  async add(entries: readonly OutboxEntry[]): Promise<void> {
    const now = this.d.clock.now();
    for (let i = 0; i < entries.length; i += ENQUEUED_AT_ONCE) {
      const piece = entries.slice(i, i + ENQUEUED_AT_ONCE);
      await this.d.x.run(Q.enqueue(piece.length), ...piece.flatMap((e) => [e.webhookId, e.eventId, e.eventType, e.payload, now, now]));
    }
  }

  async claim(holder: string, claimMs: number, limit: number): Promise<ClaimedDelivery[]> {
    const now = this.d.clock.now();
    return this.retriesThenFresh(limit,
      (n) => this.d.x.all<Row>(Q.claimRetries, holder, now + claimMs, now, now, n, now),
      (n) => this.d.x.all<Row>(Q.claimFresh, holder, now + claimMs, now, n, now));
  }

  async claimOf(webhookId: number, holder: string, claimMs: number, limit: number): Promise<ClaimedDelivery[]> {
    const now = this.d.clock.now();
    return this.retriesThenFresh(limit,
      (n) => this.d.x.all<Row>(Q.claimRetriesOf, holder, now + claimMs, webhookId, now, now, n, now),
      (n) => this.d.x.all<Row>(Q.claimFreshOf, holder, now + claimMs, webhookId, now, n, now));
  }

  /** Due retries first (they are the older), then never-attempted deliveries, up to `limit` in all. */
  private async retriesThenFresh(limit: number, retries: (n: number) => Promise<Row[]>, fresh: (n: number) => Promise<Row[]>): Promise<ClaimedDelivery[]> {
    const got = claimed(await retries(limit), 'webhook_retries');
    return got.length >= limit ? got : [...got, ...claimed(await fresh(limit - got.length), 'webhook_outbox')];
  }

  async remove(ids: readonly number[], holder: string): Promise<number> {
    let removed = 0;
    for (const part of ['webhook_retries', 'webhook_outbox'] as const) {
      const rows = ids.filter((id) => partOf(id) === part).map(rowId);
      for (let i = 0; i < rows.length; i += REMOVED_AT_ONCE) {
        const piece = rows.slice(i, i + REMOVED_AT_ONCE);
        const n = 2 ** Math.ceil(Math.log2(piece.length));
        while (piece.length < n) piece.push(piece[piece.length - 1]!);
        removed += await this.d.x.run(Q.remove[part](n), holder, ...piece);
      }
    }
    return removed;
  }

  async retryAt(id: number, holder: string, nextAttemptAt: number): Promise<boolean> {
    if (partOf(id) === 'webhook_retries') return (await this.d.x.run(Q.retryAt, nextAttemptAt, rowId(id), holder)) > 0;
    return this.d.x.atomic(async (x) => (await x.run(Q.firstRetry, nextAttemptAt, id, holder)) > 0 && (await x.run(Q.remove.webhook_outbox(1), holder, id)) > 0);
  }

  async release(id: number, holder: string): Promise<boolean> {
    return (await this.d.x.run(Q.release(partOf(id)), rowId(id), holder)) > 0;
  }

  async pending(): Promise<number> {
    return Number((await this.d.x.get<{ n: number }>(Q.pending))?.n ?? 0);
  }
}

class SqlWebhookDeliveryLog implements WebhookDeliveryLog {
  constructor(private readonly d: SqlDeps) {}

  async append(attempts: readonly DeliveryAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    const bySubscription = new Map<number, DeliveryAttempt[]>();
    for (const a of attempts) {
      const list = bySubscription.get(a.webhookId);
      if (list) list.push(a);
      else bySubscription.set(a.webhookId, [a]);
    }
    await this.d.x.atomic(async (x) => {
      for (const [id, list] of bySubscription) {
        // Only the newest that are kept (a batch of 100 would write rows only to prune them), in order.
        for (const a of list.slice(-DELIVERY_LOG_KEPT)) {
          await x.run(Q.logAttempt, a.webhookId, a.eventId, a.eventType, a.attempt, a.at, Math.round(a.durationMs), a.status, a.response, a.error, a.outcome);
        }
        // Once per subscription, however many attempts it had.
        await x.run(Q.pruneLog, id, id);
      }
    });
  }

  async recent(webhookId: number, limit: number): Promise<DeliveryLogEntry[]> {
    return (await this.d.x.all<Row>(Q.recent, webhookId, limit)).map((r) => ({
      id: Number(r.id), webhookId: Number(r.webhookId), eventId: r.eventId as string, eventType: r.eventType as string,
      attempt: Number(r.attempt), at: Number(r.at), durationMs: Number(r.durationMs),
      status: r.status === null || r.status === undefined ? null : Number(r.status),
      response: (r.response as string | null) ?? null, error: (r.error as string | null) ?? null, outcome: r.outcome as DeliveryAttempt['outcome'],
    }));
  }
}

export class SqlWebhooks implements WebhookStore {
  readonly subscriptions: WebhookSubscriptions;
  readonly outbox: WebhookOutbox;
  readonly log: WebhookDeliveryLog;

  constructor(d: SqlDeps) {
    this.subscriptions = new SqlWebhookSubscriptions(d);
    this.outbox = new SqlWebhookOutbox(d);
    this.log = new SqlWebhookDeliveryLog(d);
  }
}
