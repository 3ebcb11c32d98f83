// Webhooks over real HTTP (auth.mode builtin) with a receiver on 127.0.0.1: the admin API (who may, what it
// refuses, the secret shown once and then only as a fingerprint, the audit log, the OpenAPI document), the
// events of pushes, tag moves, pulls and deletes in both body formats checked field by field, the filters
// (event kinds, one repository, repository and tag globs), the delivery log of a receiver that fails first,
// the test delivery, the metrics, and the secret in no answer after its creation nor in the server's log.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { getManifest, pushImage } from './lib/registry.js';
import { expectError, expectStatus, parseJson, req, type Res } from './lib/http.js';
import { ADMIN, api, apiOk, BOSS, EDITOR, seedAcme, startBuiltin, withHeaders, type BuiltinServer } from './lib/builtin.js';
import { validSignature, WebhookReceiver, type Delivery } from './lib/webhook-receiver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

interface Hook {
  id: number; namespace: string; repository: string | null; url: string; events: string[]; repositories: string | null; tags: string | null;
  format: string; enabled: boolean; batch: number; secretFingerprint: string; createdAt: string; updatedAt: string; secret?: string;
}
interface LogEntry { id: number; eventId: string; eventType: string; attempt: number; at: string; durationMs: number; status: number | null; response: string | null; error: string | null; outcome: string }
interface CloudEvent { specversion: string; id: string; source: string; type: string; time: string; subject: string; datacontenttype: string; data: Record<string, unknown> }

const fingerprint = (secret: string): string => createHash('sha256').update(secret).digest('hex').slice(0, 8);
const body = <T>(d: Delivery): T => JSON.parse(d.body) as T;

describe('webhooks over HTTP', () => {
  let s: BuiltinServer;
  let db: TestDatabase | undefined;
  const rx = new WebhookReceiver();
  /** Every answer of the admin API after the secrets were made (none may hold one). */
  const answers: string[] = [];
  const secrets: string[] = [];
  const as = <T>(fn: () => Promise<T>): Promise<T> => withHeaders(ADMIN, fn);
  const call = async (auth: Record<string, string>, method: string, path: string, payload: unknown, status: number): Promise<unknown> => {
    const r = await api(s, auth, method, path, payload);
    answers.push(r.body.toString());
    assert.equal(r.status, status, `${method} ${path}: ${r.status} ${r.body.toString().slice(0, 500)}`);
    return r.body.length ? JSON.parse(r.body.toString()) as unknown : null;
  };
  const subscribe = async (ns: string, b: Record<string, unknown>, auth = BOSS): Promise<Hook> => {
    const made = await call(auth, 'POST', `/namespaces/${ns}/webhooks`, b, 201) as Hook;
    if (made.secret) secrets.push(made.secret);
    if (typeof b.secret === 'string') secrets.push(b.secret);
    return made;
  };

  before(async () => {
    await rx.start();
    if (process.env.WHARF_TEST_META === 'postgres') db = await createTestDatabase();
    s = await startBuiltin({
      WHARF_WEBHOOKS_RETRY_INITIAL: '200ms', WHARF_WEBHOOKS_RETRY_MAX: '1s', WHARF_WEBHOOKS_TIMEOUT: '2s',
      ...(db ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url } : {}),
    });
    await seedAcme(s);
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
    await db?.drop();
    await rx.stop();
  });

  test('admin API: namespace admins manage subscriptions; the secret is in the creation\'s answer only; bad input is 400; changes are audited', async () => {
    const made = await subscribe('acme', { url: `${rx.url}/admin`, events: ['push', 'tag-move', 'push'] });
    assert.match(made.secret!, /^wharf_whsec_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual({ ...made, id: 0, createdAt: '', updatedAt: '', secret: '' }, {
      id: 0, namespace: 'acme', repository: null, url: `${rx.url}/admin`, events: ['push', 'tag-move'], repositories: null, tags: null,
      format: 'cloudevents', enabled: true, batch: 1, secretFingerprint: fingerprint(made.secret!), createdAt: '', updatedAt: '', secret: '',
    });
    // A secret given by the caller is not repeated; a password in the URL is never shown.
    const given = await subscribe('acme', { url: `http://hook:pass-word@127.0.0.1:9/x`, events: ['delete'], repository: 'acme/app', format: 'distribution', secret: 'given-secret-1234', enabled: false, batch: 100 });
    assert.equal(given.secret, undefined);
    assert.equal(given.secretFingerprint, fingerprint('given-secret-1234'));
    assert.equal(given.url, 'http://hook:***@127.0.0.1:9/x');
    assert.deepEqual([given.repository, given.format, given.enabled, given.batch], ['acme/app', 'distribution', false, 100]);

    const listed = await call(BOSS, 'GET', '/namespaces/acme/webhooks', undefined, 200) as { items: Hook[] };
    assert.deepEqual(listed.items.map((h) => [h.id, 'secret' in h]), [[made.id, false], [given.id, false]]);
    assert.equal((await call(BOSS, 'GET', `/webhooks/${made.id}`, undefined, 200) as Hook).secretFingerprint, made.secretFingerprint);
    // Every subscription of the registry: system administrators.
    assert.deepEqual((await call(ADMIN, 'GET', '/webhooks', undefined, 200) as { items: Hook[] }).items.map((h) => h.id), [made.id, given.id]);
    expectError(await api(s, BOSS, 'GET', '/webhooks'), 403, 'DENIED');

    // Who may: an editor of acme neither makes nor sees them; by id, another namespace's does not exist.
    const r = await api(s, EDITOR, 'POST', '/namespaces/acme/webhooks', { url: `${rx.url}/x`, events: ['push'] });
    expectError(r, 403, 'DENIED');
    assert.match(parseJson<{ errors: { message: string }[] }>(r).errors[0]!.message, /only admins of acme may change its webhooks/);
    expectError(await api(s, EDITOR, 'GET', '/namespaces/acme/webhooks'), 403, 'DENIED');
    expectError(await api(s, EDITOR, 'GET', `/webhooks/${made.id}`), 404, 'NOT_FOUND');
    expectError(await api(s, EDITOR, 'DELETE', `/webhooks/${made.id}`), 404, 'NOT_FOUND');
    expectError(await api(s, BOSS, 'POST', '/namespaces/beta/webhooks', { url: `${rx.url}/x`, events: ['push'] }), 403, 'DENIED');
    expectError(await api(s, ADMIN, 'POST', '/namespaces/nobody/webhooks', { url: `${rx.url}/x`, events: ['push'] }), 404, 'NOT_FOUND');
    expectError(await api(s, BOSS, 'GET', '/webhooks/abc'), 404, 'NOT_FOUND');
    expectError(await api(s, BOSS, 'GET', '/webhooks/999999'), 404, 'NOT_FOUND');

    // Bad input: 400 INVALID, and nothing made.
    const bad: Record<string, unknown>[] = [
      { url: 'ftp://127.0.0.1/x', events: ['push'] },
      { url: 'not a url', events: ['push'] },
      { url: `${rx.url}/x`, events: [] },
      { url: `${rx.url}/x`, events: ['push', 'scan'] },
      { url: `${rx.url}/x`, events: ['push'], repository: 'beta/app' },
      { url: `${rx.url}/x`, events: ['push'], repository: 'acme/app', repositories: 'acme/*' },
      { url: `${rx.url}/x`, events: ['push'], tags: 'v[0-9]' },
      { url: `${rx.url}/x`, events: ['push'], repositories: 'Acme/*' },
      { url: `${rx.url}/x`, events: ['push'], format: 'xml' },
      { url: `${rx.url}/x`, events: ['push'], secret: '' },
      { url: `${rx.url}/x`, events: ['push'], extra: 1 },
      { url: `${rx.url}/x`, events: ['push'], batch: 0 },
      { url: `${rx.url}/x`, events: ['push'], batch: 101 },
      { url: `${rx.url}/x`, events: ['push'], batch: 2.5 },
      { url: `${rx.url}/x`, events: ['push'], batch: '10' },
    ];
    for (const b of bad) expectError(await api(s, BOSS, 'POST', '/namespaces/acme/webhooks', b), 400, 'INVALID');
    assert.equal((await call(BOSS, 'GET', '/namespaces/acme/webhooks', undefined, 200) as { items: Hook[] }).items.length, 2);

    // PATCH: what is given changes; a filter is cleared with null; nothing to change is 400.
    const patched = await call(BOSS, 'PATCH', `/webhooks/${given.id}`, { enabled: true, events: ['delete', 'push'], tags: 'v*' }, 200) as Hook;
    assert.deepEqual([patched.enabled, patched.events, patched.tags, patched.url], [true, ['delete', 'push'], 'v*', 'http://hook:***@127.0.0.1:9/x']);
    assert.equal((await call(BOSS, 'PATCH', `/webhooks/${given.id}`, { tags: null }, 200) as Hook).tags, null);
    assert.equal((await call(BOSS, 'PATCH', `/webhooks/${given.id}`, { batch: 7 }, 200) as Hook).batch, 7);
    for (const batch of [0, 101]) expectError(await api(s, BOSS, 'PATCH', `/webhooks/${given.id}`, { batch }), 400, 'INVALID');
    assert.equal((await call(BOSS, 'GET', `/webhooks/${given.id}`, undefined, 200) as Hook).batch, 7, 'a refused PATCH changes nothing');
    const rotated = await call(BOSS, 'PATCH', `/webhooks/${given.id}`, { secret: 'another-secret-5678' }, 200) as Hook;
    secrets.push('another-secret-5678');
    assert.equal(rotated.secretFingerprint, fingerprint('another-secret-5678'));
    expectError(await api(s, BOSS, 'PATCH', `/webhooks/${given.id}`, {}), 400, 'INVALID');
    expectError(await api(s, BOSS, 'PATCH', `/webhooks/${given.id}`, { repositories: 'acme/*' }), 400, 'INVALID');
    expectError(await api(s, BOSS, 'PATCH', `/webhooks/${given.id}`, { url: 'file:///etc/passwd' }), 400, 'INVALID');

    await call(BOSS, 'DELETE', `/webhooks/${given.id}`, undefined, 204);
    expectError(await api(s, BOSS, 'DELETE', `/webhooks/${given.id}`), 404, 'NOT_FOUND');
    await call(BOSS, 'DELETE', `/webhooks/${made.id}`, undefined, 204);

    const audit = await apiOk(s, ADMIN, 'GET', '/audit?n=1000', undefined, 200) as { items: { actor: string; action: string; target: string; detail: Record<string, unknown> }[] };
    const mine = audit.items.filter((e) => e.action.startsWith('webhook.')).reverse();
    assert.deepEqual(mine.map((e) => [e.actor, e.action, e.target]), [
      ['boss', 'webhook.create', 'acme'], ['boss', 'webhook.create', 'acme/app'], ['boss', 'webhook.update', 'acme/app'],
      ['boss', 'webhook.update', 'acme/app'], ['boss', 'webhook.update', 'acme/app'], ['boss', 'webhook.update', 'acme/app'], ['boss', 'webhook.delete', 'acme/app'], ['boss', 'webhook.delete', 'acme'],
    ]);
    assert.deepEqual(mine[1]!.detail, { id: given.id, receiver: 'http://127.0.0.1:9', events: ['delete'] });
    assert.deepEqual(mine[4]!.detail, { id: given.id, changed: ['batch'] });
    assert.deepEqual(mine[5]!.detail, { id: given.id, changed: ['secret'] });
    const auditText = JSON.stringify(audit);
    for (const secret of secrets) assert.ok(!auditText.includes(secret), 'a secret in the audit log');
    assert.ok(!auditText.includes('pass-word'), 'a URL\'s password in the audit log');

    const doc = parseJson<{ paths: Record<string, Record<string, unknown>> }>(await req(s.url, '/api/v1/openapi.json'));
    assert.deepEqual(Object.keys(doc.paths['/api/v1/namespaces/{namespace}/webhooks']!).sort(), ['get', 'post']);
    assert.deepEqual(Object.keys(doc.paths['/api/v1/webhooks/{id}']!).sort(), ['delete', 'get', 'patch']);
    assert.ok(doc.paths['/api/v1/webhooks/{id}/deliveries']!.get && doc.paths['/api/v1/webhooks/{id}/test']!.post && doc.paths['/api/v1/webhooks']!.get);
  });

  test('events: push, tag move, pull and deletes, in CloudEvents and in Distribution\'s envelope, field by field, signed', async () => {
    const ce = await subscribe('acme', { url: `${rx.url}/ce`, events: ['push', 'tag-move', 'pull', 'delete'], repositories: 'acme/events' });
    const dist = await subscribe('acme', { url: `${rx.url}/dist`, events: ['push', 'pull', 'delete'], format: 'distribution', secret: 'dist-secret-0001', repository: 'acme/events' });
    const one = await as(() => pushImage(s.url, 'acme/events', 'v1'));
    const two = await as(() => pushImage(s.url, 'acme/events', 'v1'));
    expectStatus(await as(() => getManifest(s.url, 'acme/events', 'v1')), 200);
    expectStatus(await as(() => getManifest(s.url, 'acme/events', 'v1', 'HEAD')), 200); // a HEAD is no pull
    expectStatus(await req(s.url, '/v2/acme/events/manifests/v1', { method: 'DELETE', headers: ADMIN }), 202);
    expectStatus(await req(s.url, `/v2/acme/events/manifests/${one.digest}`, { method: 'DELETE', headers: ADMIN }), 202);
    await rx.until(() => rx.accepted('/ce').length === 6 && rx.accepted('/dist').length === 5, 'the events of both subscriptions');

    const events = rx.accepted('/ce').map((d) => body<CloudEvent>(d));
    // Delivered concurrently: order them as they happened.
    const order = ['io.wharf.image.pushed', 'io.wharf.tag.moved', 'io.wharf.image.pulled', 'io.wharf.tag.deleted', 'io.wharf.image.deleted'];
    events.sort((a, b) => a.time.localeCompare(b.time) || order.indexOf(a.type) - order.indexOf(b.type));
    const origin = s.url;
    const actor = { name: 'admin', kind: 'user' };
    const mt = 'application/vnd.oci.image.manifest.v1+json';
    const common = { specversion: '1.0', source: origin, datacontenttype: 'application/json' };
    const expected = [
      { type: 'io.wharf.image.pushed', subject: 'acme/events:v1', data: { repository: 'acme/events', digest: one.digest, tag: 'v1', previousDigest: null, mediaType: mt, size: one.manifest.data.length, actor } },
      { type: 'io.wharf.image.pushed', subject: 'acme/events:v1', data: { repository: 'acme/events', digest: two.digest, tag: 'v1', previousDigest: one.digest, mediaType: mt, size: two.manifest.data.length, actor } },
      { type: 'io.wharf.tag.moved', subject: 'acme/events:v1', data: { repository: 'acme/events', digest: two.digest, tag: 'v1', previousDigest: one.digest, mediaType: mt, size: two.manifest.data.length, actor } },
      { type: 'io.wharf.image.pulled', subject: 'acme/events:v1', data: { repository: 'acme/events', digest: two.digest, tag: 'v1', previousDigest: null, mediaType: mt, size: two.manifest.data.length, actor } },
      { type: 'io.wharf.tag.deleted', subject: 'acme/events:v1', data: { repository: 'acme/events', digest: two.digest, tag: 'v1', previousDigest: null, mediaType: mt, size: two.manifest.data.length, actor } },
      { type: 'io.wharf.image.deleted', subject: `acme/events@${one.digest}`, data: { repository: 'acme/events', digest: one.digest, tag: null, tags: [], previousDigest: null, mediaType: mt, size: one.manifest.data.length, actor } },
    ];
    assert.deepEqual(events.map((e) => ({ ...e, id: '', time: '' })), expected.map((e) => ({ ...common, ...e, id: '', time: '' })));
    for (const e of events) {
      assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.ok(Math.abs(Date.parse(e.time) - Date.now()) < 120_000, e.time);
    }
    assert.equal(new Set(events.map((e) => e.id)).size, 6);
    for (const d of rx.accepted('/ce')) {
      assert.ok(validSignature(ce.secret!, d.body, d.headers['x-wharf-signature-256']), 'CloudEvents delivery signed with its secret');
      assert.equal(d.headers['content-type'], 'application/cloudevents+json');
      assert.equal(d.headers['x-wharf-event'], body<CloudEvent>(d).type);
      assert.equal(d.headers['x-wharf-delivery'], body<CloudEvent>(d).id);
      assert.match(String(d.headers['user-agent']), /^wharf\/\d+\.\d+\.\d+/);
    }

    // Distribution's envelope: a tag move is not subscribed here (a push already says it), pulls and deletes are.
    const host = s.addr;
    const got = rx.accepted('/dist').map((d) => {
      assert.ok(validSignature('dist-secret-0001', d.body, d.headers['x-wharf-signature-256']), 'Distribution delivery signed');
      assert.equal(d.headers['content-type'], 'application/vnd.docker.distribution.events.v1+json');
      const env = body<{ events: Record<string, unknown>[] }>(d);
      assert.equal(env.events.length, 1);
      return env.events[0]! as { id: string; timestamp: string; action: string; target: Record<string, unknown>; request: Record<string, unknown>; actor: unknown; source: Record<string, unknown> };
    });
    got.sort((a, b) => a.timestamp.localeCompare(b.timestamp) || ['push', 'pull', 'delete'].indexOf(a.action) - ['push', 'pull', 'delete'].indexOf(b.action));
    const url = (digest: string): string => `${origin}/v2/acme/events/manifests/${digest}`;
    assert.deepEqual(got.map((e) => [e.action, e.target]), [
      ['push', { mediaType: mt, size: one.manifest.data.length, digest: one.digest, length: one.manifest.data.length, repository: 'acme/events', url: url(one.digest), tag: 'v1' }],
      ['push', { mediaType: mt, size: two.manifest.data.length, digest: two.digest, length: two.manifest.data.length, repository: 'acme/events', url: url(two.digest), tag: 'v1' }],
      ['pull', { mediaType: mt, size: two.manifest.data.length, digest: two.digest, length: two.manifest.data.length, repository: 'acme/events', url: url(two.digest), tag: 'v1' }],
      ['delete', { mediaType: mt, size: two.manifest.data.length, digest: two.digest, length: two.manifest.data.length, repository: 'acme/events', tag: 'v1' }],
      ['delete', { mediaType: mt, size: one.manifest.data.length, digest: one.digest, length: one.manifest.data.length, repository: 'acme/events' }],
    ]);
    for (const [i, e] of got.entries()) {
      assert.deepEqual(Object.keys(e), ['id', 'timestamp', 'action', 'target', 'request', 'actor', 'source']);
      assert.deepEqual(e.actor, { name: 'admin' });
      assert.deepEqual({ ...e.request, id: '' }, { id: '', addr: '127.0.0.1', host, method: ['PUT', 'PUT', 'GET', 'DELETE', 'DELETE'][i], useragent: e.request.useragent });
      assert.match(String(e.request.id), /.+/);
      assert.deepEqual(Object.keys(e.source), ['addr', 'instanceID']);
    }
    // The same event has the same id in both formats (a receiver de-duplicates by it).
    assert.ok(got.every((e) => events.some((c) => c.id === e.id)));
    await call(BOSS, 'DELETE', `/webhooks/${ce.id}`, undefined, 204);
    await call(BOSS, 'DELETE', `/webhooks/${dist.id}`, undefined, 204);
  });

  test('filters: event kinds, one repository, repository and tag globs', async () => {
    const hooks = {
      vTags: await subscribe('acme', { url: `${rx.url}/f-vtags`, events: ['push'], tags: 'v*', repositories: 'acme/filter-*' }),
      lib: await subscribe('acme', { url: `${rx.url}/f-lib`, events: ['delete'], repository: 'acme/filter-lib' }),
      pulls: await subscribe('acme', { url: `${rx.url}/f-pulls`, events: ['pull'], repositories: 'acme/filter-*' }),
    };
    await as(() => pushImage(s.url, 'acme/filter-app', 'v1'));
    await as(() => pushImage(s.url, 'acme/filter-app', 'latest'));
    const lib = await as(() => pushImage(s.url, 'acme/filter-lib', 'v2'));
    await as(() => pushImage(s.url, 'acme/other', 'v3'));
    await as(() => pushImage(s.url, 'beta/filter-x', 'v4'));
    expectStatus(await as(() => getManifest(s.url, 'acme/filter-lib', lib.digest)), 200);
    expectStatus(await as(() => getManifest(s.url, 'acme/other', 'v3')), 200);
    expectStatus(await req(s.url, '/v2/acme/filter-app/manifests/latest', { method: 'DELETE', headers: ADMIN }), 202);
    expectStatus(await req(s.url, '/v2/acme/filter-lib/manifests/v2', { method: 'DELETE', headers: ADMIN }), 202);
    await rx.until(() => rx.accepted('/f-vtags').length >= 2 && rx.accepted('/f-lib').length >= 1 && rx.accepted('/f-pulls').length >= 1, 'filtered events');
    await new Promise((r) => setTimeout(r, 1000)); // anything that should not come has had its chance
    const seen = (path: string): string[] => rx.accepted(path).map((d) => body<CloudEvent>(d).subject).sort();
    assert.deepEqual(seen('/f-vtags'), ['acme/filter-app:v1', 'acme/filter-lib:v2']);
    assert.deepEqual(seen('/f-lib'), ['acme/filter-lib:v2']);
    assert.deepEqual(seen('/f-pulls'), [`acme/filter-lib@${lib.digest}`]);
    for (const h of Object.values(hooks)) await call(BOSS, 'DELETE', `/webhooks/${h.id}`, undefined, 204);
  });

  test('a receiver that fails first: retried with backoff, each attempt in the delivery log; the test delivery; the metrics', async () => {
    const hook = await subscribe('acme', { url: `${rx.url}/flaky`, events: ['push'], repository: 'acme/flaky' });
    rx.script('/flaky', (n) => (n <= 2 ? 503 : 200));
    const img = await as(() => pushImage(s.url, 'acme/flaky', 'v1'));
    await rx.until(() => rx.accepted('/flaky').length === 1, 'the third attempt');
    let log: LogEntry[] = [];
    for (let i = 0; i < 50 && log.length < 3; i++) {
      log = (await call(BOSS, 'GET', `/webhooks/${hook.id}/deliveries`, undefined, 200) as { items: LogEntry[] }).items;
      if (log.length < 3) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(log.map((l) => [l.attempt, l.eventType, l.status, l.outcome, l.error, l.response]), [
      [3, 'io.wharf.image.pushed', 200, 'delivered', null, 'received'],
      [2, 'io.wharf.image.pushed', 503, 'failed_attempt', 'HTTP 503', 'no thanks (503)'],
      [1, 'io.wharf.image.pushed', 503, 'failed_attempt', 'HTTP 503', 'no thanks (503)'],
    ]);
    assert.equal(new Set(log.map((l) => l.eventId)).size, 1);
    assert.equal(body<CloudEvent>(rx.accepted('/flaky')[0]!).data.digest, img.digest);
    // The retries waited: at least half of 200 ms, then of 400 ms.
    const at = log.map((l) => Date.parse(l.at)).reverse();
    assert.ok(at[1]! - at[0]! >= 100 && at[2]! - at[1]! >= 200, `attempts at ${log.map((l) => l.at).join(', ')}`);
    expectError(await api(s, BOSS, 'GET', `/webhooks/${hook.id}/deliveries?n=0`), 400, 'INVALID');
    assert.equal((await call(BOSS, 'GET', `/webhooks/${hook.id}/deliveries?n=1`, undefined, 200) as { items: LogEntry[] }).items.length, 1);

    // The test delivery: at once, signed, reported, logged; a failing receiver is reported too.
    const ok = await call(BOSS, 'POST', `/webhooks/${hook.id}/test`, undefined, 200) as { eventId: string; delivered: boolean; status: number; durationMs: number; response: string; error: null };
    assert.deepEqual({ ...ok, eventId: '', durationMs: 0 }, { eventId: '', delivered: true, status: 200, durationMs: 0, response: 'received', error: null });
    const testDelivery = rx.deliveries.find((d) => d.headers['x-wharf-delivery'] === ok.eventId)!;
    assert.equal(testDelivery.headers['x-wharf-event'], 'io.wharf.webhook.test');
    assert.ok(validSignature(hook.secret!, testDelivery.body, testDelivery.headers['x-wharf-signature-256']));
    assert.deepEqual({ ...body<CloudEvent>(testDelivery), id: '', time: '' }, {
      specversion: '1.0', id: '', source: s.url, type: 'io.wharf.webhook.test', time: '', subject: 'acme/flaky', datacontenttype: 'application/json',
      data: { webhook: hook.id, namespace: 'acme', repository: 'acme/flaky', actor: { name: 'boss', kind: 'user' } },
    });
    rx.script('/flaky', () => 500);
    const failed = await call(BOSS, 'POST', `/webhooks/${hook.id}/test`, undefined, 200) as { delivered: boolean; status: number; error: string };
    assert.deepEqual([failed.delivered, failed.status, failed.error], [false, 500, 'HTTP 500']);
    const latest = (await call(BOSS, 'GET', `/webhooks/${hook.id}/deliveries?n=2`, undefined, 200) as { items: LogEntry[] }).items;
    assert.deepEqual(latest.map((l) => [l.eventType, l.status, l.outcome]), [['io.wharf.webhook.test', 500, 'failed_attempt'], ['io.wharf.webhook.test', 200, 'delivered']]);
    expectError(await api(s, EDITOR, 'POST', `/webhooks/${hook.id}/test`), 404, 'NOT_FOUND');

    const metrics = (await req(s.url, '/metrics')).body.toString();
    const value = (line: string): number => Number(new RegExp(`^${line.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    assert.ok(value('wharf_webhook_deliveries_total{outcome="delivered"}') >= 2);
    assert.ok(value('wharf_webhook_deliveries_total{outcome="failed_attempt"}') >= 3);
    assert.equal(value('wharf_webhook_deliveries_total{outcome="gave_up"}'), 0);
    assert.ok(value('wharf_webhook_delivery_duration_seconds_count') >= 5);
    assert.equal(value('wharf_webhook_outbox_pending'), 0);
    await call(BOSS, 'DELETE', `/webhooks/${hook.id}`, undefined, 204);
  });

  test('the secrets are in no answer after their creation and nowhere in the server\'s log', async () => {
    assert.ok(secrets.length >= 4);
    for (const secret of secrets) {
      assert.ok(!answers.some((a) => a.includes(secret) && !a.includes('"secret":')), 'a secret in an answer other than its creation');
      assert.ok(!s.logs.some((l) => l.includes(secret)), 'a secret in the server log');
    }
    assert.equal(answers.filter((a) => a.includes('"secret":')).length, secrets.filter((x) => x.startsWith('wharf_whsec_')).length, 'only generated secrets are answered, once each');
    assert.ok(!s.logs.some((l) => l.includes('pass-word')), 'a URL\'s password in the server log');
    const r: Res = await api(s, ADMIN, 'GET', '/audit?n=1000');
    for (const secret of secrets) assert.ok(!r.body.toString().includes(secret));
  });
});
