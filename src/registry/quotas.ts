// Quotas, as Harbor has them: a limit on the bytes a namespace or one repository stores (each blob
// counted once per scope: layers, configs and manifests' own bytes) and, optionally, on its number of
// tags. They are enforced where a push adds to them: an upload's commit, a cross-repository mount, a
// manifest PUT (its own bytes, and a new tag), a restore that brings a deleted tag back. A quota set
// below the usage blocks growth only: what is stored stays, and what adds nothing (a blob the scope
// holds already, a tag that moves) goes through.
//
// Race-free: the decision is made inside the unit of work that links or tags, under the namespace's
// quota lock, taken before any other (quota, then repository, then blob): pushes to one namespace
// decide one after another, on one process or on many sharing PostgreSQL, and see each other's links.
// A repository with no quota pays one indexed lookup (`applicableQuotas`) and nothing else.
import { RegistryError } from '../oci/errors.js';
import { formatSize } from '../config/units.js';
import { namespaceOf } from '../access/roles.js';
import type { MetaTx, QuotaRecord, QuotaScope } from '../store/meta/meta-store.js';

/** The lock pushes into a namespace under a quota decide under. */
export const quotaLock = (namespace: string): string => `quota:${namespace}`;

/** What a push adds: a blob link (digest and size; nothing when the scope holds the digest already) and/or a new tag. */
export interface QuotaNeed {
  blob?: { digest: string; size: number };
  newTag?: boolean;
}

/** The quotas on a repository (its namespace's, then its own), when any. */
export class ApplicableQuotas {
  constructor(readonly namespace: string, private readonly quotas: readonly QuotaRecord[]) {}

  /** Call first in the unit of work that links or tags (before the repository's and the blobs' locks). */
  async lock(m: MetaTx): Promise<void> {
    await m.lock(quotaLock(this.namespace));
  }

  /**
   * The refusal for what the push adds, or null when every quota can take it. Under the lock it is the
   * decision; before it (outside the unit of work) a pre-check that spares storing what would be refused.
   */
  async refusal(m: MetaTx, need: QuotaNeed): Promise<RegistryError | null> {
    for (const q of this.quotas) {
      const scope: QuotaScope = { namespace: q.namespace, repository: q.repository };
      if (q.bytes !== null && need.blob !== undefined && !(await m.quotas.holds(scope, need.blob.digest))) {
        const usage = await m.quotas.storedBytes(scope);
        if (usage + need.blob.size > q.bytes) return quotaExceeded(scope, 'bytes', q.bytes, usage, need.blob.size);
      }
      if (q.tags !== null && need.newTag === true) {
        const usage = await m.quotas.tagCount(scope);
        if (usage + 1 > q.tags) return quotaExceeded(scope, 'tags', q.tags, usage, 1);
      }
    }
    return null;
  }
}

/** The quotas that apply to a repository, or null (no namespace, or none set): one indexed lookup. */
export async function applicableQuotas(m: MetaTx, repository: string): Promise<ApplicableQuotas | null> {
  const namespace = namespaceOf(repository);
  if (namespace === null) return null;
  const quotas = await m.quotas.forRepository(namespace, repository);
  return quotas.length === 0 ? null : new ApplicableQuotas(namespace, quotas);
}

function scopeName(s: QuotaScope): string {
  return s.repository === null ? `namespace ${s.namespace}` : `repository ${s.repository}`;
}

/** 403 DENIED saying the quota, the usage and the need, with the numbers in the detail. */
export function quotaExceeded(scope: QuotaScope, resource: 'bytes' | 'tags', limit: number, usage: number, need: number): RegistryError {
  const message = resource === 'bytes'
    ? `quota of ${scopeName(scope)} exceeded: ${formatSize(limit)} allowed, ${formatSize(usage)} used, this push needs ${formatSize(need)} more`
    : `tag quota of ${scopeName(scope)} exceeded: ${limit} tag${limit === 1 ? '' : 's'} allowed, ${usage} used, this push needs ${need} more`;
  return new RegistryError('DENIED', message, {
    detail: { scope: scope.repository === null ? { namespace: scope.namespace } : { repository: scope.repository }, resource, limit, usage, need },
  });
}
