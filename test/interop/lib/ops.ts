// Small wrappers around skopeo invocations used by several interop files.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientEnv } from './containers.js';
import { checkManifestServed } from './http.js';
import { writeOciLayout, type BuiltImage, type BuiltIndex } from './images.js';
import type { Registry } from './registries.js';

export const TLS_OFF = ['--tls-verify=false'];
export const COPY_TLS_OFF = ['--src-tls-verify=false', '--dest-tls-verify=false'];

/** docker://ADDR/REPO:TAG or docker://ADDR/REPO@DIGEST */
export function dockerRef(reg: Registry, repo: string, ref: string): string {
  return `docker://${reg.addr}/${repo}${ref.startsWith('sha256:') ? '@' : ':'}${ref}`;
}

/** Writes `image` into a new OCI layout and copies it to the registry with skopeo (no conversion). */
export async function pushImage(env: ClientEnv, reg: Registry, repo: string, tag: string, image: BuiltImage): Promise<void> {
  const layout = env.tmp('layout');
  writeOciLayout(layout, [{ tag: 'src', image }]);
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, `oci:${layout}:src`, dockerRef(reg, repo, tag)]);
}

/** Writes `index` into a new OCI layout and copies it (with --all) to the registry. */
export async function pushIndex(env: ClientEnv, reg: Registry, repo: string, tag: string, index: BuiltIndex): Promise<void> {
  const layout = env.tmp('layout');
  writeOciLayout(layout, [{ tag: 'src', index }]);
  await env.skopeo(['copy', '--quiet', '--all', ...COPY_TLS_OFF, `oci:${layout}:src`, dockerRef(reg, repo, tag)]);
}

/** `skopeo inspect --raw` bytes. */
export async function inspectRaw(env: ClientEnv, ref: string): Promise<Buffer> {
  return (await env.skopeo(['inspect', '--raw', ...TLS_OFF, ref])).stdoutBuf;
}

/** `skopeo inspect --config --raw` bytes. */
export async function inspectConfigRaw(env: ClientEnv, ref: string): Promise<Buffer> {
  return (await env.skopeo(['inspect', '--config', '--raw', ...TLS_OFF, ref])).stdoutBuf;
}

export interface SkopeoInspect {
  Name: string;
  Digest: string;
  RepoTags: string[];
  Created: string;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Layers: string[];
  Env: string[] | null;
}

export async function inspect(env: ClientEnv, ref: string, extra: string[] = []): Promise<SkopeoInspect> {
  return JSON.parse((await env.skopeo(['inspect', ...TLS_OFF, ...extra, ref])).stdout) as SkopeoInspect;
}

/** `skopeo manifest-digest` of some manifest bytes. */
export async function manifestDigest(env: ClientEnv, bytes: Buffer): Promise<string> {
  const f = join(env.tmp('md'), 'manifest.json');
  writeFileSync(f, bytes);
  return (await env.skopeo(['manifest-digest', f])).stdout.trim();
}

export async function listTags(env: ClientEnv, reg: Registry, repo: string): Promise<string[]> {
  const out = JSON.parse((await env.skopeo(['list-tags', ...TLS_OFF, `docker://${reg.addr}/${repo}`])).stdout) as { Repository: string; Tags: string[] | null };
  assert.equal(out.Repository, `${reg.addr}/${repo}`);
  return out.Tags ?? [];
}

/** Asserts the registry serves `expected` for repo:ref (GET and HEAD, Content-Type, Docker-Content-Digest). */
export async function assertServed(reg: Registry, repo: string, ref: string, expected: Buffer, mediaType: string): Promise<void> {
  const problem = await checkManifestServed(reg.url, repo, ref, expected, mediaType);
  assert.equal(problem, null, `${reg.name} served ${repo}:${ref} wrongly:\n${problem}`);
}

/** The HTTP requests a containers tool logged at debug level (skopeo --debug, podman/buildah --log-level=debug). */
export function loggedRequests(log: string): string[] {
  return log.split('\n')
    .map((l) => /msg="((?:GET|HEAD|POST|PUT|PATCH|DELETE) [^"]*)"/.exec(l)?.[1])
    .filter((l): l is string => l !== undefined)
    .map((l) => l.replace(/_state=[^&]*&?/, ''));
}

/** Asserts the log shows the blob was uploaded (a PUT ...digest=<digest> closing an upload session). */
export function assertUploaded(requests: string[], digest: string): void {
  const enc = digest.replace(':', '%3A');
  assert.ok(requests.some((r) => r.startsWith('PUT ') && r.includes('/blobs/uploads/') && r.includes(`digest=${enc}`)),
    `no upload of ${digest}; requests:\n${requests.join('\n')}`);
}
