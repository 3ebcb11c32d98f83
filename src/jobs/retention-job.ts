// Retention as a scheduled job: every retention.interval, the policies of every repository are applied
// (registry/retention.ts) under the `retention` lease, so that of several processes sharing a database one
// runs it at a time. Garbage collection frees the bytes afterwards, on its own schedule.
import type { RetentionReport, RetentionService } from '../registry/retention.js';
import type { Job } from './scheduler.js';

export const RETENTION_JOB = 'retention';

export function retentionJob(retention: RetentionService, intervalMs: number, onReport: (r: RetentionReport) => void): Job {
  return {
    name: RETENTION_JOB,
    intervalMs,
    async run() {
      onReport(await retention.run({}, false));
    },
  };
}
