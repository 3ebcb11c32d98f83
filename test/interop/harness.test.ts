// Self-checks of the interop harness: the private mount namespace really hides the host blob-info cache,
// commands are bounded, and the in-process image builder writes archives that real tools accept.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startDistribution, type DistributionServer } from '../helpers/distribution.js';
import { ClientEnv, CommandError, spawnBounded } from './lib/containers.js';
import { makeTar, readTar, sampleImage, sampleIndex, sha256 } from './lib/images.js';
import { pushImage } from './lib/ops.js';
import { withClientEnv } from './lib/suite.js';

const HOST_CACHE = '/var/lib/containers/cache';
let distribution: DistributionServer | undefined;
after(async () => { await distribution?.stop(); });

function hostCacheEntries(): string[] {
  return existsSync(HOST_CACHE) ? readdirSync(HOST_CACHE) : [];
}

test('client commands see a private, empty /var/lib/containers/cache', async () => {
  await withClientEnv([], async (env) => {
    const before = await env.run('sh', ['-c', `ls -A ${HOST_CACHE}`]);
    assert.equal(before.stdout, '', 'the cache starts empty');
    writeFileSync(join(env.cacheDir, 'marker'), 'x');
    const seen = await env.run('sh', ['-c', `ls -A ${HOST_CACHE}`]);
    assert.equal(seen.stdout.trim(), 'marker', 'the bind mount shows the environment cache dir');
    assert.ok(!hostCacheEntries().includes('marker'), 'the host path is untouched');
    // The environment variables point inside the private root.
    const vars = await env.run('sh', ['-c', 'echo "$CONTAINERS_STORAGE_CONF|$CONTAINERS_REGISTRIES_CONF|$REGISTRY_AUTH_FILE|$XDG_RUNTIME_DIR|$HOME"']);
    for (const v of vars.stdout.trim().split('|')) assert.ok(v.startsWith(env.root + '/'), `${v} is not under ${env.root}`);
  });
});

test('skopeo pushes record blob locations only in the private cache', async () => {
  distribution = await startDistribution();
  await withClientEnv([distribution.addr], async (env) => {
    await pushImage(env, { name: 'distribution', addr: distribution!.addr, url: distribution!.url, stop: async () => {} }, 'harness/cache', 'v1', sampleImage('harness'));
    // skopeo (as root) keeps its cache only at /var/lib/containers/cache: finding it here proves the bind mount took it.
    assert.ok(readdirSync(env.cacheDir).some((f) => f.startsWith('blob-info-cache')), `no blob-info cache in ${env.cacheDir}`);
  });
});

test('commands are killed at their timeout and failures carry stderr', async () => {
  const env = new ClientEnv();
  try {
    const t0 = Date.now();
    await assert.rejects(env.run('sleep', ['30'], { timeoutMs: 300 }), (e: unknown) => e instanceof CommandError && /TIMED OUT/.test(e.message));
    assert.ok(Date.now() - t0 < 10_000, 'timeout enforced promptly');
    await assert.rejects(env.run('sh', ['-c', 'echo boom >&2; exit 3']), (e: unknown) => e instanceof CommandError && e.result.code === 3 && /boom/.test(e.message));
    const ok = await env.run('sh', ['-c', 'cat; exit 4'], { input: 'piped', allowFail: true });
    assert.equal(ok.code, 4);
    assert.equal(ok.stdout, 'piped');
  } finally {
    env.cleanup();
  }
  assert.ok(!existsSync(env.root), 'cleanup removes the environment');
});

test('generated layers are valid ustar archives (GNU tar agrees) and deterministic', async () => {
  const tar = makeTar([
    { path: 'a/' },
    { path: 'a/file.txt', content: 'hello\n' },
    { path: `deep/${'d'.repeat(90)}/${'f'.repeat(60)}.txt`, content: Buffer.alloc(1500, 7) },
  ]);
  const dir = (await spawnBounded('mktemp', ['-d'])).stdout.trim();
  try {
    writeFileSync(join(dir, 'layer.tar'), tar);
    const listed = await spawnBounded('tar', ['-tvf', join(dir, 'layer.tar')], { timeoutMs: 10_000 });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /a\/file\.txt/);
    assert.match(listed.stdout, /f{60}\.txt/);
  } finally {
    await spawnBounded('rm', ['-rf', dir]);
  }
  assert.deepEqual(readTar(tar).map((e) => [e.path, e.content.length]), [['a/', 0], ['a/file.txt', 6], [`deep/${'d'.repeat(90)}/${'f'.repeat(60)}.txt`, 1500]]);

  const a = sampleImage('det');
  const b = sampleImage('det');
  assert.equal(a.manifestDigest, b.manifestDigest);
  for (const [i, l] of a.layers.entries()) assert.equal(sha256(gunzipSync(l.data)), a.diffIds[i]);
  const idx = sampleIndex('det');
  assert.deepEqual(JSON.parse(idx.index.toString()).manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture), ['amd64', 'arm64']);
});
