// The upload sweeper: removes upload sessions idle past their TTL with their bytes, and bytes that
// no upload record claims (left by a crash between the two, or by a removed record).
//
// Why it never removes a live upload:
// - an upload is recorded before its bytes exist (registry.startUpload), and the sweep lists the
//   driver's uploads before it reads the records; so bytes seen by the listing belong either to a
//   record that already exists when the records are read, or to nobody;
// - an idle record is removed only if it is still idle at that moment (a conditional delete), so a
//   chunk arriving between the listing of idle uploads and their removal saves its upload.
import type { Clock } from '../config/clock.js';
import type { BlobStore } from '../store/blobs/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { Job } from './scheduler.js';

export interface UploadSweepDeps {
  blobs: BlobStore;
  meta: MetaStore;
  clock: Clock;
  /** Upload sessions idle longer than this are removed. */
  ttlMs: number;
}

const BATCH = 1000;
/** Bounds one sweep; whatever is left waits for the next. */
const MAX_BATCHES = 100;

/** One sweep; returns how many uploads it removed. */
export async function sweepUploads(d: UploadSweepDeps): Promise<number> {
  let removed = 0;
  const idleBefore = d.clock.now() - d.ttlMs;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const idle = await d.meta.uploads.idleSince(idleBefore, BATCH);
    for (const u of idle) {
      if (!(await d.meta.uploads.deleteIfIdle(u.id, idleBefore))) continue;
      await d.blobs.deleteUpload(u.id);
      removed++;
    }
    if (idle.length < BATCH) break;
  }
  // Bytes first, records second (see the top of this file).
  const held: string[] = [];
  for await (const id of d.blobs.listUploads()) held.push(id);
  const recorded = await d.meta.uploads.existing(held);
  for (const id of held) {
    if (recorded.has(id)) continue;
    await d.blobs.deleteUpload(id);
    removed++;
  }
  return removed;
}

export function uploadSweepJob(d: UploadSweepDeps, intervalMs: number, onSwept: (removed: number) => void): Job {
  return {
    name: 'upload-sweep',
    intervalMs,
    async run() {
      onSwept(await sweepUploads(d));
    },
  };
}
