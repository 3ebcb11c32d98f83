// skopeo 1.9 against Wharf and Distribution: copies in every direction, inspect, list-tags, delete, sync.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { blobStatus, fetchManifest, fetchTags } from './lib/http.js';
import { MT, buildImage, layoutRef, pseudoRandom, readLayoutBlob, sampleImage, sampleIndex, sha256, writeOciLayout, type BuiltImage } from './lib/images.js';
import {
  COPY_TLS_OFF, TLS_OFF, assertServed, dockerRef, inspect, inspectConfigRaw, inspectRaw, listTags, manifestDigest, pushImage, pushIndex,
} from './lib/ops.js';
import { uniqueRepo } from './lib/registries.js';
import { InteropSuite } from './lib/suite.js';

const suite = new InteropSuite();

const IMG = sampleImage('skopeo-a');
const IMG2 = sampleImage('skopeo-b', { layers: 1 });
const IDX = sampleIndex('skopeo-idx');
/** ~6 MiB of incompressible data in one layer: uploads and downloads must stream it intact. */
const BIG = buildImage({
  layers: [[{ path: 'big/' }, { path: 'big/random.bin', content: pseudoRandom(6 * 1024 * 1024 + 123, 42) }], [{ path: 'small.txt', content: 'small\n' }]],
  labels: { 'org.wharf.test': 'big' },
});

/** Asserts every blob of `image` (manifest, config, layers) is in the layout with identical bytes. */
function assertLayoutHasImage(layout: string, image: BuiltImage): void {
  for (const b of image.blobs) {
    assert.ok(readLayoutBlob(layout, b.digest).equals(b.data), `blob ${b.digest} differs in ${layout}`);
  }
}

suite.scenario('skopeo copy oci: -> docker:// preserves bytes', async ({ env, reg }) => {
  const repo = uniqueRepo('copy-oci');
  await pushImage(env, reg, repo, 'v1', IMG);

  const raw = await inspectRaw(env, dockerRef(reg, repo, 'v1'));
  assert.ok(raw.equals(IMG.manifest), `inspect --raw returned different bytes:\n${raw.toString()}`);
  assert.equal(await manifestDigest(env, raw), IMG.manifestDigest);
  assert.ok((await inspectRaw(env, dockerRef(reg, repo, IMG.manifestDigest))).equals(IMG.manifest), 'by-digest pull differs');
  assert.ok((await inspectConfigRaw(env, dockerRef(reg, repo, 'v1'))).equals(IMG.config), 'config blob differs');

  await assertServed(reg, repo, 'v1', IMG.manifest, MT.ociManifest);
  await assertServed(reg, repo, IMG.manifestDigest, IMG.manifest, MT.ociManifest);
  for (const l of IMG.layers) assert.equal(await blobStatus(reg.url, repo, l.digest), 200, `HEAD blob ${l.digest}`);
  assert.equal(await blobStatus(reg.url, repo, IMG.configDigest), 200, 'HEAD config blob');
  return { raw: raw.toString(), digest: await manifestDigest(env, raw) };
}, { compare: true });

suite.scenario('skopeo copy docker:// -> oci: preserves digests and layout', async ({ env, reg }) => {
  const repo = uniqueRepo('copy-to-oci');
  await pushImage(env, reg, repo, 'v1', IMG);
  const out = env.tmp('oci-out');
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, dockerRef(reg, repo, 'v1'), `oci:${out}:copied`]);

  assert.deepEqual(JSON.parse(readFileSync(join(out, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' });
  const desc = layoutRef(out, 'copied');
  assert.equal(desc.mediaType, MT.ociManifest);
  assert.equal(desc.digest, IMG.manifestDigest);
  assert.equal(desc.size, IMG.manifest.length);
  assertLayoutHasImage(out, IMG);
  const files = readdirSync(join(out, 'blobs', 'sha256')).sort();
  assert.deepEqual(files, IMG.blobs.map((b) => b.digest.slice(7)).sort(), 'layout holds exactly the image blobs');
  // The layout written by skopeo round-trips: copying it back to the registry changes nothing.
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, `oci:${out}:copied`, dockerRef(reg, repo, 'roundtrip')]);
  assert.ok((await inspectRaw(env, dockerRef(reg, repo, 'roundtrip'))).equals(IMG.manifest));
  return { digest: desc.digest, files };
}, { compare: true });

suite.scenario('skopeo copy --all of a two-platform index', async ({ env, reg }) => {
  const repo = uniqueRepo('copy-all');
  await pushIndex(env, reg, repo, 'multi', IDX);

  const raw = await inspectRaw(env, dockerRef(reg, repo, 'multi'));
  assert.ok(raw.equals(IDX.index), `index bytes differ:\n${raw.toString()}`);
  await assertServed(reg, repo, 'multi', IDX.index, MT.ociIndex);
  for (const child of IDX.images) {
    const childRaw = await inspectRaw(env, dockerRef(reg, repo, child.manifestDigest));
    assert.ok(childRaw.equals(child.manifest), `child ${child.architecture} differs`);
    await assertServed(reg, repo, child.manifestDigest, child.manifest, MT.ociManifest);
    assert.ok((await inspectConfigRaw(env, dockerRef(reg, repo, child.manifestDigest))).equals(child.config));
    for (const l of child.layers) assert.equal(await blobStatus(reg.url, repo, l.digest), 200);
  }
  // Platform selection through the index (skopeo reports the digest of the index it resolved through).
  const arm = await inspect(env, dockerRef(reg, repo, 'multi'), ['--override-arch', 'arm64', '--override-os', 'linux']);
  assert.equal(arm.Digest, IDX.indexDigest);
  assert.equal(arm.Architecture, 'arm64');
  assert.deepEqual(arm.Layers, IDX.images[1]!.layers.map((l) => l.digest));
  const amd = await inspect(env, dockerRef(reg, repo, 'multi'), ['--override-arch', 'amd64', '--override-os', 'linux']);
  assert.equal(amd.Architecture, 'amd64');
  assert.deepEqual(amd.Layers, IDX.images[0]!.layers.map((l) => l.digest));

  // Without --all only the selected instance is copied, as a plain manifest.
  const layout = env.tmp('layout');
  writeOciLayout(layout, [{ tag: 'multi', index: IDX }]);
  await env.skopeo(['--override-arch', 'arm64', '--override-os', 'linux', 'copy', '--quiet', ...COPY_TLS_OFF, `oci:${layout}:multi`, dockerRef(reg, repo, 'arm-only')]);
  assert.ok((await inspectRaw(env, dockerRef(reg, repo, 'arm-only'))).equals(IDX.images[1]!.manifest));

  // And back to a layout with --all: the index and every child arrive intact.
  const back = env.tmp('oci-back');
  await env.skopeo(['copy', '--quiet', '--all', ...COPY_TLS_OFF, dockerRef(reg, repo, 'multi'), `oci:${back}:multi`]);
  const desc = layoutRef(back, 'multi');
  assert.equal(desc.digest, IDX.indexDigest);
  assert.equal(desc.mediaType, MT.ociIndex);
  for (const child of IDX.images) assertLayoutHasImage(back, child);
  return { raw: raw.toString(), arm: arm.Layers, amd: amd.Layers };
}, { compare: true });

suite.scenario('skopeo copy --format v2s2 to dir:, then push dir: (Docker schema 2)', async ({ env, reg }) => {
  const repo = uniqueRepo('v2s2-src');
  const dest = uniqueRepo('v2s2-dst');
  await pushImage(env, reg, repo, 'v1', IMG);
  const dir = env.tmp('dir-v2s2');
  await env.skopeo(['copy', '--quiet', '--format', 'v2s2', ...COPY_TLS_OFF, dockerRef(reg, repo, 'v1'), `dir:${dir}`]);
  const manifest = readFileSync(join(dir, 'manifest.json'));
  const parsed = JSON.parse(manifest.toString()) as { mediaType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string }[] };
  assert.equal(parsed.mediaType, MT.dockerManifest);
  assert.equal(parsed.config.mediaType, MT.dockerConfig);
  assert.equal(parsed.config.digest, IMG.configDigest, 'conversion keeps the config bytes');
  assert.deepEqual(parsed.layers.map((l) => l.mediaType), IMG.layers.map(() => MT.dockerLayerGzip));
  assert.deepEqual(parsed.layers.map((l) => l.digest), IMG.layers.map((l) => l.digest));

  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, `dir:${dir}`, dockerRef(reg, dest, 'v1')]);
  const raw = await inspectRaw(env, dockerRef(reg, dest, 'v1'));
  assert.ok(raw.equals(manifest), `pushed schema2 manifest changed:\n${raw.toString()}`);
  const digest = sha256(manifest);
  await assertServed(reg, dest, 'v1', manifest, MT.dockerManifest);
  await assertServed(reg, dest, digest, manifest, MT.dockerManifest);
  assert.ok((await inspectConfigRaw(env, dockerRef(reg, dest, 'v1'))).equals(IMG.config));
  const info = await inspect(env, dockerRef(reg, dest, 'v1'));
  assert.equal(info.Digest, digest);
  assert.deepEqual(info.Layers, IMG.layers.map((l) => l.digest));
  // The schema2 manifest must be served as-is to a client that only accepts schema2.
  const only = await fetchManifest(reg.url, dest, 'v1', { accept: MT.dockerManifest });
  assert.equal(only.status, 200);
  assert.equal(only.digest, digest);
  return { manifest: manifest.toString(), digest };
}, { compare: true });

suite.scenario('skopeo copy --all --format v2s2: Docker manifest list via dir:', async ({ env, reg }) => {
  const repo = uniqueRepo('docker-list');
  const layout = env.tmp('layout');
  writeOciLayout(layout, [{ tag: 'multi', index: IDX }]);
  const dir = env.tmp('dir-list');
  await env.skopeo(['copy', '--quiet', '--all', '--format', 'v2s2', `oci:${layout}:multi`, `dir:${dir}`]);
  const list = readFileSync(join(dir, 'manifest.json'));
  const parsed = JSON.parse(list.toString()) as { mediaType: string; manifests: { mediaType: string; digest: string; platform: { architecture: string } }[] };
  assert.equal(parsed.mediaType, MT.dockerList);
  assert.deepEqual(parsed.manifests.map((d) => [d.mediaType, d.platform.architecture]), [[MT.dockerManifest, 'amd64'], [MT.dockerManifest, 'arm64']]);

  await env.skopeo(['copy', '--quiet', '--all', ...COPY_TLS_OFF, `dir:${dir}`, dockerRef(reg, repo, 'list')]);
  const raw = await inspectRaw(env, dockerRef(reg, repo, 'list'));
  assert.ok(raw.equals(list), `manifest list changed on the way through the registry:\n${raw.toString()}`);
  await assertServed(reg, repo, 'list', list, MT.dockerList);
  await assertServed(reg, repo, sha256(list), list, MT.dockerList);
  for (const d of parsed.manifests) {
    const child = readFileSync(join(dir, `${d.digest.slice(7)}.manifest.json`));
    assert.equal(sha256(child), d.digest);
    assert.ok((await inspectRaw(env, dockerRef(reg, repo, d.digest))).equals(child), `child ${d.platform.architecture} differs`);
    await assertServed(reg, repo, d.digest, child, MT.dockerManifest);
  }
  const arm = await inspect(env, dockerRef(reg, repo, 'list'), ['--override-arch', 'arm64', '--override-os', 'linux']);
  assert.equal(arm.Architecture, 'arm64');
  return { list: list.toString() };
}, { compare: true });

suite.scenario('skopeo copy of a multi-megabyte layer (streamed upload, exact download)', async ({ env, reg }) => {
  const repo = uniqueRepo('big');
  await pushImage(env, reg, repo, 'v1', BIG);
  assert.ok((await inspectRaw(env, dockerRef(reg, repo, 'v1'))).equals(BIG.manifest));
  const big = BIG.layers[0]!;
  const res = await fetch(`${reg.url}/v2/${repo}/blobs/${big.digest}`, { signal: AbortSignal.timeout(30_000) });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200);
  assert.equal(body.length, big.data.length);
  assert.equal(sha256(body), big.digest, 'GET blob returns the exact bytes');
  const head = await fetch(`${reg.url}/v2/${repo}/blobs/${big.digest}`, { method: 'HEAD', signal: AbortSignal.timeout(15_000) });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(big.data.length));
  assert.equal(head.headers.get('docker-content-digest'), big.digest);

  const out = env.tmp('oci-big');
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, dockerRef(reg, repo, 'v1'), `oci:${out}:v1`]);
  assertLayoutHasImage(out, BIG);
  return { digest: BIG.manifestDigest, size: body.length };
}, { compare: true, timeout: 180_000 });

suite.scenario('skopeo copy --dest-compress-format zstd (OCI zstd layers)', async ({ env, reg }) => {
  const repo = uniqueRepo('zstd');
  const layout = env.tmp('layout');
  writeOciLayout(layout, [{ tag: 'src', image: IMG }]);
  await env.skopeo(['copy', '--quiet', '--dest-compress-format', 'zstd', ...COPY_TLS_OFF, `oci:${layout}:src`, dockerRef(reg, repo, 'v1')]);
  const raw = await inspectRaw(env, dockerRef(reg, repo, 'v1'));
  const m = JSON.parse(raw.toString()) as { mediaType: string; config: { digest: string }; layers: { mediaType: string; digest: string }[] };
  assert.equal(m.mediaType, MT.ociManifest);
  assert.equal(m.config.digest, IMG.configDigest);
  assert.deepEqual(m.layers.map((l) => l.mediaType), IMG.layers.map(() => 'application/vnd.oci.image.layer.v1.tar+zstd'));
  await assertServed(reg, repo, 'v1', raw, MT.ociManifest);
  for (const l of m.layers) assert.equal(await blobStatus(reg.url, repo, l.digest), 200);
  // A consumer decompresses the zstd layers back to the original diff_ids.
  const pulled = await env.podman(['pull', '--tls-verify=false', `${reg.addr}/${repo}:v1`]);
  assert.equal(pulled.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7));
  return { raw: raw.toString() };
}, { compare: true });

suite.scenario('skopeo copy within one registry (cross-repository blob mount)', async ({ env, reg }) => {
  const src = uniqueRepo('mount-src');
  const dst = uniqueRepo('mount-dst');
  await pushImage(env, reg, src, 'v1', IMG);
  // The private blob-info cache now knows the blobs live in `src`, so c/image tries POST ...?mount=&from=.
  const res = await env.skopeo(['--debug', 'copy', ...COPY_TLS_OFF, dockerRef(reg, src, 'v1'), dockerRef(reg, dst, 'v1')]);
  const log = res.stdout + res.stderr;
  assert.match(log, /Writing manifest/);
  assert.equal(log.match(/Trying to mount/g)?.length, IMG.layers.length, 'skopeo attempted a mount per layer');
  const mounted = log.match(/\.\.\. mount OK/g)?.length ?? 0;
  const posts = log.split('\n').filter((l) => /msg="(POST|PUT|PATCH) /.test(l)).map((l) => l.replace(/.*msg="([^"]*)".*/, '$1'));
  assert.equal(mounted, IMG.layers.length, `every layer is mounted from ${src}, not re-uploaded; requests:\n${posts.join('\n')}`);
  assert.ok((await inspectRaw(env, dockerRef(reg, dst, 'v1'))).equals(IMG.manifest));
  for (const b of [...IMG.layers, { digest: IMG.configDigest }]) {
    assert.equal(await blobStatus(reg.url, dst, b.digest), 200, `blob ${b.digest} missing from ${dst} after copy`);
  }
  await assertServed(reg, dst, 'v1', IMG.manifest, MT.ociManifest);
  return { digest: IMG.manifestDigest };
}, { compare: true });

suite.scenario('skopeo inspect, inspect --config, inspect --raw', async ({ env, reg }) => {
  const repo = uniqueRepo('inspect');
  await pushImage(env, reg, repo, 'v1', IMG);
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, dockerRef(reg, repo, 'v1'), dockerRef(reg, repo, 'v2')]);

  const info = await inspect(env, dockerRef(reg, repo, 'v1'));
  assert.equal(info.Name, `${reg.addr}/${repo}`);
  assert.equal(info.Digest, IMG.manifestDigest);
  assert.deepEqual([...info.RepoTags].sort(), ['v1', 'v2']);
  assert.equal(info.Created, '2020-01-01T00:00:00Z');
  assert.deepEqual(info.Labels, IMG.labels);
  assert.equal(info.Architecture, 'amd64');
  assert.equal(info.Os, 'linux');
  assert.deepEqual(info.Layers, IMG.layers.map((l) => l.digest));
  assert.deepEqual(info.Env, IMG.env);

  const byDigest = await inspect(env, dockerRef(reg, repo, IMG.manifestDigest));
  assert.equal(byDigest.Digest, IMG.manifestDigest);

  const config = JSON.parse((await env.skopeo(['inspect', '--config', ...TLS_OFF, dockerRef(reg, repo, 'v1')])).stdout) as {
    architecture: string; os: string; config: { Labels: Record<string, string>; Cmd: string[]; Env: string[] }; rootfs: { type: string; diff_ids: string[] }; history: unknown[];
  };
  assert.equal(config.architecture, 'amd64');
  assert.equal(config.os, 'linux');
  assert.deepEqual(config.config.Labels, IMG.labels);
  assert.deepEqual(config.config.Cmd, IMG.cmd);
  assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: IMG.diffIds });
  assert.equal(config.history.length, IMG.layers.length);
  assert.ok((await inspectConfigRaw(env, dockerRef(reg, repo, 'v2'))).equals(IMG.config));
  assert.ok((await inspectRaw(env, dockerRef(reg, repo, 'v2'))).equals(IMG.manifest));

  // A missing tag and a missing repository are errors, not empty results.
  const missingTag = await env.skopeo(['inspect', ...TLS_OFF, dockerRef(reg, repo, 'nope')], { allowFail: true });
  assert.notEqual(missingTag.code, 0);
  assert.match(missingTag.stderr, /manifest unknown|not found/i);
  const missingRepo = await env.skopeo(['inspect', '--raw', ...TLS_OFF, dockerRef(reg, uniqueRepo('absent'), 'v1')], { allowFail: true });
  assert.notEqual(missingRepo.code, 0);
  const { Name: _name, RepoTags, ...rest } = info;
  return { ...rest, RepoTags: [...RepoTags].sort(), config };
}, { compare: true });

suite.scenario('skopeo list-tags (several tags)', async ({ env, reg }) => {
  const repo = uniqueRepo('tags');
  const tags = ['v1.10', 'latest', 'a', 'zeta', '1.2.3', 'v1.9', 'b_under', 'v1.0'];
  await pushImage(env, reg, repo, tags[0]!, IMG);
  for (const tag of tags.slice(1)) {
    await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, dockerRef(reg, repo, tags[0]!), dockerRef(reg, repo, tag)]);
  }
  const got = await listTags(env, reg, repo);
  const sorted = [...tags].sort();
  assert.deepEqual([...got].sort(), sorted, 'list-tags returns every tag exactly once');
  if (reg.name === 'wharf') {
    // OCI distribution-spec: tags are returned in lexical order. (Distribution 2.8 returns readdir order.)
    assert.deepEqual(got, sorted, 'Wharf lists tags in lexical order');
  }
  const http = await fetchTags(reg.url, repo);
  assert.equal(http.status, 200);
  const body = http.body as { name?: string; tags?: string[] };
  assert.equal(body.name, repo);
  assert.deepEqual(body.tags, got, 'skopeo shows the tags as the registry lists them');

  const missing = await env.skopeo(['list-tags', ...TLS_OFF, `docker://${reg.addr}/${uniqueRepo('no-such-repo')}`], { allowFail: true });
  assert.notEqual(missing.code, 0, 'list-tags of a repository that does not exist must fail');
  return { tags: [...got].sort() };
}, { compare: true });

suite.scenario('skopeo list-tags of a repository with 150 tags (pagination)', async ({ env, reg }) => {
  const repo = uniqueRepo('many-tags');
  await pushImage(env, reg, repo, 't000', IMG2);
  // Tag the same manifest 149 more times directly over HTTP (fast setup); listing is what is under test.
  const tags = Array.from({ length: 150 }, (_, i) => `t${String(i).padStart(3, '0')}`);
  for (const tag of tags.slice(1)) {
    const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
      method: 'PUT', body: IMG2.manifest.toString('latin1'), headers: { 'Content-Type': MT.ociManifest }, signal: AbortSignal.timeout(15_000),
    });
    await res.arrayBuffer();
    assert.equal(res.status, 201, `PUT manifest ${tag} -> ${res.status}`);
  }
  const got = await listTags(env, reg, repo);
  assert.equal(got.length, 150, `list-tags returned ${got.length} tags`);
  assert.deepEqual([...got].sort(), tags);
  if (reg.name === 'wharf') assert.deepEqual(got, tags, 'Wharf lists tags in lexical order');
  if (reg.name === 'distribution') return { tags: [...got].sort() }; // Distribution 2.8 ignores ?n= on tags/list.
  // Explicit pagination (OCI distribution-spec ?n= and Link): pages of at most 40, every tag exactly once.
  const paged: string[] = [];
  let next: string | null = `/v2/${repo}/tags/list?n=40`;
  for (let pages = 0; next && pages < 10; pages++) {
    const res: Response = await fetch(new URL(next, reg.url), { signal: AbortSignal.timeout(15_000) });
    const body = await res.json() as { tags: string[] };
    assert.equal(res.status, 200);
    assert.ok(body.tags.length <= 40, `page of ${body.tags.length} > n=40`);
    paged.push(...body.tags);
    next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1] ?? null;
  }
  assert.deepEqual(paged, tags, 'paginating with n=40 and Link yields every tag exactly once, in order');
  return { tags: [...got].sort() };
}, { compare: true });

suite.scenario('skopeo delete, then inspect fails', async ({ env, reg }) => {
  const repo = uniqueRepo('delete');
  await pushImage(env, reg, repo, 'doomed', IMG);
  await pushImage(env, reg, repo, 'kept', IMG2);
  assert.ok((await inspectRaw(env, dockerRef(reg, repo, 'doomed'))).equals(IMG.manifest));

  await env.skopeo(['delete', ...TLS_OFF, dockerRef(reg, repo, 'doomed')]);

  const byTag = await env.skopeo(['inspect', ...TLS_OFF, dockerRef(reg, repo, 'doomed')], { allowFail: true });
  assert.notEqual(byTag.code, 0, 'inspect of the deleted tag must fail');
  assert.match(byTag.stderr, /manifest unknown|not found/i);
  const byDigest = await env.skopeo(['inspect', '--raw', ...TLS_OFF, dockerRef(reg, repo, IMG.manifestDigest)], { allowFail: true });
  assert.notEqual(byDigest.code, 0, 'inspect of the deleted digest must fail');
  const get = await fetchManifest(reg.url, repo, IMG.manifestDigest);
  assert.equal(get.status, 404, `GET deleted manifest by digest -> ${get.status}`);
  const getTag = await fetchManifest(reg.url, repo, 'doomed');
  assert.equal(getTag.status, 404, `GET deleted tag -> ${getTag.status}`);

  // The other tag is untouched.
  assert.ok((await inspectRaw(env, dockerRef(reg, repo, 'kept'))).equals(IMG2.manifest));
  const tags = await listTags(env, reg, repo);
  assert.deepEqual(tags, ['kept']);

  // Deleting again fails (the manifest is gone).
  const again = await env.skopeo(['delete', ...TLS_OFF, dockerRef(reg, repo, 'doomed')], { allowFail: true });
  assert.notEqual(again.code, 0);
  return { tags };
}, { compare: true });

suite.scenario('skopeo sync --src docker --dest docker and --dest dir', async ({ env, reg }) => {
  const repo = uniqueRepo('sync-src');
  const last = repo.split('/').pop()!;
  const images: Record<string, BuiltImage> = { v1: IMG, v2: IMG2, v3: IMG };
  for (const [tag, image] of Object.entries(images)) await pushImage(env, reg, repo, tag, image);

  const mirror = uniqueRepo('mirror');
  const res = await env.skopeo(['sync', '--src', 'docker', '--dest', 'docker', ...COPY_TLS_OFF, `${reg.addr}/${repo}`, `${reg.addr}/${mirror}`]);
  assert.match(res.stderr + res.stdout, /Synced 3 images/);
  const mirrored = `${mirror}/${last}`;
  assert.deepEqual((await listTags(env, reg, mirrored)).sort(), ['v1', 'v2', 'v3']);
  for (const [tag, image] of Object.entries(images)) {
    assert.ok((await inspectRaw(env, dockerRef(reg, mirrored, tag))).equals(image.manifest), `mirrored ${tag} differs`);
  }

  const out = env.tmp('sync-dir');
  await env.skopeo(['sync', '--src', 'docker', '--dest', 'dir', '--src-tls-verify=false', `${reg.addr}/${repo}`, out]);
  const dirs = readdirSync(out).sort();
  assert.deepEqual(dirs, ['v1', 'v2', 'v3'].map((t) => `${last}:${t}`));
  for (const [tag, image] of Object.entries(images)) {
    const d = join(out, `${last}:${tag}`);
    assert.ok(readFileSync(join(d, 'manifest.json')).equals(image.manifest), `dir ${tag} manifest differs`);
    assert.ok(readFileSync(join(d, image.configDigest.slice(7))).equals(image.config));
    for (const l of image.layers) assert.ok(existsSync(join(d, l.digest.slice(7))), `dir ${tag} lacks layer ${l.digest}`);
  }
  return { dirs: dirs.map((d) => d.replace(last, 'REPO')) };
}, { compare: true });

suite.both('skopeo copy registry -> registry: distribution -> wharf -> distribution', async ({ env, regs }) => {
  const repo = uniqueRepo('r2r');
  const { wharf, distribution } = regs;
  // Single image.
  await pushImage(env, distribution, repo, 'v1', IMG);
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, dockerRef(distribution, repo, 'v1'), dockerRef(wharf, repo, 'v1')]);
  assert.ok((await inspectRaw(env, dockerRef(wharf, repo, 'v1'))).equals(IMG.manifest), 'distribution -> wharf changed the manifest');
  await assertServed(wharf, repo, 'v1', IMG.manifest, MT.ociManifest);
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, dockerRef(wharf, repo, 'v1'), dockerRef(distribution, `${repo}-back`, 'v1')]);
  assert.ok((await inspectRaw(env, dockerRef(distribution, `${repo}-back`, 'v1'))).equals(IMG.manifest), 'wharf -> distribution changed the manifest');

  // Index with --all, in both directions.
  await pushIndex(env, wharf, `${repo}-idx`, 'multi', IDX);
  await env.skopeo(['copy', '--quiet', '--all', ...COPY_TLS_OFF, dockerRef(wharf, `${repo}-idx`, 'multi'), dockerRef(distribution, `${repo}-idx`, 'multi')]);
  await env.skopeo(['copy', '--quiet', '--all', ...COPY_TLS_OFF, dockerRef(distribution, `${repo}-idx`, 'multi'), dockerRef(wharf, `${repo}-idx2`, 'multi')]);
  for (const [reg, r] of [[distribution, `${repo}-idx`], [wharf, `${repo}-idx2`]] as const) {
    assert.ok((await inspectRaw(env, dockerRef(reg, r, 'multi'))).equals(IDX.index), `${reg.name} ${r} index differs`);
    for (const child of IDX.images) {
      assert.ok((await inspectRaw(env, dockerRef(reg, r, child.manifestDigest))).equals(child.manifest), `${reg.name} ${r} child differs`);
    }
  }
  // Both registries report the same digest for the same bytes.
  const [dw, dd] = await Promise.all([fetchManifest(wharf.url, `${repo}-idx2`, 'multi', { method: 'HEAD' }), fetchManifest(distribution.url, `${repo}-idx`, 'multi', { method: 'HEAD' })]);
  assert.equal(dw.digest, IDX.indexDigest);
  assert.equal(dd.digest, IDX.indexDigest);
});
