// Webhook subscriptions as their owners manage them (the admin API decides who may, through
// access/administration.ts): made with a secret the caller gives or one generated and shown once, then
// listed with a fingerprint of it only; URLs are shown and recorded without a password. Every change
// re-reads which namespaces want pulls (registry/webhook-events.ts), so this process records them at once.
import { createHash, randomBytes } from 'node:crypto';
import { RegistryError } from '../oci/errors.js';
import type { DeliveryLogEntry, MetaStore, WebhookEventKind, WebhookFormat, WebhookRecord, WebhookSettings } from '../store/meta/meta-store.js';

/** Generated secrets start with this, so that secret scanners and people know them. */
export const WEBHOOK_SECRET_PREFIX = 'wharf_whsec_';

/** Most events a batching subscription gets in one request. */
export const WEBHOOK_BATCH_MAX = 100;

export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** Enough to tell two secrets apart, too little to find one: 8 hex digits of its SHA-256. */
export function secretFingerprint(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}

/** The URL as it may be shown and logged: a password in it becomes ***. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = '***';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

export interface NewSubscription {
  url: string;
  events: WebhookEventKind[];
  /** One repository of the namespace (its full name), or the whole namespace. */
  repository?: string;
  repositories?: string;
  tags?: string;
  format?: WebhookFormat;
  secret?: string;
  enabled?: boolean;
  /** Events per request, 1 (the default) to WEBHOOK_BATCH_MAX. */
  batch?: number;
}

export type SubscriptionChanges = Partial<WebhookSettings> & { secret?: string };

export class WebhookSubscriptionService {
  /** `changed` runs after every change (the pull-subscription set is re-read). */
  constructor(private readonly meta: MetaStore, private readonly changed: () => Promise<void>) {}

  /** Makes the subscription; `secret` is set when it was generated (to be shown this once). */
  async create(namespace: string, s: NewSubscription): Promise<{ record: WebhookRecord; secret?: string }> {
    if (s.repository !== undefined && s.repositories !== undefined) {
      throw new RegistryError('INVALID', 'a subscription on one repository takes no repositories filter');
    }
    const generated = s.secret === undefined ? newWebhookSecret() : undefined;
    const record = await this.meta.webhooks.subscriptions.create({
      namespace, repository: s.repository ?? null, url: s.url, events: unique(s.events), repositories: s.repositories ?? null,
      tags: s.tags ?? null, format: s.format ?? 'cloudevents', secret: s.secret ?? generated!, enabled: s.enabled ?? true,
      batch: s.batch ?? 1,
    });
    await this.changed();
    return generated === undefined ? { record } : { record, secret: generated };
  }

  list(namespace?: string): Promise<WebhookRecord[]> {
    return this.meta.webhooks.subscriptions.list(namespace);
  }

  get(id: number): Promise<WebhookRecord | null> {
    return this.meta.webhooks.subscriptions.get(id);
  }

  async update(w: WebhookRecord, c: SubscriptionChanges): Promise<WebhookRecord> {
    if (w.repository !== null && c.repositories !== undefined && c.repositories !== null) {
      throw new RegistryError('INVALID', 'a subscription on one repository takes no repositories filter');
    }
    const updated = await this.meta.webhooks.subscriptions.update(w.id, { ...c, ...(c.events ? { events: unique(c.events) } : {}) });
    if (!updated) throw notFound(w.id);
    await this.changed();
    return updated;
  }

  async delete(w: WebhookRecord): Promise<void> {
    if (!(await this.meta.webhooks.subscriptions.delete(w.id))) throw notFound(w.id);
    await this.changed();
  }

  deliveries(w: WebhookRecord, limit: number): Promise<DeliveryLogEntry[]> {
    return this.meta.webhooks.log.recent(w.id, limit);
  }
}

export function notFound(id: number | string): RegistryError {
  return new RegistryError('NOT_FOUND', `no webhook ${JSON.stringify(String(id))}`);
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
