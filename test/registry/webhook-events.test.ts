// Webhook events in registry/: what a push, a tag move, a delete (by tag and by digest), a restore and a pull
// put in the outbox, for which subscriptions (event kinds, repository and tag filters, one repository or a
// whole namespace), and that the outbox rows are part of the unit of work that makes the change: a refused
// push records nothing, and a push whose event cannot be written is not made.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ANONYMOUS, type Identity } from '../../src/access/access-controller.js';
import { recordEvents, subscriptionWants, type StoredEvent } from '../../src/registry/webhook-events.js';
import type { NewWebhook } from '../../src/store/meta/meta-store.js';
import { code, pushImage, testRegistry, type TestRegistry } from './lib.js';

const alice: Identity = { kind: 'user', name: 'alice' };

const hook = (over: Partial<NewWebhook> = {}): NewWebhook => ({
  namespace: 'acme', repository: null, url: 'http://127.0.0.1:9/h', events: ['push', 'delete', 'pull', 'tag-move'], repositories: null, tags: null,
  format: 'cloudevents', secret: 's', enabled: true, batch: 1, ...over,
});

interface Queued { webhookId: number; eventId: string; eventType: string; event: StoredEvent }

/** Everything in the outbox, oldest first (claimed to read it; the claims do not matter here). */
async function outbox(t: TestRegistry): Promise<Queued[]> {
  const claimed = await t.meta.webhooks.outbox.claim('reader', 1, 10_000);
  return claimed.map((c) => ({ webhookId: c.webhookId, eventId: c.eventId, eventType: c.eventType, event: JSON.parse(c.payload) as StoredEvent }));
}

describe('registry: webhook events', () => {
  test('a push records image.pushed; moving a tag records tag.moved too, with the digest it left; one id per event', async () => {
    const t = testRegistry();
    const all = (await t.meta.webhooks.subscriptions.create(hook())).id;
    const pushesOnly = (await t.meta.webhooks.subscriptions.create(hook({ events: ['push'] }))).id;
    const one = await pushImage(t.registry, 'acme/app', 'v1', 'one');
    const two = await pushImage(t.registry, 'acme/app', 'v1', 'two');
    await pushImage(t.registry, 'acme/app', 'v1', 'two'); // the same digest again: a push, no move
    const q = await outbox(t);
    const types = q.map((x) => [x.webhookId === all ? 'all' : 'push', x.eventType, x.event.digest, x.event.previousDigest]);
    assert.deepEqual(types, [
      ['all', 'io.wharf.image.pushed', one.digest, null], ['push', 'io.wharf.image.pushed', one.digest, null],
      ['all', 'io.wharf.image.pushed', two.digest, one.digest], ['push', 'io.wharf.image.pushed', two.digest, one.digest],
      ['all', 'io.wharf.tag.moved', two.digest, one.digest],
      ['all', 'io.wharf.image.pushed', two.digest, null], ['push', 'io.wharf.image.pushed', two.digest, null],
    ]);
    assert.equal(q.filter((x) => x.webhookId === pushesOnly).length, 3);
    // Both subscriptions got the same event (one id); different events have different ids.
    assert.equal(q[0]!.eventId, q[1]!.eventId);
    assert.equal(new Set(q.map((x) => x.eventId)).size, 4);
    const e = q[0]!.event;
    assert.deepEqual({ ...e, source: undefined }, {
      type: 'io.wharf.image.pushed', repository: 'acme/app', digest: one.digest, tag: 'v1', previousDigest: null,
      mediaType: 'application/vnd.oci.image.manifest.v1+json', size: one.bytes.length, actor: { name: '', kind: 'anonymous' },
      request: null, source: undefined,
    });
    assert.match(e.source.instanceID, /^[0-9a-f-]{36}$/);
  });

  test('deletes: a tag (with the digest it had), a manifest by digest (with the tags it took); a restore is a tag move', async () => {
    const t = testRegistry();
    await t.meta.webhooks.subscriptions.create(hook({ events: ['delete', 'tag-move'] }));
    const one = await pushImage(t.registry, 'acme/app', 'v1', 'one');
    await t.registry.manifests.put('acme/app', 'stable', one.bytes, 'application/vnd.oci.image.manifest.v1+json', alice);
    await t.registry.manifests.delete('acme/app', 'stable', alice);
    await t.registry.history.restore('acme/app', 'stable', { undelete: true }, alice);
    const two = await pushImage(t.registry, 'acme/app', 'v1', 'two');
    await t.registry.history.restore('acme/app', 'v1', { digest: one.digest }, alice);
    await t.registry.manifests.delete('acme/app', one.digest, alice);
    const q = (await outbox(t)).map((x) => x.event);
    assert.deepEqual(q.map((e) => [e.type, e.tag, e.digest, e.previousDigest, e.tags ?? null, e.actor.name]), [
      ['io.wharf.tag.deleted', 'stable', one.digest, null, null, 'alice'],
      ['io.wharf.tag.moved', 'stable', one.digest, null, null, 'alice'],
      ['io.wharf.tag.moved', 'v1', two.digest, one.digest, null, ''],
      ['io.wharf.tag.moved', 'v1', one.digest, two.digest, null, 'alice'],
      ['io.wharf.image.deleted', null, one.digest, null, ['stable', 'v1'], 'alice'],
    ]);
    assert.deepEqual([q[4]!.mediaType, q[4]!.size], ['application/vnd.oci.image.manifest.v1+json', one.bytes.length]);
  });

  test('filters: event kinds, one repository, repository and tag globs; a disabled subscription and other namespaces get nothing', async () => {
    const t = testRegistry();
    const s = t.meta.webhooks.subscriptions;
    const ids = {
      app: (await s.create(hook({ repository: 'acme/app' }))).id,
      webGlob: (await s.create(hook({ repositories: 'acme/web-*' }))).id,
      vTags: (await s.create(hook({ tags: 'v*' }))).id,
      deletes: (await s.create(hook({ events: ['delete'] }))).id,
      off: (await s.create(hook({ enabled: false }))).id,
      beta: (await s.create(hook({ namespace: 'beta' }))).id,
    };
    await pushImage(t.registry, 'acme/app', 'latest', 'a');
    await pushImage(t.registry, 'acme/web-1', 'v2', 'b');
    const c = await pushImage(t.registry, 'acme/lib', null, 'c');
    await t.registry.manifests.delete('acme/lib', c.digest, ANONYMOUS);
    await pushImage(t.registry, 'alpine', 'v1', 'no namespace');
    const got = (await outbox(t)).map((x) => [Object.entries(ids).find(([, id]) => id === x.webhookId)![0], x.event.repository, x.eventType]);
    // acme/lib's push by digest has no tag (the v* filter passes no such event) and no subscription wants it.
    assert.deepEqual(got, [
      ['app', 'acme/app', 'io.wharf.image.pushed'],
      ['webGlob', 'acme/web-1', 'io.wharf.image.pushed'],
      ['vTags', 'acme/web-1', 'io.wharf.image.pushed'],
      ['deletes', 'acme/lib', 'io.wharf.image.deleted'],
    ]);
  });

  test('subscriptionWants: kinds, globs over the whole name and tag, a deleted manifest\'s tags', () => {
    const w = { events: ['push', 'delete'] as const, repository: null, repositories: 'acme/*', tags: 'release-?' };
    const wants = (e: Parameters<typeof subscriptionWants>[1]): boolean => subscriptionWants({ ...w, events: [...w.events] }, e);
    assert.equal(wants({ type: 'io.wharf.image.pushed', repository: 'acme/a/b', tag: 'release-1' }), true, '* crosses slashes');
    assert.equal(wants({ type: 'io.wharf.image.pushed', repository: 'acme/a', tag: 'release-10' }), false);
    assert.equal(wants({ type: 'io.wharf.image.pushed', repository: 'acmex/a', tag: 'release-1' }), false);
    assert.equal(wants({ type: 'io.wharf.image.pulled', repository: 'acme/a', tag: 'release-1' }), false, 'pull not asked for');
    assert.equal(wants({ type: 'io.wharf.image.pushed', repository: 'acme/a', tag: null }), false, 'no tag, a tag filter');
    assert.equal(wants({ type: 'io.wharf.image.deleted', repository: 'acme/a', tag: null, tags: ['latest', 'release-2'] }), true);
    assert.equal(wants({ type: 'io.wharf.image.deleted', repository: 'acme/a', tag: null, tags: ['latest'] }), false);
    assert.equal(subscriptionWants({ events: ['delete'], repository: 'acme/a', repositories: null, tags: null }, { type: 'io.wharf.tag.deleted', repository: 'acme/b', tag: 'x' }), false);
  });

  test('in the unit of work: a refused push records nothing; a push whose event cannot be written is not made', async () => {
    const t = testRegistry();
    await t.meta.webhooks.subscriptions.create(hook());
    await t.meta.immutableTags.add('acme', null, 'v*');
    const one = await pushImage(t.registry, 'acme/app', 'v1', 'one');
    await assert.rejects(pushImage(t.registry, 'acme/app', 'v1', 'two'), code('DENIED'));
    assert.deepEqual((await outbox(t)).map((x) => x.event.digest), [one.digest]);

    // The outbox refuses inside the unit of work: the push fails and makes no tag.
    let failing = true;
    const tx = t.meta.tx.bind(t.meta);
    t.meta.tx = (fn) => tx((m) => {
      const add = m.webhooks.outbox.add.bind(m.webhooks.outbox);
      m.webhooks.outbox.add = async (entries) => { if (failing) throw new Error('outbox unavailable'); return add(entries); };
      return fn(m);
    });
    await assert.rejects(pushImage(t.registry, 'acme/app', 'latest', 'three'), /outbox unavailable/);
    await assert.rejects(t.registry.manifests.resolve('acme/app', 'latest'), code('MANIFEST_UNKNOWN'));
    failing = false;
    await pushImage(t.registry, 'acme/app', 'latest', 'three');
    assert.equal((await t.registry.manifests.resolve('acme/app', 'latest')).mediaType, 'application/vnd.oci.image.manifest.v1+json');
  });

  test('recordEvents: another caller\'s unit of work (retention, later) records for the repositories it names', async () => {
    const t = testRegistry();
    await t.meta.webhooks.subscriptions.create(hook({ events: ['delete'] }));
    const n = await t.meta.tx((m) => recordEvents(m, [
      { type: 'io.wharf.tag.deleted', repository: 'acme/a', digest: 'sha256:aa', tag: 'old', previousDigest: null, mediaType: null, size: null, actor: ANONYMOUS },
      { type: 'io.wharf.image.pushed', repository: 'acme/a', digest: 'sha256:bb', tag: null, previousDigest: null, mediaType: null, size: null, actor: ANONYMOUS },
      { type: 'io.wharf.image.deleted', repository: 'beta/a', digest: 'sha256:cc', tag: null, previousDigest: null, mediaType: null, size: null, actor: ANONYMOUS },
    ]));
    assert.equal(n, 1);
    assert.deepEqual((await outbox(t)).map((x) => [x.event.repository, x.event.tag]), [['acme/a', 'old']]);
  });

  test('retention: a run records what it removes (tags, untagged manifests) as the retention job, in its unit of work; a dry run records nothing', async () => {
    const t = testRegistry();
    await t.meta.webhooks.subscriptions.create(hook({ events: ['delete'] }));
    await t.meta.retention.set('acme', null, { keepLast: 1, untaggedOlderThan: 1000 });
    const old = await pushImage(t.registry, 'acme/app', 'v1', 'old');
    t.clock.advance(1000);
    const orphan = await pushImage(t.registry, 'acme/app', null, 'orphan');
    t.clock.advance(1000);
    await pushImage(t.registry, 'acme/app', 'v2', 'new');
    t.clock.advance(5000);
    await t.registry.retention.run({}, true);
    assert.deepEqual(await outbox(t), []);
    const report = await t.registry.retention.run({}, false);
    assert.deepEqual([report.tagsRemoved, report.manifestsRemoved], [1, 1]);
    const retention = { name: 'retention', kind: 'system' };
    assert.deepEqual((await outbox(t)).map((x) => [x.eventType, x.event.tag, x.event.digest, x.event.actor]), [
      ['io.wharf.tag.deleted', 'v1', old.digest, retention],
      ['io.wharf.image.deleted', null, orphan.digest, retention],
    ]);
  });

  test('pulls: recorded in a batch only while a subscription in the namespace wants them', async () => {
    const t = testRegistry();
    const w = t.registry.webhooks;
    assert.equal(w.wantsPullsOf('acme/app'), false);
    const id = (await t.meta.webhooks.subscriptions.create(hook({ events: ['pull'], repository: 'acme/app' }))).id;
    // Read every few seconds, or at once after a change in this process.
    assert.equal(w.wantsPullsOf('acme/app'), false);
    await w.refreshPullSubscriptions();
    assert.equal(w.wantsPullsOf('acme/app'), true);
    assert.equal(w.wantsPullsOf('acme/other'), true, 'the namespace may want it: the filters decide when it is recorded');
    assert.equal(w.wantsPullsOf('beta/app'), false);
    assert.equal(w.wantsPullsOf('alpine'), false);
    await t.meta.webhooks.subscriptions.update(id, { enabled: false });
    t.clock.advance(5_001);
    w.wantsPullsOf('acme/app');
    await w.refreshPullSubscriptions();
    assert.equal(w.wantsPullsOf('acme/app'), false, 'refreshed after the interval');
    await t.meta.webhooks.subscriptions.update(id, { enabled: true });
    await w.refreshPullSubscriptions();
    let nudged = 0;
    w.onRecorded(() => { nudged++; });
    for (const repository of ['acme/app', 'acme/other']) {
      w.pulled({ repository, digest: 'sha256:aa', tag: 'v1', mediaType: 'm', size: 1, actor: alice });
    }
    await w.flush();
    assert.deepEqual((await outbox(t)).map((x) => [x.event.repository, x.eventType, x.event.actor.name]), [['acme/app', 'io.wharf.image.pulled', 'alice']]);
    assert.equal(nudged, 1, 'one batch, one nudge');
  });
});
