// The webhook delivery thread as `wharf serve` runs it: a worker with its own store connection that
// delivers what the main thread's commits record once nudged, sharing the SQLite writer lock; outcomes
// come back for the metrics; stop ends the thread; a store it cannot open is a start-up error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/config.js';
import { systemClock } from '../../src/config/clock.js';
import { WebhookDeliveryThread } from '../../src/jobs/webhook-delivery-thread.js';
import { openMetaStore } from '../../src/store/open-meta-store.js';
import { WriterLock } from '../../src/store/meta/writer-lock.js';
import type { DeliveryOutcome } from '../../src/store/meta/meta-store.js';

const payload = (n: number): string => JSON.stringify({
  type: 'io.wharf.image.pushed', repository: 'acme/app', digest: `sha256:${String(n).padStart(64, '0')}`, tag: `v${n}`, previousDigest: null,
  mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10, actor: { name: 'dev', kind: 'user' }, request: null, source: { addr: 'h', instanceID: 'i' },
});

describe('webhook delivery thread', () => {
  test('delivers what the main thread records once nudged, reports the outcomes, and ends on stop', async (t) => {
    const received: string[] = [];
    const rx = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        received.push(String(req.headers['x-wharf-delivery']));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => rx.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(join(tmpdir(), 'wharf-delivery-thread-'));
    const config = loadConfig({ env: { WHARF_DATA: dir, WHARF_STORAGE_FSYNC: 'false' } });
    const writerLock = new WriterLock(WriterLock.newBuffer(), 1);
    const meta = await openMetaStore(config, systemClock, { writerLock });
    t.after(async () => {
      await meta.close();
      await new Promise<void>((resolve) => rx.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    });
    const port = (rx.address() as { port: number }).port;
    const hook = await meta.webhooks.subscriptions.create({
      namespace: 'acme', repository: null, url: `http://127.0.0.1:${port}/hook`, events: ['push'], repositories: null, tags: null,
      format: 'cloudevents', secret: 'the-secret', enabled: true, batch: 1,
    });
    const outcomes: DeliveryOutcome[] = [];
    const errors: Error[] = [];
    const thread = new WebhookDeliveryThread({ config, writerLock, onAttempt: (o) => outcomes.push(o), onError: (e) => errors.push(e) });
    await thread.ready;
    try {
      // Past the thread's first cycle (at its start), and well before its first poll (a second after it).
      await new Promise((r) => setTimeout(r, 100));
      // As a push's unit of work does: the deliveries in a transaction, then the nudge.
      await meta.tx((m) => m.webhooks.outbox.add([1, 2, 3].map((n) => ({ webhookId: hook.id, eventId: `e${n}`, eventType: 'io.wharf.image.pushed', payload: payload(n) }))));
      thread.nudge();
      // The thread's poll runs every second; a nudged cycle comes within milliseconds.
      for (let i = 0; i < 50 && (received.length < 3 || outcomes.length < 3); i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(received.sort(), ['e1', 'e2', 'e3'], 'delivered within half a second of the nudge (the poll comes after a second)');
      assert.deepEqual(outcomes, ['delivered', 'delivered', 'delivered'], 'the outcomes reach the main thread');
      for (let i = 0; i < 100 && (await meta.webhooks.outbox.pending()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await meta.webhooks.outbox.pending(), 0, 'made deliveries leave the outbox');
    } finally {
      await thread.stop();
    }
    assert.deepEqual(errors, []);
    // Stopped: a later delivery waits in the outbox.
    await meta.tx((m) => m.webhooks.outbox.add([{ webhookId: hook.id, eventId: 'e4', eventType: 'io.wharf.image.pushed', payload: payload(4) }]));
    thread.nudge();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received.length, 3);
    assert.equal(await meta.webhooks.outbox.pending(), 1);
  });

  test('a store the thread cannot open fails its start', async () => {
    // Nothing listens on port 1 of the loopback.
    const config = loadConfig({ env: { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: 'postgres://wharf@127.0.0.1:1/wharf?connect_timeout=2' } });
    const thread = new WebhookDeliveryThread({ config, onError: () => undefined });
    await assert.rejects(thread.ready, /ECONNREFUSED|connect/);
    await thread.stop();
  });
});
