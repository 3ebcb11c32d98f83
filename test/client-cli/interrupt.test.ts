// Never a half-finished destination: a `wharf copy` killed with SIGKILL in the middle of a blob leaves the destination
// as it was (the old image stays readable, the big blob is not there under its digest), for every transport; and a
// later copy completes. The source is served through a throttling loopback proxy so that the kill reliably lands
// while the big layer is streaming. A second test kills copies between two local layouts at many different moments
// and checks the layout is always valid (old image intact; the new one either absent or complete).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, pseudoRandom, sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { Cli, withHistory } from './lib/cli.js';
import { startProxy, type Proxy } from './lib/proxy.js';
import { RegistryPool, dockerRef, repoName, type Registry, type TargetName } from './lib/registries.js';
import { hex, isRegistry, readBack, type Kind } from './lib/transports.js';

const OLD = sampleImage('cli-old');
/** One 6 MiB incompressible layer (the one throttled) and a small one. */
const BIG = buildImage({
  layers: [[{ path: 'big/' }, { path: 'big/random.bin', content: pseudoRandom(6 * 1024 * 1024, 7) }], [{ path: 'small.txt', content: 'small\n' }]],
  labels: { 'org.wharf.test': 'interrupt' },
});
const BIG_LAYER = BIG.layers.reduce((a, b) => (a.data.length >= b.data.length ? a : b));

const pool = new RegistryPool();
let cli: Cli;
let regs: Record<TargetName, Registry>;
let base: string;
let proxy: Proxy;
let bigRepo: string;

const fileHash = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

before(async () => {
  cli = new Cli();
  const [wharf, distribution] = await Promise.all([pool.get('wharf'), pool.get('distribution')]);
  regs = { wharf, distribution };
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'old', image: OLD }, { tag: 'big', image: BIG }]);
  bigRepo = repoName('big');
  await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:big`, dockerRef(wharf, bigRepo, 'v1')]);
  // 1 MiB/s: the big layer takes about 6 s through the proxy.
  proxy = await startProxy(wharf.addr, { throttle: { digests: [BIG_LAYER.digest], bytesPerSecond: 1024 * 1024 } });
});

after(async () => {
  await proxy?.stop();
  cli?.cleanup();
  await pool.stopAll();
});

interface Prepared {
  /** Name to copy into (holding OLD before the copy). */
  name: string;
  /** Asserts the destination is exactly as before. */
  assertUnchanged(): Promise<void>;
}

/** A destination of `kind` that already holds OLD under the name the copy will write. */
async function prepare(kind: Kind): Promise<Prepared> {
  const readOld = async (name: string): Promise<void> => {
    const back = await readBack(cli, name);
    assert.ok(back.manifest.equals(OLD.manifest), `${name} no longer holds the old image`);
  };
  switch (kind) {
    case 'oci': {
      const dir = cli.tmp('layout');
      writeOciLayout(dir, [{ tag: 'keep', image: OLD }, { tag: 'target', image: OLD }]);
      const index = readFileSync(join(dir, 'index.json'));
      return {
        name: `oci:${dir}:target`,
        async assertUnchanged() {
          assert.ok(readFileSync(join(dir, 'index.json')).equals(index), `index.json changed:\n${readFileSync(join(dir, 'index.json'), 'utf8')}`);
          JSON.parse(index.toString());
          assert.ok(!existsSync(join(dir, 'blobs', 'sha256', hex(BIG_LAYER.digest))), 'a partial big layer is stored under its digest');
          await readOld(`oci:${dir}:target`);
          await readOld(`oci:${dir}:keep`);
        },
      };
    }
    case 'dir': {
      const dir = cli.path('dir');
      await cli.skopeo(['copy', '--quiet', `oci:${base}:old`, `dir:${dir}`]);
      const files = readdirSync(dir).sort();
      const manifest = readFileSync(join(dir, 'manifest.json'));
      return {
        name: `dir:${dir}`,
        async assertUnchanged() {
          assert.ok(readFileSync(join(dir, 'manifest.json')).equals(manifest), 'manifest.json changed');
          assert.ok(!existsSync(join(dir, hex(BIG_LAYER.digest))), 'a partial big layer is stored under its digest');
          for (const f of files) assert.ok(existsSync(join(dir, f)), `${f} of the old image is gone`);
          await readOld(`dir:${dir}`);
        },
      };
    }
    case 'oci-archive':
    case 'docker-archive': {
      const file = `${cli.path(kind)}.tar`;
      const name = kind === 'oci-archive' ? `oci-archive:${file}:target` : `docker-archive:${file}:cli/target:v1`;
      await cli.skopeo(['copy', '--quiet', `oci:${base}:old`, name]);
      const before = fileHash(file);
      return {
        name,
        async assertUnchanged() {
          assert.equal(fileHash(file), before, `${file} changed`);
          if (kind === 'oci-archive') await readOld(name);
          else {
            const info = JSON.parse((await cli.skopeo(['inspect', name])).stdout) as { Layers: string[] };
            assert.deepEqual(info.Layers, OLD.diffIds, 'the archive no longer holds the old image');
          }
        },
      };
    }
    default: {
      const reg = regs[kind];
      const name = dockerRef(reg, repoName('dest'), 'target');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:old`, name]);
      return {
        name,
        async assertUnchanged() {
          const raw = (await cli.skopeo(['inspect', '--raw', '--tls-verify=false', name])).stdoutBuf;
          assert.ok(raw.equals(OLD.manifest), `${name} now points to something else:\n${raw.toString()}`);
          await readOld(name);
        },
      };
    }
  }
}

describe('SIGKILL while the big layer is streaming leaves the destination as it was', () => {
  const kinds: Kind[] = ['oci', 'dir', 'oci-archive', 'docker-archive', 'wharf', 'distribution'];
  for (const kind of kinds) {
    test(`to ${kind}`, { timeout: 60_000 }, () => withHistory(cli, async () => {
      const dest = await prepare(kind);
      const tls = ['--src-tls-verify=false', ...(isRegistry(kind) ? ['--dest-tls-verify=false'] : [])];
      const child = cli.spawnWharf(['copy', ...tls, dockerRef({ addr: proxy.addr }, bigRepo, 'v1'), dest.name]);
      try {
        await proxy.waitForBytes(BIG_LAYER.digest, proxy.sent(BIG_LAYER.digest) + 512 * 1024);
      } catch (e) {
        child.kill('SIGKILL');
        await child.exited;
        throw new Error(`${(e as Error).message}\nwharf stderr:\n${child.stderrText()}`, { cause: e });
      }
      child.kill('SIGKILL');
      const { code, signal } = await child.exited;
      assert.equal(signal, 'SIGKILL', `the copy ended by itself (exit ${code}) before the kill: ${child.stderrText()}`);
      await dest.assertUnchanged();

      // A new copy (straight from Wharf) over the same destination completes.
      const r = await cli.wharf(['copy', ...tls, dockerRef(regs.wharf, bigRepo, 'v1'), dest.name]);
      assert.match(r.stderr, /Copied sha256:/);
      if (kind === 'docker-archive') {
        const info = JSON.parse((await cli.skopeo(['inspect', dest.name])).stdout) as { Layers: string[] };
        assert.deepEqual(info.Layers, BIG.diffIds);
      } else {
        assert.ok((await readBack(cli, dest.name)).manifest.equals(BIG.manifest), 'the second copy wrote the big image');
      }
    }));
  }
});

test('SIGKILL at many moments of a local oci: -> oci: copy: the layout is always valid', { timeout: 120_000 }, (t) => withHistory(cli, async () => {
  const dir = cli.tmp('layout');
  writeOciLayout(dir, [{ tag: 'old', image: OLD }]);
  const outcomes: string[] = [];
  // Kill once the copy has started writing into the layout (a temp file appears), then after a growing extra
  // delay: during the blob writes, around the manifest, around the index.json commit, after it.
  for (const delay of [0, 10, 25, 50, 80, 120, 200]) {
    const seen = new Set(readdirSync(dir));
    const child = cli.spawnWharf(['copy', '--quiet', `oci:${base}:big`, `oci:${dir}:new`]);
    const deadline = Date.now() + 20_000;
    let exitedEarly = false;
    void child.exited.then(() => { exitedEarly = true; });
    while (!exitedEarly && Date.now() < deadline && !readdirSync(dir).some((f) => /^\.wharf-.*\.tmp$/.test(f) && !seen.has(f))) {
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    const { code, signal } = await child.exited;
    outcomes.push(signal ? `killed@${delay}` : `exit ${code}@${delay}`);
    assert.ok(signal === 'SIGKILL' || code === 0, `the copy failed by itself: ${child.stderrText()}`);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const byName = new Map(index.manifests.map((m) => [m.annotations?.['org.opencontainers.image.ref.name'], m.digest]));
    assert.equal(byName.get('old'), OLD.manifestDigest, `after a kill at ${delay} ms the old ref changed`);
    assert.ok((await readBack(cli, `oci:${dir}:old`)).manifest.equals(OLD.manifest));
    if (byName.has('new')) {
      assert.equal(byName.get('new'), BIG.manifestDigest);
      // Committed means complete: every blob is there and verifies.
      assert.ok((await readBack(cli, `oci:${dir}:new`)).manifest.equals(BIG.manifest));
    }
  }
  t.diagnostic(`outcomes: ${outcomes.join(', ')}`);
  assert.ok(outcomes.some((o) => o.startsWith('killed')), `no copy was interrupted: ${outcomes.join(', ')}`);
}));
