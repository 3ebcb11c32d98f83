// wharf copy options against skopeo copy with the same options: --all for an index (to both registries and to the
// local transports), platform choice without --all, --format v2s2/oci conversions, --preserve-digests, copying a
// tag to another tag, and cross-repository copies within one registry (blob mounts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MT, sampleImage, sampleIndex, writeOciLayout } from '../interop/lib/images.js';
import { Cli, hostArch, parseCopySummary, withHistory } from './lib/cli.js';
import { RegistryPool, TARGETS, dockerRef, repoName, type Registry, type TargetName } from './lib/registries.js';
import { copyTlsFlags, freshLocation, hex, readBack, type Kind } from './lib/transports.js';

const IMG = sampleImage('cli-opts');
const IDX = sampleIndex('cli-opts-idx');
const pool = new RegistryPool();
let cli: Cli;
let regs: Record<TargetName, Registry>;
let base: string;
/** The same image as IMG in Docker schema 2 (written by skopeo --format v2s2). */
let v2Dir: string;

interface Desc { mediaType: string; digest: string; size: number; platform?: { os: string; architecture: string; variant?: string } }
interface ImageManifest { schemaVersion: number; mediaType: string; config: Desc; layers: Desc[] }
interface IndexManifest { schemaVersion: number; mediaType: string; manifests: Desc[] }

const parse = <T>(b: Buffer): T => JSON.parse(b.toString('utf8')) as T;
const hostChild = (): number => IDX.images.findIndex((im) => im.architecture === hostArch());

before(async () => {
  cli = new Cli();
  const [wharf, distribution] = await Promise.all([pool.get('wharf'), pool.get('distribution')]);
  regs = { wharf, distribution };
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }, { tag: 'idx', index: IDX }]);
  v2Dir = cli.path('v2s2');
  await cli.skopeo(['copy', '--quiet', '--format', 'v2s2', `oci:${base}:img`, `dir:${v2Dir}`]);
  assert.equal(parse<ImageManifest>(readFileSync(join(v2Dir, 'manifest.json'))).mediaType, MT.dockerManifest);
});

after(async () => {
  cli?.cleanup();
  await pool.stopAll();
});

/** Asserts two readbacks of `--all` copies hold the same manifests and blobs (same names, same bytes). */
function assertSameImageSet(ours: Awaited<ReturnType<typeof readBack>>, theirs: Awaited<ReturnType<typeof readBack>>, what: string): void {
  assert.deepEqual(ours.files, theirs.files, `${what}: different manifests/blobs than skopeo's copy`);
  for (const f of ours.files) assert.ok(ours.file(f).equals(theirs.file(f)), `${what}: ${f} differs from skopeo's`);
}

describe('copy --all of a two-platform index', () => {
  const dests: Kind[] = ['wharf', 'distribution', 'oci', 'dir', 'oci-archive'];
  for (const dest of dests) {
    test(`to ${dest}: every child present, same digests as skopeo copy --all`, { timeout: 60_000 }, () => withHistory(cli, async () => {
      const src = `oci:${base}:idx`;
      const ours = freshLocation(cli, dest, regs, `all-w-${dest}`);
      const theirs = freshLocation(cli, dest, regs, `all-s-${dest}`);
      const r = await cli.wharf(['copy', '--all', ...copyTlsFlags('oci', dest), src, ours.write]);
      assert.equal(parseCopySummary(r.stderr).digest, IDX.indexDigest);
      await cli.skopeo(['copy', '--quiet', '--all', ...copyTlsFlags('oci', dest), src, theirs.write]);
      const a = await readBack(cli, ours.read, true);
      const b = await readBack(cli, theirs.read, true);
      assert.ok(a.manifest.equals(IDX.index), 'the index is copied byte for byte');
      for (const child of IDX.images) {
        assert.ok(a.file(`${hex(child.manifestDigest)}.manifest.json`).equals(child.manifest), `child ${child.architecture} manifest`);
        assert.ok(a.file(hex(child.configDigest)).equals(child.config), `child ${child.architecture} config`);
        for (const l of child.layers) assert.ok(a.file(hex(l.digest)).equals(l.data), `child ${child.architecture} layer ${l.digest}`);
      }
      assertSameImageSet(a, b, `--all to ${dest}`);
      if (dest === 'wharf' || dest === 'distribution') {
        for (const child of IDX.images) {
          const raw = (await cli.skopeo(['inspect', '--raw', '--tls-verify=false', ours.read.replace(/:copied$/, `@${child.manifestDigest}`)])).stdoutBuf;
          assert.ok(raw.equals(child.manifest), `${child.architecture} child by digest in the registry`);
        }
      }
    }));
  }

  test('to docker-archive: refused with a clear message, nothing written', () => withHistory(cli, async () => {
    const file = `${cli.path('all-dockarch')}.tar`;
    const r = await cli.wharfFails(['copy', '--all', `oci:${base}:idx`, `docker-archive:${file}:cli/x:1`]);
    assert.match(r.stderr, /index|platform|list/i);
    assert.ok(!existsSync(file), 'no archive created');
  }));

  test('without --all: the host platform\'s image only, as skopeo picks it', () => withHistory(cli, async () => {
    const i = hostChild();
    assert.ok(i >= 0, `the sample index has no image for ${hostArch()}`);
    const ours = freshLocation(cli, 'oci', regs, 'sys-w');
    const theirs = freshLocation(cli, 'oci', regs, 'sys-s');
    const r = await cli.wharf(['copy', `oci:${base}:idx`, ours.write]);
    assert.equal(parseCopySummary(r.stderr).digest, IDX.images[i]!.manifestDigest);
    await cli.skopeo(['copy', '--quiet', `oci:${base}:idx`, theirs.write]);
    const a = await readBack(cli, ours.read);
    assert.ok(a.manifest.equals(IDX.images[i]!.manifest));
    assertSameImageSet(a, await readBack(cli, theirs.read), 'system platform copy');
  }));

  test('--override-arch arm64 picks the arm64 image, as skopeo does', () => withHistory(cli, async () => {
    const arm = IDX.images.find((im) => im.architecture === 'arm64')!;
    const ours = freshLocation(cli, 'dir', regs, 'arm-w');
    const theirs = freshLocation(cli, 'dir', regs, 'arm-s');
    await cli.wharf(['copy', '--quiet', '--override-arch', 'arm64', `oci:${base}:idx`, ours.write]);
    await cli.skopeo(['--override-arch', 'arm64', 'copy', '--quiet', `oci:${base}:idx`, theirs.write]);
    const a = await readBack(cli, ours.read);
    assert.ok(a.manifest.equals(arm.manifest));
    assertSameImageSet(a, await readBack(cli, theirs.read), '--override-arch arm64');
  }));
});

for (const target of TARGETS) {
  describe(`--format conversions on ${target}, compared with skopeo copy --format`, () => {
    test('oci -> --format v2s2: same media types, config and layers as skopeo; same manifest digest', { timeout: 60_000 }, () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('fmt-v2s2');
      const r = await cli.wharf(['copy', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, 'wharf')]);
      await cli.skopeo(['copy', '--quiet', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, 'skopeo')]);
      const a = (await readBack(cli, dockerRef(reg, repo, 'wharf'))).manifest;
      const b = (await readBack(cli, dockerRef(reg, repo, 'skopeo'))).manifest;
      const ma = parse<ImageManifest>(a);
      const mb = parse<ImageManifest>(b);
      assert.equal(ma.mediaType, MT.dockerManifest);
      assert.deepEqual(ma, mb, 'semantically the manifest skopeo writes');
      assert.equal(ma.config.digest, IMG.configDigest, 'config unchanged');
      assert.deepEqual(ma.layers.map((l) => [l.mediaType, l.digest, l.size]), IMG.layers.map((l) => [MT.dockerLayerGzip, l.digest, l.data.length]));
      const digest = await cli.skopeoManifestDigest(a);
      assert.equal(parseCopySummary(r.stderr).digest, digest, 'wharf reports the digest of what it wrote');
      assert.equal(digest, await cli.skopeoManifestDigest(b), `manifest digest differs from skopeo's:\nwharf:  ${a.toString()}\nskopeo: ${b.toString()}`);
    }));

    test('v2s2 -> --format oci: same media types and layers as skopeo; config kept byte for byte (skopeo re-serializes it)', { timeout: 60_000 }, async (t) => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('fmt-oci');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `dir:${v2Dir}`, dockerRef(reg, repo, 'v2')]);
      const src = dockerRef(reg, repo, 'v2');
      await cli.wharf(['copy', '--quiet', '--format', 'oci', '--src-tls-verify=false', '--dest-tls-verify=false', src, dockerRef(reg, repo, 'wharf')]);
      await cli.skopeo(['copy', '--quiet', '--format', 'oci', '--src-tls-verify=false', '--dest-tls-verify=false', src, dockerRef(reg, repo, 'skopeo')]);
      const a = await readBack(cli, dockerRef(reg, repo, 'wharf'));
      const b = await readBack(cli, dockerRef(reg, repo, 'skopeo'));
      const ma = parse<ImageManifest>(a.manifest);
      const mb = parse<ImageManifest>(b.manifest);
      assert.equal(ma.mediaType, MT.ociManifest);
      assert.equal(ma.config.mediaType, mb.config.mediaType);
      assert.equal(ma.config.mediaType, MT.ociConfig);
      assert.deepEqual(ma.layers, mb.layers, 'layers as skopeo writes them');
      assert.deepEqual(ma.layers.map((l) => [l.mediaType, l.digest]), IMG.layers.map((l) => [MT.ociLayerGzip, l.digest]));
      assert.equal(ma.config.digest, IMG.configDigest, 'wharf keeps the config bytes');
      // skopeo re-marshals the config when converting to OCI (Go field order), so its config digest may differ;
      // the content must be the same.
      assert.deepEqual(parse(a.file(hex(ma.config.digest))), parse(b.file(hex(mb.config.digest))), 'config content equals skopeo\'s');
      const da = await cli.skopeoManifestDigest(a.manifest);
      const db = await cli.skopeoManifestDigest(b.manifest);
      t.diagnostic(`v2s2->oci manifest digest: wharf ${da}, skopeo ${db}; config digest: wharf ${ma.config.digest}, skopeo ${mb.config.digest}`);
    }));

    test('--all --format v2s2 of an OCI index: children as skopeo converts them; index semantically equal', { timeout: 60_000 }, async (t) => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('fmt-idx');
      await cli.wharf(['copy', '--quiet', '--all', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${base}:idx`, dockerRef(reg, repo, 'wharf')]);
      await cli.skopeo(['copy', '--quiet', '--all', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${base}:idx`, dockerRef(reg, repo, 'skopeo')]);
      const a = await readBack(cli, dockerRef(reg, repo, 'wharf'), true);
      const b = await readBack(cli, dockerRef(reg, repo, 'skopeo'), true);
      const ia = parse<IndexManifest>(a.manifest);
      const ib = parse<IndexManifest>(b.manifest);
      assert.equal(ia.mediaType, MT.dockerList);
      assert.deepEqual(ia, ib, 'the converted index is semantically skopeo\'s');
      // Children: byte-identical to skopeo's conversions, so same digests.
      assert.deepEqual(a.files.filter((f) => f !== 'manifest.json'), b.files.filter((f) => f !== 'manifest.json'));
      for (const f of a.files.filter((x) => x.endsWith('.manifest.json'))) assert.ok(a.file(f).equals(b.file(f)), `child ${f}`);
      const da = await cli.skopeoManifestDigest(a.manifest);
      const db = await cli.skopeoManifestDigest(b.manifest);
      t.diagnostic(`--all --format v2s2 index digest: wharf ${da}, skopeo ${db}${da === db ? '' : ' (JSON key order differs)'}`);
    }));

    test('--format oci of an OCI image changes nothing', () => withHistory(cli, async () => {
      const reg = regs[target];
      const to = dockerRef(reg, repoName('fmt-noop'), 'v1');
      const r = await cli.wharf(['copy', '--format', 'oci', '--preserve-digests', '--dest-tls-verify=false', `oci:${base}:img`, to]);
      assert.equal(parseCopySummary(r.stderr).digest, IMG.manifestDigest);
      assert.ok((await readBack(cli, to)).manifest.equals(IMG.manifest));
    }));

    test('--preserve-digests with a conversion fails and writes no manifest', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('preserve');
      const r = await cli.wharfFails(['copy', '--preserve-digests', '--format', 'v2s2', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, 'v1')]);
      assert.match(r.stderr, /digest/i);
      assert.match(r.stderr, /preserve-digests/);
      const s = await cli.skopeo(['inspect', '--raw', '--tls-verify=false', dockerRef(reg, repo, 'v1')], { allowFail: true });
      assert.notEqual(s.code, 0, 'no manifest may have been written');
      // Without a conversion --preserve-digests is fine.
      const ok = await cli.wharf(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, 'v1')]);
      assert.equal(parseCopySummary(ok.stderr).digest, IMG.manifestDigest);
    }));
  });

  describe(`tags and repositories on ${target}`, () => {
    test('copy by tag to another tag of the same repository (docker://r/app:1.0 -> docker://r/app:latest)', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('app');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, '1.0')]);
      const r = await cli.wharf(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', dockerRef(reg, repo, '1.0'), dockerRef(reg, repo, 'latest')]);
      const s = parseCopySummary(r.stderr);
      assert.equal(s.digest, IMG.manifestDigest);
      assert.equal(s.copied, 0, 'nothing to upload: the blobs are in the repository');
      assert.equal(s.skipped, IMG.layers.length + 1);
      const raw = (await cli.skopeo(['inspect', '--raw', '--tls-verify=false', dockerRef(reg, repo, 'latest')])).stdoutBuf;
      assert.ok(raw.equals(IMG.manifest));
      const tags = JSON.parse((await cli.skopeo(['list-tags', '--tls-verify=false', `docker://${reg.addr}/${repo}`])).stdout) as { Tags: string[] };
      assert.deepEqual([...tags.Tags].sort(), ['1.0', 'latest']);
    }));

    test('cross-repository copy within the registry mounts the blobs and says so', () => withHistory(cli, async () => {
      const reg = regs[target];
      const from = repoName('mount-src');
      const to = repoName('mount-dest');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, from, 'v1')]);
      const r = await cli.wharf(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', dockerRef(reg, from, 'v1'), dockerRef(reg, to, 'v1')]);
      const s = parseCopySummary(r.stderr);
      assert.equal(s.mounted, IMG.layers.length + 1, `every blob mounted: ${r.stderr}`);
      assert.equal(s.copied, 0);
      assert.ok((await readBack(cli, dockerRef(reg, to, 'v1'))).manifest.equals(IMG.manifest));
    }));
  });
}

test('--preserve-digests refuses the implicit conversion docker-archive (v2s2) -> oci:', () => withHistory(cli, async () => {
  const archive = `${cli.path('pd-arch')}.tar`;
  await cli.skopeo(['copy', '--quiet', `oci:${base}:img`, `docker-archive:${archive}:cli/pd:1`]);
  const layout = cli.path('pd-layout');
  const r = await cli.wharfFails(['copy', '--preserve-digests', `docker-archive:${archive}`, `oci:${layout}:x`]);
  assert.match(r.stderr, /digest/i);
  const index = join(layout, 'index.json');
  assert.ok(!existsSync(index) || !readFileSync(index, 'utf8').includes('"x"'), 'no image named x in the layout');
}));
