// Runs `wharf copy` (bin/wharf.cjs, the command as installed) isolated from the host's client state, the way
// bench/skopeo.ts isolates skopeo: a private HOME, XDG_RUNTIME_DIR, REGISTRY_AUTH_FILE (empty auth file) and
// TMPDIR, all removed afterwards, and an environment reduced to PATH — so no host credentials, certs.d or
// registries.conf under $HOME, and no NODE_OPTIONS, are picked up.
import { wharfBin } from '../test/helpers/server.js';
import { runOk, withPrivateClientHome, type RunResult } from './util.js';

export { wharfBin };

export function wharfCopy(src: string, dest: string, copyArgs: string[], timeoutMs: number): Promise<RunResult> {
  // Same retry policy as the skopeo runs (--retry-times 0): a failure shows up as a failure, not as a slow run.
  const args = [wharfBin, 'copy', '--quiet', '--retry-times', '0', ...copyArgs, src, dest];
  return withPrivateClientHome('wharf-client', ({ env }) => runOk(process.execPath, args, { env, timeoutMs }));
}

/** Pushes oci:<dir>:<tag> to docker://<host>/<repo>:<tag> over plain HTTP (wharf copies byte-for-byte by default). */
export function wharfPush(ociDir: string, tag: string, host: string, repo: string, timeoutMs: number): Promise<RunResult> {
  // --preserve-digests only makes wharf fail instead of converting; with an OCI manifest nothing is converted.
  return wharfCopy(`oci:${ociDir}:${tag}`, `docker://${host}/${repo}:${tag}`, ['--dest-tls-verify=false', '--preserve-digests'], timeoutMs);
}

/** Pulls docker://<host>/<repo>:<tag> into a fresh OCI layout at <ociDir>; layer bytes are written as received. */
export function wharfPull(host: string, repo: string, tag: string, ociDir: string, timeoutMs: number): Promise<RunResult> {
  return wharfCopy(`docker://${host}/${repo}:${tag}`, `oci:${ociDir}:${tag}`, ['--src-tls-verify=false', '--preserve-digests'], timeoutMs);
}
