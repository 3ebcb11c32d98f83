// Whether this process can serve: its database and its blob store answer (GET /readyz, for load
// balancers and Kubernetes readiness probes). Each check is one cheap read, bounded in time, so a
// store that hangs makes the process unready rather than the probe hang.
import type { BlobStore } from '../store/blobs/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';

export interface Readiness {
  ready: boolean;
  checks: Record<'database' | 'storage', { ok: boolean; error?: string }>;
}

/** The digest of the empty blob: any store can look it up, and finding it or not is both an answer. */
const PROBE_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

async function within(ms: number, what: () => Promise<unknown>): Promise<{ ok: boolean; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      what(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); }),
    ]);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

export async function checkReadiness(meta: MetaStore, blobs: BlobStore, timeoutMs = 2000): Promise<Readiness> {
  const [database, storage] = await Promise.all([
    within(timeoutMs, () => meta.leases.get('readiness-probe')),
    within(timeoutMs, () => blobs.stat(PROBE_DIGEST)),
  ]);
  return { ready: database.ok && storage.ok, checks: { database, storage } };
}
