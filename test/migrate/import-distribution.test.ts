// The import of a Distribution storage tree into Wharf's stores (in-memory blobs, SQLite in memory):
// what arrives, what is reported and skipped, and that running again finishes an interrupted import.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { buffer } from 'node:stream/consumers';
import { Registry } from '../../src/registry/registry.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { DistributionLayout } from '../../src/migrate/distribution-layout.js';
import { openFsDistribution, type DistributionStorage } from '../../src/migrate/distribution-storage.js';
import { importDistribution } from '../../src/migrate/import-distribution.js';
import type { ImportReport } from '../../src/migrate/import-report.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { MemoryBlobData, MemoryBlobStore } from '../helpers/memory-blob-store.js';
import { DistributionTree, sha256 } from './distribution-tree.js';
import { fsSource, s3Source, type DistributionSource } from './distribution-sources.js';

const trees: DistributionTree[] = [];
after(() => { for (const t of trees) t.cleanup(); });
function tree(): DistributionTree {
  const t = new DistributionTree();
  trees.push(t);
  return t;
}

interface Wharf { registry: Registry; data: MemoryBlobData; meta: SqliteMetaStore; clock: FakeClock }

function wharf(): Wharf {
  const clock = new FakeClock();
  const data = new MemoryBlobData();
  const meta = new SqliteMetaStore({ path: ':memory:', durable: false, clock });
  return { registry: new Registry(new MemoryBlobStore(data, clock), meta, { maxManifestBytes: 1 << 20 }, clock), data, meta, clock };
}

async function run(t: DistributionTree | DistributionStorage, registry: Registry): Promise<ImportReport> {
  const storage = t instanceof DistributionTree ? await openFsDistribution(t.root) : t;
  return importDistribution(new DistributionLayout(storage), registry);
}

/** Every tag of every repository in the tree resolves in Wharf to the same digest and bytes. */
async function assertTagsMatch(r: Registry, tags: Record<string, Record<string, { digest: string; bytes: Buffer }>>): Promise<void> {
  for (const [repo, byTag] of Object.entries(tags)) {
    assert.deepEqual((await r.listing.tags(repo, {})).items, Object.keys(byTag).sort(), `tags of ${repo}`);
    for (const [tag, m] of Object.entries(byTag)) {
      const got = await r.manifests.get(repo, tag);
      assert.equal(got.record.digest, m.digest, `${repo}:${tag}`);
      assert.ok(got.bytes.equals(m.bytes), `${repo}:${tag} bytes`);
    }
  }
}

async function assertBlob(r: Registry, repo: string, b: { digest: string; data: Buffer }): Promise<void> {
  assert.equal((await r.blobs.stat(repo, b.digest)).size, b.data.length, `${repo}@${b.digest}`);
  assert.ok((await buffer(await r.blobs.read(b.digest))).equals(b.data), `bytes of ${b.digest}`);
}

/**
 * Distribution lists revisions in digest order: a seed whose index comes before both its children, so
 * that only an import that stores children first can store it.
 */
function indexBeforeChildren(): number {
  for (let n = 0; ; n++) {
    const scratch = new DistributionTree();
    try {
      const amd = scratch.image('x', `amd${n}`);
      const arm = scratch.image('x', `arm${n}`);
      const multi = scratch.index('x', [amd, arm]);
      if (multi.digest < amd.digest && multi.digest < arm.digest) return n;
    } finally {
      scratch.cleanup();
    }
  }
}

/** A tree with an image under two tags, an untagged one, an index, Docker schema 2, OCI without mediaType, a referrer, a nested repository. */
function fullTree(): { t: DistributionTree; tags: Record<string, Record<string, { digest: string; bytes: Buffer }>>; a: ReturnType<DistributionTree['image']>; referrer: { digest: string }; sub: ReturnType<DistributionTree['image']> } {
  const t = tree();
  const a = t.image('team/app', 'a', { tag: 'v1' });
  t.tag('team/app', 'latest', a.digest);
  t.image('team/app', 'untagged');
  const n = indexBeforeChildren();
  const amd = t.image('team/app', `amd${n}`);
  const arm = t.image('team/app', `arm${n}`);
  const multi = t.index('team/app', [amd, arm], 'multi');
  const docker = t.image('team/app', 'docker', { tag: 'docker', mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
  const bare = t.image('team/app', 'bare', { tag: 'bare', mediaType: null });
  const referrer = t.image('team/app', 'sig', { extra: { artifactType: 'application/vnd.example.sig', subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: a.digest, size: a.bytes.length } } });
  // Shares a layer with team/app: copied once, then linked.
  const sub = t.image('team/app/sub', 'sub', { tag: 'v1', layers: ['layer one of a', 'own layer'] });
  return { t, a, referrer, sub, tags: { 'team/app': { v1: a, latest: a, multi, docker, bare }, 'team/app/sub': { v1: sub } } };
}

describe('import-distribution', () => {
  // The same tree read from a directory and from a bucket (Distribution's s3 driver's layout).
  for (const source of [fsSource(), s3Source()] as DistributionSource[]) {
    after(() => source.cleanup());

    test(`from ${source.name}: every repository, tag, manifest (exact bytes), blob and referrer arrives; a second run skips everything`, async () => {
      const { t, tags, a, referrer, sub } = fullTree();
      const storage = await source.open(t);
      const w = wharf();
      const report = await run(storage, w.registry);
      assert.deepEqual(report.problems, []);
      assert.equal(report.repositories, 2);
      assert.deepEqual(report.manifests, { imported: 9, skipped: 0 });
      assert.deepEqual(report.tags, { imported: 6, skipped: 0 });
      // 7 images in team/app of 3 blobs each (the index has none), 3 in team/app/sub of which one is a shared layer.
      assert.equal(report.blobs.imported, 7 * 3 + 2);
      assert.equal(report.blobs.skipped, 1, 'the layer team/app/sub shares is linked, not copied again');
      assert.equal(report.linksWithoutBlob.count, 0);

      await assertTagsMatch(w.registry, tags);
      assert.deepEqual((await w.registry.listing.catalog({})).items, ['team/app', 'team/app/sub']);
      for (const b of [a.config, ...a.layers]) await assertBlob(w.registry, 'team/app', b);
      for (const b of [sub.config, ...sub.layers]) await assertBlob(w.registry, 'team/app/sub', b);
      assert.equal((await w.registry.manifests.get('team/app', referrer.digest)).record.subject, a.digest);
      const referrers = await w.registry.listing.referrers('team/app', a.digest);
      assert.deepEqual(referrers.manifests.map((m) => [m.digest, m.artifactType]), [[referrer.digest, 'application/vnd.example.sig']]);
      const copied = [...w.data.blobs].filter(([d]) => !t.manifests.has(d)).reduce((n, [, b]) => n + b.length, 0);
      assert.equal(report.blobs.bytes, copied, 'bytes counts each blob copied once, manifests apart');

      const again = await run(storage, w.registry);
      assert.deepEqual(again.problems, []);
      assert.deepEqual(again.manifests, { imported: 0, skipped: 9 });
      assert.deepEqual(again.tags, { imported: 0, skipped: 6 });
      assert.deepEqual(again.blobs, { imported: 0, skipped: 24, bytes: 0 });
    });

    test(`from ${source.name}: damage is reported and skipped, the rest imported: a corrupt blob, a dangling tag, a revision without bytes, schema 1; a link without bytes is only noted`, async () => {
      const t = tree();
      const good = t.image('app', 'good', { tag: 'good' });
      // A layer whose bytes do not hash to its digest, and the image and tag that need it.
      const corrupt = t.image('app', 'corrupt', { tag: 'corrupt' });
      t.blob('not the layer', corrupt.layers[0]!.digest);
      // A tag pointing at a manifest Distribution never held.
      t.tag('app', 'dangling', sha256('no such manifest'));
      // A revision whose bytes are gone.
      const gone = sha256('gone');
      t.revision('app', gone);
      // Docker schema 1, which Wharf does not take.
      const schema1 = t.manifest('app', { schemaVersion: 1, name: 'app', tag: 'old', fsLayers: [] }, 'old');
      // A blob link whose bytes Distribution's garbage collection removed.
      const collected = sha256('collected');
      t.layerLink('app', collected);

      const w = wharf();
      const report = await run(await source.open(t), w.registry);
      const kinds = report.problems.map((p) => [p.kind, p.tag ?? p.digest]).sort();
      assert.deepEqual(kinds, [
        ['blob-corrupt', corrupt.layers[0]!.digest],
        ['manifest-missing', gone],
        ['manifest-refused', corrupt.digest],
        ['manifest-refused', schema1.digest],
        ['tag-dangling', 'corrupt'],
        ['tag-dangling', 'dangling'],
        ['tag-dangling', 'old'],
      ].sort());
      assert.match(report.problems.find((p) => p.kind === 'blob-corrupt')!.detail, /does not match/);
      assert.match(report.problems.find((p) => p.tag === 'dangling')!.detail, /no revision link/);
      assert.match(report.problems.find((p) => p.tag === 'corrupt')!.detail, /was not imported/);
      assert.deepEqual(report.linksWithoutBlob, { count: 1, examples: [`app@${collected}`] });
      assert.equal(w.data.blobs.has(corrupt.layers[0]!.digest), false, 'corrupt bytes are not stored');
      assert.equal(w.data.uploads.size, 0, 'no upload left behind');
      await assertTagsMatch(w.registry, { app: { good } });
      assert.deepEqual(report.tags, { imported: 1, skipped: 0 });
    });
  }

  for (const crashIn of ['commitUpload', 'putSmall'] as const) {
    test(`interrupted (the blob store fails in ${crashIn}), then run again: the import completes and skips what arrived`, async () => {
      const { t, tags } = fullTree();
      const w = wharf();
      const failing = new MemoryBlobStore(w.data, w.clock);
      let calls = 0;
      const real = failing[crashIn].bind(failing) as (...a: unknown[]) => Promise<never>;
      (failing as unknown as Record<string, unknown>)[crashIn] = async (...a: unknown[]) => {
        if (++calls > 4) throw new Error('simulated crash');
        return real(...a);
      };
      await assert.rejects(run(t, new Registry(failing, w.meta, { maxManifestBytes: 1 << 20 }, w.clock)), /simulated crash/);
      assert.ok(calls > 4, 'the first run was cut short');

      const report = await run(t, w.registry);
      assert.deepEqual(report.problems, []);
      const skipped = report.blobs.skipped + report.manifests.skipped;
      assert.ok(skipped > 1, `the second run skips what the first imported (${skipped})`);
      assert.equal(report.blobs.imported + report.blobs.skipped, 24);
      assert.equal(report.manifests.imported + report.manifests.skipped, 9);
      await assertTagsMatch(w.registry, tags);
      const third = await run(t, w.registry);
      assert.equal(third.blobs.imported + third.manifests.imported + third.tags.imported, 0);
    });
  }
});
