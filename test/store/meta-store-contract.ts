// The MetaStore contract: every database runs this suite.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ManifestRecord, MetaStore } from '../../src/store/meta/meta-store.js';
import { FakeClock } from '../helpers/fake-clock.js';

export interface MetaStoreHarness {
  create(clock: FakeClock): Promise<MetaStore>;
  /** A second store over the same database (another process). */
  reopen(store: MetaStore, clock: FakeClock): Promise<MetaStore>;
  cleanup(): Promise<void>;
}

const d = (c: string): string => `sha256:${c.repeat(64)}`;
const manifest = (digest: string, extra: Partial<ManifestRecord> = {}): ManifestRecord => ({
  digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, artifactType: null, subject: null, annotations: null, ...extra,
});

export function metaStoreContract(driver: string, h: MetaStoreHarness): void {
  describe(`MetaStore contract: ${driver}`, () => {
    after(() => h.cleanup());

    test('repositories are created once and listed in order with paging', async () => {
      const m = await h.create(new FakeClock());
      const a = await m.repositories.ensure('b/x');
      assert.equal(await m.repositories.ensure('b/x'), a);
      await m.repositories.ensure('a');
      await m.repositories.ensure('c');
      const uploadsOnly = await m.repositories.ensure('d');
      assert.deepEqual(await m.repositories.list({}), [], 'no manifest yet: nothing listed');
      for (const name of ['a', 'b/x', 'c']) {
        const r = await m.repositories.ensure(name);
        await m.manifests.put(r, manifest(d('9')), []);
      }
      assert.equal(await m.repositories.hasHeldManifests(uploadsOnly), false);
      assert.equal(await m.repositories.hasHeldManifests(a), true);
      assert.deepEqual(await m.repositories.list({}), ['a', 'b/x', 'c']);
      assert.deepEqual(await m.repositories.list({ n: 1, last: 'a' }), ['b/x']);
      assert.equal(await m.repositories.idOf('nope'), null);
      await m.close();
    });

    test('blob links are per repository and carry the time of the first link', async () => {
      const clock = new FakeClock(1000);
      const m = await h.create(clock);
      const r1 = await m.repositories.ensure('r1');
      const r2 = await m.repositories.ensure('r2');
      await m.blobs.link(r1, d('1'), 42);
      clock.advance(500);
      await m.blobs.link(r1, d('1'), 42);
      assert.deepEqual(await m.blobs.get(r1, d('1')), { size: 42, linkedAt: 1000 });
      assert.equal(await m.blobs.get(r2, d('1')), null);
      assert.equal(await m.blobs.sizeAnywhere(d('1')), 42);
      await m.blobs.link(r2, d('1'), 42);
      assert.deepEqual(await m.blobs.holders(d('1'), 10), ['r1', 'r2']);
      assert.deepEqual(await m.blobs.holders(d('1'), 1), ['r1']);
      assert.equal(await m.blobs.unlink(r2, d('1')), true);
      assert.deepEqual([...await m.blobs.existing(r1, [d('1'), d('2')])], [d('1')]);
      assert.equal(await m.blobs.unlink(r1, d('1')), true);
      assert.equal(await m.blobs.unlink(r1, d('1')), false);
      assert.equal(await m.blobs.sizeAnywhere(d('1')), null);
      await m.close();
    });

    test('manifests, tags, deletes and referrers; manifests carry their time', async () => {
      const clock = new FakeClock(1);
      const m = await h.create(clock);
      const r = await m.repositories.ensure('app');
      await m.manifests.put(r, manifest(d('a')), []);
      await m.tags.move(r, 'v1', d('a'));
      clock.advance(1);
      await m.tags.move(r, 'latest', d('a'));
      await m.manifests.put(r, manifest(d('b'), { subject: d('a'), artifactType: 'application/x.sig', annotations: '{"k":"v"}' }), [{ digest: d('a'), kind: 'subject' }]);
      assert.equal((await m.tags.resolve(r, 'v1'))?.digest, d('a'));
      assert.equal((await m.manifests.get(r, d('a')))?.createdAt, 1);
      assert.equal((await m.manifests.get(r, d('b')))?.artifactType, 'application/x.sig');
      assert.deepEqual([...await m.manifests.existing(r, [d('a'), d('c')])], [d('a')]);
      assert.deepEqual(await m.tags.list(r, {}), ['latest', 'v1']);
      assert.deepEqual(await m.tags.list(r, { n: 1, last: 'latest' }), ['v1']);
      assert.deepEqual((await m.manifests.referrers(r, d('a'))).map((x) => x.digest), [d('b')]);
      assert.deepEqual(await m.manifests.referrers(r, d('a'), 'application/other'), []);
      assert.equal(await m.tags.delete(r, 'v1'), true);
      assert.equal(await m.tags.delete(r, 'v1'), false);
      assert.equal((await m.manifests.get(r, d('a')))?.digest, d('a'));
      await m.tags.deleteAllOn(r, d('a'));
      assert.equal(await m.manifests.delete(r, d('a')), true);
      assert.equal(await m.manifests.delete(r, d('a')), false);
      assert.equal(await m.tags.resolve(r, 'latest'), null);
      assert.deepEqual(await m.tags.list(r, {}), []);
      assert.equal(await m.repositories.hasHeldManifests(r), true, 'a repository that held a manifest stays visible');
      await m.close();
    });

    test('tag history: moves and deletes newest first, per tag or per repository, paged by seq; what was tagged recently', async () => {
      const clock = new FakeClock(1000);
      const m = await h.create(clock);
      const r = await m.repositories.ensure('hist/app');
      const other = await m.repositories.ensure('hist/other');
      for (const c of ['a', 'b']) await m.manifests.put(r, manifest(d(c)), []);
      await m.manifests.put(other, manifest(d('a')), []);
      await m.tags.move(r, 'v1', d('a'));            // 1000
      clock.advance(10);
      await m.tags.move(r, 'v1', d('a'));            // no move: no entry
      await m.tags.move(r, 'v1', d('b'));            // 1010
      clock.advance(10);
      await m.tags.move(r, 'latest', d('b'));        // 1020
      clock.advance(10);
      await m.tags.delete(r, 'v1');                  // 1030
      await m.tags.move(other, 'v1', d('a'));        // another repository's history stays apart
      const v1 = await m.tags.history(r, 'v1', {});
      assert.deepEqual(v1.map((e) => [e.tag, e.digest, e.at, e.until, e.manifestKept]), [
        ['v1', null, 1030, null, false], ['v1', d('b'), 1010, 1030, true], ['v1', d('a'), 1000, 1010, true],
      ]);
      const all = await m.tags.history(r, null, {});
      assert.deepEqual(all.map((e) => [e.tag, e.at]), [['v1', 1030], ['latest', 1020], ['v1', 1010], ['v1', 1000]]);
      assert.ok(all.every((e, i) => i === 0 || e.seq < all[i - 1]!.seq), 'strictly newest first');
      const first = await m.tags.history(r, null, { n: 2 });
      assert.deepEqual(first.map((e) => e.at), [1030, 1020]);
      assert.deepEqual((await m.tags.history(r, null, { n: 2, before: first[1]!.seq })).map((e) => e.at), [1010, 1000]);
      assert.deepEqual(await m.tags.history(r, 'nope', {}), []);
      // Tagged since 1015: b (v1 left it at 1030, latest holds it); a was left at 1010.
      assert.deepEqual((await m.tags.recentlyTagged(r, 1015)).sort(), [d('b')]);
      assert.deepEqual((await m.tags.recentlyTagged(r, 1010)).sort(), [d('a'), d('b')].sort(), 'left at the instant: still within');
      assert.deepEqual((await m.tags.recentlyTagged(r, 5000)).sort(), [d('b')], 'latest still points at b');
      // A manifest deleted: its entries say so.
      await m.tags.deleteAllOn(r, d('a'));
      await m.manifests.delete(r, d('a'));
      assert.equal((await m.tags.history(r, 'v1', {})).find((e) => e.digest === d('a'))?.manifestKept, false);
      await m.close();
    });

    test('a unit of work commits whole or not at all, is not seen before it commits, and is serialized by its locks', async () => {
      const m = await h.create(new FakeClock());
      const r = await m.repositories.ensure('tx');
      await assert.rejects(m.tx(async (t) => {
        await t.manifests.put(r, manifest(d('e')), []);
        await t.tags.move(r, 'gone', d('e'));
        throw new Error('abandon');
      }), /abandon/);
      assert.equal(await m.manifests.get(r, d('e')), null);
      assert.equal(await m.tags.resolve(r, 'gone'), null);

      // Nothing a unit of work does is seen from outside before it commits (SQLite makes the outside
      // call wait; PostgreSQL shows it the state before): here it never commits.
      let outside: Promise<string | null> | null = null;
      await assert.rejects(m.tx(async (t) => {
        await t.manifests.put(r, manifest(d('f')), []);
        await t.tags.move(r, 'dirty', d('f'));
        outside = m.tags.resolve(r, 'dirty').then((x) => x?.digest ?? null);
        await new Promise((res) => setTimeout(res, 20));
        throw new Error('abandon');
      }), /abandon/);
      assert.equal(await outside, null, 'an uncommitted tag was seen from outside');

      // Units of work that take the same lock run one after another, each seeing what the one before did.
      // (On PostgreSQL each runs on a connection of its own from the pool.)
      const step = () => m.tx(async (t) => {
        await t.lock('contract-counter');
        const n = (await t.tags.list(r, {})).filter((x) => x.startsWith('step-')).length;
        await new Promise((res) => setTimeout(res, 20));
        await t.manifests.put(r, manifest(d('f')), []);
        await t.tags.move(r, `step-${n}`, d('f'));
      });
      await Promise.all([step(), step(), step()]);
      assert.deepEqual((await m.tags.list(r, {})).filter((x) => x.startsWith('step-')), ['step-0', 'step-1', 'step-2']);
      await m.close();
    });

    test('upload state: created, advanced only from where it stands, idle by the clock', async () => {
      const clock = new FakeClock(100);
      const m = await h.create(clock);
      const r = await m.repositories.ensure('up');
      await m.uploads.create('id1', r, 'sha256', { offset: 0, driverState: null });
      assert.deepEqual(await m.uploads.get('id1'), { id: 'id1', repoId: r, offset: 0, driverState: null, algorithm: 'sha256', createdAt: 100, updatedAt: 100 });
      clock.advance(100);
      assert.equal(await m.uploads.advance('id1', 0, { offset: 10, driverState: '{"parts":[1]}' }), true);
      assert.equal(await m.uploads.advance('id1', 0, { offset: 20, driverState: null }), false, 'a stale writer cannot move it');
      const u = await m.uploads.get('id1');
      assert.equal(u?.offset, 10);
      assert.equal(u?.driverState, '{"parts":[1]}');
      assert.equal(u?.updatedAt, 200);
      assert.deepEqual((await m.uploads.idleSince(150, 10)).map((x) => x.id), []);
      assert.deepEqual((await m.uploads.idleSince(250, 10)).map((x) => x.id), ['id1']);
      assert.equal(await m.uploads.deleteIfIdle('id1', 150), false, 'active since: kept');
      assert.deepEqual([...await m.uploads.existing(['id1', 'other'])], ['id1']);
      assert.equal(await m.uploads.deleteIfIdle('id1', 250), true);
      assert.equal(await m.uploads.get('id1'), null);
      await m.uploads.create('id2', r, 'sha256', { offset: 0, driverState: null });
      assert.equal(await m.uploads.delete('id2'), true);
      assert.equal(await m.uploads.delete('id2'), false);
      await m.close();
    });

    test('another store over the same database sees an upload and can continue it', async () => {
      const clock = new FakeClock();
      const a = await h.create(clock);
      const r = await a.repositories.ensure('shared');
      await a.uploads.create('u', r, 'sha256', { offset: 0, driverState: null });
      await a.uploads.advance('u', 0, { offset: 5, driverState: null });
      const b = await h.reopen(a, clock);
      assert.equal((await b.uploads.get('u'))?.offset, 5);
      assert.equal(await b.uploads.advance('u', 5, { offset: 9, driverState: null }), true);
      assert.equal((await a.uploads.get('u'))?.offset, 9);
      await a.close();
      await b.close();
    });

    test('leases: one holder at a time; renewed by the holder; taken over once expired', async () => {
      const clock = new FakeClock(0);
      const m = await h.create(clock);
      assert.equal(await m.leases.acquire('gc', 'p1', 1000), true);
      assert.equal(await m.leases.acquire('gc', 'p2', 1000), false);
      assert.deepEqual(await m.leases.get('gc'), { holder: 'p1', expiresAt: 1000 });
      clock.advance(500);
      assert.equal(await m.leases.acquire('gc', 'p1', 1000), true, 'renewal');
      clock.advance(999);
      assert.equal(await m.leases.acquire('gc', 'p2', 1000), false, 'the renewal still holds');
      clock.advance(1);
      assert.equal(await m.leases.acquire('gc', 'p2', 1000), true, 'expired: taken over');
      await m.leases.release('gc', 'p1');
      assert.equal((await m.leases.get('gc'))?.holder, 'p2', 'a former holder cannot release it');
      await m.leases.release('gc', 'p2');
      assert.equal(await m.leases.get('gc'), null);
      assert.equal(await m.leases.acquire('gc', 'p1', 1000), true);
      await m.close();
    });

    test('touching a blob link renews its time; a missing link is not touched', async () => {
      const clock = new FakeClock(1000);
      const m = await h.create(clock);
      const r = await m.repositories.ensure('touch');
      await m.blobs.link(r, d('7'), 5);
      clock.advance(500);
      assert.equal(await m.blobs.touch(r, d('7')), true);
      assert.deepEqual(await m.blobs.get(r, d('7')), { size: 5, linkedAt: 1500 });
      assert.equal(await m.blobs.touch(r, d('8')), false);
      await m.close();
    });

    test('garbage collection: the deleting mark, claims, the repository graph and the run record', async () => {
      const clock = new FakeClock(1000);
      const m = await h.create(clock);
      const r = await m.repositories.ensure('gc');
      await m.blobs.link(r, d('1'), 10);
      assert.equal(await m.gc.markForDeletion(d('1'), 0), false, 'a linked digest is not marked');
      await m.blobs.unlink(r, d('1'));
      assert.equal(await m.gc.claim(d('1'), 'writer'), true);
      assert.equal(await m.gc.markForDeletion(d('1'), 1000), false, 'a fresh claim holds it');
      assert.equal(await m.gc.markForDeletion(d('1'), 1001), true, 'a claim older than claimsSince does not');
      assert.deepEqual(await m.gc.marked(), [d('1')]);
      assert.equal(await m.blobs.link(r, d('1'), 10), false, 'a marked digest is not linked');
      assert.equal(await m.blobs.get(r, d('1')), null);
      assert.equal(await m.gc.claim(d('1'), 'other'), false, 'nor claimed');
      await m.gc.unmark(d('1'));
      assert.deepEqual(await m.gc.knownBlobs([d('1')]), new Set(), 'unmarking forgets the unlinked row');
      assert.equal(await m.gc.dropClaimsBefore(1001), 1);
      assert.equal(await m.blobs.link(r, d('1'), 10), true);

      await m.manifests.put(r, manifest(d('a')), [{ digest: d('1'), kind: 'layer' }, { digest: d('b'), kind: 'child' }]);
      await m.tags.move(r, 'v1', d('a'));
      const g = await m.gc.graph(r);
      assert.deepEqual(g.tagged, [d('a')]);
      assert.deepEqual(g.manifests, [{ digest: d('a'), size: 100, createdAt: 1000, subject: null }]);
      assert.deepEqual(g.refs.map((x) => [x.from, x.to, x.kind]).sort(), [[d('a'), d('1'), 'layer'], [d('a'), d('b'), 'child']]);
      assert.deepEqual(g.links, [{ digest: d('1'), linkedAt: 1000 }]);
      assert.deepEqual([...(await m.gc.linkHolders([d('1'), d('2')]))], [[d('1'), [r]]]);
      assert.deepEqual(await m.gc.blobRows('', 10), [{ digest: d('1'), size: 10 }]);
      assert.equal(await m.gc.forgetBlob(d('1')), false, 'a linked row stays');

      assert.equal(await m.gc.lastRun(), null);
      await m.gc.recordRun({ startedAt: 1, finishedAt: 2, dryRun: false, report: '{"a":1}' });
      await m.gc.recordRun({ startedAt: 3, finishedAt: 4, dryRun: false, report: '{"a":2}' });
      assert.deepEqual(await m.gc.lastRun(), { startedAt: 3, finishedAt: 4, dryRun: false, report: '{"a":2}' });
      await m.close();
    });
  });
}
