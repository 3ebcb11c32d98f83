// wharf inspect IMAGE: skopeo inspect's JSON, --raw, --config, --format.
import type { Command } from 'commander';
import { digestOf } from '../../oci/digest.js';
import { parseManifest } from '../../oci/manifest.js';
import { isIndexMediaType } from '../../oci/media-types.js';
import { choosePlatform, hostPlatform } from '../../oci/platform.js';
import { openSource } from '../../transports/open.js';
import { DockerSource } from '../../transports/docker.js';
import { addAccessFlags, parseRetryTimes } from '../flags.js';
import { renderTemplate } from '../template.js';

interface InspectFlags {
  raw?: boolean; config?: boolean; format?: string; tags?: boolean; creds?: string; authfile?: string; tlsVerify?: boolean; certDir?: string;
  retryTimes?: string; overrideOs?: string; overrideArch?: string; overrideVariant?: string;
}

interface ImageConfig {
  created?: string; architecture?: string; os?: string; variant?: string;
  config?: { Labels?: Record<string, string> | null; Env?: string[] | null };
  docker_version?: string;
}

export function registerInspect(program: Command): void {
  const cmd = program.command('inspect').description('show an image\'s metadata, manifest or config').argument('<image>')
    .option('--raw', 'print the manifest bytes exactly as stored')
    .option('--config', 'print the image config (with --raw: its exact bytes)')
    .option('-f, --format <template>', 'Go-template-like output, e.g. {{.Digest}}')
    .option('-n, --no-tags', 'do not list the repository\'s tags')
    .option('--authfile <file>')
    .option('--retry-times <n>', 'retries', '3')
    .option('--override-os <os>').option('--override-arch <arch>').option('--override-variant <variant>');
  addAccessFlags(cmd);
  cmd.action(async (image: string, f: InspectFlags) => {
    const src = await openSource(image, { creds: f.creds, authFile: f.authfile, tlsVerify: f.tlsVerify, certDir: f.certDir, retryTimes: parseRetryTimes(f.retryTimes) });
    try {
      const top = await src.getManifest();
      if (f.raw && !f.config) {
        process.stdout.write(top.bytes);
        return;
      }
      let image = top;
      if (isIndexMediaType(top.mediaType)) {
        const want = hostPlatform({ os: f.overrideOs, architecture: f.overrideArch, variant: f.overrideVariant });
        const child = choosePlatform(parseManifest(top.bytes, top.mediaType).children, want);
        if (!child) throw new Error(`no image for ${want.os}/${want.architecture} in ${image.mediaType} index`);
        image = await src.getManifest(child.digest);
      }
      const parsed = parseManifest(image.bytes, image.mediaType);
      const configDesc = parsed.blobs[0]!;
      const chunks: Buffer[] = [];
      for await (const c of await src.getBlob({ digest: configDesc.digest, size: configDesc.size })) chunks.push(c as Buffer);
      const configBytes = Buffer.concat(chunks);
      if (digestOf(configBytes) !== configDesc.digest) throw new Error(`config ${configDesc.digest} does not match its digest`);
      if (f.config) {
        if (f.raw) process.stdout.write(configBytes);
        else process.stdout.write(`${JSON.stringify(JSON.parse(configBytes.toString('utf8')), null, 4)}\n`);
        return;
      }
      const cfg = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
      const layers = parsed.blobs.slice(1);
      const isDocker = src instanceof DockerSource;
      const out: Record<string, unknown> = {
        Name: isDocker ? `${src.ref.registry}/${src.ref.repository}` : undefined,
        Digest: digestOf(top.bytes),
        RepoTags: isDocker && f.tags !== false ? await src.listTags() : [],
        Created: cfg.created,
        DockerVersion: cfg.docker_version ?? '',
        // Go marshals maps with sorted keys; so do we, so that outputs compare equal.
        Labels: cfg.config?.Labels ? Object.fromEntries(Object.entries(cfg.config.Labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : null,
        Architecture: cfg.architecture ?? '',
        Os: cfg.os ?? '',
        ...(cfg.variant ? { Variant: cfg.variant } : {}),
        Layers: layers.map((l) => l.digest),
        LayersData: layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: l.annotations ?? null })),
        Env: cfg.config?.Env ?? null,
      };
      if (out.Name === undefined) delete out.Name;
      if (f.format) process.stdout.write(`${renderTemplate(f.format, out)}\n`);
      else process.stdout.write(`${JSON.stringify(out, null, 4)}\n`);
    } finally {
      await src.close();
    }
  });
}
