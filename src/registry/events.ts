// Domain events the registry emits, for jobs (webhooks, replication) and the audit log.
import { EventEmitter } from 'node:events';
import type { Identity } from '../access/access-controller.js';

/** The request that caused an event, for webhooks (Distribution's request record; the origin makes its target URL). */
export interface EventRequest {
  id: string;
  addr: string;
  host: string;
  method: string;
  useragent: string;
  /** scheme://host as the client addressed the registry. */
  origin: string;
}

/** Who did it: the identity the access layer established for the request (and, from the HTTP layer, the request). */
export type Actor = Identity & { request?: EventRequest };

type Event =
  | { type: 'manifest.pushed'; repository: string; digest: string; tag: string | null; mediaType: string }
  | { type: 'manifest.deleted'; repository: string; digest: string }
  | { type: 'tag.deleted'; repository: string; tag: string }
  | { type: 'blob.pushed'; repository: string; digest: string; size: number; mounted: boolean }
  | { type: 'blob.deleted'; repository: string; digest: string };

/** Every event names its actor, for the audit log and for webhooks. */
export type RegistryEvent = Event & { actor: Actor };

export class RegistryEvents extends EventEmitter<{ event: [RegistryEvent] }> {
  emitEvent(e: RegistryEvent): void {
    if (this.listenerCount('event') > 0) this.emit('event', e);
  }
}
