// wharf copy SRC DEST: any transport to any transport.
import type { Command } from 'commander';
import { copyImage, type MultiArch } from '../../copy/copy-image.js';
import { openDestination, openSource } from '../../transports/open.js';
import { DockerSource } from '../../transports/docker.js';
import { addAccessFlags, parseRetryTimes } from '../flags.js';
import { human, progressReporter } from '../progress.js';

interface CopyFlags {
  all?: boolean; multiArch?: string; overrideOs?: string; overrideArch?: string; overrideVariant?: string;
  format?: string; preserveDigests?: boolean; authfile?: string; srcAuthfile?: string; destAuthfile?: string;
  srcCreds?: string; destCreds?: string; srcTlsVerify?: boolean; destTlsVerify?: boolean; srcCertDir?: string; destCertDir?: string;
  retryTimes?: string; quiet?: boolean;
}

export function registerCopy(program: Command): void {
  const cmd = program.command('copy').description('copy an image from one location to another').argument('<source>').argument('<destination>')
    .option('-a, --all', 'copy every platform of an index (same as --multi-arch all)')
    .option('--multi-arch <mode>', 'system (the host platform, default), all, or index-only')
    .option('--override-os <os>').option('--override-arch <arch>').option('--override-variant <variant>')
    .option('-f, --format <format>', 'convert manifests to oci or v2s2 (default: copy byte-for-byte)')
    .option('--preserve-digests', 'fail rather than change a manifest digest')
    .option('--authfile <file>', 'auth file for both sides').option('--src-authfile <file>').option('--dest-authfile <file>')
    .option('--retry-times <n>', 'retries on network errors and 429/5xx', '3')
    .option('-q, --quiet', 'print nothing');
  addAccessFlags(cmd, 'src');
  addAccessFlags(cmd, 'dest');
  cmd.action(async (source: string, destination: string, f: CopyFlags) => {
    if (f.format && f.format !== 'oci' && f.format !== 'v2s2') throw new Error(`--format must be oci or v2s2, got ${f.format}`);
    const multiArch = (f.all ? 'all' : f.multiArch ?? 'system') as MultiArch;
    if (!['system', 'all', 'index-only'].includes(multiArch)) throw new Error(`--multi-arch must be system, all or index-only, got ${multiArch}`);
    const retryTimes = parseRetryTimes(f.retryTimes);
    const src = await openSource(source, { creds: f.srcCreds, authFile: f.srcAuthfile ?? f.authfile, tlsVerify: f.srcTlsVerify, certDir: f.srcCertDir, retryTimes });
    let dest;
    try {
      dest = await openDestination(destination, { creds: f.destCreds, authFile: f.destAuthfile ?? f.authfile, tlsVerify: f.destTlsVerify, certDir: f.destCertDir, retryTimes });
    } catch (e) {
      await src.close();
      throw e;
    }
    const progress = progressReporter({ quiet: f.quiet === true, tty: process.stderr.isTTY === true, out: process.stderr });
    const started = Date.now();
    try {
      const r = await copyImage(src, dest, {
        multiArch,
        platform: { os: f.overrideOs, architecture: f.overrideArch, variant: f.overrideVariant },
        format: f.format as 'oci' | 'v2s2' | undefined,
        preserveDigests: f.preserveDigests,
        retryTimes,
        // Per-chunk events only feed the TTY bars; without them no metering stage is added.
        onEvent: f.quiet || process.stderr.isTTY !== true ? undefined : (e) => progress.onEvent(e),
        sourceRepository: src instanceof DockerSource ? { registry: src.ref.registry, repository: src.ref.repository } : undefined,
      });
      const secs = (Date.now() - started) / 1000;
      progress.finish(`Copied ${r.digest}: ${r.copied} blob(s) copied (${human(r.bytes)}), ${r.skipped} already present, ${r.mounted} mounted in ${secs.toFixed(1)}s`);
    } finally {
      await Promise.allSettled([src.close(), dest.close()]);
    }
  });
}
