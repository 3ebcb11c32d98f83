// wharf inspect against skopeo inspect on the same images, on both registries and on the local transports:
// every field of the JSON equal except LayersData (skopeo 1.9 does not print it; wharf's must agree with Layers and
// the manifest), and --raw, --config, --config --raw, --format '{{.Digest}}', --no-tags; an index shows the host
// platform's image (or --override-arch's), as skopeo does.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MT, sampleImage, sampleIndex, writeOciLayout, type BuiltImage } from '../interop/lib/images.js';
import { Cli, hostArch, withHistory } from './lib/cli.js';
import { RegistryPool, TARGETS, dockerRef, putManifest, repoName, type Registry, type TargetName } from './lib/registries.js';
import { tlsFlags } from './lib/transports.js';

const IMG = sampleImage('cli-inspect', { labels: { 'z.last': 'z', 'a.first': 'a' } });
const IDX = sampleIndex('cli-inspect-idx');
const pool = new RegistryPool();
let cli: Cli;
let regs: Record<TargetName, Registry>;
let base: string;

interface InspectOutput {
  Name?: string;
  Digest: string;
  RepoTags: string[];
  Created: string;
  DockerVersion: string;
  Labels: Record<string, string> | null;
  Architecture: string;
  Os: string;
  Variant?: string;
  Layers: string[];
  LayersData?: { MIMEType: string; Digest: string; Size: number; Annotations: Record<string, string> | null }[];
  Env: string[] | null;
}

interface Desc { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }

before(async () => {
  cli = new Cli();
  const [wharf, distribution] = await Promise.all([pool.get('wharf'), pool.get('distribution')]);
  regs = { wharf, distribution };
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }, { tag: 'idx', index: IDX }]);
});

after(async () => {
  cli?.cleanup();
  await pool.stopAll();
});

async function wharfInspect(name: string, extra: string[] = []): Promise<InspectOutput> {
  return JSON.parse((await cli.wharf(['inspect', ...tlsFlags(name), ...extra, name])).stdout) as InspectOutput;
}

async function skopeoInspect(name: string, extra: string[] = []): Promise<InspectOutput> {
  return JSON.parse((await cli.skopeo(['inspect', ...tlsFlags(name), ...extra, name])).stdout) as InspectOutput;
}

/** wharf's LayersData agrees with its Layers and with the image manifest's layer descriptors. */
function assertLayersData(out: InspectOutput, manifest: Buffer): void {
  const layers = (JSON.parse(manifest.toString()) as { layers: Desc[] }).layers;
  assert.ok(Array.isArray(out.LayersData), 'wharf inspect prints LayersData');
  assert.deepEqual(out.LayersData!.map((l) => l.Digest), out.Layers, 'LayersData digests are Layers, in order');
  assert.deepEqual(out.LayersData, layers.map((l) => ({ MIMEType: l.mediaType, Digest: l.digest, Size: l.size, Annotations: l.annotations ?? null })));
}

/** Compares wharf inspect with skopeo inspect: equal apart from LayersData, which must be consistent. */
async function compareInspect(name: string, imageManifest: Buffer, extra: string[] = []): Promise<InspectOutput> {
  const ours = await wharfInspect(name, extra);
  const theirs = await skopeoInspect(name, extra);
  assertLayersData(ours, imageManifest);
  const { LayersData: _ignored, ...rest } = ours;
  assert.deepEqual(rest, theirs, 'wharf inspect differs from skopeo inspect');
  // Same key order too (scripts diff these outputs).
  assert.deepEqual(Object.keys(rest), Object.keys(theirs));
  return ours;
}

for (const target of TARGETS) {
  describe(`wharf inspect vs skopeo inspect on ${target}`, () => {
    let repo: string;
    let v2: { manifest: Buffer; digest: string };
    const ref = (tag: string): string => dockerRef(regs[target], repo, tag);

    before(async () => {
      repo = repoName('inspect');
      const reg = regs[target];
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, ref('oci')]);
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${base}:img`, ref('v2s2')]);
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--all', `oci:${base}:idx`, ref('multi')]);
      await putManifest(reg, repo, 'another', IMG.manifest, MT.ociManifest);
      const raw = (await cli.skopeo(['inspect', '--raw', '--tls-verify=false', ref('v2s2')])).stdoutBuf;
      v2 = { manifest: raw, digest: await cli.skopeoManifestDigest(raw) };
    });

    test('an OCI image: same fields, LayersData consistent with Layers', () => withHistory(cli, async () => {
      const out = await compareInspect(ref('oci'), IMG.manifest);
      assert.equal(out.Digest, IMG.manifestDigest);
      assert.deepEqual([...out.RepoTags].sort(), ['another', 'multi', 'oci', 'v2s2']);
      assert.equal(out.Name, `${regs[target].addr}/${repo}`);
      assert.deepEqual(out.Labels, IMG.labels);
    }));

    test('a Docker schema 2 image: same fields, LayersData consistent with Layers', () => withHistory(cli, async () => {
      const out = await compareInspect(ref('v2s2'), v2.manifest);
      assert.equal(out.Digest, v2.digest);
      assert.ok(out.LayersData!.every((l) => l.MIMEType === MT.dockerLayerGzip));
    }));

    test('by digest (docker://r/repo@sha256:...)', () => withHistory(cli, async () => {
      await compareInspect(ref(IMG.manifestDigest), IMG.manifest);
    }));

    test('an index: the host platform\'s image, the index digest, as skopeo', () => withHistory(cli, async () => {
      const child = IDX.images.find((im) => im.architecture === hostArch());
      assert.ok(child, `no ${hostArch()} image in the sample index`);
      const out = await compareInspect(ref('multi'), child.manifest);
      assert.equal(out.Digest, IDX.indexDigest, 'Digest is the digest of the index itself');
      assert.equal(out.Architecture, hostArch());
      assert.deepEqual(out.Layers, child.layers.map((l) => l.digest));
    }));

    test('an index with --override-arch arm64, as skopeo --override-arch arm64', () => withHistory(cli, async () => {
      const arm = IDX.images.find((im) => im.architecture === 'arm64')!;
      const ours = await wharfInspect(ref('multi'), ['--override-arch', 'arm64']);
      const theirs = JSON.parse((await cli.skopeo(['--override-arch', 'arm64', 'inspect', '--tls-verify=false', ref('multi')])).stdout) as InspectOutput;
      assertLayersData(ours, arm.manifest);
      const { LayersData: _l, ...rest } = ours;
      assert.deepEqual(rest, theirs);
      assert.equal(ours.Architecture, 'arm64');
    }));

    test('--raw prints the stored manifest bytes (image, index, child by digest)', () => withHistory(cli, async () => {
      for (const [tag, expected] of [['oci', IMG.manifest], ['v2s2', v2.manifest], ['multi', IDX.index], [IDX.images[1]!.manifestDigest, IDX.images[1]!.manifest]] as [string, Buffer][]) {
        const ours = (await cli.wharf(['inspect', '--raw', '--tls-verify=false', ref(tag)])).stdoutBuf;
        const theirs = (await cli.skopeo(['inspect', '--raw', '--tls-verify=false', ref(tag)])).stdoutBuf;
        assert.ok(ours.equals(theirs), `--raw of ${tag} differs from skopeo's`);
        assert.ok(ours.equals(expected), `--raw of ${tag} is not the manifest pushed`);
      }
    }));

    test('--config and --config --raw, as skopeo', () => withHistory(cli, async () => {
      const hostImage = IDX.images.find((im) => im.architecture === hostArch())!;
      for (const [tag, image] of [['v2s2', IMG], ['multi', hostImage]] as [string, BuiltImage][]) {
        const raw = (await cli.wharf(['inspect', '--config', '--raw', '--tls-verify=false', ref(tag)])).stdoutBuf;
        assert.ok(raw.equals(image.config), `--config --raw of ${tag}: not the config blob`);
        assert.ok(raw.equals((await cli.skopeo(['inspect', '--config', '--raw', '--tls-verify=false', ref(tag)])).stdoutBuf));
        const pretty = (await cli.wharf(['inspect', '--config', '--tls-verify=false', ref(tag)])).stdout;
        const skopeoPretty = (await cli.skopeo(['inspect', '--config', '--tls-verify=false', ref(tag)])).stdout;
        assert.deepEqual(JSON.parse(pretty), JSON.parse(skopeoPretty), `--config of ${tag}`);
        assert.deepEqual(JSON.parse(pretty), JSON.parse(image.config.toString()));
      }
    }));

    test('--format \'{{.Digest}}\' (and other fields), as skopeo', () => withHistory(cli, async () => {
      for (const [tag, tpl] of [
        ['oci', '{{.Digest}} {{.Name}} {{.Architecture}}/{{.Os}} {{index .Labels "a.first"}}'],
        ['v2s2', '{{.Digest}} {{.Name}} {{.Architecture}}/{{.Os}} {{index .Labels "a.first"}}'],
        ['multi', '{{.Digest}} {{.Name}} {{.Architecture}}/{{.Os}}'],
      ] as const) {
        const ours = (await cli.wharf(['inspect', '--format', tpl, '--tls-verify=false', ref(tag)])).stdout;
        const theirs = (await cli.skopeo(['inspect', '--format', tpl, '--tls-verify=false', ref(tag)])).stdout;
        assert.equal(ours, theirs, `--format ${tpl} on ${tag}`);
      }
      assert.equal((await cli.wharf(['inspect', '--format', '{{.Digest}}', '--tls-verify=false', ref('oci')])).stdout, `${IMG.manifestDigest}\n`);
      assert.equal((await cli.wharf(['inspect', '--format', '{{.Digest}}', '--tls-verify=false', ref('multi')])).stdout, `${IDX.indexDigest}\n`);
    }));

    test('--format \'{{index .Labels "missing"}}\' prints an empty line, as skopeo (Go\'s zero value)', () => withHistory(cli, async () => {
      const tpl = '{{index .Labels "no.such.label"}}';
      const theirs = (await cli.skopeo(['inspect', '--format', tpl, '--tls-verify=false', ref('oci')])).stdout;
      assert.equal(theirs, '\n');
      const ours = (await cli.wharf(['inspect', '--format', tpl, '--tls-verify=false', ref('oci')])).stdout;
      assert.equal(ours, theirs);
    }));

    test('--no-tags: RepoTags empty, as skopeo --no-tags', () => withHistory(cli, async () => {
      const out = await compareInspect(ref('oci'), IMG.manifest, ['--no-tags']);
      assert.deepEqual(out.RepoTags, []);
      const shortForm = await wharfInspect(ref('oci'), ['-n']);
      assert.deepEqual(shortForm.RepoTags, []);
    }));
  });
}

describe('wharf inspect vs skopeo inspect on local transports', () => {
  test('oci: (image and index)', () => withHistory(cli, async () => {
    await compareInspect(`oci:${base}:img`, IMG.manifest);
    const child = IDX.images.find((im) => im.architecture === hostArch())!;
    const out = await compareInspect(`oci:${base}:idx`, child.manifest);
    assert.equal(out.Digest, IDX.indexDigest);
    assert.ok((await cli.wharf(['inspect', '--raw', `oci:${base}:idx`])).stdoutBuf.equals(IDX.index));
  }));

  test('dir:', () => withHistory(cli, async () => {
    const d = cli.path('dir');
    await cli.skopeo(['copy', '--quiet', `oci:${base}:img`, `dir:${d}`]);
    await compareInspect(`dir:${d}`, IMG.manifest);
    assert.ok((await cli.wharf(['inspect', '--config', '--raw', `dir:${d}`])).stdoutBuf.equals(IMG.config));
  }));

  test('oci-archive:', () => withHistory(cli, async () => {
    const f = `${cli.path('ociarch')}.tar`;
    await cli.skopeo(['copy', '--quiet', `oci:${base}:img`, `oci-archive:${f}:img`]);
    const out = await compareInspect(`oci-archive:${f}:img`, IMG.manifest);
    assert.equal(out.Digest, IMG.manifestDigest);
  }));

  test('docker-archive: same fields except Digest (each tool synthesizes its own manifest for an archive)', () => withHistory(cli, async () => {
    const f = `${cli.path('dockarch')}.tar`;
    await cli.skopeo(['copy', '--quiet', `oci:${base}:img`, `docker-archive:${f}:cli/inspect:1`]);
    const name = `docker-archive:${f}`;
    const ours = await wharfInspect(name);
    const theirs = await skopeoInspect(name);
    const raw = (await cli.wharf(['inspect', '--raw', name])).stdoutBuf;
    assertLayersData(ours, raw);
    // skopeo 1.9 labels the uncompressed layers of an archive ...tar.gzip in its synthesized manifest; wharf says
    // ...tar. So the manifest digests differ; wharf's Digest must be the digest of the manifest it prints.
    assert.equal(ours.Digest, await cli.skopeoManifestDigest(raw));
    const { LayersData: _l, Digest: _d, ...rest } = ours;
    const { Digest: _sd, ...theirRest } = theirs;
    assert.deepEqual(rest, theirRest);
    assert.deepEqual(ours.Layers, IMG.diffIds);
    assert.ok((await cli.wharf(['inspect', '--config', '--raw', name])).stdoutBuf.equals(IMG.config));
  }));
});
