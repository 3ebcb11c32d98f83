// The webhook aggregate (subscriptions, outbox, delivery log) on SQLite and on PostgreSQL: what a
// repository's events are matched against, claims that never hand one delivery to two claimers while
// they last and hand it again once they lapse, retries, and a log that keeps the last 50 attempts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metaDrivers } from './lib/meta-drivers.js';
import { DELIVERY_LOG_KEPT, type DeliveryAttempt, type NewWebhook, type WebhookStore } from '../../src/store/meta/meta-store.js';

const T0 = 1_700_000_000_000;
const drivers = metaDrivers(T0);

const hook = (over: Partial<NewWebhook> = {}): NewWebhook => ({
  namespace: 'acme', repository: null, url: 'http://127.0.0.1:9/hook', events: ['push'], repositories: null, tags: null,
  format: 'cloudevents', secret: 's3cret', enabled: true, batch: 1, ...over,
});

const entry = (webhookId: number, n: number) => ({ webhookId, eventId: `e${n}`, eventType: 'io.wharf.image.pushed', payload: `{"n":${n}}` });

const attempt = (webhookId: number, n: number): DeliveryAttempt => ({
  webhookId, eventId: `e${n}`, eventType: 'io.wharf.image.pushed', attempt: 1, at: T0 + n, durationMs: 3,
  status: 500, response: 'no', error: null, outcome: 'failed_attempt',
});

async function subscribed(w: WebhookStore, over: Partial<NewWebhook> = {}): Promise<number> {
  return (await w.subscriptions.create(hook(over))).id;
}

for (const [driver, open] of Object.entries(drivers)) describe(`webhook store: ${driver}`, () => {
  test('subscriptions: create, get, list by namespace, update what is given, delete', async (t) => {
    const { m, clock } = await open(t);
    const a = await m.webhooks.subscriptions.create(hook({ events: ['push', 'tag-move'], tags: 'v*' }));
    assert.deepEqual(a, { ...hook({ events: ['push', 'tag-move'], tags: 'v*' }), id: a.id, createdAt: T0, updatedAt: T0 });
    const b = await m.webhooks.subscriptions.create(hook({ repository: 'acme/app', format: 'distribution', enabled: false, batch: 100 }));
    await m.webhooks.subscriptions.create(hook({ namespace: 'beta' }));
    assert.equal((await m.webhooks.subscriptions.get(b.id))!.batch, 100);
    assert.deepEqual(await m.webhooks.subscriptions.get(a.id), a);
    assert.equal(await m.webhooks.subscriptions.get(999_999), null);
    assert.deepEqual((await m.webhooks.subscriptions.list('acme')).map((w) => [w.id, w.repository]), [[a.id, null], [b.id, 'acme/app']]);
    assert.equal((await m.webhooks.subscriptions.list()).length, 3);

    clock.advance(5000);
    const changed = await m.webhooks.subscriptions.update(a.id, { enabled: false, url: 'https://x.example/h', tags: undefined, secret: 'new' });
    assert.deepEqual(changed, { ...a, enabled: false, url: 'https://x.example/h', secret: 'new', updatedAt: T0 + 5000 });
    assert.deepEqual(await m.webhooks.subscriptions.get(a.id), changed, 'what was not given stays (tags v*)');
    assert.deepEqual(await m.webhooks.subscriptions.update(a.id, { tags: null }), { ...changed, tags: null });
    assert.equal((await m.webhooks.subscriptions.update(a.id, { batch: 20 }))!.batch, 20);
    assert.deepEqual(await m.webhooks.subscriptions.get(a.id), { ...changed, tags: null, batch: 20 });
    assert.equal(await m.webhooks.subscriptions.update(999_999, { enabled: true }), null);

    assert.equal(await m.webhooks.subscriptions.delete(b.id), true);
    assert.equal(await m.webhooks.subscriptions.delete(b.id), false);
    assert.deepEqual((await m.webhooks.subscriptions.list('acme')).map((w) => w.id), [a.id]);
  });

  test('forRepository: the enabled subscriptions of the namespace and of that repository only; namespaces with pulls', async (t) => {
    const { m } = await open(t);
    const ns = await subscribed(m.webhooks, { events: ['push', 'pull'] });
    const own = await subscribed(m.webhooks, { repository: 'acme/app' });
    await subscribed(m.webhooks, { repository: 'acme/other', events: ['pull'] });
    await subscribed(m.webhooks, { events: ['pull'], enabled: false, namespace: 'gamma' });
    await subscribed(m.webhooks, { namespace: 'acmex', events: ['delete'] });
    assert.deepEqual((await m.webhooks.subscriptions.forRepository('acme', 'acme/app')).map((w) => w.id), [ns, own]);
    assert.deepEqual((await m.webhooks.subscriptions.forRepository('acme', 'acme/new')).map((w) => w.id), [ns]);
    assert.deepEqual(await m.webhooks.subscriptions.forRepository('zeta', 'zeta/app'), []);
    await m.webhooks.subscriptions.update(ns, { enabled: false });
    assert.deepEqual((await m.webhooks.subscriptions.forRepository('acme', 'acme/app')).map((w) => w.id), [own]);
    assert.deepEqual(await m.webhooks.subscriptions.namespacesWithPulls(), ['acme'], 'acme/other\'s pull subscription; gamma\'s is disabled');
  });

  test('outbox: claimed once while the claim lasts, again when it lapses; retries come due; removed by the holder only', async (t) => {
    const { m, clock } = await open(t);
    const id = await subscribed(m.webhooks);
    await m.webhooks.outbox.add([entry(id, 1), entry(id, 2), entry(id, 3)]);
    assert.equal(await m.webhooks.outbox.pending(), 3);

    const first = await m.webhooks.outbox.claim('a', 10_000, 2);
    assert.deepEqual(first.map((c) => [c.eventId, c.attempts, c.payload, c.createdAt]), [['e1', 0, '{"n":1}', T0], ['e2', 0, '{"n":2}', T0]]);
    const second = await m.webhooks.outbox.claim('b', 10_000, 10);
    assert.deepEqual(second.map((c) => c.eventId), ['e3'], 'a claimed delivery is not handed out again');
    assert.deepEqual(await m.webhooks.outbox.claim('c', 10_000, 10), []);

    // Made: removed, but only by its holder.
    assert.equal(await m.webhooks.outbox.remove([first[0]!.id], 'b'), 0);
    assert.equal(await m.webhooks.outbox.remove([first[0]!.id], 'a'), 1);
    // Failed: due again later, claim released, attempts counted.
    assert.equal(await m.webhooks.outbox.retryAt(first[1]!.id, 'a', T0 + 60_000), true);
    assert.deepEqual(await m.webhooks.outbox.claim('c', 10_000, 10), [], 'not due yet, and e3 is still b\'s');

    // b dies holding e3: its claim lapses and c gets it; b's late answer changes nothing.
    clock.advance(10_000);
    const reclaimed = await m.webhooks.outbox.claim('c', 100_000, 10);
    assert.deepEqual(reclaimed.map((c) => c.eventId), ['e3']);
    assert.equal(await m.webhooks.outbox.remove([second[0]!.id], 'b'), 0, 'the lapsed holder no longer holds it');
    assert.equal(await m.webhooks.outbox.retryAt(second[0]!.id, 'b', T0), false);

    clock.advance(50_000);
    const retried = await m.webhooks.outbox.claim('d', 10_000, 10);
    assert.deepEqual(retried.map((c) => [c.eventId, c.attempts]), [['e2', 1]]);
    assert.equal(await m.webhooks.outbox.pending(), 2);

    // A claim given back unused (a stopping process): due at once for anyone, no attempt counted.
    assert.equal(await m.webhooks.outbox.release(retried[0]!.id, 'c'), false, 'only by its holder');
    assert.equal(await m.webhooks.outbox.release(retried[0]!.id, 'd'), true);
    assert.deepEqual((await m.webhooks.outbox.claim('e', 10_000, 10)).map((c) => [c.eventId, c.attempts]), [['e2', 1]]);
  });

  test('outbox: claimOf claims one subscription\'s due deliveries only, never another holder\'s', async (t) => {
    const { m } = await open(t);
    const a = await subscribed(m.webhooks);
    const b = await subscribed(m.webhooks);
    await m.webhooks.outbox.add([entry(a, 1), entry(b, 2), entry(a, 3), entry(a, 4), entry(a, 5)]);
    assert.deepEqual((await m.webhooks.outbox.claim('x', 10_000, 1)).map((c) => c.eventId), ['e1']);
    assert.deepEqual((await m.webhooks.outbox.claimOf(a, 'x', 10_000, 2)).map((c) => [c.eventId, c.webhookId]), [['e3', a], ['e4', a]]);
    assert.deepEqual((await m.webhooks.outbox.claimOf(a, 'y', 10_000, 10)).map((c) => c.eventId), ['e5'], 'x\'s claims are passed by');
    assert.deepEqual((await m.webhooks.outbox.claim('z', 10_000, 10)).map((c) => c.eventId), ['e2']);
  });

  test('outbox: a disabled subscription\'s deliveries wait; deleting the subscription drops them and its log', async (t) => {
    const { m } = await open(t);
    const id = await subscribed(m.webhooks);
    await m.webhooks.outbox.add([entry(id, 1)]);
    await m.webhooks.log.append([attempt(id, 0)]);
    await m.webhooks.subscriptions.update(id, { enabled: false });
    assert.deepEqual(await m.webhooks.outbox.claim('a', 10_000, 10), []);
    await m.webhooks.subscriptions.update(id, { enabled: true });
    const c = await m.webhooks.outbox.claim('a', 10_000, 10);
    assert.equal(c.length, 1);
    await m.webhooks.outbox.retryAt(c[0]!.id, 'a', T0);
    assert.equal(await m.webhooks.subscriptions.delete(id), true);
    assert.equal(await m.webhooks.outbox.pending(), 0);
    assert.deepEqual(await m.webhooks.log.recent(id, 100), []);
  });

  test('outbox: due retries come before never-attempted deliveries, each oldest first; a handle reaches its own row only', async (t) => {
    const { m, clock } = await open(t);
    const id = await subscribed(m.webhooks);
    await m.webhooks.outbox.add([entry(id, 1), entry(id, 2), entry(id, 3)]);
    // e2 then e1 fail (a failure moves a delivery to the retries, in the order they failed).
    const [c1, c2] = await m.webhooks.outbox.claim('a', 10_000, 2);
    assert.equal(await m.webhooks.outbox.retryAt(c2!.id, 'a', T0 + 1_000), true);
    assert.equal(await m.webhooks.outbox.retryAt(c1!.id, 'a', T0 + 1_000), true);
    assert.equal(await m.webhooks.outbox.retryAt(c1!.id, 'a', T0 + 1_000), false, 'moved once; the claim went with the attempt');
    await m.webhooks.outbox.add([entry(id, 4)]);
    assert.deepEqual((await m.webhooks.outbox.claim('b', 10_000, 10)).map((c) => c.eventId), ['e3', 'e4'], 'the retries are not due yet');
    clock.advance(1_000);
    await m.webhooks.outbox.add([entry(id, 5)]);
    const due = await m.webhooks.outbox.claim('c', 10_000, 10);
    assert.deepEqual(due.map((c) => [c.eventId, c.attempts]), [['e2', 1], ['e1', 1], ['e5', 0]]);
    // Each handle removes its own delivery: a retry's, then a never-attempted one's.
    assert.equal(await m.webhooks.outbox.remove([due[1]!.id], 'c'), 1);
    assert.equal(await m.webhooks.outbox.release(due[2]!.id, 'c'), true);
    assert.equal(await m.webhooks.outbox.pending(), 4);
    assert.deepEqual((await m.webhooks.outbox.claim('d', 10_000, 10)).map((c) => c.eventId), ['e5'], 'e2 is still c\'s, e3 and e4 b\'s');
    assert.equal(await m.webhooks.outbox.retryAt(due[0]!.id, 'c', T0 + 5_000), true);
    clock.advance(5_000);
    assert.deepEqual((await m.webhooks.outbox.claim('e', 1_000, 10)).map((c) => [c.eventId, c.attempts]), [['e2', 2]]);
  });

  test('outbox: remove takes a list at once, from both tables, and only what the holder holds', async (t) => {
    const { m } = await open(t);
    const id = await subscribed(m.webhooks);
    await m.webhooks.outbox.add([1, 2, 3, 4, 5, 6].map((n) => entry(id, n)));
    const first = await m.webhooks.outbox.claim('a', 10_000, 3);
    for (const c of first.slice(0, 2)) assert.equal(await m.webhooks.outbox.retryAt(c.id, 'a', T0), true);
    const mine = await m.webhooks.outbox.claim('a', 10_000, 4);
    assert.deepEqual(mine.map((c) => c.eventId), ['e1', 'e2', 'e4', 'e5'], 'the two retries, then what a does not hold yet');
    const theirs = await m.webhooks.outbox.claim('b', 10_000, 10);
    assert.deepEqual(theirs.map((c) => c.eventId), ['e6']);
    // Two retries and three never-attempted (a list of three is padded to four with its last id).
    assert.equal(await m.webhooks.outbox.remove([...mine, first[2]!].map((c) => c.id), 'a'), 5);
    assert.equal(await m.webhooks.outbox.remove([theirs[0]!.id], 'a'), 0, 'not a\'s');
    assert.equal(await m.webhooks.outbox.pending(), 1);
    assert.equal(await m.webhooks.outbox.remove([theirs[0]!.id], 'b'), 1);
    assert.equal(await m.webhooks.outbox.remove([], 'b'), 0);
    assert.equal(await m.webhooks.outbox.pending(), 0);
  });

  test('outbox rows are part of the unit of work: a rolled-back change leaves no delivery', async (t) => {
    const { m } = await open(t);
    const id = await subscribed(m.webhooks);
    await assert.rejects(m.tx(async (x) => { await x.webhooks.outbox.add([entry(id, 1)]); throw new Error('boom'); }), /boom/);
    assert.equal(await m.webhooks.outbox.pending(), 0);
  });

  test('two claimers at once never get the same delivery', async (t) => {
    const { m } = await open(t);
    const id = await subscribed(m.webhooks);
    const n = 60;
    await m.webhooks.outbox.add(Array.from({ length: n }, (_, i) => entry(id, i)));
    const got: string[][] = [[], []];
    // Both claim in small batches at the same time until nothing is left.
    await Promise.all([0, 1].map(async (k) => {
      for (;;) {
        const c = await m.webhooks.outbox.claim(`claimer-${k}`, 60_000, 3);
        if (c.length === 0) return;
        got[k]!.push(...c.map((x) => x.eventId));
      }
    }));
    const all = [...got[0]!, ...got[1]!];
    assert.equal(all.length, n, `${got[0]!.length} + ${got[1]!.length}`);
    assert.equal(new Set(all).size, n, 'no delivery was claimed twice');
  });

  test('delivery log: newest first, the last 50 per subscription kept', async (t) => {
    const { m } = await open(t);
    const a = await subscribed(m.webhooks);
    const b = await subscribed(m.webhooks);
    for (let i = 0; i < DELIVERY_LOG_KEPT; i++) await m.webhooks.log.append([attempt(a, i)]);
    // Several at once (a group commit), of two subscriptions.
    await m.webhooks.log.append([...Array.from({ length: 7 }, (_, i) => attempt(a, DELIVERY_LOG_KEPT + i)),
      { ...attempt(b, 1), status: null, response: null, error: 'timed out', outcome: 'gave_up' }]);
    const kept = await m.webhooks.log.recent(a, 1000);
    assert.equal(kept.length, DELIVERY_LOG_KEPT);
    assert.equal(kept[0]!.eventId, `e${DELIVERY_LOG_KEPT + 6}`);
    assert.equal(kept[kept.length - 1]!.eventId, 'e7');
    const { id: _id, ...rest } = kept[0]!;
    assert.deepEqual(rest, attempt(a, DELIVERY_LOG_KEPT + 6));
    const other = await m.webhooks.log.recent(b, 10);
    assert.deepEqual(other.map((x) => [x.status, x.response, x.error, x.outcome]), [[null, null, 'timed out', 'gave_up']]);
    assert.equal((await m.webhooks.log.recent(a, 5)).length, 5);
    // A batch's attempts, more than are kept, in one append: the newest 50, in order.
    await m.webhooks.log.append(Array.from({ length: 120 }, (_, i) => attempt(b, 100 + i)));
    const batch = await m.webhooks.log.recent(b, 1000);
    assert.equal(batch.length, DELIVERY_LOG_KEPT);
    assert.deepEqual([batch[0]!.eventId, batch[DELIVERY_LOG_KEPT - 1]!.eventId], ['e219', 'e170']);
  });
});
