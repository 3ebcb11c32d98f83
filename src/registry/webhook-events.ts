// Webhook events: what the registry records for subscriptions (store/meta's webhooks) to be delivered by
// jobs/webhook-dispatcher.ts. A change of state (push, delete, tag move) is written to the outbox inside
// the unit of work that makes it, so a crash can never commit the change and lose its event; a pull is
// written after the answer, best effort, and only while some subscription in the repository's namespace
// wants pulls (a set the process refreshes every few seconds), so that a manifest GET costs nothing when
// nobody listens.
//
// Each event has one id (a UUID, the receivers' de-duplication key) however many subscriptions get it.
// The outbox holds the event in this module's neutral JSON (StoredEvent); jobs/webhook-payloads.ts
// renders it as CloudEvents or as Distribution's notification at delivery.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { namespaceOf } from '../access/roles.js';
import type { Clock } from '../config/clock.js';
import { tagPatternMatches } from '../oci/tag-patterns.js';
import type { MetaStore, MetaTx, OutboxEntry, WebhookEventKind, WebhookRecord } from '../store/meta/meta-store.js';
import type { Actor, EventRequest } from './events.js';
import { GroupCommit } from '../store/meta/group-commit.js';

/** The CloudEvents `type` of each event, and the subscription kind that asks for it (null: sent on request only). */
export const EVENT_KINDS = {
  'io.wharf.image.pushed': 'push',
  'io.wharf.image.deleted': 'delete',
  'io.wharf.tag.deleted': 'delete',
  'io.wharf.tag.moved': 'tag-move',
  'io.wharf.image.pulled': 'pull',
  'io.wharf.webhook.test': null,
} as const satisfies Record<string, WebhookEventKind | null>;

export type WebhookEventType = keyof typeof EVENT_KINDS;

/** Every kind a subscription may ask for. */
export const WEBHOOK_EVENT_KINDS: readonly WebhookEventKind[] = ['push', 'delete', 'pull', 'tag-move'];

/** What a change is about: the same in the change the registry describes and in the event the outbox keeps. */
interface ChangeSubject {
  repository: string;
  digest: string | null;
  tag: string | null;
  /** io.wharf.image.deleted: the tags the manifest took with it (a tag filter matches any of them). */
  tags?: string[];
  /** The digest the tag pointed at before (a move), else null. */
  previousDigest: string | null;
  mediaType: string | null;
  size: number | null;
}

/** A change to announce, as the registry's operations describe it. */
export interface RegistryChange extends ChangeSubject {
  type: Exclude<WebhookEventType, 'io.wharf.webhook.test'>;
  actor: Actor;
}

/** An event as the outbox keeps it (the id and time are the outbox row's). */
export interface StoredEvent extends ChangeSubject {
  type: WebhookEventType;
  actor: { name: string; kind: string };
  request: EventRequest | null;
  /** The process that recorded it (Distribution's source record). */
  source: { addr: string; instanceID: string };
}

/** This process, as events name it: its host, and an id that changes at every start. */
export const EVENT_SOURCE = Object.freeze({ addr: hostname(), instanceID: randomUUID() });

function stored(c: RegistryChange): StoredEvent {
  return {
    type: c.type, repository: c.repository, digest: c.digest, tag: c.tag, ...(c.tags ? { tags: c.tags } : {}),
    previousDigest: c.previousDigest, mediaType: c.mediaType, size: c.size,
    actor: { name: c.actor.name, kind: c.actor.kind }, request: c.actor.request ?? null, source: EVENT_SOURCE,
  };
}

/** Whether the subscription asks for the event: its kind, and its repository and tag filters. */
export function subscriptionWants(w: Pick<WebhookRecord, 'events' | 'repository' | 'repositories' | 'tags'>, e: Pick<RegistryChange, 'type' | 'repository' | 'tag' | 'tags'>): boolean {
  const kind = EVENT_KINDS[e.type];
  if (kind === null || !w.events.includes(kind)) return false;
  if (w.repository !== null && w.repository !== e.repository) return false;
  if (w.repositories !== null && !tagPatternMatches(w.repositories, e.repository)) return false;
  if (w.tags !== null) {
    // An event without a tag (a push or delete by digest that touched no tag) passes no tag filter.
    const tags = e.tag !== null ? [e.tag] : (e.tags ?? []);
    if (!tags.some((t) => tagPatternMatches(w.tags!, t))) return false;
  }
  return true;
}

/** The subscriptions a repository's events may go to, read once in a unit of work. */
export class EventSubscribers {
  private static readonly none = new EventSubscribers([]);

  private constructor(private readonly subscriptions: readonly WebhookRecord[]) {}

  /** One indexed query: the namespace's and the repository's enabled subscriptions (none without a namespace). */
  static async of(m: MetaTx, repository: string): Promise<EventSubscribers> {
    const ns = namespaceOf(repository);
    if (ns === null) return EventSubscribers.none;
    const found = await m.webhooks.subscriptions.forRepository(ns, repository);
    return found.length === 0 ? EventSubscribers.none : new EventSubscribers(found);
  }

  /** Whether any subscription may want an event (worth reading what the event needs). */
  get any(): boolean {
    return this.subscriptions.length > 0;
  }

  /** Whether a subscription wants an event of one of these types about the repository and tag (before reading more for it). */
  want(types: readonly RegistryChange['type'][], repository: string, tag: string | null): boolean {
    return this.subscriptions.some((w) => types.some((type) => subscriptionWants(w, { type, repository, tag })));
  }

  /** Adds a delivery to the outbox for each subscription that wants each change; how many were added. */
  async record(m: MetaTx, changes: readonly RegistryChange[]): Promise<number> {
    if (this.subscriptions.length === 0) return 0;
    const entries: OutboxEntry[] = [];
    for (const c of changes) {
      const wanting = this.subscriptions.filter((w) => subscriptionWants(w, c));
      if (wanting.length === 0) continue;
      const eventId = randomUUID();
      const payload = JSON.stringify(stored(c));
      for (const w of wanting) entries.push({ webhookId: w.id, eventId, eventType: c.type, payload });
    }
    if (entries.length > 0) await m.webhooks.outbox.add(entries);
    return entries.length;
  }
}

/**
 * Records changes for the subscriptions that want them, inside the caller's unit of work (the one that
 * makes the changes); how many deliveries were added. Tell WebhookEvents.recorded() after the commit.
 */
export async function recordEvents(m: MetaTx, changes: readonly RegistryChange[]): Promise<number> {
  const byRepository = new Map<string, RegistryChange[]>();
  for (const c of changes) {
    const list = byRepository.get(c.repository);
    if (list) list.push(c);
    else byRepository.set(c.repository, [c]);
  }
  let added = 0;
  for (const [repository, list] of byRepository) added += await (await EventSubscribers.of(m, repository)).record(m, list);
  return added;
}

/** How often a process re-reads which namespaces have pull subscriptions (another process may add one). */
export const PULL_SUBSCRIPTIONS_REFRESH_MS = 5_000;

/**
 * The registry's side of webhooks in one process: the nudge after a commit that recorded deliveries, and
 * pull events (the namespaces that want them, and a group commit of the events, as the audit log has).
 */
export class WebhookEvents {
  private readonly recordedListeners: (() => void)[] = [];
  private pullNamespaces = new Set<string>();
  private refreshedAt = -Infinity;
  private refreshing: Promise<void> | null = null;
  private readonly pulls = new GroupCommit<RegistryChange>(async (batch) => {
    try {
      this.recorded(await this.meta.tx((m) => recordEvents(m, batch)));
    } catch (err) {
      this.onPullError(err);
    }
  });
  /** Told when pull events could not be written (they are best effort). */
  onPullError: (err: unknown) => void = () => undefined;

  constructor(private readonly meta: MetaStore, private readonly clock: Clock) {}

  /** Calls `fn` after each commit that added deliveries (the dispatcher's nudge). */
  onRecorded(fn: () => void): void {
    this.recordedListeners.push(fn);
  }

  /** After the commit of a unit of work in which recordEvents added `added` deliveries. */
  recorded(added = 1): void {
    if (added > 0) for (const fn of this.recordedListeners) fn();
  }

  /**
   * Whether a pull in the repository may interest a subscription. The hot path: a look at a set, which
   * is re-read in the background once it is older than PULL_SUBSCRIPTIONS_REFRESH_MS.
   */
  wantsPullsOf(repository: string): boolean {
    if (this.clock.now() - this.refreshedAt > PULL_SUBSCRIPTIONS_REFRESH_MS) void this.refreshPullSubscriptions().catch(this.onPullError);
    if (this.pullNamespaces.size === 0) return false;
    const ns = namespaceOf(repository);
    return ns !== null && this.pullNamespaces.has(ns);
  }

  /** Re-reads the namespaces with pull subscriptions now (at start, and after a change here). */
  refreshPullSubscriptions(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const started = this.clock.now();
        this.pullNamespaces = new Set(await this.meta.webhooks.subscriptions.namespacesWithPulls());
        this.refreshedAt = started;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** A manifest was pulled: recorded in the next batch, best effort (after the answer; never fails it). */
  pulled(change: Omit<RegistryChange, 'type' | 'previousDigest'>): void {
    this.pulls.add({ ...change, type: 'io.wharf.image.pulled', previousDigest: null });
  }

  /** Writes the queued pull events (called before the store closes). */
  flush(): Promise<void> {
    return this.pulls.flush();
  }
}
