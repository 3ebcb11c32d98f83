// wharf import-distribution: moves a CNCF Distribution (registry:2, Debian's docker-registry) storage
// tree into the configured stores, offline or beside a running server. Run it again to finish an
// interrupted import: what is already in Wharf is skipped.
import type { Command } from 'commander';
import { systemClock } from '../../config/clock.js';
import { Registry } from '../../registry/registry.js';
import { DistributionLayout } from '../../migrate/distribution-layout.js';
import { openFsDistribution } from '../../migrate/distribution-storage.js';
import { importDistribution, type ImportProgress } from '../../migrate/import-distribution.js';
import type { ImportReport } from '../../migrate/import-report.js';
import { human } from '../progress.js';
import { configFrom, storeOptions, withStores, type StoreFlags } from './gc.js';

/** Exit status when something was skipped for a problem (the rest is imported). */
const EXIT_PROBLEMS = 1;
/** Exit status when the import could not run or stopped (bad flags, configuration, source or store failure). */
const EXIT_FAILED = 2;

export function registerImportDistribution(program: Command): void {
  storeOptions(program.command('import-distribution')
    .description('import a Distribution (registry:2) filesystem storage root: repositories, tags, manifests, blobs; run again to resume'))
    .requiredOption('--from <dir>', 'Distribution\'s storage root (its rootdirectory, or the docker/registry/v2 under it)')
    .action(async (f: StoreFlags & { from: string }) => {
      const config = configFrom(f);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(f.from)) {
        // Only the filesystem driver's tree for now: a bucket can be copied down first (aws s3 sync, rclone).
        process.stderr.write(`wharf: --from ${f.from}: only a directory is supported; copy the bucket's <rootdirectory>/docker/registry/v2 to one first\n`);
        process.exit(EXIT_FAILED);
      }
      let report: ImportReport;
      try {
        const storage = await openFsDistribution(f.from);
        try {
          report = await withStores(config, async (s) => {
            const registry = new Registry(s.blobs, s.meta, { maxManifestBytes: config.manifests.maxSize }, systemClock);
            process.stderr.write(`importing from ${storage.location} into ${describeStores(config.storage.driver, s.dataDir)}\n`);
            return importDistribution(new DistributionLayout(storage), registry, { onProgress: progressPrinter() });
          });
        } finally {
          await storage.close();
        }
      } catch (e) {
        process.stderr.write(`wharf: import-distribution stopped: ${e instanceof Error ? e.message : String(e)}\n`);
        process.stderr.write('wharf: what was imported stays; run the same command again to go on\n');
        process.exit(EXIT_FAILED);
      }
      process.stdout.write(f.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatImportReport(report));
      if (report.problems.length > 0) process.exitCode = EXIT_PROBLEMS;
    });
}

function describeStores(driver: string, dataDir: string): string {
  return driver === 'fs' ? dataDir : `${driver} blobs, metadata in ${dataDir}`;
}

/** A line per repository when it is done (what it brought); a line every few seconds while one is copied. */
function progressPrinter(): (p: ImportProgress) => void {
  let before = totals(null);
  return (p) => {
    const at = `[${p.index}/${p.total}] ${p.repository}`;
    if (p.phase !== 'done') {
      process.stderr.write(`${at}: ${p.phase}; blobs ${p.blobsDone}/${p.blobsTotal}; ${human(p.bytes)} copied in all\n`);
      return;
    }
    const now = totals(p.report);
    const then = before;
    const d = (k: keyof typeof now): number => now[k] - then[k];
    before = now;
    const parts = [
      `${d('tags')} tag(s)`, `${d('manifests')} manifest(s)`, `${d('blobs')} blob(s) (${human(d('bytes'))} copied)`, `${d('skipped')} already in Wharf`,
      ...(d('problems') > 0 ? [`${d('problems')} PROBLEM(S)`] : []),
    ];
    process.stderr.write(`${at}: ${parts.join(', ')}\n`);
  };
}

function totals(r: ImportReport | null): Record<'tags' | 'manifests' | 'blobs' | 'bytes' | 'skipped' | 'problems', number> {
  if (r === null) return { tags: 0, manifests: 0, blobs: 0, bytes: 0, skipped: 0, problems: 0 };
  return {
    tags: r.tags.imported, manifests: r.manifests.imported, blobs: r.blobs.imported, bytes: r.blobs.bytes,
    skipped: r.tags.skipped + r.manifests.skipped + r.blobs.skipped, problems: r.problems.length,
  };
}

export function formatImportReport(r: ImportReport): string {
  const counts = (c: { imported: number; skipped: number }): string => `${c.imported} imported, ${c.skipped} skipped (already in Wharf)`;
  const lines = [
    `import from ${r.from}`,
    `  repositories:  ${r.repositories}`,
    `  tags:          ${counts(r.tags)}`,
    `  manifests:     ${counts(r.manifests)}`,
    `  blobs:         ${counts(r.blobs)}, ${r.blobs.bytes} bytes copied (${human(r.blobs.bytes)})`,
    `  time taken:    ${r.durationMs} ms`,
  ];
  if (r.linksWithoutBlob.count > 0) {
    lines.push(`  blob links without bytes in Distribution (left by its garbage collection; ignored): ${r.linksWithoutBlob.count}`);
    for (const e of r.linksWithoutBlob.examples) lines.push(`    ${e}`);
  }
  for (const p of r.problems) {
    const what = [p.tag !== undefined ? `tag ${p.tag}` : null, p.digest ?? null].filter((x) => x !== null).join(' ');
    lines.push(`${p.kind.toUpperCase()}  ${p.repository}${what ? `  ${what}` : ''}: ${p.detail}`);
  }
  lines.push(r.problems.length === 0 ? 'ok: everything imported' : `${r.problems.length} problem(s): those items were skipped, everything else is imported`);
  return `${lines.join('\n')}\n`;
}
