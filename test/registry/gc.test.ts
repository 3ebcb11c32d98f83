// Unit tests of the online collector (registry/gc.ts) over the in-memory blob store, SQLite :memory:
// and a fake clock: what stays, what goes, the grace period, orphans, dry runs, and the races.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectGarbage, type GcOptions, type GcReport } from '../../src/registry/gc.js';
import { digestOf } from '../../src/oci/digest.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';
import { bytesOf, code, pushBlob, pushImage, pushIndex, referrerOf, streamOf, testRegistry, type TestRegistry } from './lib.js';

const GRACE = 60_000;

function gc(t: TestRegistry, o: Partial<GcOptions> = {}): Promise<GcReport> {
  return collectGarbage({ blobs: t.blobs, meta: t.meta, clock: t.clock }, { dryRun: false, untagged: false, gracePeriodMs: GRACE, ...o });
}

/** The layer and config digests pushImage makes for a seed. */
const blobsOfSeed = (seed: string): string[] => [digestOf(`{"seed":"${seed}"}`), digestOf(`layer of ${seed}`)];

/** Every fact the collector could change: each repository's graph, the blob rows, the upload records. */
async function factsOf(t: TestRegistry): Promise<unknown> {
  const repos = await t.meta.gc.repositories();
  return {
    graphs: await Promise.all(repos.map((r) => t.meta.gc.graph(r.id))),
    rows: await t.meta.gc.blobRows('', 1000),
    uploads: await t.meta.uploads.idleSince(Number.MAX_SAFE_INTEGER, 1000),
  };
}

async function repoId(t: TestRegistry, name: string): Promise<number> {
  return (await t.meta.repositories.idOf(name))!;
}

describe('garbage collection', () => {
  test('keeps what tags, indexes, referrers and untagged manifests need; removes the rest after the grace period', async () => {
    const t = testRegistry();
    const r = t.registry;
    await pushImage(r, 'app', 'v1', 'tagged');
    const child = await pushImage(r, 'app', null, 'child');
    await pushIndex(r, 'app', 'multi', [child]);
    const subject = await pushImage(r, 'app', 'v2', 'subject');
    await pushImage(r, 'app', null, 'sig', referrerOf(subject));
    await pushImage(r, 'app', null, 'untagged');
    const stray = await pushBlob(r, 'app', bytesOf('a layer no manifest uses'));
    t.clock.advance(GRACE + 1);

    const report = await gc(t);
    assert.equal(report.manifestsDeleted, 0);
    assert.equal(report.linksRemoved, 1);
    assert.equal(report.blobsDeleted, 1);
    assert.equal(report.bytesFreed, 'a layer no manifest uses'.length);
    assert.equal(t.blobs.data.blobs.has(stray), false);
    const id = await repoId(t, 'app');
    assert.equal(await t.meta.blobs.get(id, stray), null);
    for (const seed of ['tagged', 'child', 'subject', 'sig', 'untagged']) {
      for (const d of blobsOfSeed(seed)) {
        assert.ok(t.blobs.data.blobs.has(d), `bytes of ${seed} stay`);
        assert.ok(await t.meta.blobs.get(id, d), `link of ${seed} stays`);
      }
    }
    for (const ref of ['v1', 'multi', 'v2', child.digest]) assert.ok((await r.manifests.get('app', ref)).bytes.length > 0);
  });

  test('--untagged deletes manifests no tag reaches, with their referrers, once older than the grace period', async () => {
    const t = testRegistry();
    const r = t.registry;
    await pushImage(r, 'app', 'v1', 'tagged');
    const child = await pushImage(r, 'app', null, 'child');
    await pushIndex(r, 'app', 'multi', [child]);
    const keptSubject = await pushImage(r, 'app', 'v2', 'kept-subject');
    const keptSig = await pushImage(r, 'app', null, 'kept-sig', referrerOf(keptSubject));
    const lost = await pushImage(r, 'app', null, 'lost');
    const lostSig = await pushImage(r, 'app', null, 'lost-sig', referrerOf(lost));
    t.clock.advance(GRACE + 1);
    const young = await pushImage(r, 'app', null, 'young');

    const report = await gc(t, { untagged: true });
    assert.equal(report.manifestsDeleted, 2);
    await assert.rejects(r.manifests.get('app', lost.digest), code('MANIFEST_UNKNOWN'));
    await assert.rejects(r.manifests.get('app', lostSig.digest), code('MANIFEST_UNKNOWN'));
    for (const d of [...blobsOfSeed('lost'), ...blobsOfSeed('lost-sig'), lost.digest, lostSig.digest]) assert.equal(t.blobs.data.blobs.has(d), false, `${d} went`);
    for (const ref of ['v1', 'multi', 'v2', child.digest, keptSig.digest, young.digest]) assert.ok((await r.manifests.get('app', ref)).bytes.length > 0, `${ref} stays`);
    for (const seed of ['tagged', 'child', 'kept-subject', 'kept-sig', 'young']) for (const d of blobsOfSeed(seed)) assert.ok(t.blobs.data.blobs.has(d));
  });

  test('--untagged keeps a manifest a tag pointed at within history.keep (restorable), with its blobs and referrers; then collects it', async () => {
    const t = testRegistry();
    const r = t.registry;
    const KEEP = 10 * GRACE;
    const old = await pushImage(r, 'app', 'v1', 'old');
    const oldSig = await pushImage(r, 'app', null, 'old-sig', referrerOf(old));
    t.clock.advance(GRACE);
    await pushImage(r, 'app', 'v1', 'new'); // v1 leaves `old` now
    t.clock.advance(KEEP - 1);

    const within = await gc(t, { untagged: true, historyKeepMs: KEEP });
    assert.equal(within.manifestsDeleted, 0, 'v1 pointed at it within history.keep');
    for (const d of [old.digest, oldSig.digest, ...blobsOfSeed('old'), ...blobsOfSeed('old-sig')]) assert.ok(t.blobs.data.blobs.has(d), `${d} stays`);
    assert.equal((await gc(t, { untagged: false, historyKeepMs: KEEP })).manifestsDeleted, 0, 'without untagged nothing goes anyway');

    t.clock.advance(2);
    const after = await gc(t, { untagged: true, historyKeepMs: KEEP });
    assert.equal(after.manifestsDeleted, 2, 'the manifest and its referrer go once the window has passed');
    await assert.rejects(r.manifests.get('app', old.digest), code('MANIFEST_UNKNOWN'));
    for (const d of blobsOfSeed('old')) assert.equal(t.blobs.data.blobs.has(d), false, `${d} went`);
    // History still names it, but it can no longer be restored.
    const entry = (await r.history.ofTag('app', 'v1', {})).find((e) => e.digest === old.digest);
    assert.equal(entry?.restorable, false);
    await assert.rejects(r.history.restore('app', 'v1', { digest: old.digest }, actor), (e: unknown) => code('MANIFEST_UNKNOWN')(e) && (e as { status: number }).status === 410);
  });

  test('a restore within history.keep moves the tag back (recorded, announced); the default window is 14 days', async () => {
    const t = testRegistry();
    const r = t.registry;
    const old = await pushImage(r, 'app', 'v1', 'old');
    t.clock.advance(1000);
    const fresh = await pushImage(r, 'app', 'v1', 'new');
    const events: unknown[] = [];
    r.events.on('event', (e) => events.push(e));
    t.clock.advance(14 * 24 * 3_600_000 - 1000);
    assert.equal((await gc(t, { untagged: true })).manifestsDeleted, 0);
    assert.equal((await r.history.restore('app', 'v1', { digest: old.digest }, actor)).digest, old.digest);
    assert.equal((await r.manifests.resolve('app', 'v1')).digest, old.digest);
    assert.deepEqual(events.map((e) => (e as { type: string; tag: string }).type + ':' + (e as { tag: string }).tag), ['manifest.pushed:v1']);
    const h = await r.history.ofTag('app', 'v1', {});
    assert.deepEqual(h.map((e) => e.digest), [old.digest, fresh.digest, old.digest]);
  });

  test('a layer pushed within the grace period survives (its manifest is not PUT yet); then it goes', async () => {
    const t = testRegistry();
    const layer = await pushBlob(t.registry, 'app', bytesOf('in flight'));
    t.clock.advance(GRACE - 1);
    assert.equal((await gc(t)).linksRemoved, 0);
    assert.ok(t.blobs.data.blobs.has(layer));
    t.clock.advance(2);
    const report = await gc(t);
    assert.equal(report.linksRemoved, 1);
    assert.equal(report.blobsDeleted, 1);
    assert.equal(t.blobs.data.blobs.has(layer), false);
  });

  test('bytes stay while any repository links them', async () => {
    const t = testRegistry();
    const d = await pushBlob(t.registry, 'a', bytesOf('shared'));
    t.clock.advance(GRACE + 1);
    // Old bytes, a young link in b (mounted just now), and a's link dropped by its owner.
    assert.ok(await t.registry.blobs.mount('b', d, 'a', actor, async () => true));
    await t.registry.blobs.delete('a', d, actor);
    const report = await gc(t);
    assert.equal(report.blobsDeleted, 0);
    assert.ok(t.blobs.data.blobs.has(d));
    assert.ok(await t.meta.blobs.get(await repoId(t, 'b'), d));
  });

  test('a HEAD of an old blob starts its grace period again (a push that skips the upload), and a link removed meanwhile answers unknown', async () => {
    const t = testRegistry();
    const r = t.registry;
    const d = await pushBlob(r, 'app', bytesOf('found by HEAD'));
    t.clock.advance(GRACE + 1);
    assert.equal((await r.blobs.stat('app', d)).size, 'found by HEAD'.length);
    assert.equal((await gc(t)).linksRemoved, 0, 'the HEAD renewed the link');
    t.clock.advance(GRACE + 1);
    // The collector removes the link between the HEAD's read and its renewal.
    const get = t.meta.blobs.get.bind(t.meta.blobs);
    t.meta.blobs.get = async (repo, digest) => {
      const link = await get(repo, digest);
      await gc(t);
      return link;
    };
    await assert.rejects(r.blobs.stat('app', d), code('BLOB_UNKNOWN'));
  });

  test('orphans: unknown objects older than the grace period go; rows whose bytes are gone are removed when unlinked, reported either way', async () => {
    const t = testRegistry();
    const r = t.registry;
    const oldOrphan = digestOf('left by a crash');
    await t.blobs.putSmall(oldOrphan, bytesOf('left by a crash'));
    const img = await pushImage(r, 'app', 'v1', 'img');
    const unlinkedRow = await pushBlob(r, 'app', bytesOf('row only'));
    await r.blobs.delete('app', unlinkedRow, actor);
    t.clock.advance(GRACE + 1);
    const youngOrphan = digestOf('just written');
    await t.blobs.putSmall(youngOrphan, bytesOf('just written'));
    // Bytes gone behind the database's back: one blob nobody links, one a manifest needs.
    await t.blobs.delete(unlinkedRow);
    const [, layer] = blobsOfSeed('img');
    await t.blobs.delete(layer!);

    const report = await gc(t);
    assert.equal(report.orphanObjects.count, 1);
    assert.deepEqual(report.orphanObjects.examples, [oldOrphan]);
    assert.equal(t.blobs.data.blobs.has(oldOrphan), false);
    assert.ok(t.blobs.data.blobs.has(youngOrphan), 'a young unknown object may be a write in flight');
    assert.equal(report.orphanRows.count, 2);
    assert.equal(report.orphanRows.removed, 1);
    const byDigest = new Map(report.orphanRows.examples.map((e) => [e.digest, e.linkedBy]));
    assert.deepEqual(byDigest.get(unlinkedRow), []);
    assert.deepEqual(byDigest.get(layer!), ['app']);
    assert.deepEqual(await t.meta.gc.knownBlobs([unlinkedRow, layer!, img.digest]), new Set([layer!, img.digest]));
  });

  test('a dry run reports what a real run does, and changes nothing', async () => {
    const make = async (): Promise<TestRegistry> => {
      const t = testRegistry();
      const r = t.registry;
      await pushImage(r, 'app', 'v1', 'tagged');
      const lost = await pushImage(r, 'app', null, 'lost');
      await pushImage(r, 'app', null, 'lost-sig', referrerOf(lost));
      await pushBlob(r, 'app', bytesOf('stray'));
      await t.blobs.putSmall(digestOf('orphan'), bytesOf('orphan'));
      const gone = await pushBlob(r, 'other', bytesOf('gone'));
      await r.blobs.delete('other', gone, actor);
      await t.blobs.delete(gone);
      await r.blobs.startUpload('app');
      t.clock.advance(GRACE + 1);
      return t;
    };
    const dry = await make();
    const before = { blobs: [...dry.blobs.data.blobs.keys()].sort(), uploads: [...dry.blobs.data.uploads.keys()] };
    const factsBefore = await factsOf(dry);
    const dryReport = await gc(dry, { untagged: true, dryRun: true });
    assert.deepEqual([...dry.blobs.data.blobs.keys()].sort(), before.blobs);
    assert.deepEqual([...dry.blobs.data.uploads.keys()], before.uploads);
    assert.deepEqual(await factsOf(dry), factsBefore);

    const real = await make();
    const realReport = await gc(real, { untagged: true });
    assert.ok(realReport.manifestsDeleted > 0 && realReport.blobsDeleted > 0 && realReport.orphanObjects.count === 1 && realReport.orphanRows.removed === 1);
    const comparable = (x: GcReport): unknown => ({ ...x, dryRun: null, startedAt: null, durationMs: null });
    assert.deepEqual(comparable(dryReport), comparable(realReport));
  });

  test('a blob pushed again while the collector runs keeps its bytes and its link', async () => {
    const t = testRegistry();
    const data = bytesOf('pushed again');
    const d = await pushBlob(t.registry, 'app', data);
    await t.registry.blobs.delete('app', d, actor);
    t.clock.advance(GRACE + 1);
    // After the collector has found the blob unlinked, and before it marks it, a client pushes it again.
    const knownBlobs = t.meta.gc.knownBlobs.bind(t.meta.gc);
    let pushed = false;
    t.meta.gc.knownBlobs = async (digests) => {
      if (!pushed && digests.includes(d)) { pushed = true; await pushBlob(t.registry, 'app', data); }
      return knownBlobs(digests);
    };
    const report = await gc(t);
    assert.ok(pushed);
    assert.equal(report.blobsDeleted, 0);
    assert.ok(t.blobs.data.blobs.has(d), 'the bytes stay');
    assert.ok(await t.meta.blobs.get(await repoId(t, 'app'), d), 'the link stays');
  });

  test('a manifest PUT whose layer link is removed between its check and its write is refused, leaving nothing', async () => {
    const t = testRegistry();
    const r = t.registry;
    const config = bytesOf('{"seed":"race"}');
    const layer = bytesOf('layer of race');
    const cfg = await pushBlob(r, 'app', config);
    const lay = await pushBlob(r, 'app', layer);
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: cfg, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: lay, size: layer.length }],
    }));
    // The collector's transaction lands while the PUT writes the manifest's bytes.
    const putSmall = t.blobs.putSmall.bind(t.blobs);
    t.blobs.putSmall = async (digest, b) => {
      await t.meta.blobs.unlink(await repoId(t, 'app'), lay);
      return putSmall(digest, b);
    };
    await assert.rejects(r.manifests.put('app', 'v1', bytes, MediaTypes.ociManifest, actor), code('MANIFEST_BLOB_UNKNOWN'));
    await assert.rejects(r.manifests.get('app', 'v1'), code('MANIFEST_UNKNOWN'));
    assert.equal((await t.meta.gc.graph(await repoId(t, 'app'))).manifests.length, 0);
  });

  describe('the deleting mark', () => {
    test('a marked digest cannot be linked or mounted; an upload of it waits until the bytes are gone, then lands', async () => {
      const t = testRegistry();
      const r = t.registry;
      const data = bytesOf('doomed');
      const d = await pushBlob(r, 'src', data);
      await r.blobs.delete('src', d, actor);
      assert.ok(await t.meta.gc.markForDeletion(d, t.clock.now()));
      assert.equal(await t.meta.blobs.link(await repoId(t, 'src'), d, data.length), false, 'linking a marked digest is refused');
      const pushing = pushBlob(r, 'dst', data);
      let landed = false;
      void pushing.then(() => { landed = true; }, () => undefined);
      await new Promise((res) => setTimeout(res, 100));
      assert.equal(landed, false, 'the upload waits while the digest is marked');
      await t.blobs.delete(d);
      await t.meta.gc.unmark(d);
      assert.equal(await pushing, d);
      assert.ok(t.blobs.data.blobs.has(d), 'the new bytes are there');
      assert.ok(await t.meta.blobs.get(await repoId(t, 'dst'), d));
    });

    test('a mount of a digest marked after its source check is refused (the client uploads instead)', async () => {
      const t = testRegistry();
      const r = t.registry;
      const d = await pushBlob(r, 'src', bytesOf('mounted'));
      // Between the mount's look at the source and its link, a collector unlinks, marks and deletes.
      const stat = t.blobs.stat.bind(t.blobs);
      t.blobs.stat = async (x) => {
        const s = await stat(x);
        await t.meta.blobs.unlink(await repoId(t, 'src'), d);
        await t.meta.gc.markForDeletion(d, t.clock.now());
        await t.blobs.delete(d);
        await t.meta.gc.unmark(d);
        return s;
      };
      assert.equal(await r.blobs.mount('dst', d, 'src', actor, async () => true), null);
      assert.equal(await t.meta.blobs.get(await repoId(t, 'dst'), d), null, 'no link to bytes that are gone');
    });

    test('a digest is not marked while linked or freshly claimed; a claim older than the grace period does not hold it', async () => {
      const t = testRegistry();
      const d = await pushBlob(t.registry, 'app', bytesOf('held'));
      assert.equal(await t.meta.gc.markForDeletion(d, t.clock.now() - GRACE), false, 'linked');
      await t.registry.blobs.delete('app', d, actor);
      assert.ok(await t.meta.gc.claim(d, 'writer'));
      assert.equal(await t.meta.gc.markForDeletion(d, t.clock.now() - GRACE), false, 'claimed');
      t.clock.advance(GRACE + 1);
      assert.ok(await t.meta.gc.markForDeletion(d, t.clock.now() - GRACE), 'a stale claim does not hold it');
      assert.equal(await t.meta.gc.claim(d, 'another'), false, 'no claim while marked');
      await t.meta.gc.unmark(d);
      assert.ok(await t.meta.gc.claim(d, 'another'));
    });

    test('a collection drops stale claims and leaves no mark behind', async () => {
      const t = testRegistry();
      const d = await pushBlob(t.registry, 'app', bytesOf('x'));
      await t.registry.blobs.delete('app', d, actor);
      await t.meta.gc.claim(digestOf('crashed writer'), 'w');
      t.clock.advance(GRACE + 1);
      const report = await gc(t);
      assert.equal(report.blobsDeleted, 1);
      assert.equal(await t.meta.gc.isMarked(d), false);
      assert.equal(await t.meta.gc.dropClaimsBefore(t.clock.now() + 1), 0, 'the stale claim went');
    });
  });

  test('a deletion a crashed collector left marked is finished by the next collection', async () => {
    const t = testRegistry();
    const d = await pushBlob(t.registry, 'app', bytesOf('half deleted'));
    await t.registry.blobs.delete('app', d, actor);
    assert.ok(await t.meta.gc.markForDeletion(d, t.clock.now()));
    // The collector died here, before deleting the bytes and clearing the mark.
    await gc(t);
    assert.equal(t.blobs.data.blobs.has(d), false);
    assert.equal(await t.meta.gc.isMarked(d), false);
    assert.equal(await pushBlob(t.registry, 'app', bytesOf('half deleted')), d, 'the digest can be pushed again');
  });

  test('upload bytes are untouched by the blob sweep', async () => {
    const t = testRegistry();
    const id = await t.registry.blobs.startUpload('app');
    await t.registry.blobs.append('app', id, streamOf(bytesOf('partial')), null, null);
    t.clock.advance(GRACE + 1);
    await gc(t);
    assert.equal(await t.registry.blobs.uploadOffset('app', id), 7);
  });
});
