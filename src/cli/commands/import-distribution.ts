// wharf import-distribution: moves a CNCF Distribution (registry:2, Debian's docker-registry) storage
// tree into the configured stores, offline or beside a running server. Run it again to finish an
// interrupted import: what is already in Wharf is skipped.
import type { Command } from 'commander';
import { systemClock } from '../../config/clock.js';
import { Registry } from '../../registry/registry.js';
import { DistributionLayout } from '../../migrate/distribution-layout.js';
import { openFsDistribution, type DistributionStorage } from '../../migrate/distribution-storage.js';
import { importDistribution, type ImportProgress } from '../../migrate/import-distribution.js';
import type { ImportReport } from '../../migrate/import-report.js';
import type { Config } from '../../config/config.js';
import type { S3ConnectionOptions } from '../../store/blobs/s3-client.js';
import type { S3Location } from '../../migrate/distribution-s3-storage.js';
import { human } from '../progress.js';
import { configFrom, storeOptions, withStores, type StoreFlags } from './gc.js';

/** Exit status when something was skipped for a problem (the rest is imported). */
const EXIT_PROBLEMS = 1;
/** Exit status when the import could not run or stopped (bad flags, configuration, source or store failure). */
const EXIT_FAILED = 2;

interface SourceFlags {
  from: string;
  fromEndpoint?: string;
  fromRegion?: string;
  fromPathStyle?: boolean;
}

export function registerImportDistribution(program: Command): void {
  storeOptions(program.command('import-distribution')
    .description('import a Distribution (registry:2) storage root, from a directory (filesystem driver) or a bucket (s3 driver): repositories, tags, manifests, blobs; run again to resume'))
    .requiredOption('--from <dir|s3://bucket[/prefix]>', 'Distribution\'s storage root (its rootdirectory, or the docker/registry/v2 under it): a directory, or s3://BUCKET[/PREFIX] for its s3 driver\'s bucket')
    .option('--from-endpoint <url>', 'with s3://: the S3 endpoint (its regionendpoint, e.g. http://rgw:7480); default AWS for the region')
    .option('--from-region <region>', 'with s3://: the bucket\'s region (default AWS_REGION, else us-east-1)')
    .option('--from-path-style', 'with s3://: path-style addressing, bucket in the path (its forcepathstyle; Ceph RGW, MinIO)')
    .addHelpText('after', [
      '',
      'Credentials for an s3:// source come from the environment, never from flags:',
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or',
      'AWS_PROFILE, or the rest of the AWS SDK\'s default chain (~/.aws, instance roles).',
      'When neither AWS_ACCESS_KEY_ID nor AWS_PROFILE is set and the destination is S3',
      'on the same endpoint (storage.s3.endpoint equal to --from-endpoint), the',
      'destination\'s keys are used. Secrets are never printed.',
      '',
      'Example: wharf import-distribution --config wharf.yaml --from s3://registry/distribution \\',
      '           --from-endpoint http://127.0.0.1:7480 --from-path-style',
    ].join('\n'))
    .action(async (f: StoreFlags & SourceFlags) => {
      const config = configFrom(f);
      const s3 = /^s3:\/\//i.test(f.from);
      if (!s3 && /^[a-z][a-z0-9+.-]*:\/\//i.test(f.from)) {
        process.stderr.write(`wharf: --from ${f.from}: only a directory or s3://BUCKET[/PREFIX] is supported; copy other stores' <rootdirectory>/docker/registry/v2 to a directory first\n`);
        process.exit(EXIT_FAILED);
      }
      if (!s3 && (f.fromEndpoint !== undefined || f.fromRegion !== undefined || f.fromPathStyle !== undefined)) {
        process.stderr.write('wharf: --from-endpoint, --from-region and --from-path-style go with --from s3://BUCKET[/PREFIX]\n');
        process.exit(EXIT_FAILED);
      }
      const openSource = s3 ? await s3Source(f, config) : () => openFsDistribution(f.from);
      let report: ImportReport;
      try {
        const storage = await openSource();
        try {
          report = await withStores(config, async (s) => {
            const registry = new Registry(s.blobs, s.meta, { maxManifestBytes: config.manifests.maxSize, historyKeepMs: config.history.keep }, systemClock);
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

/** Opens the bucket when called; a malformed URL ends the command here (exit 2). */
async function s3Source(f: SourceFlags, config: Config): Promise<() => Promise<DistributionStorage>> {
  // Loaded only for a bucket: the AWS SDK stays out of a directory import.
  const { openS3Distribution, parseS3Url } = await import('../../migrate/distribution-s3-storage.js');
  let where: S3Location;
  try {
    where = parseS3Url(f.from);
  } catch (e) {
    process.stderr.write(`wharf: ${(e as Error).message}\n`);
    process.exit(EXIT_FAILED);
  }
  const connection = s3SourceConnection(f, config, process.env);
  const keys = connection.accessKeyId !== undefined ? 'the destination\'s storage.s3 keys (same endpoint)' : 'the environment (AWS SDK default chain)';
  process.stderr.write(`source: bucket ${where.bucket} at ${f.fromEndpoint === undefined ? 'AWS' : withoutUserinfo(f.fromEndpoint)}${f.fromPathStyle ? ', path style' : ''}; credentials from ${keys}\n`);
  return () => openS3Distribution({ ...where, connection });
}

/**
 * How to reach the source bucket. Keys only ever come from the environment (the SDK's default chain), or
 * from the destination's configuration when it is S3 on the same endpoint and the environment names none.
 */
export function s3SourceConnection(f: Omit<SourceFlags, 'from'>, config: Pick<Config, 'storage'>, env: NodeJS.ProcessEnv): S3ConnectionOptions {
  const connection: S3ConnectionOptions = { endpoint: f.fromEndpoint, region: f.fromRegion, forcePathStyle: f.fromPathStyle === true };
  const dest = config.storage;
  const sameEndpoint = dest.driver === 's3' && normalizeEndpoint(dest.s3.endpoint) === normalizeEndpoint(f.fromEndpoint);
  const envNamesCredentials = Boolean(env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE);
  if (sameEndpoint && !envNamesCredentials && dest.s3.accessKeyId !== undefined && dest.s3.secretAccessKey !== undefined) {
    connection.accessKeyId = dest.s3.accessKeyId;
    connection.secretAccessKey = dest.s3.secretAccessKey;
  }
  return connection;
}

/** An endpoint for messages: a user and password in the URL are not printed. */
function withoutUserinfo(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(an invalid URL)';
  }
}

function normalizeEndpoint(e: string | undefined): string | null {
  return e === undefined ? null : e.replace(/\/+$/, '').toLowerCase();
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
