// wharf sync: copy whole repositories, directories of images, or a YAML list, in parallel.
import type { Command } from 'commander';
import semver from 'semver';
import { copyImage, type MultiArch } from '../../copy/copy-image.js';
import { planFromDirectory, planFromRepository, planFromYaml, SyncError, type SyncAccess, type SyncItem, type TagFilter } from '../../copy/sync-plan.js';
import { DockerSource } from '../../transports/docker.js';
import { openDestination, openSource, registryClientFor } from '../../transports/open.js';
import type { Reference } from '../../oci/reference.js';
import { addAccessFlags, parseRetryTimes } from '../flags.js';

interface SyncFlags {
  src: string; dest: string; includeTag: string[]; excludeTag: string[]; semver?: string; dryRun?: boolean; parallel: string;
  all?: boolean; scoped?: boolean; format?: string; authfile?: string; srcAuthfile?: string; destAuthfile?: string;
  srcCreds?: string; destCreds?: string; srcTlsVerify?: boolean; destTlsVerify?: boolean; srcCertDir?: string; destCertDir?: string;
  retryTimes?: string; quiet?: boolean; keepGoing?: boolean;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

export function registerSync(program: Command): void {
  const cmd = program.command('sync').description('synchronise images between registries and directories').argument('<source>').argument('<destination>')
    .requiredOption('--src <kind>', 'docker, dir or yaml').requiredOption('--dest <kind>', 'docker or dir')
    .option('--include-tag <regex>', 'only tags matching (repeatable)', collect, [])
    .option('--exclude-tag <regex>', 'leave out tags matching (repeatable)', collect, [])
    .option('--semver <range>', 'only tags that are versions within this range, e.g. ">=1.2 <2"')
    .option('--dry-run', 'print what would be copied, copy nothing')
    .option('--parallel <n>', 'images copied at once', '4')
    .option('-a, --all', 'copy every platform of an index').option('--scoped', 'prefix destinations with the full source name')
    .option('-f, --format <format>', 'oci or v2s2')
    .option('--authfile <file>').option('--src-authfile <file>').option('--dest-authfile <file>')
    .option('--retry-times <n>', 'retries', '3').option('-q, --quiet').option('--keep-going', 'go on after a failed image; exit non-zero at the end');
  addAccessFlags(cmd, 'src');
  addAccessFlags(cmd, 'dest');
  cmd.action(async (source: string, destination: string, f: SyncFlags) => {
    if (!['docker', 'dir', 'yaml'].includes(f.src)) throw new SyncError(`--src must be docker, dir or yaml, got ${f.src}`);
    if (f.dest !== 'docker' && f.dest !== 'dir') throw new SyncError(`--dest must be docker or dir, got ${f.dest}`);
    if (f.semver && !semver.validRange(f.semver)) throw new SyncError(`--semver: invalid range ${f.semver}`);
    const parallel = Number(f.parallel);
    if (!Number.isInteger(parallel) || parallel < 1) throw new SyncError('--parallel must be a positive integer');
    const retryTimes = parseRetryTimes(f.retryTimes);
    const filter: TagFilter = { include: f.includeTag.map((r) => new RegExp(r)), exclude: f.excludeTag.map((r) => new RegExp(r)), semverRange: f.semver };
    const srcAccess = (a?: SyncAccess) => ({
      creds: a?.creds ?? f.srcCreds, authFile: f.srcAuthfile ?? f.authfile, tlsVerify: a?.tlsVerify ?? f.srcTlsVerify, certDir: a?.certDir ?? f.srcCertDir, retryTimes,
    });
    const listTags = async (ref: Reference, a?: SyncAccess): Promise<string[]> => {
      const src = new DockerSource(ref, await registryClientFor(ref, srcAccess(a)));
      try { return await src.listTags(); } finally { await src.close(); }
    };
    const destKind = f.dest as 'docker' | 'dir';
    let items: SyncItem[];
    if (f.src === 'docker') items = await planFromRepository(source, destKind, destination, filter, f.scoped === true, listTags);
    else if (f.src === 'dir') items = await planFromDirectory(source, destKind, destination);
    else items = await planFromYaml(source, destKind, destination, filter, f.scoped === true, listTags);

    if (f.dryRun) {
      for (const it of items) process.stdout.write(`would copy ${it.source} -> ${it.destination}\n`);
      process.stdout.write(`${items.length} image(s) would be copied\n`);
      return;
    }
    let next = 0;
    let failed = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const it = items[next++]!;
        try {
          const src = await openSource(it.source, srcAccess(it.sourceAccess));
          try {
            const dest = await openDestination(it.destination, { creds: f.destCreds, authFile: f.destAuthfile ?? f.authfile, tlsVerify: f.destTlsVerify, certDir: f.destCertDir, retryTimes });
            try {
              const r = await copyImage(src, dest, {
                multiArch: (f.all ? 'all' : 'system') as MultiArch, format: f.format as 'oci' | 'v2s2' | undefined, retryTimes,
                sourceRepository: src instanceof DockerSource ? { registry: src.ref.registry, repository: src.ref.repository } : undefined,
              });
              if (!f.quiet) process.stdout.write(`copied ${it.source} -> ${it.destination} (${r.digest}, ${r.copied} copied, ${r.skipped} present, ${r.mounted} mounted)\n`);
            } finally { await dest.close(); }
          } finally { await src.close(); }
        } catch (e) {
          failed++;
          process.stderr.write(`wharf: sync ${it.source}: ${(e as Error).message}\n`);
          if (!f.keepGoing) throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, Math.max(1, items.length)) }, worker));
    if (!f.quiet) process.stdout.write(`${items.length - failed} of ${items.length} image(s) synced\n`);
    if (failed > 0) process.exitCode = 1;
  });
}
