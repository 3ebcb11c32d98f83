// GET /v2/_catalog: every repository, sorted, with the same n/last pagination and Link header as tags.
// This file owns its server, so the catalog holds exactly what the tests pushed.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, nextLink, parseJson, req } from './lib/http.js';
import { catalog, listAll, pushImage } from './lib/registry.js';

describe('catalog', () => {
  const s = useWharf();
  const repos = ['zeta', 'alpha', 'beta/one', 'beta/two', 'delta', 'gamma/x/y', 'epsilon.io/lib', '0digit'];
  const sorted = [...repos].sort();

  test('an empty registry lists no repositories', async () => {
    const res = await req(s.url, '/v2/_catalog');
    expectStatus(res, 200);
    assert.deepEqual(parseJson<{ repositories: string[] | null }>(res).repositories ?? [], []);
    assert.equal(res.headers.get('link'), null);
  });

  describe('with repositories', () => {
    before(async () => {
      for (const r of repos) await pushImage(s.url, r, 'latest');
    });

    test('GET lists every repository, sorted', async () => {
      const res = await req(s.url, '/v2/_catalog');
      expectStatus(res, 200);
      assert.match(res.headers.get('content-type') ?? '', /json/);
      assert.deepEqual(parseJson(res), { repositories: sorted });
    });

    test('n=2 gives two and a Link to the rest with n=2 and last=<second>', async () => {
      const res = await req(s.url, '/v2/_catalog?n=2');
      expectStatus(res, 200);
      assert.deepEqual(parseJson<{ repositories: string[] }>(res).repositories, sorted.slice(0, 2));
      const link = nextLink(res);
      assert.ok(link, 'Link expected');
      const u = new URL(link, s.url);
      assert.equal(u.pathname, '/v2/_catalog');
      assert.equal(u.searchParams.get('n'), '2');
      assert.equal(u.searchParams.get('last'), sorted[1]);
      assert.match(res.headers.get('link')!, /^<[^>]+>;\s*rel="next"$/);
    });

    test('following the Links collects every repository exactly once, in order', async () => {
      for (const n of [1, 2, 3, 100]) {
        const { items, pages } = await listAll(s.url, `/v2/_catalog?n=${n}`, 'repositories');
        assert.deepEqual(items, sorted, `n=${n}`);
        for (const p of pages) assert.ok(parseJson<{ repositories: string[] }>(p).repositories.length <= n);
      }
    });

    test('last with a slash in it pages correctly', async () => {
      const res = await req(s.url, `/v2/_catalog?n=1&last=${encodeURIComponent('beta/one')}`);
      expectStatus(res, 200);
      assert.deepEqual(parseJson<{ repositories: string[] }>(res).repositories, ['beta/two']);
      const rest = await listAll(s.url, nextLink(res)!, 'repositories');
      assert.deepEqual(rest.items, sorted.slice(sorted.indexOf('beta/two') + 1));
    });

    test('last alone returns the repositories after it', async () => {
      const res = await req(s.url, '/v2/_catalog?last=delta');
      expectStatus(res, 200);
      assert.deepEqual(parseJson<{ repositories: string[] }>(res).repositories, sorted.filter((r) => r > 'delta'));
    });

    test('n=0 returns an empty list and no Link', async () => {
      const res = await req(s.url, '/v2/_catalog?n=0');
      expectStatus(res, 200);
      assert.deepEqual(parseJson<{ repositories: string[] | null }>(res).repositories ?? [], []);
      assert.equal(res.headers.get('link'), null);
    });

    for (const n of ['-1', 'x', '2.5']) {
      test(`n=${n} is 400`, async () => {
        expectError(await req(s.url, `/v2/_catalog?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
      });
    }

    test('a repository created by a push appears in the next listing', async () => {
      await pushImage(s.url, 'beta/three', 'latest');
      const all = await catalog(s.url);
      assert.deepEqual(all, [...sorted, 'beta/three'].sort());
    });
  });

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
