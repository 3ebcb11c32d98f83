// wharf gc and wharf fsck: garbage collection and a check of the store, on the configured stores,
// safe beside a running server on the same data directory (SQLite WAL; the `gc` lease keeps one
// collector at a time).
import type { Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../../config/config.js';
import { systemClock } from '../../config/clock.js';
import { openStores, type Stores } from '../../store/open-stores.js';
import { collectOnceLeased, formatGcReport } from '../../jobs/gc-job.js';
import { checkStore, formatFsckReport } from '../../registry/fsck.js';

export interface StoreFlags { config?: string; data?: string; format?: string }

export function configFrom(f: StoreFlags): Config {
  if (f.format !== undefined && f.format !== 'json' && f.format !== 'text') throw new Error(`--format takes json or text, got ${f.format}`);
  try {
    return loadConfig({ file: f.config, env: process.env, flags: { data: f.data } });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`wharf: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

export async function withStores<T>(config: Config, fn: (s: Stores) => Promise<T>): Promise<T> {
  const stores = await openStores(config, systemClock);
  try {
    return await fn(stores);
  } finally {
    await stores.blobs.close();
    await stores.meta.close();
  }
}

export function storeOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML or JSON configuration file (also WHARF_CONFIG)')
    .option('--data <dir>', 'data directory (WHARF_DATA, default ./data)')
    .option('--format <format>', 'text (default) or json');
}

export function registerGc(program: Command): void {
  storeOptions(program.command('gc').description('collect garbage online: unreferenced blobs, orphans, expired uploads (gc.* settings)'))
    .option('--dry-run', 'report what would be collected, change nothing')
    .option('--untagged', 'also delete manifests no tag reaches (gc.untagged)')
    .action(async (f: StoreFlags & { dryRun?: boolean; untagged?: boolean }) => {
      const config = configFrom(f);
      const report = await withStores(config, (s) => collectOnceLeased(
        { blobs: s.blobs, meta: s.meta, clock: systemClock, uploadTtlMs: config.uploads.ttl },
        { dryRun: f.dryRun === true, untagged: f.untagged === true || config.gc.untagged, gracePeriodMs: config.gc.gracePeriod, historyKeepMs: config.history.keep },
      ));
      if (report === null) {
        process.stderr.write('wharf: another garbage collection is running (the gc lease is held); try again later\n');
        process.exit(1);
      }
      process.stdout.write(f.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatGcReport(report));
    });
}

export function registerFsck(program: Command): void {
  storeOptions(program.command('fsck').description('check that every referenced blob exists with the right size (and digest); exit 1 when not'))
    .option('--verify-digests', 'also hash every referenced blob (reads all the bytes)')
    .action(async (f: StoreFlags & { verifyDigests?: boolean }) => {
      const config = configFrom(f);
      const report = await withStores(config, (s) => checkStore(s, { verifyDigests: f.verifyDigests === true }));
      process.stdout.write(f.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatFsckReport(report));
      if (report.problems.length > 0) process.exitCode = 1;
    });
}
