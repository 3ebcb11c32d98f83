// Runs `skopeo copy` fully isolated from any state left by earlier runs:
//  - containers/image keeps a blob-info cache under /var/lib/containers/cache (root) that turns later pushes
//    into cross-repository mounts; each copy runs in a private mount namespace with an empty dir bound over it;
//  - private auth file, policy, XDG_RUNTIME_DIR, HOME and TMPDIR, all removed afterwards.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runOk, withPrivateClientHome, type RunResult } from './util.js';

const ISOLATE = 'mkdir -p /var/lib/containers/cache && mount --bind "$EMPTY" /var/lib/containers/cache && exec "$@"';

export function skopeoCopy(src: string, dest: string, copyArgs: string[], timeoutMs: number): Promise<RunResult> {
  return withPrivateClientHome('skopeo', ({ dir, env }) => {
    const empty = join(dir, 'cache');
    mkdirSync(empty);
    const policy = join(dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const args = ['-m', 'sh', '-c', ISOLATE, 'sh', 'skopeo', '--policy', policy, 'copy', '--retry-times', '0', ...copyArgs, src, dest];
    return runOk('unshare', args, { env: { ...env, EMPTY: empty }, timeoutMs });
  });
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
