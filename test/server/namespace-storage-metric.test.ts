// wharf_namespace_storage_bytes: storage per namespace, counted as quotas count it (each blob once per
// namespace), computed off the scrape path. In-process: a scrape serves the values at hand and never
// waits for a computation; a new one starts only when they are older than the refresh interval.
// Black-box: a real `wharf serve` reports what its namespaces hold.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { WharfMetrics } from '../../src/server/metrics.js';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { expectStatus, req } from '../api/lib/http.js';
import { makeImage, pushImageParts } from '../api/lib/registry.js';

const GAUGE = /^wharf_namespace_storage_bytes\{namespace="([^"]+)"\} (\d+)$/;

function storage(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = GAUGE.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

describe('storage per namespace, in process', () => {
  test('computed at start and again only when a scrape finds it older than the refresh interval; the scrape never waits', async () => {
    const metrics = new WharfMetrics('test');
    let calls = 0;
    let answer = new Map([['acme', 100], ['beta', 5]]);
    let gate: Promise<void> = Promise.resolve();
    const watch = metrics.watchNamespaceStorage(async () => { calls++; await gate; return answer; }, 200, (e) => { throw e; });
    await sleep(10);
    assert.equal(calls, 1, 'computed once at start');
    assert.deepEqual(storage((await metrics.render()).body), { acme: 100, beta: 5 });
    await metrics.render();
    assert.equal(calls, 1, 'fresh values are served as they are');

    // Older than the interval: the scrape starts a computation, and answers with the values at hand at once.
    await sleep(250);
    let release!: () => void;
    gate = new Promise((r) => { release = r; });
    answer = new Map([['acme', 150]]);
    const started = performance.now();
    assert.deepEqual(storage((await metrics.render()).body), { acme: 100, beta: 5 });
    assert.ok(performance.now() - started < 100, 'the scrape did not wait for the computation');
    assert.equal(calls, 2);
    await metrics.render();
    assert.equal(calls, 2, 'one computation at a time');
    release();
    await sleep(10);
    assert.deepEqual(storage((await metrics.render()).body), { acme: 150 }, 'replaced whole: a namespace that went is gone');
    await watch.stop();
  });
});

describe('storage per namespace from `wharf serve`', () => {
  let s: WharfServer;
  before(async () => { s = await startWharf({ env: { WHARF_METRICS_STORAGE_REFRESH: '0s' } }); });
  after(async () => { await s.stop(); s.cleanup(); });

  test('each blob once per namespace; repositories without a namespace are in none', async () => {
    const ns = `storage${Date.now().toString(36)}`;
    const shared = makeImage({ layerSize: 1000 });
    await pushImageParts(s.url, `${ns}/a`, 'v1', shared);
    await pushImageParts(s.url, `${ns}/b/c`, 'v1', shared);
    const other = makeImage({ layerSize: 300 });
    await pushImageParts(s.url, `${ns}/b`, 'v1', other);
    await pushImageParts(s.url, 'toplevel', 'v1', makeImage());
    const size = (i: typeof shared): number => i.config.size + i.layers[0]!.size + i.manifest.size;
    let got: Record<string, number> = {};
    for (let i = 0; i < 100 && got[ns] !== size(shared) + size(other); i++) {
      const r = await req(s.url, '/metrics');
      expectStatus(r, 200);
      got = storage(r.body.toString());
      await sleep(50);
    }
    assert.equal(got[ns], size(shared) + size(other));
    assert.deepEqual(Object.keys(got), [ns], 'no series for repositories outside a namespace');
  });
});
