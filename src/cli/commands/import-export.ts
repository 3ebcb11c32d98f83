// wharf import TARBALL DEST and wharf export IMAGE -o FILE.
import type { Command } from 'commander';
import { copyImage } from '../../copy/copy-image.js';
import { importTarball } from '../../copy/import-image.js';
import { exportRootfs, exportRootfsToFile } from '../../copy/export-image.js';
import { openDestination, openSource } from '../../transports/open.js';
import { addAccessFlags, parseRetryTimes } from '../flags.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];

export function registerImportExport(program: Command): void {
  const imp = program.command('import').description('make a single-layer image from a root filesystem tarball').argument('<tarball>').argument('<destination>')
    .option('-c, --change <instruction>', 'CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, WORKDIR, USER, VOLUME or STOPSIGNAL (repeatable)', collect, [])
    .option('-m, --message <text>', 'history comment')
    .option('--override-os <os>').option('--override-arch <arch>').option('--override-variant <variant>')
    .option('--authfile <file>').option('--retry-times <n>', 'retries', '3').option('-q, --quiet');
  addAccessFlags(imp, 'dest');
  imp.action(async (tarball: string, destination: string, f: { change: string[]; message?: string; overrideOs?: string; overrideArch?: string; overrideVariant?: string; authfile?: string; retryTimes?: string; quiet?: boolean; destCreds?: string; destTlsVerify?: boolean; destCertDir?: string }) => {
    const dest = await openDestination(destination, { creds: f.destCreds, authFile: f.authfile, tlsVerify: f.destTlsVerify, certDir: f.destCertDir, retryTimes: parseRetryTimes(f.retryTimes) });
    try {
      const src = await importTarball(tarball, { changes: f.change, message: f.message, platform: { os: f.overrideOs, architecture: f.overrideArch, variant: f.overrideVariant } });
      try {
        const r = await copyImage(src, dest);
        if (!f.quiet) process.stdout.write(`${r.digest}\n`);
      } finally {
        await src.close();
      }
    } finally {
      await dest.close();
    }
  });

  const exp = program.command('export').description('write the flattened root filesystem of an image as a tar').argument('<image>')
    .requiredOption('-o, --output <file>', 'tar file to write (- for standard output)')
    .option('--override-os <os>').option('--override-arch <arch>').option('--override-variant <variant>')
    .option('--authfile <file>').option('--retry-times <n>', 'retries', '3');
  addAccessFlags(exp);
  exp.action(async (image: string, f: { output: string; overrideOs?: string; overrideArch?: string; overrideVariant?: string; authfile?: string; retryTimes?: string; creds?: string; tlsVerify?: boolean; certDir?: string }) => {
    const src = await openSource(image, { creds: f.creds, authFile: f.authfile, tlsVerify: f.tlsVerify, certDir: f.certDir, retryTimes: parseRetryTimes(f.retryTimes) });
    const platform = { os: f.overrideOs, architecture: f.overrideArch, variant: f.overrideVariant };
    try {
      if (f.output === '-') await exportRootfs(src, process.stdout, platform);
      else await exportRootfsToFile(src, f.output, platform);
    } finally {
      await src.close();
    }
  });
}
