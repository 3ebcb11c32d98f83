// Garbage collection as a job: the collector (registry/gc.ts), then the upload sweep, one report,
// kept as the run's record. The scheduler's `gc` lease keeps collectors in several processes (a
// server's job, `wharf gc`) from ever running at once.
import type { Clock } from '../config/clock.js';
import type { BlobStore } from '../store/blobs/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import { collectGarbage, type GcOptions, type GcReport } from '../registry/gc.js';
import { Scheduler, type Job } from './scheduler.js';
import { sweepUploads } from './upload-sweep.js';

export const GC_JOB = 'gc';

export interface GcJobDeps {
  blobs: BlobStore;
  meta: MetaStore;
  clock: Clock;
  /** Upload sessions idle longer than this are expired (uploads.ttl). */
  uploadTtlMs: number;
}

/** One whole collection, recorded unless it is a dry run. Call it under the `gc` lease. */
export async function collectAll(d: GcJobDeps, o: GcOptions): Promise<GcReport> {
  const report = await collectGarbage(d, o);
  const idleBefore = d.clock.now() - d.uploadTtlMs;
  report.uploadsExpired = o.dryRun
    ? (await d.meta.uploads.idleSince(idleBefore, 1_000_000)).length
    : await sweepUploads({ blobs: d.blobs, meta: d.meta, clock: d.clock, ttlMs: d.uploadTtlMs });
  report.durationMs = d.clock.now() - Date.parse(report.startedAt);
  if (!o.dryRun) {
    await d.meta.gc.recordRun({ startedAt: Date.parse(report.startedAt), finishedAt: d.clock.now(), dryRun: false, report: JSON.stringify(report) });
  }
  return report;
}

export function gcJob(d: GcJobDeps, o: GcOptions & { intervalMs: number }, onReport: (r: GcReport) => void): Job {
  return {
    name: GC_JOB,
    intervalMs: o.intervalMs,
    async run() {
      onReport(await collectAll(d, o));
    },
  };
}

/** One collection now, under the lease; null when another collector holds it. */
export async function collectOnceLeased(d: GcJobDeps, o: GcOptions): Promise<GcReport | null> {
  let report: GcReport | null = null;
  let failure: unknown = null;
  const scheduler = new Scheduler({ leases: d.meta.leases, onError: (_job, err) => { failure = err; } });
  scheduler.register({ name: GC_JOB, intervalMs: 0, run: async () => { report = await collectAll(d, o); } });
  const outcome = await scheduler.runNow(GC_JOB);
  await scheduler.stop();
  if (outcome === 'failed') throw failure;
  return report;
}

/** The report as lines for people. */
export function formatGcReport(r: GcReport): string {
  const mib = (n: number): string => `${(n / (1 << 20)).toFixed(1)} MiB`;
  const lines = [
    `${r.dryRun ? 'garbage collection (dry run: nothing changed)' : 'garbage collection'}, grace period ${Math.round(r.gracePeriodMs / 1000)}s${r.untagged ? ', untagged manifests too' : ''}`,
    `  manifests deleted:   ${r.manifestsDeleted}`,
    `  blob links removed:  ${r.linksRemoved}`,
    `  blobs deleted:       ${r.blobsDeleted}`,
    `  bytes freed:         ${r.bytesFreed} (${mib(r.bytesFreed)})`,
    `  orphan objects:      ${r.orphanObjects.count} (${r.orphanObjects.bytes} bytes, not known to the database)`,
    `  orphan rows:         ${r.orphanRows.count} (bytes gone; ${r.orphanRows.removed} unreferenced row(s) ${r.dryRun ? 'would be ' : ''}removed)`,
    `  uploads expired:     ${r.uploadsExpired}`,
    `  time taken:          ${r.durationMs} ms`,
  ];
  for (const x of r.orphanObjects.examples) lines.push(`  orphan object ${x}`);
  for (const x of r.orphanRows.examples) lines.push(`  orphan row ${x.digest}${x.linkedBy.length ? ` (still linked by ${x.linkedBy.join(', ')}: run wharf fsck)` : ''}`);
  return `${lines.join('\n')}\n`;
}
