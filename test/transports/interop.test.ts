// The local transports against Debian's real tools (local transports only, no registry):
// skopeo reads what we write and we read what skopeo writes; umoci lists and unpacks our layouts;
// podman loads our archives and we read what podman saves. Each test uses a private, throw-away
// environment (ClientEnv: policy, vfs storage under a temp root, private mount namespace for caches).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { MediaTypes } from '../../src/oci/media-types.js';
import { openDirDestination, openDirSource } from '../../src/transports/dir.js';
import { DOCKER_LAYER_TAR, openDockerArchiveDestination, openDockerArchiveSource } from '../../src/transports/docker-archive.js';
import { openOciArchiveDestination, openOciArchiveSource } from '../../src/transports/oci-archive.js';
import { openOciDestination, openOciSource } from '../../src/transports/oci-layout.js';
import { ClientEnv } from '../interop/lib/containers.js';
import { layoutRef, readLayoutBlob, sampleImage, sampleIndex, writeOciLayout, type BuiltImage } from '../interop/lib/images.js';
import { MemorySource, copyImage, fixtureContent, readImage, sameContent, type ReadImage } from './lib/helpers.js';

const IMG = sampleImage('tr-interop-a');
const IDX = sampleIndex('tr-interop-idx');
const hex = (d: string) => d.slice('sha256:'.length);
const TIMEOUT = 180_000;

async function withEnv(fn: (env: ClientEnv) => Promise<void>): Promise<void> {
  const env = new ClientEnv();
  try {
    await fn(env);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- commands run ---\n${env.log.join('\n')}`, { cause: e });
  } finally {
    env.cleanup();
  }
}

/** Asserts a skopeo-written dir: holds exactly `im` (manifest bytes, config, layers). */
function assertDirHolds(dir: string, im: BuiltImage): void {
  assert.ok(readFileSync(join(dir, 'manifest.json')).equals(im.manifest), 'manifest.json bytes');
  assert.ok(readFileSync(join(dir, hex(im.configDigest))).equals(im.config), 'config');
  for (const l of im.layers) assert.ok(readFileSync(join(dir, hex(l.digest))).equals(l.data), `layer ${l.digest}`);
}

/** What a docker-archive read of `im` yields: the config and the uncompressed layers, by diff_id. */
function assertDockerContent(got: ReadImage, im: BuiltImage): void {
  assert.equal(got.top.mediaType, MediaTypes.dockerManifest);
  const m = JSON.parse(got.top.bytes.toString()) as { config: { digest: string; size: number }; layers: { digest: string; size: number; mediaType: string }[] };
  assert.deepEqual(m.config, { mediaType: MediaTypes.dockerConfig, size: im.config.length, digest: im.configDigest });
  assert.deepEqual(m.layers.map((l) => l.digest), im.diffIds);
  assert.ok(got.blobs.get(im.configDigest)!.equals(im.config));
  for (const [i, l] of im.layers.entries()) assert.ok(got.blobs.get(im.diffIds[i]!)!.equals(gunzipSync(l.data)), `layer ${i}`);
}

test('skopeo and umoci read our oci: layouts (image and index)', { timeout: TIMEOUT }, async () => {
  await withEnv(async (env) => {
    const layout = join(env.tmp('ours'), 'layout');
    await copyImage(new MemorySource(IMG), await openOciDestination(`${layout}:v1`));
    await copyImage(new MemorySource(IDX), await openOciDestination(`${layout}:multi`));

    const raw = await env.skopeo(['inspect', '--raw', `oci:${layout}:v1`]);
    assert.ok(raw.stdoutBuf.equals(IMG.manifest));
    const rawIdx = await env.skopeo(['inspect', '--raw', `oci:${layout}:multi`]);
    assert.ok(rawIdx.stdoutBuf.equals(IDX.index));

    const out = env.path('dir');
    await env.skopeo(['copy', '--quiet', `oci:${layout}:v1`, `dir:${out}`]);
    assertDirHolds(out, IMG);

    const out2 = join(env.tmp('copy'), 'layout');
    await env.skopeo(['copy', '--quiet', '--all', `oci:${layout}:multi`, `oci:${out2}:multi`]);
    assert.equal(layoutRef(out2, 'multi').digest, IDX.indexDigest);
    for (const b of IDX.blobs) assert.ok(readLayoutBlob(out2, b.digest).equals(b.data), `blob ${b.digest}`);

    const ls = await env.umoci(['ls', '--layout', layout]);
    assert.deepEqual(ls.stdout.trim().split('\n').sort(), ['multi', 'v1']);
    const bundle = env.path('bundle');
    await env.umoci(['unpack', '--image', `${layout}:v1`, bundle]);
    assert.equal(readFileSync(join(bundle, 'rootfs', 'bin', 'hello'), 'utf8'), '#!/bin/sh\necho hello from tr-interop-a on amd64\n');
    assert.match(readFileSync(join(bundle, 'rootfs', 'srv', 'data.txt'), 'utf8'), /^seed=tr-interop-a/);
  });
});

test('skopeo reads our dir:, oci-archive: and docker-archive: output', { timeout: TIMEOUT }, async () => {
  await withEnv(async (env) => {
    const work = env.tmp('ours');
    // dir: with an index (skopeo copy --all)
    const dir = join(work, 'dir-idx');
    await copyImage(new MemorySource(IDX), await openDirDestination(dir));
    const fromDir = join(env.tmp('from-dir'), 'layout');
    await env.skopeo(['copy', '--quiet', '--all', `dir:${dir}`, `oci:${fromDir}:x`]);
    assert.equal(layoutRef(fromDir, 'x').digest, IDX.indexDigest);
    for (const b of IDX.blobs) assert.ok(readLayoutBlob(fromDir, b.digest).equals(b.data));

    // oci-archive:
    const oa = join(work, 'img.oci.tar');
    await copyImage(new MemorySource(IMG), await openOciArchiveDestination(`${oa}:v1`));
    const fromOa = env.path('from-oa');
    await env.skopeo(['copy', '--quiet', `oci-archive:${oa}:v1`, `dir:${fromOa}`]);
    assertDirHolds(fromOa, IMG);

    // docker-archive: skopeo sees the same config and diff_ids, and copies the uncompressed layers.
    const da = join(work, 'img.docker.tar');
    await copyImage(new MemorySource(IMG), await openDockerArchiveDestination(`${da}:wharf.test/app:v1`));
    const ours = JSON.parse((await readImage(await openDockerArchiveSource(da))).top.bytes.toString());
    const theirs = JSON.parse((await env.skopeo(['inspect', '--raw', `docker-archive:${da}:wharf.test/app:v1`])).stdout);
    // skopeo 1.9 labels the (uncompressed) layers ...diff.tar.gzip; everything else agrees.
    for (const l of ours.layers) assert.equal(l.mediaType, DOCKER_LAYER_TAR);
    for (const l of theirs.layers) l.mediaType = DOCKER_LAYER_TAR;
    assert.deepEqual(theirs, ours);
    const fromDa = env.path('from-da');
    await env.skopeo(['copy', '--quiet', `docker-archive:${da}`, `dir:${fromDa}`]);
    assert.ok(readFileSync(join(fromDa, hex(IMG.configDigest))).equals(IMG.config));
    for (const [i, l] of IMG.layers.entries()) assert.ok(readFileSync(join(fromDa, hex(IMG.diffIds[i]!))).equals(gunzipSync(l.data)));
  });
});

test('we read what skopeo writes: oci:, dir:, oci-archive:, docker-archive:', { timeout: TIMEOUT }, async () => {
  await withEnv(async (env) => {
    const fixture = join(env.tmp('fixture'), 'layout');
    writeOciLayout(fixture, [{ tag: 'v1', image: IMG }, { tag: 'multi', index: IDX }]);

    const dir = env.path('dir');
    await env.skopeo(['copy', '--quiet', `oci:${fixture}:v1`, `dir:${dir}`]);
    assert.equal(sameContent(await readImage(await openDirSource(dir)), fixtureContent(IMG)), null);

    const dirIdx = env.path('dir-idx');
    await env.skopeo(['copy', '--quiet', '--all', `oci:${fixture}:multi`, `dir:${dirIdx}`]);
    assert.ok(readdirSync(dirIdx).some((n) => n.endsWith('.manifest.json')));
    assert.equal(sameContent(await readImage(await openDirSource(dirIdx)), fixtureContent(IDX)), null);

    const layout = join(env.tmp('oci'), 'layout');
    await env.skopeo(['copy', '--quiet', '--all', `oci:${fixture}:multi`, `oci:${layout}:m`]);
    await env.skopeo(['copy', '--quiet', `oci:${fixture}:v1`, `oci:${layout}:v1`]);
    assert.equal(sameContent(await readImage(await openOciSource(`${layout}:m`)), fixtureContent(IDX)), null);
    assert.equal(sameContent(await readImage(await openOciSource(`${layout}:v1`)), fixtureContent(IMG)), null);

    const oa = join(env.tmp('oa'), 'img.tar');
    await env.skopeo(['copy', '--quiet', `oci:${fixture}:v1`, `oci-archive:${oa}:v1`]);
    assert.equal(sameContent(await readImage(await openOciArchiveSource(`${oa}:v1`)), fixtureContent(IMG)), null);
    const oaIdx = join(env.tmp('oa'), 'idx.tar');
    await env.skopeo(['copy', '--quiet', '--all', `oci:${fixture}:multi`, `oci-archive:${oaIdx}`]);
    assert.equal(sameContent(await readImage(await openOciArchiveSource(oaIdx)), fixtureContent(IDX)), null);

    const da = join(env.tmp('da'), 'img.tar');
    await env.skopeo(['copy', '--quiet', `oci:${fixture}:v1`, `docker-archive:${da}:wharf.test/app:v2`]);
    assertDockerContent(await readImage(await openDockerArchiveSource(`${da}:wharf.test/app:v2`)), IMG);
    assertDockerContent(await readImage(await openDockerArchiveSource(`${da}:@0`)), IMG);
    // And our copy of skopeo's archive into an OCI layout is readable by skopeo again.
    const back = join(env.tmp('back'), 'layout');
    await copyImage(await openDirSource(dir), await openOciDestination(`${back}:again`));
    const raw = await env.skopeo(['inspect', '--raw', `oci:${back}:again`]);
    assert.ok(raw.stdoutBuf.equals(IMG.manifest));
  });
});

test('podman loads our docker-archive and oci-archive; we read what podman saves', { timeout: TIMEOUT }, async () => {
  await withEnv(async (env) => {
    const work = env.tmp('ours');
    const da = join(work, 'img.docker.tar');
    await copyImage(new MemorySource(IMG), await openDockerArchiveDestination(`${da}:wharf.test/app:v1`));
    const loaded = await env.podman(['load', '-i', da]);
    assert.match(loaded.stdout, /Loaded image.*wharf\.test\/app:v1/);
    const images = await env.podman(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']);
    assert.ok(images.stdout.split('\n').includes(`wharf.test/app:v1 ${hex(IMG.configDigest).slice(0, 12)}`), images.stdout);

    const oa = join(work, 'img.oci.tar');
    await copyImage(new MemorySource(IMG), await openOciArchiveDestination(`${oa}:wharf.test/other:v3`));
    await env.podman(['load', '-i', oa]);
    const images2 = await env.podman(['images', '--format', '{{.Repository}}:{{.Tag}}']);
    assert.match(images2.stdout, /wharf\.test\/other:v3/);

    const saved = join(work, 'saved.tar');
    await env.podman(['save', '--format', 'docker-archive', '-o', saved, 'wharf.test/app:v1']);
    assertDockerContent(await readImage(await openDockerArchiveSource(`${saved}:wharf.test/app:v1`)), IMG);
    const savedOci = join(work, 'saved.oci.tar');
    await env.podman(['save', '--format', 'oci-archive', '-o', savedOci, 'wharf.test/app:v1']);
    const got = await readImage(await openOciArchiveSource(savedOci));
    assert.ok(got.blobs.get(IMG.configDigest)!.equals(IMG.config), 'config survives podman');
  });
});
