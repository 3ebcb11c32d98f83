// The client verifies what it fetches by digest: a manifest named by digest, and each child of an index. A
// loopback proxy in front of Debian's docker-registry changes one byte of chosen manifest responses (the
// JSON stays valid, the length the same: only the digest can tell); inspect and copy by digest, and
// copy --all of an index with one child changed, must fail with a digest error and write no image (no
// blob, no manifest, no index.json) to an oci: or dir: destination. The same commands through the proxy
// for references it leaves alone succeed (the control).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sampleImage, sampleIndex, writeOciLayout } from '../interop/lib/images.js';
import { startDistribution, type DistributionServer } from '../helpers/distribution.js';
import { Cli, hostArch, withHistory } from './lib/cli.js';
import { startProxy, type Proxy } from './lib/proxy.js';
import { repoName } from './lib/registries.js';

const IMG = sampleImage('cli-tamper');
const IDX = sampleIndex('cli-tamper-idx');
const hostChild = IDX.images.find((im) => im.architecture === hostArch()) ?? IDX.images[0]!;
const otherChild = IDX.images.find((im) => im !== hostChild)!;
let reg: DistributionServer;
let cli: Cli;
const imgRepo = repoName('tamper-img');
const idxRepo = repoName('tamper-idx');
const childIdxRepo = repoName('tamper-child');

before(async () => {
  reg = await startDistribution();
  cli = new Cli();
  const base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }, { tag: 'idx', index: IDX }]);
  await cli.wharf(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, `docker://${reg.addr}/${imgRepo}:v1`]);
  await cli.wharf(['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${base}:idx`, `docker://${reg.addr}/${idxRepo}:v1`]);
  await cli.wharf(['copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${base}:idx`, `docker://${reg.addr}/${childIdxRepo}:v1`]);
});

after(async () => {
  cli?.cleanup();
  await reg?.stop();
});

/** A proxy that changes the manifests named `refs` (digests or tags); stopped by the caller. */
async function tampering(refs: string[]): Promise<Proxy> {
  return startProxy(reg.addr, { tamperManifests: refs });
}

/** Files under `dir` (relative), [] when it does not exist. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
    .sort();
}

/** No image at an oci: or dir: destination: no index.json, no manifest.json, no blob. */
function assertNoImage(dir: string, what: string): void {
  const files = filesUnder(dir).filter((f) => f !== 'oci-layout' && f !== 'version');
  assert.deepEqual(files, [], `${what}: a failed copy left files at the destination`);
}

const DIGEST_ERROR = /digest/i;

describe('a manifest fetched by digest is verified', () => {
  test('inspect and inspect --raw by digest fail with a digest error', () => withHistory(cli, async () => {
    const p = await tampering([IMG.manifestDigest]);
    try {
      const ref = `docker://${p.addr}/${imgRepo}@${IMG.manifestDigest}`;
      for (const extra of [[], ['--raw'], ['--config']]) {
        const r = await cli.wharfFails(['inspect', '--tls-verify=false', ...extra, ref]);
        assert.match(r.stderr, DIGEST_ERROR, `inspect ${extra.join(' ')}: ${r.stderr}`);
      }
      // The control: by tag the proxy leaves it alone.
      const ok = await cli.wharf(['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${p.addr}/${imgRepo}:v1`]);
      assert.equal(ok.stdout.trim(), IMG.manifestDigest);
    } finally {
      await p.stop();
    }
  }));

  for (const kind of ['oci', 'dir'] as const) {
    test(`copy by digest to ${kind}: fails with a digest error and writes no image`, () => withHistory(cli, async () => {
      const p = await tampering([IMG.manifestDigest]);
      try {
        const out = cli.path(`tamper-${kind}`);
        const dest = kind === 'oci' ? `oci:${out}:x` : `dir:${out}`;
        const r = await cli.wharfFails(['copy', '--src-tls-verify=false', `docker://${p.addr}/${imgRepo}@${IMG.manifestDigest}`, dest]);
        assert.match(r.stderr, DIGEST_ERROR, r.stderr);
        assertNoImage(out, `copy to ${kind}`);
        // The control: the same copy by tag works through the same proxy.
        const good = cli.path(`tamper-ok-${kind}`);
        await cli.wharf(['copy', '--quiet', '--src-tls-verify=false', `docker://${p.addr}/${imgRepo}:v1`, kind === 'oci' ? `oci:${good}:x` : `dir:${good}`]);
        assert.ok(filesUnder(good).length > 2);
      } finally {
        await p.stop();
      }
    }));
  }

  test('copy --all of an index fetched by digest, the index changed: fails, no image', () => withHistory(cli, async () => {
    const p = await tampering([IDX.indexDigest]);
    try {
      const out = cli.path('tamper-index');
      const r = await cli.wharfFails(['copy', '--all', '--src-tls-verify=false', `docker://${p.addr}/${idxRepo}@${IDX.indexDigest}`, `oci:${out}:x`]);
      assert.match(r.stderr, DIGEST_ERROR, r.stderr);
      assertNoImage(out, 'copy --all');
    } finally {
      await p.stop();
    }
  }));
});

describe("an index's children are verified", () => {
  for (const kind of ['oci', 'dir'] as const) {
    test(`copy --all with one child changed (to ${kind}): fails with a digest error and writes no image`, () => withHistory(cli, async () => {
      // The second child is the one changed: a copy that wrote the first before fetching it would leave blobs.
      const p = await tampering([otherChild.manifestDigest]);
      try {
        const out = cli.path(`tamper-child-${kind}`);
        const r = await cli.wharfFails(['copy', '--all', '--src-tls-verify=false', `docker://${p.addr}/${childIdxRepo}:v1`, kind === 'oci' ? `oci:${out}:x` : `dir:${out}`]);
        assert.match(r.stderr, DIGEST_ERROR, r.stderr);
        assertNoImage(out, `copy --all to ${kind}`);
      } finally {
        await p.stop();
      }
    }));
  }

  test("the host platform's child changed: copy and inspect by tag of the index fail with a digest error", () => withHistory(cli, async () => {
    const p = await tampering([hostChild.manifestDigest]);
    try {
      const out = cli.path('tamper-host');
      const r = await cli.wharfFails(['copy', '--src-tls-verify=false', `docker://${p.addr}/${childIdxRepo}:v1`, `oci:${out}:x`]);
      assert.match(r.stderr, DIGEST_ERROR, r.stderr);
      assertNoImage(out, 'copy of the host platform');
      const i = await cli.wharfFails(['inspect', '--tls-verify=false', `docker://${p.addr}/${childIdxRepo}:v1`]);
      assert.match(i.stderr, DIGEST_ERROR, i.stderr);
      // The control: the other platform's child is untouched.
      const ok = await cli.wharf(['inspect', '--tls-verify=false', '--override-arch', otherChild.architecture, '--format', '{{.Architecture}}', `docker://${p.addr}/${childIdxRepo}:v1`]);
      assert.equal(ok.stdout.trim(), otherChild.architecture);
    } finally {
      await p.stop();
    }
  }));
});
