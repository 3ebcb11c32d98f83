// The audit log's writer: sign-ins and token issues (token-api.ts), refusals (access-check.ts), pushes
// and deletes (the registry's events) and every change made through the admin API — who, from where,
// when, and what. Never a secret: callers pass names, scopes and outcomes only. A failed write is
// logged and does not fail the request it describes.
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { AuditRecord, NewAuditRecord } from '../store/meta/account-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { RegistryEvent, RegistryEvents } from '../registry/events.js';
import { GroupCommit } from '../store/meta/group-commit.js';

export interface AuditEntry {
  actor: string;
  actorKind: string;
  action: string;
  target: string;
  outcome: AuditRecord['outcome'];
  detail?: Record<string, unknown>;
}

export class AuditTrail {
  /** Records waiting for the next commit, with the callers waiting on them. */
  private readonly pending: GroupCommit<{ record: NewAuditRecord; done: () => void }>;

  constructor(private readonly meta: MetaStore, private readonly log: FastifyBaseLogger) {
    this.pending = new GroupCommit(async (batch) => {
      try {
        await this.meta.tx(async (m) => { for (const b of batch) await m.audit.append(b.record); });
      } catch (err) {
        this.log.warn({ err, records: batch.length }, 'audit records not written');
      }
      for (const b of batch) b.done();
    });
  }

  /**
   * Writes one record; resolves once it is committed. Records that arrive while a commit is under way
   * go together in the next one (a group commit): with durable commits, one fsync per record would
   * cap sign-ins at the disk's sync rate.
   */
  record(from: FastifyRequest | string, e: AuditEntry): Promise<void> {
    const remote = typeof from === 'string' ? from : from.ip;
    const record: NewAuditRecord = {
      actor: e.actor, actorKind: e.actorKind, remote, action: e.action, target: e.target, outcome: e.outcome,
      detail: e.detail === undefined ? null : JSON.stringify(e.detail),
    };
    return new Promise<void>((done) => this.pending.add({ record, done }));
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
