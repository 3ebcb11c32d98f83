// Runs `skopeo copy` fully isolated from any state left by earlier runs:
//  - containers/image keeps a blob-info cache under /var/lib/containers/cache (root) that turns later pushes
//    into cross-repository mounts; each copy runs in a private mount namespace with an empty dir bound over it;
//  - private auth file, policy, XDG_RUNTIME_DIR, HOME and TMPDIR, all removed afterwards.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, runOk, type RunResult } from './util.js';

const ISOLATE = 'mkdir -p /var/lib/containers/cache && mount --bind "$EMPTY" /var/lib/containers/cache && exec "$@"';

export async function skopeoCopy(src: string, dest: string, copyArgs: string[], timeoutMs: number): Promise<RunResult> {
  const dir = makeTempDir('skopeo');
  try {
    const empty = join(dir, 'cache');
    const runtime = join(dir, 'run');
    const tmp = join(dir, 'tmp');
    for (const d of [empty, runtime, tmp]) mkdirSync(d);
    chmodSync(runtime, 0o700);
    const authFile = join(dir, 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: {} }));
    const policy = join(dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      EMPTY: empty,
      HOME: dir,
      REGISTRY_AUTH_FILE: authFile,
      XDG_RUNTIME_DIR: runtime,
      TMPDIR: tmp,
    };
    const args = ['-m', 'sh', '-c', ISOLATE, 'sh', 'skopeo', '--policy', policy, 'copy', '--retry-times', '0', ...copyArgs, src, dest];
    return await runOk('unshare', args, { env, timeoutMs });
  } finally {
    removeTempDir(dir);
  }
}

/** Pushes oci:<dir>:<tag> to docker://<host>/<repo>:<tag> over plain HTTP, keeping manifests/layers byte-identical. */
export function skopeoPush(ociDir: string, tag: string, host: string, repo: string, timeoutMs: number): Promise<RunResult> {
  // --preserve-digests: without it containers/image gzips uncompressed layers on the way to a registry.
  return skopeoCopy(`oci:${ociDir}:${tag}`, `docker://${host}/${repo}:${tag}`, ['--dest-tls-verify=false', '--preserve-digests'], timeoutMs);
}

/** Pulls docker://<host>/<repo>:<tag> into a fresh OCI layout at <ociDir>, without recompressing layers. */
export function skopeoPull(host: string, repo: string, tag: string, ociDir: string, timeoutMs: number): Promise<RunResult> {
  // --dest-oci-accept-uncompressed-layers: otherwise the oci: transport gzips uncompressed layers on write.
  return skopeoCopy(`docker://${host}/${repo}:${tag}`, `oci:${ociDir}:${tag}`,
    ['--src-tls-verify=false', '--preserve-digests', '--dest-oci-accept-uncompressed-layers'], timeoutMs);
}
