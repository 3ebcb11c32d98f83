// The bodies webhook receivers get, rendered at delivery from the outbox's neutral event
// (registry/webhook-events.ts): CloudEvents 1.0 in structured mode (JSON), or Distribution's notification
// envelope (registry:2's `notifications`), so that receivers written for either work unchanged.
// Rendering is pure: every attempt of a delivery sends the same bytes, with the same event id. A
// subscription with `batch` > 1 gets several events in one body: CloudEvents' batched content mode (a
// JSON array of structured events), or Distribution's envelope with all of them (its native shape) — a
// batch of one included, so that its receiver always parses one shape.
import type { WebhookFormat } from '../store/meta/meta-store.js';
import { EVENT_SOURCE, type StoredEvent } from '../registry/webhook-events.js';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json';
/** CloudEvents JSON format, batched content mode. */
export const CLOUDEVENTS_BATCH_CONTENT_TYPE = 'application/cloudevents-batch+json';
/** The envelope's media type in Distribution 2.x (Debian's docker-registry), which receivers check. */
export const DISTRIBUTION_CONTENT_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export interface EventToRender {
  id: string;
  /** When it happened (ms since the epoch). */
  time: number;
  event: StoredEvent;
}

export interface RenderedBody {
  body: string;
  contentType: string;
}

export interface RenderOptions {
  /** CloudEvents `source` (webhooks.source); unset, the address the client used, else this host. */
  source?: string;
}

/** The body of one delivery in the subscription's format. */
export function renderEvent(format: WebhookFormat, e: EventToRender, o: RenderOptions = {}): RenderedBody {
  return format === 'distribution'
    ? { body: JSON.stringify({ events: [distributionEvent(e)] }), contentType: DISTRIBUTION_CONTENT_TYPE }
    : { body: JSON.stringify(cloudEvent(e, o)), contentType: CLOUDEVENTS_CONTENT_TYPE };
}

/** The body of one request to a batching subscription: all of `events`, in order. */
export function renderBatch(format: WebhookFormat, events: readonly EventToRender[], o: RenderOptions = {}): RenderedBody {
  return format === 'distribution'
    ? { body: JSON.stringify({ events: events.map(distributionEvent) }), contentType: DISTRIBUTION_CONTENT_TYPE }
    : { body: JSON.stringify(events.map((e) => cloudEvent(e, o))), contentType: CLOUDEVENTS_BATCH_CONTENT_TYPE };
}

/** What a test delivery says: which subscription, and who asked. */
export interface TestEvent {
  id: string;
  time: number;
  webhook: { id: number; namespace: string; repository: string | null };
  actor: { name: string; kind: string };
}

/**
 * A test delivery's body. Distribution's envelope has no test action, so it gets an envelope without
 * events (its receivers ignore it; the X-Wharf-Event header says what it is). `batched`: for a batching
 * subscription (CloudEvents: an array of the one event).
 */
export function renderTest(format: WebhookFormat, t: TestEvent, o: RenderOptions = {}, batched = false): RenderedBody {
  if (format === 'distribution') return { body: JSON.stringify({ events: [] }), contentType: DISTRIBUTION_CONTENT_TYPE };
  const body = {
    specversion: '1.0', id: t.id, source: o.source ?? `//${EVENT_SOURCE.addr}`, type: 'io.wharf.webhook.test', time: iso(t.time),
    subject: t.webhook.repository ?? t.webhook.namespace, datacontenttype: 'application/json',
    data: { webhook: t.webhook.id, namespace: t.webhook.namespace, repository: t.webhook.repository, actor: t.actor },
  };
  // A batching subscription's receiver parses batches only: the test event comes as a batch of one.
  return batched ? { body: JSON.stringify([body]), contentType: CLOUDEVENTS_BATCH_CONTENT_TYPE } : { body: JSON.stringify(body), contentType: CLOUDEVENTS_CONTENT_TYPE };
}

function cloudEvent({ id, time, event: e }: EventToRender, o: RenderOptions): Record<string, unknown> {
  return {
    specversion: '1.0',
    id,
    source: o.source ?? e.request?.origin ?? `//${e.source.addr}`,
    type: e.type,
    time: iso(time),
    subject: e.tag !== null ? `${e.repository}:${e.tag}` : e.digest !== null ? `${e.repository}@${e.digest}` : e.repository,
    datacontenttype: 'application/json',
    data: {
      repository: e.repository, digest: e.digest, tag: e.tag, ...(e.tags ? { tags: e.tags } : {}), previousDigest: e.previousDigest,
      mediaType: e.mediaType, size: e.size, actor: e.actor,
    },
  };
}

/** Distribution's actions: a tag move is a push of the manifest under the tag; both deletes are deletes. */
const ACTIONS: Record<StoredEvent['type'], string> = {
  'io.wharf.image.pushed': 'push',
  'io.wharf.tag.moved': 'push',
  'io.wharf.image.deleted': 'delete',
  'io.wharf.tag.deleted': 'delete',
  'io.wharf.image.pulled': 'pull',
  'io.wharf.webhook.test': 'test',
};

/**
 * One event as Distribution's notifications/event.go shapes it: fields it marks omitempty are left out
 * when empty; request.id, request.method and request.useragent are always there.
 */
function distributionEvent({ id, time, event: e }: EventToRender): Record<string, unknown> {
  const target: Record<string, unknown> = {};
  if (e.mediaType !== null) target.mediaType = e.mediaType;
  if (e.size !== null) target.size = e.size;
  if (e.digest !== null) target.digest = e.digest;
  if (e.size !== null) target.length = e.size;
  target.repository = e.repository;
  // The manifest's URL for what exists (pushes, pulls), as registry:2 builds it from the request's host.
  if (e.digest !== null && e.request !== null && (e.type === 'io.wharf.image.pushed' || e.type === 'io.wharf.tag.moved' || e.type === 'io.wharf.image.pulled')) {
    target.url = `${e.request.origin}/v2/${e.repository}/manifests/${e.digest}`;
  }
  if (e.tag !== null) target.tag = e.tag;
  const r = e.request;
  return {
    id,
    timestamp: iso(time),
    action: ACTIONS[e.type],
    target,
    request: { id: r?.id ?? '', ...(r?.addr ? { addr: r.addr } : {}), ...(r?.host ? { host: r.host } : {}), method: r?.method ?? '', useragent: r?.useragent ?? '' },
    actor: e.actor.name ? { name: e.actor.name } : {},
    source: { addr: e.source.addr, instanceID: e.source.instanceID },
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

