// wharf copy between every pair of transports: oci:, dir:, oci-archive:, docker-archive:, docker:// on Wharf and
// docker:// on Debian's docker-registry. Sources are written by skopeo (the reference); every result is read back by
// skopeo (which verifies each blob's digest).
//
// Byte-preserving pairs (no docker-archive on either side) must keep the manifest bytes, hence the digest, exactly.
// docker-archive stores uncompressed layers, so a copy from or to it changes the layer digests (they become the
// config's diff_ids) and the manifest digest; there the test checks that skopeo reads the result back, and that its
// layers, config and metadata agree with the original image.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { Cli, parseCopySummary, withHistory } from './lib/cli.js';
import { RegistryPool, dockerRef, repoName, type Registry, type TargetName } from './lib/registries.js';
import { KINDS, copyTlsFlags, freshLocation, hex, isRegistry, readBack, type Kind } from './lib/transports.js';

const IMG = sampleImage('cli-matrix');
const pool = new RegistryPool();
let cli: Cli;
let regs: Record<TargetName, Registry>;
/** Source names, written by skopeo from one OCI layout. */
const sources = new Map<Kind, string>();

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface SkopeoInspect {
  Digest: string;
  Layers: string[];
  Labels: Record<string, string> | null;
  Env: string[] | null;
  Architecture: string;
  Os: string;
  Created: string;
}

before(async () => {
  cli = new Cli();
  const [wharf, distribution] = await Promise.all([pool.get('wharf'), pool.get('distribution')]);
  regs = { wharf, distribution };
  const base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }]);
  const oci = `oci:${base}:img`;
  sources.set('oci', oci);
  const targets: [Kind, string][] = [
    ['dir', `dir:${cli.path('src-dir')}`],
    ['oci-archive', `oci-archive:${cli.path('src-ociarch')}.tar:img`],
    ['docker-archive', `docker-archive:${cli.path('src-dockarch')}.tar:cli/src:v1`],
    ['wharf', dockerRef(wharf, repoName('matrix-src'), 'v1')],
    ['distribution', dockerRef(distribution, repoName('matrix-src'), 'v1')],
  ];
  for (const [kind, name] of targets) {
    await cli.skopeo(['copy', '--quiet', ...(isRegistry(kind) ? ['--dest-tls-verify=false'] : []), oci, name]);
    sources.set(kind, name);
  }
});

after(async () => {
  cli?.cleanup();
  await pool.stopAll();
});

describe('wharf copy between every pair of transports', () => {
  for (const src of KINDS) {
    for (const dest of KINDS) {
      const viaArchive = src === 'docker-archive' || dest === 'docker-archive';
      test(`${src} -> ${dest}${viaArchive ? ' (layers stored uncompressed)' : ' (byte for byte)'}`, { timeout: 60_000 }, () => withHistory(cli, async () => {
        const from = sources.get(src)!;
        const to = freshLocation(cli, dest, regs, `m-${src}-${dest}`);
        const r = await cli.wharf(['copy', ...copyTlsFlags(src, dest), from, to.write]);
        const summary = parseCopySummary(r.stderr);
        const back = await readBack(cli, to.read);

        if (!viaArchive) {
          assert.ok(back.manifest.equals(IMG.manifest), `manifest bytes changed:\n${back.manifest.toString()}\nexpected\n${IMG.manifest.toString()}`);
          assert.equal(await cli.skopeoManifestDigest(back.manifest), IMG.manifestDigest, 'skopeo manifest-digest of the copy');
          assert.equal(summary.digest, IMG.manifestDigest, 'the digest wharf reports');
          if (isRegistry(dest)) {
            const raw = (await cli.skopeo(['inspect', '--raw', '--tls-verify=false', to.read])).stdoutBuf;
            assert.ok(raw.equals(IMG.manifest), 'skopeo inspect --raw of the destination');
          }
          assert.ok(back.file(hex(IMG.configDigest)).equals(IMG.config), 'config bytes');
          for (const l of IMG.layers) assert.ok(back.file(hex(l.digest)).equals(l.data), `layer ${l.digest}`);
          assert.deepEqual(back.files, [...IMG.layers.map((l) => hex(l.digest)), hex(IMG.configDigest), 'manifest.json', 'version'].sort());
          return;
        }

        // Through docker-archive: uncompressed layers, named by their diff_ids; the config is unchanged.
        const info = JSON.parse((await cli.skopeo(['inspect', ...(isRegistry(dest) ? ['--tls-verify=false'] : []), to.read])).stdout) as SkopeoInspect;
        assert.deepEqual(info.Layers, IMG.diffIds, 'skopeo inspect: layers are the uncompressed layers (diff_ids)');
        assert.deepEqual(info.Labels, IMG.labels);
        assert.deepEqual(info.Env, IMG.env);
        assert.equal(info.Architecture, IMG.architecture);
        assert.equal(info.Os, IMG.os);
        assert.equal(info.Created, '2020-01-01T00:00:00Z');
        const config = (await cli.skopeo(['inspect', '--config', '--raw', ...(isRegistry(dest) ? ['--tls-verify=false'] : []), to.read])).stdoutBuf;
        assert.ok(config.equals(IMG.config), `config bytes changed:\n${config.toString()}`);
        assert.ok(back.file(hex(IMG.configDigest)).equals(IMG.config), 'config blob read back');
        for (const [i, l] of IMG.layers.entries()) {
          const stored = back.file(hex(IMG.diffIds[i]!));
          assert.equal(sha256(stored), IMG.diffIds[i], `layer ${i} hashes to its diff_id`);
          assert.ok(stored.equals(gunzipSync(l.data)), `layer ${i} is the original layer, uncompressed`);
        }
        if (dest !== 'docker-archive') {
          // The manifest wharf wrote names exactly these blobs, and wharf reported its digest.
          assert.equal(summary.digest, sha256(back.manifest), 'the digest wharf reports is the digest of the manifest written');
          const m = JSON.parse(back.manifest.toString()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
          assert.equal(m.config.digest, IMG.configDigest);
          assert.deepEqual(m.layers.map((l) => l.digest), IMG.diffIds);
          assert.deepEqual(m.layers.map((l) => l.size), IMG.layers.map((l) => gunzipSync(l.data).length));
        }
      }));
    }
  }
});

test('a docker-archive written by wharf loads the same as one written by skopeo (podman load)', { timeout: 90_000 }, () => withHistory(cli, async () => {
  const ours = `${cli.path('podman-ours')}.tar`;
  const theirs = `${cli.path('podman-theirs')}.tar`;
  await cli.wharf(['copy', '--quiet', sources.get('oci')!, `docker-archive:${ours}:cli/loaded:ours`]);
  await cli.skopeo(['copy', '--quiet', sources.get('oci')!, `docker-archive:${theirs}:cli/loaded:theirs`]);
  await cli.podman(['load', '-q', '-i', ours]);
  await cli.podman(['load', '-q', '-i', theirs]);
  const id = async (ref: string) => (await cli.podman(['image', 'inspect', '--format', '{{.Id}} {{.RepoTags}}', ref])).stdout.trim();
  const a = await id('docker.io/cli/loaded:ours');
  const b = await id('docker.io/cli/loaded:theirs');
  assert.equal(a.split(' ')[0], hex(IMG.configDigest), 'image ID is the config digest');
  assert.equal(a.split(' ')[0], b.split(' ')[0], 'same image ID as skopeo\'s archive');
  assert.match(a, /docker\.io\/cli\/loaded:ours/);
}));
