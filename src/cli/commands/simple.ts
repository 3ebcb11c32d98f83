// wharf list-tags, delete and manifest-digest.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { digestOf } from '../../oci/digest.js';
import { referenceTarget } from '../../oci/reference.js';
import { DockerSource, parseDockerSpec, ACCEPT_MANIFESTS } from '../../transports/docker.js';
import { registryClientFor, splitTransport } from '../../transports/open.js';
import { addAccessFlags, parseRetryTimes } from '../flags.js';

interface AccessOnly { creds?: string; authfile?: string; tlsVerify?: boolean; certDir?: string; retryTimes?: string }

function dockerOnly(name: string, what: string): string {
  const { transport, spec } = splitTransport(name);
  if (transport !== 'docker') throw new Error(`${what} works on docker:// references, not ${transport}:`);
  return spec;
}

export function registerListTags(program: Command): void {
  const cmd = program.command('list-tags').description('list every tag of a repository').argument('<repository>', 'docker://REGISTRY/REPOSITORY')
    .option('--authfile <file>').option('--retry-times <n>', 'retries', '3');
  addAccessFlags(cmd);
  cmd.action(async (name: string, f: AccessOnly) => {
    const ref = parseDockerSpec(dockerOnly(name, 'list-tags'));
    if (ref.tag || ref.digest) throw new Error(`list-tags takes a repository without a tag or digest, got ${name}`);
    const src = new DockerSource(ref, await registryClientFor(ref, { creds: f.creds, authFile: f.authfile, tlsVerify: f.tlsVerify, certDir: f.certDir, retryTimes: parseRetryTimes(f.retryTimes) }));
    try {
      const tags = await src.listTags();
      process.stdout.write(`${JSON.stringify({ Repository: `${ref.registry}/${ref.repository}`, Tags: tags }, null, 4)}\n`);
    } finally {
      await src.close();
    }
  });
}

export function registerDelete(program: Command): void {
  const cmd = program.command('delete').description('delete an image (by tag: the manifest it points to, as skopeo does)').argument('<image>', 'docker://REGISTRY/REPOSITORY:TAG or @DIGEST')
    .option('--authfile <file>').option('--retry-times <n>', 'retries', '3');
  addAccessFlags(cmd);
  cmd.action(async (name: string, f: AccessOnly) => {
    const ref = parseDockerSpec(dockerOnly(name, 'delete'));
    const client = await registryClientFor(ref, { creds: f.creds, authFile: f.authfile, tlsVerify: f.tlsVerify, certDir: f.certDir, retryTimes: parseRetryTimes(f.retryTimes) });
    try {
      let digest = ref.digest;
      if (!digest) {
        const head = await client.headManifest(ref.repository, referenceTarget(ref), ACCEPT_MANIFESTS);
        if (!head) throw new Error(`${name}: manifest unknown`);
        digest = head.digest || (await client.getManifest(ref.repository, referenceTarget(ref), ACCEPT_MANIFESTS)).digest;
      }
      await client.deleteManifest(ref.repository, digest);
    } finally {
      await client.close();
    }
  });
}

export function registerManifestDigest(program: Command): void {
  program.command('manifest-digest').description('print the digest of a manifest file').argument('<file>')
    .action(async (file: string) => {
      process.stdout.write(`${digestOf(await readFile(file))}\n`);
    });
}
