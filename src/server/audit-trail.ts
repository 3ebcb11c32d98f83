// The audit log's writer: sign-ins and token issues (token-api.ts), refusals (access-check.ts), pushes
// and deletes (the registry's events) and every change made through the admin API — who, from where,
// when, and what. Never a secret: callers pass names, scopes and outcomes only. A failed write is
// logged and does not fail the request it describes.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { AuditRecord } from '../store/meta/account-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { RegistryEvent, RegistryEvents } from '../registry/events.js';

export interface AuditEntry {
  actor: string;
  actorKind: string;
  action: string;
  target: string;
  outcome: AuditRecord['outcome'];
  detail?: Record<string, unknown>;
}

export class AuditTrail {
  constructor(private readonly meta: MetaStore, private readonly log: FastifyBaseLogger) {}

  async record(from: FastifyRequest | string, e: AuditEntry): Promise<void> {
    const remote = typeof from === 'string' ? from : from.ip;
    try {
      await this.meta.audit.append({
        actor: e.actor, actorKind: e.actorKind, remote, action: e.action, target: e.target, outcome: e.outcome,
        detail: e.detail === undefined ? null : JSON.stringify(e.detail),
      });
    } catch (err) {
      this.log.warn({ err, action: e.action }, 'audit record not written');
    }
  }

  /** Records the registry's pushes and deletes as they happen. */
  follow(events: RegistryEvents): void {
    events.on('event', (ev: RegistryEvent) => {
      const entry = auditEntryOf(ev);
      if (entry) void this.record(ev.actor.remote ?? '', entry);
    });
  }
}

function auditEntryOf(ev: RegistryEvent): AuditEntry | null {
  const who = { actor: ev.actor.name, actorKind: ev.actor.kind, outcome: 'ok' as const };
  switch (ev.type) {
    case 'manifest.pushed':
      return { ...who, action: 'manifest.push', target: `${ev.repository}@${ev.digest}`, detail: ev.tag === null ? undefined : { tag: ev.tag } };
    case 'manifest.deleted':
      return { ...who, action: 'manifest.delete', target: `${ev.repository}@${ev.digest}` };
    case 'tag.deleted':
      return { ...who, action: 'tag.delete', target: `${ev.repository}:${ev.tag}` };
    case 'blob.deleted':
      return { ...who, action: 'blob.delete', target: `${ev.repository}@${ev.digest}` };
    case 'blob.pushed':
      return null; // a manifest push stands for the image; its layers would drown the log
  }
}
