// Retention in registry/retention.ts over in-memory stores and a fake clock: dry runs and runs, which
// policy applies (repository, namespace, configuration), untagged manifests with what kept ones need,
// immutable tags, scopes, the events; and, on PostgreSQL, new tags pushed by one process while another
// runs retention.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/registry/registry.js';
import type { RegistryEvent } from '../../src/registry/events.js';
import type { RetentionReport } from '../../src/registry/retention.js';
import { openPostgresMetaStore } from '../../src/store/meta/postgres-meta-store.js';
import { systemClock } from '../../src/config/clock.js';
import { MemoryBlobStore } from '../helpers/memory-blob-store.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { MediaTypes } from '../../src/oci/media-types.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';
import { code, pushImage, pushIndex, referrerOf, testRegistry, type TestRegistry } from './lib.js';

const H = 3_600_000;

/** Pushes each tag of `tags` on an image of its own, a second apart; their digests by tag. */
async function pushTags(t: TestRegistry, repo: string, ...tags: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const tag of tags) {
    out[tag] = (await pushImage(t.registry, repo, tag, `${repo}:${tag}`)).digest;
    t.clock.advance(1000);
  }
  return out;
}

function eventsOf(r: Registry): RegistryEvent[] {
  const seen: RegistryEvent[] = [];
  r.events.on('event', (e) => seen.push(e));
  return seen;
}

async function tagsOf(r: Registry, repo: string): Promise<string[]> {
  return r.ctx.meta.tags.list((await r.ctx.meta.repositories.idOf(repo))!, {});
}

/** The report without its times, for comparing a dry run with the run. */
const timeless = (r: RetentionReport): unknown => ({ ...r, startedAt: '', durationMs: 0 });

describe('registry: retention', () => {
  test('a dry run lists what would go and changes nothing; the run removes exactly that, restorable from history, announced as the retention job', async () => {
    const t = testRegistry();
    const r = t.registry;
    await t.meta.retention.set('acme', null, { keepLast: 2 });
    const d = await pushTags(t, 'acme/app', 'v1', 'v2', 'v3');
    await pushTags(t, 'beta/app', 'v1', 'v2', 'v3');
    const events = eventsOf(r);

    const dry = await r.retention.run({}, true);
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.repositories.map((x) => x.repository), ['acme/app'], 'beta has no policy');
    const [app] = dry.repositories;
    assert.deepEqual(app!.policy, { setOn: 'namespace', namespace: 'acme', repository: null, keepLast: 2, match: null, keepWithin: null, keep: null, untaggedOlderThan: null });
    assert.deepEqual(app!.removedTags.map((x) => [x.tag, x.digest]), [['v1', d.v1]]);
    assert.deepEqual(app!.keptTags.map((x) => [x.tag, x.reasons]), [['v3', ['keep-last']], ['v2', ['keep-last']]]);
    assert.equal(app!.removedTags[0]!.pushedAt, new Date(1_700_000_000_000).toISOString());
    assert.deepEqual([dry.tagsRemoved, dry.manifestsRemoved], [1, 0]);
    assert.deepEqual(await tagsOf(r, 'acme/app'), ['v1', 'v2', 'v3'], 'a dry run changes nothing');
    assert.equal(events.length, 0, 'nothing is announced');

    const done = await r.retention.run({}, false);
    assert.deepEqual(timeless(done), { ...(timeless(dry) as object), dryRun: false }, 'the run does what the dry run listed');
    assert.deepEqual(await tagsOf(r, 'acme/app'), ['v2', 'v3']);
    assert.deepEqual(await tagsOf(r, 'beta/app'), ['v1', 'v2', 'v3']);
    assert.deepEqual(events.map((e) => [e.type, e.repository, 'tag' in e ? e.tag : null, e.actor]), [['tag.deleted', 'acme/app', 'v1', { kind: 'system', name: 'retention' }]]);
    // The tag went as a DELETE of it goes: recorded, the manifest kept, so it can be undeleted.
    assert.deepEqual((await r.history.ofTag('acme/app', 'v1', {})).map((e) => [e.digest, e.restorable]), [[null, false], [d.v1, true]]);
    assert.equal((await r.manifests.resolve('acme/app', d.v1!)).digest, d.v1);
    await r.history.restore('acme/app', 'v1', { undelete: true }, actor);
    assert.equal((await r.manifests.resolve('acme/app', 'v1')).digest, d.v1);
    assert.equal((await r.retention.run({}, false)).tagsRemoved, 1, 'a restored tag counts as pushed when it was restored: now the oldest is v2');
    assert.deepEqual(await tagsOf(r, 'acme/app'), ['v1', 'v3']);
  });

  test('the most specific policy applies: a repository\'s own, else its namespace\'s, else the configuration\'s default', async () => {
    const base = testRegistry();
    const r = new Registry(base.blobs, base.meta, { maxManifestBytes: 1 << 20, retentionDefault: { keepLast: 1 } }, base.clock);
    const t = { ...base, registry: r };
    await t.meta.retention.set('acme', null, { keepLast: 2 });
    await t.meta.retention.set('acme', 'acme/own', { keep: 'keep-.*' });
    await t.meta.retention.set('tidy', null, { untaggedOlderThan: H });
    for (const repo of ['acme/app', 'acme/own', 'beta/app', 'alpine', 'tidy/app']) await pushTags(t, repo, 'a', 'keep-b', 'c');

    const report = await r.retention.run({}, false);
    assert.deepEqual(report.repositories.map((x) => [x.repository, x.policy.setOn]),
      [['acme/app', 'namespace'], ['acme/own', 'repository'], ['alpine', 'configuration'], ['beta/app', 'configuration'], ['tidy/app', 'namespace']]);
    assert.deepEqual(await tagsOf(r, 'acme/app'), ['c', 'keep-b']);
    assert.deepEqual(await tagsOf(r, 'acme/own'), ['keep-b']);
    assert.deepEqual(await tagsOf(r, 'beta/app'), ['c']);
    assert.deepEqual(await tagsOf(r, 'alpine'), ['c'], 'a repository outside namespaces gets the default');
    assert.deepEqual(await tagsOf(r, 'tidy/app'), ['a', 'c', 'keep-b'], 'a policy without a tag rule leaves tags alone (and replaces the default)');
    assert.deepEqual(await r.retention.policyFor('acme', 'acme/other'), { setOn: 'namespace', namespace: 'acme', repository: null, keepLast: 2, match: null, keepWithin: null, keep: null, untaggedOlderThan: null });
    assert.equal((await r.retention.policyFor('zeta', null))?.setOn, 'configuration');
    assert.equal(await base.registry.retention.policyFor('zeta', 'zeta/app'), null);
  });

  test('untaggedOlderThan: an old untagged manifest goes as a DELETE by digest does; children of a kept index and referrers of a kept image stay', async () => {
    const t = testRegistry();
    const r = t.registry;
    await t.meta.retention.set('acme', null, { untaggedOlderThan: H });
    const amd = await pushImage(r, 'acme/app', null, 'amd64');
    const arm = await pushImage(r, 'acme/app', null, 'arm64');
    const index = await pushIndex(r, 'acme/app', 'multi', [amd, arm]);
    const image = await pushImage(r, 'acme/app', 'v1', 'v1');
    const sig = await pushImage(r, 'acme/app', null, 'sig', referrerOf(image));
    const loose = await pushImage(r, 'acme/app', null, 'loose');
    const looseSig = await pushImage(r, 'acme/app', null, 'loose-sig', referrerOf(loose));
    const moved = await pushImage(r, 'acme/app', 'moving', 'moved-away');
    t.clock.advance(30 * 60_000);
    await pushImage(r, 'acme/app', 'moving', 'moved-to');
    t.clock.advance(31 * 60_000);

    const dry = await r.retention.run({ namespace: 'acme' }, true);
    const [app] = dry.repositories;
    assert.deepEqual(app!.removedManifests.map((x) => x.digest).sort(), [loose.digest, looseSig.digest].sort(),
      'the manifest "moving" left 31 minutes ago is not untagged for an hour yet');
    assert.deepEqual(app!.keptManifests.map((x) => [x.digest, x.as, x.neededBy]).sort(),
      [[amd.digest, 'child', index], [arm.digest, 'child', index], [sig.digest, 'referrer', image.digest]].sort());
    assert.deepEqual([app!.removedTags, app!.keptTags], [[], []], 'no tag rule: tags are not judged');

    const done = await r.retention.run({ namespace: 'acme' }, false);
    assert.equal(done.manifestsRemoved, 2);
    for (const gone of [loose.digest, looseSig.digest]) await assert.rejects(r.manifests.resolve('acme/app', gone), code('MANIFEST_UNKNOWN'));
    const repoId = (await t.meta.repositories.idOf('acme/app'))!;
    assert.equal(await t.meta.blobs.get(repoId, loose.digest), null, 'the link of its bytes goes too (garbage collection frees them)');
    for (const kept of [amd.digest, arm.digest, index, image.digest, sig.digest, moved.digest]) assert.equal((await r.manifests.resolve('acme/app', kept)).digest, kept);
    t.clock.advance(30 * 60_000);
    assert.deepEqual((await r.retention.run({}, false)).repositories[0]!.removedManifests.map((x) => x.digest), [moved.digest], 'an hour after the tag left it');
  });

  test('immutable tags are never removed: kept, "immutable"; a tag removed from a digest leaves the other tags on it', async () => {
    const t = testRegistry();
    await t.meta.retention.set('acme', 'acme/app', { keepLast: 1 });
    await t.meta.immutableTags.add('acme', null, 'v*');
    const { v1 } = await pushTags(t, 'acme/app', 'v1');
    await t.registry.manifests.put('acme/app', 'tmp', (await t.registry.manifests.get('acme/app', v1!)).bytes, MediaTypes.ociManifest, actor);
    t.clock.advance(1000);
    await pushTags(t, 'acme/app', 'v2', 'latest');
    const report = await t.registry.retention.run({ repository: 'acme/app' }, false);
    assert.deepEqual(report.repositories[0]!.keptTags.map((x) => [x.tag, x.reasons]), [['latest', ['keep-last']], ['v2', ['immutable']], ['v1', ['immutable']]]);
    assert.deepEqual(await tagsOf(t.registry, 'acme/app'), ['latest', 'v1', 'v2']);
  });

  test('a policy whose expression takes too long is not applied to that repository (the report says why); the run goes on', async () => {
    const t = testRegistry();
    await t.meta.retention.set('slow', null, { keepLast: 1, keep: '(a|a)*b' });
    await t.meta.retention.set('zeta', null, { keepLast: 1 });
    await pushTags(t, 'slow/app', 'a'.repeat(40), 'b');
    await pushTags(t, 'zeta/app', 'a', 'b');
    const report = await t.registry.retention.run({}, false);
    assert.deepEqual(report.repositories.map((x) => [x.repository, x.error?.replace(/ took .*/, ''), x.removedTags.length]),
      [['slow/app', 'the regular expression "(a|a)*b"', 0], ['zeta/app', undefined, 1]]);
    assert.deepEqual(await tagsOf(t.registry, 'slow/app'), ['a'.repeat(40), 'b']);
  });

  test('scopes: one namespace, one repository (unknown: NAME_UNKNOWN); with no policy in scope nothing is read', async () => {
    const t = testRegistry();
    const r = t.registry;
    await t.meta.retention.set('acme', null, { keepLast: 1 });
    await t.meta.retention.set('beta', null, { keepLast: 1 });
    for (const repo of ['acme/app', 'acme/web', 'beta/app']) await pushTags(t, repo, 'a', 'b');
    assert.deepEqual((await r.retention.run({ namespace: 'acme' }, true)).repositories.map((x) => x.repository), ['acme/app', 'acme/web']);
    const one = await r.retention.run({ repository: 'acme/web' }, false);
    assert.deepEqual([one.namespace, one.repository, one.repositories.map((x) => x.repository)], [null, 'acme/web', ['acme/web']]);
    assert.deepEqual(await tagsOf(r, 'acme/app'), ['a', 'b']);
    await assert.rejects(r.retention.run({ repository: 'acme/none' }, true), code('NAME_UNKNOWN'));

    await t.meta.retention.remove('acme', null);
    await t.meta.retention.remove('beta', null);
    let read = 0;
    const repositories = t.meta.gc.repositories.bind(t.meta.gc);
    t.meta.gc.repositories = async () => { read++; return repositories(); };
    const none = await r.retention.run({}, false);
    assert.deepEqual([none.repositories, read], [[], 0], 'no policy anywhere: done without listing repositories');
  });

  test('postgres: new tags pushed by other processes while one runs retention: none is removed before N newer ones exist; keep-last N holds after', async () => {
    const N = 3;
    const PUSHERS = 4;
    const PUSHES = 20;
    const db = await createTestDatabase();
    const blobs = new MemoryBlobStore(undefined, systemClock);
    const metas = await Promise.all([0, 1].map(() => openPostgresMetaStore({ url: db.url, maxConnections: 8, clock: systemClock })));
    const [pusher, runner] = metas.map((m) => new Registry(blobs, m, { maxManifestBytes: 1 << 20 }, systemClock)) as [Registry, Registry];
    try {
      await metas[0]!.retention.set('acme', null, { keepLast: N });
      let pushing = PUSHERS;
      const pushes = Array.from({ length: PUSHERS }, async (_, p) => {
        try {
          for (let i = 0; i < PUSHES; i++) await pushImage(pusher, 'acme/app', `p${p}-${i}`, `race-${p}-${i}`);
        } finally {
          pushing--;
        }
      });
      let runs = 0;
      for (; pushing > 0; runs++) await runner.retention.run({}, false);
      await Promise.all(pushes);
      assert.ok(runs >= 5, `only ${runs} runs raced the pushes`);
      // What happened, as tag history recorded it: each tag made once, and removed only once N tags made after it
      // were there (a run removes a tag only for newer ones it has read).
      const history = await pusher.history.ofRepository('acme/app', { n: 10_000 });
      const made = new Map(history.filter((e) => e.digest !== null).map((e) => [e.tag, e.at]));
      for (const e of history.filter((x) => x.digest === null)) {
        const newer = [...made].filter(([tag, at]) => tag !== e.tag && at >= made.get(e.tag)! && at <= e.at);
        assert.ok(newer.length >= N, `${e.tag} was removed when only ${newer.map(([t]) => t).join(', ')} had been pushed after it`);
      }
      await runner.retention.run({}, false);
      const newest = [...made].sort(([ta, a], [tb, b]) => b - a || (ta < tb ? 1 : -1)).slice(0, N).map(([t]) => t);
      assert.deepEqual(await tagsOf(pusher, 'acme/app'), newest.sort());
    } finally {
      await Promise.all(metas.map((m) => m.close()));
      await db.drop();
    }
  });
});
