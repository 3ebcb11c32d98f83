// The test of webhook delivery: a receiver on 127.0.0.1 fails the first deliveries (500s, and one
// answer that never comes, so the attempt times out), Wharf is killed (SIGKILL) while another delivery hangs
// and started again on the same data, more events follow, and every event — pushes, a tag move, pulls, a tag
// delete and a manifest delete — arrives at least once (de-duplicated by its id), each delivery signed with
// the subscription's HMAC, the outbox's claims outliving the killed process.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getManifest, pushImage } from './lib/registry.js';
import { expectStatus, req } from './lib/http.js';
import { ADMIN, ADMIN_PASSWORD, apiOk, withHeaders } from './lib/builtin.js';
import { validSignature, WebhookReceiver } from './lib/webhook-receiver.js';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

interface CloudEvent { id: string; type: string; subject: string; data: { digest: string } }
interface LogEntry { eventId: string; status: number | null; error: string | null; outcome: string }

describe('webhooks: at least once, across a crash', () => {
  const rx = new WebhookReceiver();
  const dataDir = mkdtempSync(join(tmpdir(), 'wharf-webhooks-crash-'));
  let db: TestDatabase | undefined;
  let s: WharfServer | undefined;
  const logs: string[] = [];

  const start = async (): Promise<WharfServer> => startWharf({
    dataDir,
    env: {
      WHARF_AUTH_MODE: 'builtin', WHARF_ADMIN_PASSWORD: ADMIN_PASSWORD, WHARF_AUTH_BUILTIN_BCRYPT_COST: '4',
      WHARF_WEBHOOKS_TIMEOUT: '2s', WHARF_WEBHOOKS_RETRY_INITIAL: '300ms', WHARF_WEBHOOKS_RETRY_MAX: '1s', WHARF_WEBHOOKS_MAX_ATTEMPTS: '100',
      ...(db ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url } : {}),
    },
    onLog: (rec) => { logs.push(JSON.stringify(rec)); },
  });

  after(async () => {
    await s?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await db?.drop();
    await rx.stop();
  });

  test('500s, a timeout and a killed process: every event arrives, signed, at least once', async () => {
    await rx.start();
    if (process.env.WHARF_TEST_META === 'postgres') db = await createTestDatabase();
    s = await start();
    await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'acme' }, 201);
    const hook = await apiOk(s, ADMIN, 'POST', '/namespaces/acme/webhooks', { url: `${rx.url}/events`, events: ['push', 'tag-move', 'pull', 'delete'] }, 201) as { id: number; secret: string };

    // First the receiver fails: 500 to all, the second request is never answered (the attempt times out),
    // and once that timeout is logged the next request hangs too, and Wharf is killed under it.
    let phase: 'failing' | 'hang-next' | 'healthy' = 'failing';
    rx.script('/events', (n) => {
      if (phase === 'healthy') return 200;
      if (n === 2) return 'hang';
      if (phase === 'hang-next') { phase = 'failing'; return 'hang'; }
      return 500;
    });
    const base = s.url;
    const one = await withHeaders(ADMIN, () => pushImage(base, 'acme/app', 'v1'));
    const two = await withHeaders(ADMIN, () => pushImage(base, 'acme/app', 'v1'));
    expectStatus(await withHeaders(ADMIN, () => getManifest(base, 'acme/app', 'v1')), 200);
    expectStatus(await req(base, '/v2/acme/app/manifests/v1', { method: 'DELETE', headers: ADMIN }), 202);
    const attempted = (): Set<string> => new Set(rx.deliveries.map((d) => (JSON.parse(d.body) as CloudEvent).id));
    await rx.until(() => attempted().size === 5, 'an attempt at each of the first 5 events (the pull is in the outbox)');

    // The timed-out attempt reaches the delivery log (read through the admin API).
    let log: LogEntry[] = [];
    for (let i = 0; i < 200 && !log.some((l) => l.error === 'timed out after 2000 ms'); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      log = ((await apiOk(s, ADMIN, 'GET', `/webhooks/${hook.id}/deliveries`, undefined, 200)) as { items: LogEntry[] }).items;
    }
    assert.ok(log.some((l) => l.error === 'timed out after 2000 ms' && l.status === null && l.outcome === 'failed_attempt'), JSON.stringify(log));
    assert.ok(log.some((l) => l.status === 500 && l.outcome === 'failed_attempt'));

    phase = 'hang-next';
    const hangs = rx.deliveries.filter((d) => d.answered === 'hang').length;
    await rx.until(() => rx.deliveries.filter((d) => d.answered === 'hang').length > hangs, 'a delivery in flight to kill Wharf under');
    await s.kill();
    phase = 'healthy';
    assert.equal(rx.accepted('/events').length, 0, 'nothing was taken before the crash');

    // The same data, a new process: what the outbox held goes out (the killed one's claim lapses), and new events too.
    s = await start();
    const three = await withHeaders(ADMIN, () => pushImage(s!.url, 'acme/lib', 'v2'));
    expectStatus(await withHeaders(ADMIN, () => getManifest(s!.url, 'acme/lib', three.digest)), 200);
    expectStatus(await req(s.url, `/v2/acme/lib/manifests/${three.digest}`, { method: 'DELETE', headers: ADMIN }), 202);

    const accepted = (): Map<string, CloudEvent> => new Map(rx.accepted('/events').map((d) => [(JSON.parse(d.body) as CloudEvent).id, JSON.parse(d.body) as CloudEvent]));
    await rx.until(() => accepted().size === 8, 'all 8 events accepted', 60_000);
    for (const d of rx.deliveries) {
      assert.ok(validSignature(hook.secret, d.body, d.headers['x-wharf-signature-256']), `delivery ${d.headers['x-wharf-delivery']} signed with the secret`);
      assert.equal(d.headers['x-wharf-delivery'], (JSON.parse(d.body) as CloudEvent).id);
    }
    const got = [...accepted().values()].map((e) => `${e.type} ${e.subject}`).sort();
    assert.deepEqual(got, [
      'io.wharf.image.deleted acme/lib@' + three.digest,
      'io.wharf.image.pulled acme/app:v1',
      'io.wharf.image.pulled acme/lib@' + three.digest,
      'io.wharf.image.pushed acme/app:v1',
      'io.wharf.image.pushed acme/app:v1',
      'io.wharf.image.pushed acme/lib:v2',
      'io.wharf.tag.deleted acme/app:v1',
      'io.wharf.tag.moved acme/app:v1',
    ]);
    const pushedDigests = [...accepted().values()].filter((e) => e.type === 'io.wharf.image.pushed').map((e) => e.data.digest).sort();
    assert.deepEqual(pushedDigests, [one.digest, two.digest, three.digest].sort());
    assert.ok(!logs.some((l) => l.includes(hook.secret)), 'the secret in the server log');
  });
});
