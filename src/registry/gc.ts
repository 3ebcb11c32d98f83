// Online garbage collection: runs while the registry serves pushes and pulls, never removes a byte
// that a tag, manifest, index or referrer needs, nor anything younger than the grace period.
//
// The protocol. One collector at a time (the `gc` lease, taken by jobs/gc-job.ts).
//  1. Per repository, in ONE unit of work: read its tags, manifests, references and links, compute
//     what stays (gc-plan.ts) and remove what goes: with `untagged`, manifests no tag reaches (and
//     their referrers) and no tag pointed at within history.keep (a restore may bring those back), then links no kept manifest needs that are older than the grace period.
//     Deciding and removing in the same transaction is the re-check: a manifest PUT, a tag move or
//     a mount that commits first is seen; one that commits after sees the link gone, because
//     `manifests.put` checks its blobs' links again inside its own transaction (MANIFEST_BLOB_UNKNOWN,
//     the client pushes the blob again; a layer pushed within the grace period is never unlinked).
//  2. Bytes: list the blob store; an object older than the grace period that no repository links is
//     deleted through a mark: in one transaction, if still no link and no fresh claim exists, the
//     digest is marked as being deleted; then the bytes are deleted; then the mark is cleared.
//     While marked, `blobs.link` refuses the digest (a mount treats it as absent: the client
//     uploads), and a writer's claim waits. Writers (upload commit, manifest PUT) claim the digest
//     before writing the bytes and release the claim in the transaction that links them, so no
//     deletion starts between their write and their link, and none is under way when they write.
//     Invariant: while any repository links a digest, its bytes exist; a new link is only ever made
//     beside an existing link (mount, checked in the linking transaction) or under a claim.
//  3. Orphans: objects the database has no row for are deleted as in 2 (reported apart); rows whose
//     bytes are gone (checked again with `stat`, since bytes may land after the listing) are removed
//     when nothing links them, and reported either way (a linked one is damage: see `wharf fsck`).
//  4. Claims older than the grace period (left by crashed writers) are dropped. Marks found when a
//     collection starts were left by a collector that died mid-deletion (the lease is ours now):
//     nothing could link those digests since, so their deletion is finished first.
// A dry run reads the same and computes the same report, and changes nothing.
import type { Clock } from '../config/clock.js';
import type { BlobStore } from '../store/blobs/blob-store.js';
import { repositoryLock, type MetaStore, type MetaTx } from '../store/meta/meta-store.js';
import { DEFAULT_HISTORY_KEEP_MS } from './tag-history.js';
import { planRepository, type RepositoryPlan } from './gc-plan.js';

export interface GcDeps {
  blobs: BlobStore;
  meta: MetaStore;
  clock: Clock;
}

export interface GcOptions {
  dryRun: boolean;
  untagged: boolean;
  gracePeriodMs: number;
  /**
   * history.keep: with `untagged`, a manifest some tag pointed at this recently stays (it can still be
   * restored, see tag-history.ts). Absent: 14 days, as the configuration's default.
   */
  historyKeepMs?: number;
}

/** How many examples of each kind of orphan a report names. */
const EXAMPLES = 20;
/** Objects examined, marked and deleted together. */
const BATCH = 100;
/** Deletions in flight at once within a batch. */
const PARALLEL_DELETES = 8;

export interface GcReport {
  dryRun: boolean;
  untagged: boolean;
  gracePeriodMs: number;
  startedAt: string;
  durationMs: number;
  manifestsDeleted: number;
  linksRemoved: number;
  /** Objects the database knew that no repository linked. */
  blobsDeleted: number;
  /** Bytes of every object deleted (blobs and orphan objects). */
  bytesFreed: number;
  orphanObjects: { count: number; bytes: number; examples: string[] };
  orphanRows: { count: number; removed: number; examples: { digest: string; linkedBy: string[] }[] };
  /** Filled in by the job (the upload sweep). */
  uploadsExpired: number;
}

export async function collectGarbage(d: GcDeps, o: GcOptions): Promise<GcReport> {
  const started = d.clock.now();
  const graceBefore = started - o.gracePeriodMs;
  const report: GcReport = {
    dryRun: o.dryRun, untagged: o.untagged, gracePeriodMs: o.gracePeriodMs, startedAt: new Date(started).toISOString(), durationMs: 0,
    manifestsDeleted: 0, linksRemoved: 0, blobsDeleted: 0, bytesFreed: 0,
    orphanObjects: { count: 0, bytes: 0, examples: [] },
    orphanRows: { count: 0, removed: 0, examples: [] },
    uploadsExpired: 0,
  };
  if (!o.dryRun) {
    for (const digest of await d.meta.gc.marked()) {
      await d.blobs.delete(digest);
      await d.meta.gc.unmark(digest);
    }
  }
  const repos = await d.meta.gc.repositories();
  const names = new Map(repos.map((r) => [r.id, r.name]));
  // A dry run removes nothing, so it remembers what it would have unlinked to judge the bytes.
  const wouldUnlink = new Map<string, Set<number>>();

  for (const { id } of repos) {
    const restorableSince = started - (o.historyKeepMs ?? DEFAULT_HISTORY_KEEP_MS);
    const plan = await markAndSweepRepository(d, id, { untagged: o.untagged, graceBefore, restorableSince }, o.dryRun);
    report.manifestsDeleted += plan.deleteManifests.length;
    report.linksRemoved += plan.removeLinks.length;
    if (o.dryRun) for (const x of plan.removeLinks) (wouldUnlink.get(x) ?? wouldUnlink.set(x, new Set()).get(x)!).add(id);
  }

  const seen = new Set<string>();
  let batch: { digest: string; size: number }[] = [];
  const flush = async (): Promise<void> => {
    await sweepObjects(d, batch, report, { dryRun: o.dryRun, claimsSince: graceBefore, wouldUnlink });
    batch = [];
  };
  for await (const b of d.blobs.list()) {
    seen.add(b.digest);
    if (b.modifiedAt >= graceBefore) continue;
    batch.push({ digest: b.digest, size: b.size });
    if (batch.length >= BATCH) await flush();
  }
  await flush();

  await sweepOrphanRows(d, seen, names, report, o.dryRun);
  if (!o.dryRun) await d.meta.gc.dropClaimsBefore(graceBefore);
  report.durationMs = d.clock.now() - started;
  return report;
}

/** Step 1 for one repository: decide and remove in one unit of work (a dry run only decides). */
async function markAndSweepRepository(d: GcDeps, repoId: number, plan: { untagged: boolean; graceBefore: number; restorableSince: number },
  dryRun: boolean): Promise<RepositoryPlan> {
  // What a restore may still point a tag at is kept like what a tag points at (only `untagged` deletes manifests).
  const restorable = async (m: MetaTx): Promise<string[]> => (plan.untagged ? m.tags.recentlyTagged(repoId, plan.restorableSince) : []);
  if (dryRun) return planRepository(await d.meta.gc.graph(repoId), { ...plan, restorable: await restorable(d.meta) });
  return d.meta.tx(async (m) => {
    // Pushes to the repository wait until the plan is carried out (on PostgreSQL; SQLite's writers are serial).
    await m.lock(repositoryLock(repoId));
    const p = planRepository(await m.gc.graph(repoId), { ...plan, restorable: await restorable(m) });
    for (const digest of p.deleteManifests) {
      await m.manifests.delete(repoId, digest);
      await m.tags.deleteAllOn(repoId, digest);
    }
    for (const digest of p.removeLinks) await m.blobs.unlink(repoId, digest);
    return p;
  });
}

/** Steps 2 and 3 (objects) for a batch of old objects. */
async function sweepObjects(d: GcDeps, batch: { digest: string; size: number }[], report: GcReport,
  o: { dryRun: boolean; claimsSince: number; wouldUnlink: Map<string, Set<number>> }): Promise<void> {
  if (batch.length === 0) return;
  const digests = batch.map((b) => b.digest);
  const holders = await d.meta.gc.linkHolders(digests);
  const known = await d.meta.gc.knownBlobs(digests);
  const unlinked = batch.filter((b) => {
    const ids = holders.get(b.digest);
    if (!ids) return true;
    const gone = o.wouldUnlink.get(b.digest);
    return o.dryRun && gone !== undefined && ids.every((id) => gone.has(id));
  });
  let doomed = unlinked;
  if (!o.dryRun) {
    // The mark: only where, at this moment, nothing links the digest and no writer claims it.
    doomed = await d.meta.tx(async (m) => {
      const marked: typeof unlinked = [];
      for (const b of unlinked) if (await m.gc.markForDeletion(b.digest, o.claimsSince)) marked.push(b);
      return marked;
    });
    try {
      for (let i = 0; i < doomed.length; i += PARALLEL_DELETES) {
        await Promise.all(doomed.slice(i, i + PARALLEL_DELETES).map((b) => d.blobs.delete(b.digest)));
      }
    } finally {
      await d.meta.tx(async (m) => { for (const b of doomed) await m.gc.unmark(b.digest); });
    }
  }
  for (const b of doomed) {
    report.bytesFreed += b.size;
    if (known.has(b.digest)) {
      report.blobsDeleted++;
    } else {
      report.orphanObjects.count++;
      report.orphanObjects.bytes += b.size;
      if (report.orphanObjects.examples.length < EXAMPLES) report.orphanObjects.examples.push(b.digest);
    }
  }
}

/** Step 3 (rows): blob rows whose bytes the listing did not find. */
async function sweepOrphanRows(d: GcDeps, seen: Set<string>, names: Map<number, string>, report: GcReport, dryRun: boolean): Promise<void> {
  let after = '';
  for (;;) {
    const rows = await d.meta.gc.blobRows(after, 1000);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.digest;
    for (const row of rows) {
      // Bytes may have landed after the listing passed them.
      if (seen.has(row.digest) || (await d.blobs.stat(row.digest)) !== null) continue;
      const linkedBy = ((await d.meta.gc.linkHolders([row.digest])).get(row.digest) ?? []).map((id) => names.get(id) ?? `#${id}`);
      report.orphanRows.count++;
      if (report.orphanRows.examples.length < EXAMPLES) report.orphanRows.examples.push({ digest: row.digest, linkedBy });
      if (linkedBy.length === 0 && (dryRun || (await d.meta.gc.forgetBlob(row.digest)))) report.orphanRows.removed++;
    }
  }
}
