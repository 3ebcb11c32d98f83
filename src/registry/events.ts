// Domain events the registry emits, for jobs (webhooks, replication) and the audit log.
import { EventEmitter } from 'node:events';

export type RegistryEvent =
  | { type: 'manifest.pushed'; repository: string; digest: string; tag: string | null; mediaType: string }
  | { type: 'manifest.deleted'; repository: string; digest: string }
  | { type: 'tag.deleted'; repository: string; tag: string }
  | { type: 'blob.pushed'; repository: string; digest: string; size: number; mounted: boolean }
  | { type: 'blob.deleted'; repository: string; digest: string };

export class RegistryEvents extends EventEmitter<{ event: [RegistryEvent] }> {
  emitEvent(e: RegistryEvent): void {
    if (this.listenerCount('event') > 0) this.emit('event', e);
  }
}
