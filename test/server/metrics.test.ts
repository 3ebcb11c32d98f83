// GET /metrics, black-box against real `wharf serve` processes: the Prometheus text format, counters
// that move by what the requests did, labels that never name a repository or tag, its own listener
// (metrics.addr) and the switch (metrics.enabled).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { req, expectStatus, sleep } from '../api/lib/http.js';
import { ALL_MANIFEST_TYPES } from '../api/lib/content.js';
import { getManifest, pushImage } from '../api/lib/registry.js';

interface Sample { name: string; labels: Record<string, string>; value: number }

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-]Inf)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const COMMENT = /^# (?:HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (?:counter|gauge|histogram|summary|untyped))$/;

/**
 * The text format, line by line; any line that is neither a sample, a HELP/TYPE comment nor empty fails.
 * NaN in any case: prom-client writes `Nan` (a Node.js gauge before its first sample), which Prometheus
 * reads (Go's ParseFloat ignores case).
 */
function parseProm(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      assert.match(line, COMMENT, `bad comment line: ${line}`);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `bad sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `where`. */
function value(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let v = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, x]) => s.labels[k] === x)) v += s.value;
  }
  return v;
}

async function scrape(base: string): Promise<{ text: string; samples: Sample[] }> {
  const res = await req(base, '/metrics');
  expectStatus(res, 200, 'scrape');
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = res.body.toString('utf8');
  return { text, samples: parseProm(text) };
}

const unique = (): string => `metricsprobe${randomBytes(4).toString('hex')}`;

describe('GET /metrics on the main listener', () => {
  let s: WharfServer;
  before(async () => { s = await startWharf(); });
  after(async () => { await s.stop(); s.cleanup(); });

  test('a push and pulls move the request, byte and job counters by what they did; no label names a repository or tag', async () => {
    const repo = `${unique()}/app`;
    const tag = `tag${unique()}`;
    const before = (await scrape(s.url)).samples;

    const img = await pushImage(s.url, repo, tag, { layers: 1, layerSize: 1000 });
    for (let i = 0; i < 3; i++) expectStatus(await getManifest(s.url, repo, tag), 200);
    for (let i = 0; i < 2; i++) expectStatus(await getManifest(s.url, repo, tag, 'HEAD'), 200);
    expectStatus(await req(s.url, `/v2/${repo}/blobs/${img.layers[0]!.digest}`), 200);
    expectStatus(await req(s.url, `/v2/${repo}/manifests/nosuchtag`, { headers: { accept: ALL_MANIFEST_TYPES } }), 404);

    // A request is counted when its response has finished on the server, which may come a moment after
    // the client has read it: scrape until the last requests are in (bounded), then check everything.
    const last = [{ route: 'manifest', method: 'GET', code: '404' }, { route: 'blob', method: 'GET', code: '200' }];
    const counted = (samples: typeof before): boolean =>
      last.every((l) => value(samples, 'wharf_http_request_duration_seconds_count', l) > value(before, 'wharf_http_request_duration_seconds_count', l));
    let got = await scrape(s.url);
    for (let i = 0; i < 40 && !counted(got.samples); i++) {
      await new Promise((r) => setTimeout(r, 50));
      got = await scrape(s.url);
    }
    const { text, samples: now } = got;
    // Low cardinality: no repository, tag or digest anywhere in the scrape (but the one series per namespace
    // of storage per namespace); routes from the fixed set.
    const unlabelled = text.split('\n').filter((l) => !l.startsWith('wharf_namespace_storage_bytes{')).join('\n');
    assert.ok(!unlabelled.includes(repo.split('/')[0]!), 'the repository name is absent from the scrape');
    assert.ok(!text.includes(tag), 'the tag is absent from the scrape');
    assert.ok(!text.includes(img.digest.slice(7, 20)), 'no digest in the scrape');
    const routes = new Set(now.filter((x) => x.labels.route !== undefined).map((x) => x.labels.route));
    for (const r of routes) assert.ok(['manifest', 'blob', 'blob_upload', 'tags', 'catalog', 'referrers', 'base', 'token', 'admin', 'health', 'metrics', 'other'].includes(r!), `unexpected route label ${r}`);
    const delta = (name: string, where: Record<string, string> = {}): number => value(now, name, where) - value(before, name, where);
    const count = 'wharf_http_request_duration_seconds_count';
    assert.equal(delta(count, { route: 'manifest', method: 'GET', code: '200' }), 3);
    assert.equal(delta(count, { route: 'manifest', method: 'HEAD', code: '200' }), 2);
    assert.equal(delta(count, { route: 'manifest', method: 'GET', code: '404' }), 1);
    assert.equal(delta(count, { route: 'manifest', method: 'PUT', code: '201' }), 1);
    assert.equal(delta(count, { route: 'blob', method: 'GET', code: '200' }), 1);
    // Two blobs, each a POST (202) and a PUT (201).
    assert.equal(delta(count, { route: 'blob_upload', method: 'POST', code: '202' }), 2);
    assert.equal(delta(count, { route: 'blob_upload', method: 'PUT', code: '201' }), 2);
    // One more bucket line per request in +Inf.
    assert.equal(delta('wharf_http_request_duration_seconds_bucket', { route: 'manifest', method: 'GET', code: '200', le: '+Inf' }), 3);

    const sizes = img.config.size + img.layers[0]!.size;
    assert.equal(delta('wharf_http_request_body_bytes_total', { route: 'blob_upload' }), sizes);
    assert.equal(delta('wharf_http_request_body_bytes_total', { route: 'manifest' }), img.manifest.size);
    // Three GETs send the manifest; HEADs send no body. The 404 sends its JSON error.
    const notFoundBody = (await req(s.url, `/v2/${repo}/manifests/nosuchtag`)).body.length;
    assert.equal(delta('wharf_http_response_body_bytes_total', { route: 'manifest' }), 3 * img.manifest.size + notFoundBody);
    assert.equal(delta('wharf_http_response_body_bytes_total', { route: 'blob' }), img.layers[0]!.size);

    assert.equal(value(now, 'wharf_uploads_in_progress'), 0);
    assert.equal(value(now, 'wharf_build_info', { version: '0.1.0' }), 1);
    assert.ok(value(now, 'wharf_job_runs_total', { job: 'upload-sweep', outcome: 'ran' }) >= 1, 'the start-up sweep is counted');
    assert.ok(now.some((x) => x.name === 'process_resident_memory_bytes'), 'process metrics are there');
    assert.ok(now.some((x) => x.name === 'nodejs_eventloop_lag_seconds'), 'Node.js metrics are there');

  });

  test('other endpoints get their own route labels', async () => {
    const before = (await scrape(s.url)).samples;
    expectStatus(await req(s.url, '/v2/'), 200);
    expectStatus(await req(s.url, '/v2/_catalog'), 200);
    expectStatus(await req(s.url, '/healthz'), 200);
    expectStatus(await req(s.url, '/nothing/here'), 404);
    const now = (await scrape(s.url)).samples;
    const count = 'wharf_http_request_duration_seconds_count';
    const delta = (where: Record<string, string>): number => value(now, count, where) - value(before, count, where);
    assert.equal(delta({ route: 'base', method: 'GET', code: '200' }), 1);
    assert.equal(delta({ route: 'catalog', method: 'GET', code: '200' }), 1);
    assert.equal(delta({ route: 'health', method: 'GET', code: '200' }), 1);
    assert.equal(delta({ route: 'other', method: 'GET', code: '404' }), 1);
    // The previous scrape is recorded too.
    assert.ok(delta({ route: 'metrics', method: 'GET', code: '200' }) >= 1);
  });
});

describe('metrics.addr: /metrics on its own listener', () => {
  let s: WharfServer;
  let metricsUrl = '';
  before(async () => {
    let seen: string | undefined;
    s = await startWharf({ env: { WHARF_METRICS_ADDR: '127.0.0.1:0' }, onLog: (rec) => { if (rec.msg === 'metrics listening') seen = rec.addr as string; } });
    assert.ok(seen, 'the metrics listener announced its address before the main one');
    metricsUrl = `http://${seen}`;
  });
  after(async () => { await s.stop(); s.cleanup(); });

  test('the main listener answers 404; the metrics listener serves the main listener\'s requests', async () => {
    expectStatus(await req(s.url, '/metrics'), 404);
    const before = (await scrape(metricsUrl)).samples;
    expectStatus(await req(s.url, '/v2/'), 200);
    const now = (await scrape(metricsUrl)).samples;
    const where = { route: 'base', method: 'GET', code: '200' };
    assert.equal(value(now, 'wharf_http_request_duration_seconds_count', where) - value(before, 'wharf_http_request_duration_seconds_count', where), 1);
    // The main listener's 404 for /metrics is recorded as an unmatched request, not as a scrape.
    assert.equal(value(now, 'wharf_http_request_duration_seconds_count', { route: 'metrics' }), 0);
    expectStatus(await req(metricsUrl, '/v2/'), 404);
    expectStatus(await req(metricsUrl, '/metrics', { method: 'POST', body: 'x' }), 404);
  });
});

describe('metrics.enabled=false', () => {
  let s: WharfServer;
  before(async () => { s = await startWharf({ env: { WHARF_METRICS_ENABLED: 'false' } }); });
  after(async () => { await s.stop(); s.cleanup(); });

  test('/metrics answers 404', async () => {
    expectStatus(await req(s.url, '/metrics'), 404);
    expectStatus(await req(s.url, '/v2/'), 200);
  });
});

describe('garbage collection metrics', () => {
  let s: WharfServer;
  before(async () => { s = await startWharf({ env: { WHARF_GC_INTERVAL: '1s', WHARF_GC_GRACE_PERIOD: '0s' } }); });
  after(async () => { await s.stop(); s.cleanup(); });

  test('a collection that deletes an image counts its runs, blobs and bytes', async () => {
    const repo = `${unique()}/gc`;
    const img = await pushImage(s.url, repo, null, { layers: 1, layerSize: 4096 });
    expectStatus(await req(s.url, `/v2/${repo}/manifests/${img.digest}`, { method: 'DELETE' }), 202);
    let now: Sample[] = [];
    for (let i = 0; i < 100; i++) {
      now = (await scrape(s.url)).samples;
      if (value(now, 'wharf_gc_blobs_deleted_total') >= 2) break;
      await sleep(100);
    }
    assert.ok(value(now, 'wharf_gc_blobs_deleted_total') >= 2, 'the config and the layer were deleted');
    assert.ok(value(now, 'wharf_gc_bytes_freed_total') >= img.config.size + img.layers[0]!.size);
    assert.ok(value(now, 'wharf_gc_manifests_deleted_total') >= 0);
    assert.ok(value(now, 'wharf_gc_runs_total', { outcome: 'ran' }) >= 1);
    assert.ok(value(now, 'wharf_job_runs_total', { job: 'gc', outcome: 'ran' }) >= 1);
  });
});
