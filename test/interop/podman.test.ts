// podman 4.3 (vfs storage, private environment) against Wharf and Distribution: pull, tag, push, push as
// Docker schema 2, and manifest lists (create / add / push --all).
import assert from 'node:assert/strict';
import { MT, sampleImage, sampleIndex, writeOciLayout } from './lib/images.js';
import type { ClientEnv } from './lib/containers.js';
import { assertServed, assertUploaded, dockerRef, inspectConfigRaw, inspectRaw, loggedRequests, pushImage } from './lib/ops.js';
import { uniqueRepo } from './lib/registries.js';
import { InteropSuite } from './lib/suite.js';

const suite = new InteropSuite();

const IMG = sampleImage('podman-a');
const LOCAL = sampleImage('podman-local', { layers: 2 });
const IDX = sampleIndex('podman-idx');

interface PodmanImage {
  Id: string;
  Names?: string[];
  Digest: string;
  RepoDigests?: string[];
  Labels: Record<string, string> | null;
}

async function podmanImages(env: ClientEnv): Promise<PodmanImage[]> {
  return JSON.parse((await env.podman(['images', '--format', 'json'])).stdout) as PodmanImage[];
}

interface ManifestLike {
  mediaType: string;
  config?: { mediaType: string; digest: string };
  layers?: { mediaType: string; digest: string; size: number }[];
  manifests?: { mediaType: string; digest: string; size: number; platform?: { architecture: string; os: string } }[];
}

function parse(raw: Buffer): ManifestLike {
  return JSON.parse(raw.toString()) as ManifestLike;
}

suite.scenario('podman pull, tag, push', async ({ env, reg }) => {
  const src = uniqueRepo('podman-src');
  const dst = uniqueRepo('podman-dst');
  await pushImage(env, reg, src, 'v1', IMG);

  const pulled = await env.podman(['pull', '--tls-verify=false', `${reg.addr}/${src}:v1`]);
  assert.equal(pulled.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7), 'podman pull prints the image ID (config digest)');
  const images = await podmanImages(env);
  const img = images.find((i) => i.Names?.includes(`${reg.addr}/${src}:v1`));
  assert.ok(img, `pulled image not listed: ${JSON.stringify(images)}`);
  assert.equal(img.Id, IMG.configDigest.slice(7));
  assert.equal(img.Digest, IMG.manifestDigest, 'podman records the registry manifest digest');
  assert.ok(img.RepoDigests?.includes(`${reg.addr}/${src}@${IMG.manifestDigest}`), JSON.stringify(img.RepoDigests));
  assert.deepEqual(img.Labels, IMG.labels);

  const byDigest = await env.podman(['pull', '--tls-verify=false', `${reg.addr}/${src}@${IMG.manifestDigest}`]);
  assert.equal(byDigest.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7), 'pull by digest resolves to the same image');

  await env.podman(['tag', `${reg.addr}/${src}:v1`, `${reg.addr}/${dst}:retagged`]);
  await env.podman(['push', '--tls-verify=false', `${reg.addr}/${dst}:retagged`]);

  const raw = await inspectRaw(env, dockerRef(reg, dst, 'retagged'));
  const m = parse(raw);
  assert.equal(m.config?.digest, IMG.configDigest, 'config preserved');
  const config = JSON.parse((await inspectConfigRaw(env, dockerRef(reg, dst, 'retagged'))).toString()) as { rootfs: { diff_ids: string[] }; config: { Labels: Record<string, string> } };
  assert.deepEqual(config.rootfs.diff_ids, IMG.diffIds);
  assert.deepEqual(config.config.Labels, IMG.labels);
  await assertServed(reg, dst, 'retagged', raw, m.mediaType);
  // The blobs were already in the registry (in `src`), so podman reuses them rather than recompressing.
  assert.deepEqual(m.layers?.map((l) => l.digest), IMG.layers.map((l) => l.digest));

  // Pulling the pushed tag again resolves to the same image.
  const again = await env.podman(['pull', '--tls-verify=false', `${reg.addr}/${dst}:retagged`]);
  assert.equal(again.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7));
  return { raw: raw.toString() };
}, { compare: true });

suite.scenario('podman push of a local image (fresh compression and upload)', async ({ env, reg }) => {
  const repo = uniqueRepo('podman-fresh');
  const layout = env.tmp('layout');
  writeOciLayout(layout, [{ tag: 'local', image: LOCAL }]);
  await env.podman(['pull', `oci:${layout}:local`]);
  const id = LOCAL.configDigest.slice(7);
  const res = await env.podman(['--log-level=debug', 'push', '--tls-verify=false', id, `docker://${reg.addr}/${repo}:v1`]);
  const requests = loggedRequests(res.stderr);

  const raw = await inspectRaw(env, dockerRef(reg, repo, 'v1'));
  const m = parse(raw);
  assert.equal(m.config?.digest, LOCAL.configDigest);
  assert.equal(m.layers?.length, LOCAL.layers.length);
  await assertServed(reg, repo, 'v1', raw, m.mediaType);
  // Nothing to reuse in a fresh registry repository: every blob went through POST/PATCH/PUT.
  for (const l of m.layers ?? []) assertUploaded(requests, l.digest);
  assertUploaded(requests, LOCAL.configDigest);
  assert.ok(requests.some((r) => r.startsWith('PATCH ')), 'podman streams blobs with PATCH');
  const config = JSON.parse((await inspectConfigRaw(env, dockerRef(reg, repo, 'v1'))).toString()) as { rootfs: { diff_ids: string[] } };
  assert.deepEqual(config.rootfs.diff_ids, LOCAL.diffIds);
  // Every layer podman uploaded is retrievable and has the advertised size.
  for (const l of m.layers ?? []) {
    const r = await fetch(`${reg.url}/v2/${repo}/blobs/${l.digest}`, { signal: AbortSignal.timeout(15_000) });
    const body = Buffer.from(await r.arrayBuffer());
    assert.equal(r.status, 200, `GET blob ${l.digest}`);
    assert.equal(body.length, l.size);
  }
  // A second store pulls it back to the same image ID.
  await env.podman(['rmi', '--force', id]);
  const pulled = await env.podman(['pull', '--tls-verify=false', `${reg.addr}/${repo}:v1`]);
  assert.equal(pulled.stdout.trim().split('\n').pop(), id);
  return { raw: raw.toString() };
}, { compare: true });

suite.scenario('podman push --format v2s2', async ({ env, reg }) => {
  const src = uniqueRepo('podman-v2s2-src');
  const dst = uniqueRepo('podman-v2s2');
  await pushImage(env, reg, src, 'v1', IMG);
  await env.podman(['pull', '--tls-verify=false', `${reg.addr}/${src}:v1`]);
  await env.podman(['push', '--tls-verify=false', '--format', 'v2s2', `${reg.addr}/${src}:v1`, `docker://${reg.addr}/${dst}:v1`]);

  const raw = await inspectRaw(env, dockerRef(reg, dst, 'v1'));
  const m = parse(raw);
  assert.equal(m.mediaType, MT.dockerManifest);
  assert.equal(m.config?.mediaType, MT.dockerConfig);
  assert.equal(m.config?.digest, IMG.configDigest);
  assert.deepEqual(m.layers?.map((l) => l.mediaType), IMG.layers.map(() => MT.dockerLayerGzip));
  await assertServed(reg, dst, 'v1', raw, MT.dockerManifest);

  // Round trip: drop the local image and pull the schema2 manifest back.
  await env.podman(['rmi', '--force', IMG.configDigest.slice(7)]);
  const pulled = await env.podman(['pull', '--tls-verify=false', `${reg.addr}/${dst}:v1`]);
  assert.equal(pulled.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7));
  const img = (await podmanImages(env)).find((i) => i.Names?.includes(`${reg.addr}/${dst}:v1`));
  assert.ok(img);
  assert.deepEqual(img.Labels, IMG.labels);
  return { raw: raw.toString() };
}, { compare: true });

suite.scenario('podman manifest create / add / push --all', async ({ env, reg }) => {
  const repo = uniqueRepo('podman-arch');
  const listRepo = uniqueRepo('podman-list');
  const [amd, arm] = IDX.images as [typeof IDX.images[0], typeof IDX.images[0]];
  await pushImage(env, reg, repo, 'amd64', amd);
  await pushImage(env, reg, repo, 'arm64', arm);

  const list = `localhost/${listRepo.replace(/\//g, '-')}:latest`;
  await env.podman(['manifest', 'create', list]);
  await env.podman(['manifest', 'add', '--tls-verify=false', list, `docker://${reg.addr}/${repo}:amd64`]);
  await env.podman(['manifest', 'add', '--tls-verify=false', list, `docker://${reg.addr}/${repo}:arm64`]);
  const local = JSON.parse((await env.podman(['manifest', 'inspect', list])).stdout) as ManifestLike;
  assert.deepEqual(local.manifests?.map((d) => d.digest), [amd.manifestDigest, arm.manifestDigest]);

  await env.podman(['manifest', 'push', '--all', '--tls-verify=false', list, `docker://${reg.addr}/${listRepo}:v1`]);

  const raw = await inspectRaw(env, dockerRef(reg, listRepo, 'v1'));
  const m = parse(raw);
  assert.ok(m.mediaType === MT.ociIndex || m.mediaType === MT.dockerList, `list media type ${m.mediaType}`);
  assert.deepEqual(
    m.manifests?.map((d) => [d.digest, d.size, `${d.platform?.os}/${d.platform?.architecture}`]),
    [[amd.manifestDigest, amd.manifest.length, 'linux/amd64'], [arm.manifestDigest, arm.manifest.length, 'linux/arm64']],
  );
  await assertServed(reg, listRepo, 'v1', raw, m.mediaType);
  // --all copied every child into the list's repository.
  for (const child of [amd, arm]) {
    assert.ok((await inspectRaw(env, dockerRef(reg, listRepo, child.manifestDigest))).equals(child.manifest), `child ${child.architecture} in ${listRepo}`);
    assert.ok((await inspectConfigRaw(env, dockerRef(reg, listRepo, child.manifestDigest))).equals(child.config));
  }
  return { raw: raw.toString() };
}, { compare: true });

suite.scenario('podman search (catalog) and search --list-tags', async ({ env, reg }) => {
  const repo = uniqueRepo('podman-search');
  await pushImage(env, reg, repo, 'v1', IMG);
  await pushImage(env, reg, repo, 'v2', IMG);
  const found = JSON.parse((await env.podman(['search', '--tls-verify=false', '--limit', '1000', '--format', 'json', `${reg.addr}/${repo}`])).stdout) as { Name: string }[];
  assert.ok(found.some((r) => r.Name === `${reg.addr}/${repo}`), `search did not find ${repo}: ${JSON.stringify(found)}`);
  const listed = JSON.parse((await env.podman(['search', '--tls-verify=false', '--list-tags', '--format', 'json', `${reg.addr}/${repo}`])).stdout) as { Name: string; Tags: string[] }[];
  assert.equal(listed.length, 1);
  assert.equal(listed[0]!.Name, `${reg.addr}/${repo}`);
  assert.deepEqual([...listed[0]!.Tags].sort(), ['v1', 'v2']);
  return { tags: [...listed[0]!.Tags].sort() };
}, { compare: true });
