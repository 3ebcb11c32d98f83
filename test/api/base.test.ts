// GET /v2/: the version check every client starts with; and the shape of responses to unknown endpoints.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, parseJson, req } from './lib/http.js';

describe('API base', () => {
  const s = useWharf();

  test('GET /v2/ answers 200 with Docker-Distribution-API-Version: registry/2.0', async () => {
    const res = await req(s.url, '/v2/');
    expectStatus(res, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    // The body, when present, is JSON (Distribution sends {}).
    if (res.body.length > 0) parseJson(res);
  });

  test('GET /healthz and GET /readyz answer 200: the process lives, its database and blob store answer', async () => {
    expectStatus(await req(s.url, '/healthz'), 200);
    const ready = await req(s.url, '/readyz');
    expectStatus(ready, 200);
    assert.deepEqual(parseJson(ready), { status: 'ready', checks: { database: 'ok', storage: 'ok' } });
  });

  test('HEAD /v2/ answers 200 with the version header and no body', async () => {
    const res = await req(s.url, '/v2/', { method: 'HEAD' });
    expectStatus(res, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal(res.body.length, 0);
  });

  test('error responses carry the version header and a spec error body', async () => {
    const res = await req(s.url, '/v2/no/such/repo/manifests/latest');
    expectError(res, 404, 'NAME_UNKNOWN');
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });

  test('an unknown endpoint under /v2/ is 404 with a JSON error body', async () => {
    const res = await req(s.url, '/v2/some/repo/whatever');
    expectError(res, 404);
  });

  test('a method an endpoint does not support is 405, not 500', async () => {
    const res = await req(s.url, '/v2/', { method: 'DELETE' });
    expectError(res, 405);
  });

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
