// `wharf admin webhook create|list|deliveries|test|enable|disable|delete` black-box: the real bin/wharf.cjs
// against a real `wharf serve` (auth.mode builtin) on 127.0.0.1 and a receiver there, logged in with `wharf
// login --password-stdin`. Each command's effect is checked on the receiver or the server, in json and in
// text; then the errors (the server's refusal exits 1 with its message, usage errors exit 2 offline).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, withHeaders, type BuiltinServer } from '../api/lib/builtin.js';
import { pushImage } from '../api/lib/registry.js';
import { validSignature, WebhookReceiver } from '../api/lib/webhook-receiver.js';
import { fails, json, ok, type WharfRun } from './lib/isolated-env.js';
import { AdminCast } from './lib/admin-cast.js';

interface Hook { id: number; namespace: string; repository: string | null; url: string; events: string[]; repositories: string | null; tags: string | null; format: string; enabled: boolean; batch: number; secretFingerprint: string; secret?: string }

let cast: AdminCast;
let s: BuiltinServer;
const rx = new WebhookReceiver();

const admin = (who: string, args: string[], input?: string): Promise<WharfRun> => cast.admin(who, args, input);

describe('wharf admin webhook', () => {
  before(async () => {
    await rx.start();
    cast = await AdminCast.start('wharf-admin-webhook-', 'editor');
    s = cast.server;
  });

  after(async () => {
    await cast?.close();
    await rx.stop();
  });

  test('create (generated secret, json), a push arrives signed with it; create (secret from stdin, text); list; delete', async () => {
    const made = json<Hook>(await admin('admin', ['webhook', 'create', 'acme', `${rx.url}/cli`, '--events', 'push,tag-move', '--tags', 'v*', '--format', 'json']));
    assert.match(made.secret!, /^wharf_whsec_/);
    assert.deepEqual([made.namespace, made.repository, made.events, made.tags, made.format, made.enabled, made.batch], ['acme', null, ['push', 'tag-move'], 'v*', 'cloudevents', true, 1]);
    await withHeaders(ADMIN, () => pushImage(s.url, 'acme/app', 'v1'));
    await rx.until(() => rx.accepted('/cli').length === 1, 'the push');
    const d = rx.accepted('/cli')[0]!;
    assert.ok(validSignature(made.secret!, d.body, d.headers['x-wharf-signature-256']));

    const text = ok(await admin('admin', ['webhook', 'create', 'acme/app', `${rx.url}/dist`, '--events', 'delete', '--payload', 'distribution', '--batch', '25', '--secret-stdin', '--disabled'], 'my-own-secret\n')).stdout;
    assert.match(text, /^Created webhook (\d+) on acme\/app: delete to http:\/\/127\.0\.0\.1:\d+\/dist \(distribution, batches of up to 25, disabled\)\nDeliveries are signed with the secret you gave \(fingerprint [0-9a-f]{8}\)\.\n$/);
    assert.ok(!text.includes('my-own-secret'));
    const second = Number(/webhook (\d+)/.exec(text)![1]);
    const generated = ok(await admin('admin', ['webhook', 'create', 'acme', `${rx.url}/x`, '--events', 'pull', '--repositories', 'acme/web-*'])).stdout.split('\n');
    assert.match(generated[1]!, /^Deliveries are signed with this secret \(X-Wharf-Signature-256\); it is shown only now, store it safely:$/);
    assert.match(generated[2]!, /^wharf_whsec_[A-Za-z0-9_-]{43}$/);
    const third = Number(/webhook (\d+)/.exec(generated[0]!)![1]);

    const listed = json<Hook[]>(await admin('admin', ['webhook', 'list', 'acme', '--format', 'json']));
    assert.deepEqual(listed.map((h) => [h.id, h.repository, h.format, h.batch, h.enabled, 'secret' in h]), [[made.id, null, 'cloudevents', 1, true, false], [second, 'acme/app', 'distribution', 25, false, false], [third, null, 'cloudevents', 1, true, false]]);
    const table = ok(await admin('admin', ['webhook', 'list'])).stdout.split('\n');
    assert.match(table[0]!, /^ID\s+ON\s+EVENTS\s+FILTERS\s+FORMAT\s+BATCH\s+ENABLED\s+URL$/);
    assert.match(table[1]!, new RegExp(`^${made.id}\\s+acme\\s+push,tag-move\\s+tags=v\\*\\s+cloudevents\\s+1\\s+yes\\s+http://127\\.0\\.0\\.1:\\d+/cli$`));
    assert.match(table[2]!, new RegExp(`^${second}\\s+acme/app\\s+delete\\s+-\\s+distribution\\s+25\\s+no\\s+`));
    assert.match(table[3]!, new RegExp(`^${third}\\s+acme\\s+pull\\s+repositories=acme/web-\\*\\s+cloudevents\\s+1\\s+yes\\s+`));

    assert.match(ok(await admin('admin', ['webhook', 'enable', String(second)])).stdout, new RegExp(`^Webhook ${second} is enabled\\n$`));
    assert.equal(json<Hook>(await admin('admin', ['webhook', 'disable', String(second), '--format', 'json'])).enabled, false);
    assert.deepEqual(json(await admin('admin', ['webhook', 'delete', String(third), '--format', 'json'])), { id: third, deleted: true });
    assert.match(ok(await admin('admin', ['webhook', 'delete', String(second)])).stdout, new RegExp(`^Deleted webhook ${second}\\n$`));
    assert.deepEqual(json<Hook[]>(await admin('admin', ['webhook', 'list', '--format', 'json'])).map((h) => h.id), [made.id]);
  });

  test('test and deliveries: a receiver that takes it (exit 0), one that refuses (exit 1); the log in json and text', async () => {
    const id = json<Hook[]>(await admin('admin', ['webhook', 'list', 'acme', '--format', 'json']))[0]!.id;
    assert.match(ok(await admin('admin', ['webhook', 'test', String(id)])).stdout, new RegExp(`^Delivered test event [0-9a-f-]{36} to webhook ${id}: HTTP 200 in \\d+ ms\\n$`));
    rx.script('/cli', () => 502);
    const refused = await admin('admin', ['webhook', 'test', String(id), '--format', 'json']);
    assert.equal(refused.code, 1);
    const r = JSON.parse(refused.stdout) as { delivered: boolean; status: number; error: string };
    assert.deepEqual([r.delivered, r.status, r.error], [false, 502, 'HTTP 502']);
    rx.script('/cli', () => 200);

    const log = json<{ eventType: string; attempt: number; status: number; outcome: string }[]>(await admin('admin', ['webhook', 'deliveries', String(id), '--format', 'json']));
    assert.deepEqual(log.map((l) => [l.eventType, l.status, l.outcome]), [
      ['io.wharf.webhook.test', 502, 'failed_attempt'], ['io.wharf.webhook.test', 200, 'delivered'], ['io.wharf.image.pushed', 200, 'delivered'],
    ]);
    const text = ok(await admin('admin', ['webhook', 'deliveries', String(id), '-n', '1'])).stdout.split('\n');
    assert.match(text[0]!, /^AT\s+EVENT\s+ATTEMPT\s+STATUS\s+MS\s+OUTCOME\s+ERROR\s+EVENT ID$/);
    assert.match(text[1]!, /^\d{4}-\d\d-\d\dT[\d:]+Z\s+io\.wharf\.webhook\.test\s+1\s+502\s+\d+\s+failed_attempt\s+HTTP 502\s+[0-9a-f-]{36}$/);
    assert.equal(text.length, 3);
  });

  test('errors: the server\'s refusal exits 1 with its message; usage errors exit 2 without the network', async () => {
    fails(await admin('dev', ['webhook', 'create', 'acme', `${rx.url}/x`, '--events', 'push']), 1, /^wharf: only admins of acme may change its webhooks\n$/);
    fails(await admin('dev', ['webhook', 'list']), 1, /^wharf: only system administrators may do this\n$/);
    fails(await admin('admin', ['webhook', 'delete', '999999']), 1, /^wharf: no webhook "999999"\n$/);
    fails(await admin('admin', ['webhook', 'create', 'acme', 'ftp://x/y', '--events', 'push']), 1, /url: an http:\/\/ or https:\/\/ URL/);
    const offline = (args: string[], input?: string): Promise<WharfRun> => cast.offline(args, input);
    fails(await offline(['webhook', 'create', 'acme', 'http://x/y']), 2, /required option '--events <list>'/);
    fails(await offline(['webhook', 'create', 'acme', 'http://x/y', '--events', 'push,scan']), 2, '--events takes a list of push, delete, pull, tag-move');
    fails(await offline(['webhook', 'create', 'acme', 'http://x/y', '--events', 'push', '--payload', 'xml']), 2, '--payload takes cloudevents or distribution');
    for (const n of ['0', '101', 'ten']) fails(await offline(['webhook', 'create', 'acme', 'http://x/y', '--events', 'push', '--batch', n]), 2, '--batch takes a number from 1 to 100');
    fails(await offline(['webhook', 'create', '/app', 'http://x/y', '--events', 'push']), 2, 'name a namespace (ORG) or a repository (ORG/REPO)');
    fails(await offline(['webhook', 'create', 'acme', 'http://x/y', '--events', 'push', '--secret-stdin'], ''), 2, 'the secret on standard input is empty');
    fails(await offline(['webhook', 'test', 'one']), 2, 'a webhook id is a number');
    fails(await offline(['webhook', 'list', 'acme/app']), 2, 'list takes a namespace (ORG)');
    fails(await offline(['webhook', 'deliveries', '1', '-n', '51']), 2, '-n takes a number from 1 to 50');
  });
});
