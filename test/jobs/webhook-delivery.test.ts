// Webhook delivery (jobs/): the signature, both body formats field by field, the backoff schedule, and the
// dispatcher against a receiver on 127.0.0.1 — retries of 5xx answers, timeouts and redirects (never
// followed) with backoff, giving up after maxAttempts, the delivery log, and two dispatchers over one
// database delivering each event once.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backoffMs, WebhookDispatcher } from '../../src/jobs/webhook-dispatcher.js';
import { renderBatch, renderEvent, renderTest } from '../../src/jobs/webhook-payloads.js';
import { signatureOf, WebhookSender } from '../../src/jobs/webhook-sender.js';
import type { StoredEvent } from '../../src/registry/webhook-events.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import type { MetaStore, NewWebhook } from '../../src/store/meta/meta-store.js';
import { FakeClock } from '../helpers/fake-clock.js';

const pushed: StoredEvent = {
  type: 'io.wharf.image.pushed', repository: 'acme/app', digest: 'sha256:bb', tag: 'v1', previousDigest: 'sha256:aa',
  mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 512, actor: { name: 'alice', kind: 'user' },
  request: { id: 'req-7', addr: '10.0.0.9', host: 'registry.example.com', method: 'PUT', useragent: 'docker/27', origin: 'https://registry.example.com' },
  source: { addr: 'node-1', instanceID: '0f6a7d9e-0000-4000-8000-000000000001' },
};
const T = Date.parse('2026-11-30T12:00:00.000Z');

describe('webhook bodies and signature', () => {
  test('the signature is HMAC-SHA256 of the exact body, hex, after sha256=', () => {
    // RFC 4231-style known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
    assert.equal(signatureOf('key', 'The quick brown fox jumps over the lazy dog'), 'sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8');
    assert.notEqual(signatureOf('key', '{"a":1}'), signatureOf('key', '{"a": 1}'));
  });

  test('CloudEvents 1.0, structured mode', () => {
    const r = renderEvent('cloudevents', { id: 'e-1', time: T, event: pushed });
    assert.equal(r.contentType, 'application/cloudevents+json');
    assert.deepEqual(JSON.parse(r.body), {
      specversion: '1.0', id: 'e-1', source: 'https://registry.example.com', type: 'io.wharf.image.pushed', time: '2026-11-30T12:00:00.000Z',
      subject: 'acme/app:v1', datacontenttype: 'application/json',
      data: { repository: 'acme/app', digest: 'sha256:bb', tag: 'v1', previousDigest: 'sha256:aa', mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 512, actor: { name: 'alice', kind: 'user' } },
    });
    // webhooks.source wins; without a request, this host; by digest, the subject names it.
    const byDigest = JSON.parse(renderEvent('cloudevents', { id: 'e-2', time: T, event: { ...pushed, tag: null, request: null } }, { source: 'urn:wharf:prod' }).body) as Record<string, unknown>;
    assert.deepEqual([byDigest.source, byDigest.subject], ['urn:wharf:prod', 'acme/app@sha256:bb']);
    assert.equal((JSON.parse(renderEvent('cloudevents', { id: 'e-3', time: T, event: { ...pushed, request: null } }).body) as { source: string }).source, '//node-1');
    const deleted = JSON.parse(renderEvent('cloudevents', { id: 'e-4', time: T, event: { ...pushed, type: 'io.wharf.image.deleted', tag: null, tags: ['v1'], previousDigest: null } }).body) as { data: Record<string, unknown> };
    assert.deepEqual(deleted.data.tags, ['v1']);
  });

  test('Distribution\'s envelope, as registry:2 sends it: push (a tag move too), pull, both deletes', () => {
    const r = renderEvent('distribution', { id: 'e-1', time: T, event: pushed });
    assert.equal(r.contentType, 'application/vnd.docker.distribution.events.v1+json');
    const request = { id: 'req-7', addr: '10.0.0.9', host: 'registry.example.com', method: 'PUT', useragent: 'docker/27' };
    const source = { addr: 'node-1', instanceID: '0f6a7d9e-0000-4000-8000-000000000001' };
    assert.deepEqual(JSON.parse(r.body), {
      events: [{
        id: 'e-1', timestamp: '2026-11-30T12:00:00.000Z', action: 'push',
        target: {
          mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 512, digest: 'sha256:bb', length: 512, repository: 'acme/app',
          url: 'https://registry.example.com/v2/acme/app/manifests/sha256:bb', tag: 'v1',
        },
        request, actor: { name: 'alice' }, source,
      }],
    });
    const body = (e: Partial<StoredEvent>): Record<string, unknown> => (JSON.parse(renderEvent('distribution', { id: 'x', time: T, event: { ...pushed, ...e } }).body) as { events: Record<string, unknown>[] }).events[0]!;
    assert.equal(body({ type: 'io.wharf.tag.moved' }).action, 'push');
    assert.equal(body({ type: 'io.wharf.image.pulled', request: { ...pushed.request!, method: 'GET' } }).action, 'pull');
    // A manifest deleted by digest: its repository and digest; a tag deleted: its repository and tag (and the digest it had).
    assert.deepEqual(body({ type: 'io.wharf.image.deleted', tag: null, mediaType: null, size: null }).target, { digest: 'sha256:bb', repository: 'acme/app' });
    assert.deepEqual(body({ type: 'io.wharf.tag.deleted', mediaType: null, size: null }).target, { digest: 'sha256:bb', repository: 'acme/app', tag: 'v1' });
    // Anonymous, no request (a job): the fields Distribution leaves out when empty, and the ones it always has.
    const anon = body({ actor: { name: '', kind: 'anonymous' }, request: null });
    assert.deepEqual([anon.actor, anon.request, (anon.target as Record<string, unknown>).url], [{}, { id: '', method: '', useragent: '' }, undefined]);
  });

  test('a test event: CloudEvents with the subscription and who asked; an empty Distribution envelope', () => {
    const t = { id: 't-1', time: T, webhook: { id: 4, namespace: 'acme', repository: null }, actor: { name: 'boss', kind: 'user' } };
    assert.deepEqual(JSON.parse(renderTest('cloudevents', t, { source: 'https://r.example' }).body), {
      specversion: '1.0', id: 't-1', source: 'https://r.example', type: 'io.wharf.webhook.test', time: '2026-11-30T12:00:00.000Z', subject: 'acme',
      datacontenttype: 'application/json', data: { webhook: 4, namespace: 'acme', repository: null, actor: { name: 'boss', kind: 'user' } },
    });
    assert.deepEqual(JSON.parse(renderTest('distribution', t).body), { events: [] });
  });

  test('a batch: CloudEvents batched content mode (an array of the structured events); Distribution one envelope with all of them', () => {
    const events = [{ id: 'e-1', time: T, event: pushed }, { id: 'e-2', time: T + 1, event: { ...pushed, type: 'io.wharf.tag.moved' as const } }];
    const ce = renderBatch('cloudevents', events, { source: 'urn:x' });
    assert.equal(ce.contentType, 'application/cloudevents-batch+json');
    assert.deepEqual(JSON.parse(ce.body), events.map((e) => JSON.parse(renderEvent('cloudevents', e, { source: 'urn:x' }).body) as unknown));
    const dist = renderBatch('distribution', events);
    assert.equal(dist.contentType, 'application/vnd.docker.distribution.events.v1+json');
    assert.deepEqual(JSON.parse(dist.body), { events: events.map((e) => (JSON.parse(renderEvent('distribution', e).body) as { events: unknown[] }).events[0]) });
    // One event is still the batch shape; so is a batching subscription's test event.
    assert.deepEqual(JSON.parse(renderBatch('cloudevents', events.slice(0, 1)).body), [JSON.parse(renderEvent('cloudevents', events[0]!).body)]);
    const t = { id: 't-1', time: T, webhook: { id: 4, namespace: 'acme', repository: null }, actor: { name: 'boss', kind: 'user' } };
    const test = renderTest('cloudevents', t, {}, true);
    assert.deepEqual([test.contentType, JSON.parse(test.body)], ['application/cloudevents-batch+json', [JSON.parse(renderTest('cloudevents', t).body)]]);
  });

  test('backoff: doubling from initial up to max, jittered into the upper half', () => {
    const r = { initialMs: 10_000, maxMs: 3_600_000 };
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffMs(n, r, () => 1)), [10_000, 20_000, 40_000, 80_000]);
    assert.deepEqual([1, 2, 3].map((n) => backoffMs(n, r, () => 0)), [5_000, 10_000, 20_000]);
    assert.equal(backoffMs(20, r, () => 1), 3_600_000);
    assert.equal(backoffMs(20, r, () => 0), 1_800_000);
  });
});

/** A receiver on 127.0.0.1 whose answers the test scripts; it records what arrives. */
class Receiver {
  readonly got: { path: string; headers: IncomingMessage['headers']; body: string }[] = [];
  answer: (res: ServerResponse, n: number) => void = (res) => { res.end('ok'); };
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => {
        this.got.push({ path: req.url ?? '', headers: req.headers, body });
        this.answer(res, this.got.length);
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

describe('webhook dispatcher', () => {
  const rx = new Receiver();
  const dir = mkdtempSync(join(tmpdir(), 'wharf-webhook-delivery-'));
  let n = 0;
  before(() => rx.start());
  after(async () => { await rx.stop(); rmSync(dir, { recursive: true, force: true }); });

  function setup(o: { maxAttempts?: number; timeoutMs?: number; path?: string } = {}): { meta: SqliteMetaStore; clock: FakeClock; dispatcher: WebhookDispatcher; sender: WebhookSender; hook: (w?: Partial<NewWebhook>) => Promise<number>; done(): Promise<void> } {
    const clock = new FakeClock(T);
    const meta = new SqliteMetaStore({ path: o.path ?? join(dir, `meta-${++n}.db`), durable: false, clock });
    const sender = new WebhookSender({ timeoutMs: o.timeoutMs ?? 2_000, userAgent: 'wharf/test' });
    const dispatcher = dispatcherOn(meta, clock, sender, o);
    return {
      meta, clock, dispatcher, sender,
      hook: async (w = {}) => (await meta.webhooks.subscriptions.create({
        namespace: 'acme', repository: null, url: `${rx.url}/hook`, events: ['push'], repositories: null, tags: null, format: 'cloudevents', secret: 'the-secret', enabled: true, batch: 1, ...w,
      })).id,
      async done() { await dispatcher.stop(); await sender.close(); await meta.close(); },
    };
  }

  function dispatcherOn(meta: MetaStore, clock: FakeClock, sender: WebhookSender, o: { maxAttempts?: number; timeoutMs?: number } = {}): WebhookDispatcher {
    return new WebhookDispatcher({
      meta, sender, clock, retry: { initialMs: 10_000, maxMs: 60_000 }, maxAttempts: o.maxAttempts ?? 5, concurrency: 4, timeoutMs: o.timeoutMs ?? 2_000, pollMs: 60_000,
      onError: (err) => { throw err; },
    });
  }

  async function enqueue(meta: MetaStore, webhookId: number, id: string, event: StoredEvent = pushed): Promise<void> {
    await meta.webhooks.outbox.add([{ webhookId, eventId: id, eventType: event.type, payload: JSON.stringify(event) }]);
  }

  const signedBy = (secret: string, r: { body: string; headers: IncomingMessage['headers'] }): boolean =>
    r.headers['x-wharf-signature-256'] === `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

  async function round(d: WebhookDispatcher): Promise<number> {
    const claimed = await d.poll();
    await d.idle();
    return claimed;
  }

  test('a 5xx is retried after the backoff; the 2xx removes it; every attempt is in the log; each request is signed', async () => {
    const s = setup();
    try {
      const id = await s.hook();
      await enqueue(s.meta, id, 'ev-1');
      const before = rx.got.length;
      rx.answer = (res, k) => { if (k === before + 1) res.writeHead(500).end('x'.repeat(3000)); else res.end('thanks'); };
      assert.equal(await round(s.dispatcher), 1);
      let log = await s.meta.webhooks.log.recent(id, 10);
      assert.deepEqual(log.map((l) => [l.attempt, l.status, l.outcome, l.error, l.response?.length]), [[1, 500, 'failed_attempt', 'HTTP 500', 1024]]);
      assert.equal(await round(s.dispatcher), 0, 'not due before the backoff');
      s.clock.advance(10_000);
      assert.equal(await round(s.dispatcher), 1);
      log = await s.meta.webhooks.log.recent(id, 10);
      assert.deepEqual(log.map((l) => [l.attempt, l.status, l.outcome, l.response]), [[2, 200, 'delivered', 'thanks'], [1, 500, 'failed_attempt', 'x'.repeat(1024)]]);
      assert.equal(await s.meta.webhooks.outbox.pending(), 0);
      const sent = rx.got.slice(before);
      assert.equal(sent.length, 2);
      for (const r of sent) {
        assert.equal(r.path, '/hook');
        assert.equal(r.headers['x-wharf-signature-256'], `sha256=${createHmac('sha256', 'the-secret').update(r.body).digest('hex')}`);
        assert.deepEqual([r.headers['x-wharf-event'], r.headers['x-wharf-delivery'], r.headers['user-agent'], r.headers['content-type']],
          ['io.wharf.image.pushed', 'ev-1', 'wharf/test', 'application/cloudevents+json']);
      }
      assert.equal(sent[0]!.body, sent[1]!.body, 'a retry sends the same bytes');
    } finally {
      await s.done();
    }
  });

  test('a timeout and a redirect are failed attempts (the redirect is not followed); after maxAttempts it is given up', async () => {
    const s = setup({ maxAttempts: 3, timeoutMs: 300 });
    try {
      const id = await s.hook();
      await enqueue(s.meta, id, 'ev-2');
      const before = rx.got.length;
      rx.answer = (res, k) => {
        if (k === before + 1) return; // never answers
        res.writeHead(302, { Location: `${rx.url}/elsewhere` }).end();
      };
      for (let i = 0; i < 3; i++) {
        assert.equal(await round(s.dispatcher), 1, `attempt ${i + 1}`);
        s.clock.advance(60_000);
      }
      assert.equal(await round(s.dispatcher), 0);
      const log = await s.meta.webhooks.log.recent(id, 10);
      assert.deepEqual(log.reverse().map((l) => [l.attempt, l.status, l.error, l.outcome]), [
        [1, null, 'timed out after 300 ms', 'failed_attempt'],
        [2, 302, 'HTTP 302', 'failed_attempt'],
        [3, 302, 'HTTP 302', 'gave_up'],
      ]);
      const timedOut = log[0]!.durationMs;
      assert.ok(timedOut >= 290 && timedOut < 1_500, `the unanswered attempt was cut off at the timeout (${timedOut} ms)`);
      assert.equal(await s.meta.webhooks.outbox.pending(), 0, 'given up: out of the outbox, kept in the log');
      assert.ok(rx.got.slice(before).every((r) => r.path === '/hook'), 'nothing went to the redirect\'s target');
      rx.answer = (res) => { res.end('ok'); };
    } finally {
      await s.done();
    }
  });

  test('two dispatchers over one database deliver each event once; stop waits for what is in flight', async () => {
    const path = join(dir, 'shared.db');
    const a = setup({ path });
    const clock = a.clock;
    const metaB = new SqliteMetaStore({ path, durable: false, clock });
    const senderB = new WebhookSender({ timeoutMs: 2_000, userAgent: 'wharf/test' });
    const b = dispatcherOn(metaB, clock, senderB);
    try {
      const id = await a.hook();
      for (let i = 0; i < 40; i++) await enqueue(a.meta, id, `ev-many-${i}`);
      const before = rx.got.length;
      rx.answer = (res) => { setTimeout(() => res.end('ok'), 5); };
      a.dispatcher.start();
      b.start();
      for (let i = 0; i < 200 && (await a.meta.webhooks.outbox.pending()) > 0; i++) await new Promise((r) => setTimeout(r, 25));
      await Promise.all([a.dispatcher.stop(), b.stop()]);
      const ids = rx.got.slice(before).map((r) => r.headers['x-wharf-delivery']);
      assert.equal(ids.length, 40);
      assert.equal(new Set(ids).size, 40, 'no event was sent twice');
      const byA = (await a.meta.webhooks.log.recent(id, 50)).length;
      assert.equal(byA, 40, 'the log holds every attempt, whichever process made it');
      rx.answer = (res) => { res.end('ok'); };
    } finally {
      await b.stop();
      await senderB.close();
      await metaB.close();
      await a.done();
    }
  });

  test('stopping: the delivery in flight ends and is written; claimed ones not yet sent are given back at once', async () => {
    const s = setup();
    const one = dispatcherOn(s.meta, s.clock, s.sender, {});
    try {
      const id = await s.hook();
      for (let i = 0; i < 12; i++) await enqueue(s.meta, id, `ev-stop-${i}`);
      const before = rx.got.length;
      rx.answer = (res) => { setTimeout(() => res.end('ok'), 300); };
      // Four at once, eight held: the first claim takes eight.
      assert.equal(await one.poll(), 8);
      await new Promise((r) => setTimeout(r, 100));
      await one.stop();
      assert.equal(rx.got.length - before, 4, 'only the four in flight were sent');
      const log = await s.meta.webhooks.log.recent(id, 50);
      assert.deepEqual(log.map((l) => l.outcome), ['delivered', 'delivered', 'delivered', 'delivered']);
      // The four held and the four never claimed are anyone's now, no attempt counted.
      const next = await s.meta.webhooks.outbox.claim('another', 10_000, 100);
      assert.deepEqual(next.map((c) => c.attempts), [0, 0, 0, 0, 0, 0, 0, 0]);
      rx.answer = (res) => { res.end('ok'); };
    } finally {
      await s.done();
    }
  });

  test('an event the outbox cannot read is given up at once, logged, never sent', async () => {
    const s = setup();
    try {
      const id = await s.hook();
      await s.meta.webhooks.outbox.add([{ webhookId: id, eventId: 'ev-bad', eventType: 'io.wharf.image.pushed', payload: '{not json' }]);
      const before = rx.got.length;
      assert.equal(await round(s.dispatcher), 1);
      assert.equal(rx.got.length, before);
      assert.deepEqual((await s.meta.webhooks.log.recent(id, 5)).map((l) => [l.eventId, l.outcome, l.error]), [['ev-bad', 'gave_up', 'the event in the outbox is unreadable']]);
      assert.equal(await s.meta.webhooks.outbox.pending(), 0);
    } finally {
      await s.done();
    }
  });

  test('batch: up to `batch` events in one signed request, in both formats; claims are topped up to fill a batch', async () => {
    const s = setup();
    try {
      rx.answer = (res) => { res.end('ok'); };
      const ce = await s.hook({ batch: 3, url: `${rx.url}/ce` });
      const moved: StoredEvent = { ...pushed, type: 'io.wharf.tag.moved' };
      for (let i = 0; i < 5; i++) await enqueue(s.meta, ce, `ev-ce-${i}`, i === 1 ? moved : pushed);
      const before = rx.got.length;
      assert.equal(await round(s.dispatcher), 5);
      const sent = rx.got.slice(before);
      assert.equal(sent.length, 2, 'five events in batches of three: two requests');
      const ids = sent.map((r) => (JSON.parse(r.body) as { id: string; type: string }[]).map((e) => e.id));
      assert.deepEqual(ids, [['ev-ce-0', 'ev-ce-1', 'ev-ce-2'], ['ev-ce-3', 'ev-ce-4']]);
      for (const r of sent) {
        assert.ok(signedBy('the-secret', r), 'signed: the HMAC of the batch body');
        assert.equal(r.headers['content-type'], 'application/cloudevents-batch+json');
        assert.match(r.headers['x-wharf-delivery'] as string, UUID);
        assert.ok(!ids.flat().includes(r.headers['x-wharf-delivery'] as string), 'the request\'s own delivery id, not an event\'s');
      }
      assert.notEqual(sent[0]!.headers['x-wharf-delivery'], sent[1]!.headers['x-wharf-delivery']);
      assert.deepEqual(sent.map((r) => r.headers['x-wharf-event']), ['batch', 'io.wharf.image.pushed'], 'one type: that type; several: batch');
      assert.deepEqual((await s.meta.webhooks.log.recent(ce, 10)).map((l) => [l.eventId, l.outcome]).reverse(),
        [0, 1, 2, 3, 4].map((i) => [`ev-ce-${i}`, 'delivered']), 'one log entry per delivery');

      // Distribution: one envelope with all of them; one event is still that envelope. Twelve events, and the
      // dispatcher's first claim takes eight (twice its concurrency): topped up to a full batch of ten.
      const dist = await s.hook({ batch: 10, format: 'distribution', url: `${rx.url}/dist` });
      for (let i = 0; i < 12; i++) await enqueue(s.meta, dist, `ev-d-${i}`);
      const mark = rx.got.length;
      assert.equal(await round(s.dispatcher), 10);
      // A full claim: the dispatcher goes on by itself (nudged) for the other two.
      for (let i = 0; i < 100 && (await s.meta.webhooks.outbox.pending()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
      await s.dispatcher.idle();
      const envelopes = rx.got.slice(mark);
      assert.deepEqual(envelopes.map((r) => (JSON.parse(r.body) as { events: { id: string; action: string }[] }).events.map((e) => e.id)),
        [Array.from({ length: 10 }, (_, i) => `ev-d-${i}`), ['ev-d-10', 'ev-d-11']]);
      for (const r of envelopes) {
        assert.ok(signedBy('the-secret', r));
        assert.deepEqual([r.headers['content-type'], r.headers['x-wharf-event']], ['application/vnd.docker.distribution.events.v1+json', 'io.wharf.image.pushed']);
      }
      await enqueue(s.meta, ce, 'ev-ce-alone');
      const single = rx.got.length;
      assert.equal(await round(s.dispatcher), 1);
      assert.deepEqual((JSON.parse(rx.got[single]!.body) as { id: string }[]).map((e) => e.id), ['ev-ce-alone'], 'a batch of one is an array too');
      assert.equal(await s.meta.webhooks.outbox.pending(), 0);
    } finally {
      await s.done();
    }
  });

  test('batch: a failed request is retried; every delivery in it counts an attempt, with its own count, backoff and log entry', async () => {
    const s = setup({ maxAttempts: 3 });
    try {
      const id = await s.hook({ batch: 10 });
      let fail = true;
      rx.answer = (res) => { if (fail) res.writeHead(503).end('busy'); else res.end('ok'); };
      const before = rx.got.length;
      await enqueue(s.meta, id, 'ev-r-0');
      assert.equal(await round(s.dispatcher), 1);
      await enqueue(s.meta, id, 'ev-r-1');
      await enqueue(s.meta, id, 'ev-r-2');
      s.clock.advance(60_000);
      assert.equal(await round(s.dispatcher), 3, 'ev-r-0 due again with the new ones: one request');
      s.clock.advance(60_000);
      assert.equal(await round(s.dispatcher), 3);
      // ev-r-0 had its third and last attempt: given up; the others their second.
      assert.deepEqual((await s.meta.webhooks.log.recent(id, 10)).reverse().map((l) => [l.eventId, l.attempt, l.status, l.outcome]), [
        ['ev-r-0', 1, 503, 'failed_attempt'],
        ['ev-r-0', 2, 503, 'failed_attempt'], ['ev-r-1', 1, 503, 'failed_attempt'], ['ev-r-2', 1, 503, 'failed_attempt'],
        ['ev-r-0', 3, 503, 'gave_up'], ['ev-r-1', 2, 503, 'failed_attempt'], ['ev-r-2', 2, 503, 'failed_attempt'],
      ]);
      assert.equal(await s.meta.webhooks.outbox.pending(), 2);
      assert.equal(await round(s.dispatcher), 0, 'each waits for its backoff');
      s.clock.advance(60_000);
      fail = false;
      assert.equal(await round(s.dispatcher), 2);
      assert.deepEqual((await s.meta.webhooks.log.recent(id, 2)).reverse().map((l) => [l.eventId, l.attempt, l.outcome]), [['ev-r-1', 3, 'delivered'], ['ev-r-2', 3, 'delivered']]);
      assert.equal(await s.meta.webhooks.outbox.pending(), 0);
      const bodies = rx.got.slice(before).map((r) => (JSON.parse(r.body) as { id: string }[]).map((e) => e.id));
      assert.deepEqual(bodies, [['ev-r-0'], ['ev-r-0', 'ev-r-1', 'ev-r-2'], ['ev-r-0', 'ev-r-1', 'ev-r-2'], ['ev-r-1', 'ev-r-2']]);
      rx.answer = (res) => { res.end('ok'); };
    } finally {
      await s.done();
    }
  });

  test('a disabled subscription\'s deliveries wait; a deleted one\'s are dropped', async () => {
    const s = setup();
    try {
      const id = await s.hook();
      await enqueue(s.meta, id, 'ev-held');
      await s.meta.webhooks.subscriptions.update(id, { enabled: false });
      assert.equal(await round(s.dispatcher), 0);
      await s.meta.webhooks.subscriptions.update(id, { enabled: true });
      assert.equal(await round(s.dispatcher), 1);
      await enqueue(s.meta, id, 'ev-dropped');
      await s.meta.webhooks.subscriptions.delete(id);
      assert.equal(await round(s.dispatcher), 0);
    } finally {
      await s.done();
    }
  });
});
