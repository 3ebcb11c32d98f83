// GET /v2/<name>/tags/list: lexical order, pagination with n and last, the Link header, n=0,
// invalid n, unknown repositories, and tags that come and go.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, nextLink, parseJson, req } from './lib/http.js';
import { MT, repoName } from './lib/content.js';
import { listAll, pushImage, pushManifest, tagsOf } from './lib/registry.js';

describe('tags list', () => {
  const s = useWharf();
  const repo = repoName('tags');
  // Mixed case, digits, separators: the order must be byte-wise ("ASCIIbetical", Go's sort.Strings).
  const tags = ['latest', 'v1', 'v1.0', 'v1.10', 'v1.2', 'v1-rc', 'v1_rc', 'A', 'Z', '_x', '0', '9z', 'a', 'b', 'zz', 'V2'];
  const sorted = [...tags].sort();
  const abc = repoName('tags-abc');

  before(async () => {
    const img = await pushImage(s.url, repo, tags[0]!);
    for (const t of tags.slice(1)) await pushManifest(s.url, repo, t, img.manifest, MT.ociManifest);
    const img2 = await pushImage(s.url, abc, 'a');
    for (const t of ['b', 'c', 'd', 'e']) await pushManifest(s.url, abc, t, img2.manifest, MT.ociManifest);
  });

  const get = (path: string) => req(s.url, path);

  test('GET lists every tag, sorted lexically, with the repository name', async () => {
    const res = await get(`/v2/${repo}/tags/list`);
    expectStatus(res, 200);
    assert.match(res.headers.get('content-type') ?? '', /json/);
    assert.deepEqual(parseJson(res), { name: repo, tags: sorted });
    assert.equal(res.headers.get('link'), null, 'no Link when everything fits');
  });

  test('n=2 returns the first two and a Link </v2/<name>/tags/list?n=2&last=b>; rel="next"', async () => {
    const res = await get(`/v2/${abc}/tags/list?n=2`);
    expectStatus(res, 200);
    assert.deepEqual(parseJson(res), { name: abc, tags: ['a', 'b'] });
    assert.equal(res.headers.get('link'), `</v2/${abc}/tags/list?n=2&last=b>; rel="next"`);
  });

  test('following the Links collects every tag exactly once, in order', async () => {
    for (const n of [1, 2, 3, 5, 7]) {
      const { items, pages } = await listAll(s.url, `/v2/${repo}/tags/list?n=${n}`, 'tags');
      assert.deepEqual(items, sorted, `n=${n}`);
      for (const [i, page] of pages.entries()) {
        const count = (parseJson<{ tags: string[] }>(page).tags ?? []).length;
        assert.ok(count <= n, `page ${i} of n=${n} has ${count} tags`);
        // The spec lets a page with a Link hold fewer than n tags, but an empty page that links onwards is useless.
        if (nextLink(page) !== null) assert.ok(count > 0, `page ${i} of n=${n} is empty yet links onwards`);
      }
      assert.ok(pages.length >= Math.ceil(sorted.length / n), `n=${n}: ${pages.length} pages for ${sorted.length} tags`);
    }
  });

  test('each Link keeps n and names the last tag of its page', async () => {
    const res = await get(`/v2/${repo}/tags/list?n=3`);
    const link = nextLink(res);
    assert.ok(link, 'a Link when more tags exist');
    const u = new URL(link, s.url);
    assert.equal(u.pathname, `/v2/${repo}/tags/list`);
    assert.equal(u.searchParams.get('n'), '3');
    assert.equal(u.searchParams.get('last'), sorted[2]);
    assert.match(res.headers.get('link')!, /;\s*rel="next"$/);
  });

  test('last alone returns the tags after it', async () => {
    const res = await get(`/v2/${abc}/tags/list?last=b`);
    expectStatus(res, 200);
    assert.deepEqual(parseJson<{ tags: string[] }>(res).tags, ['c', 'd', 'e']);
  });

  test('n and last together page from last', async () => {
    const res = await get(`/v2/${abc}/tags/list?n=2&last=b`);
    expectStatus(res, 200);
    assert.deepEqual(parseJson<{ tags: string[] }>(res).tags, ['c', 'd']);
    assert.equal(res.headers.get('link'), `</v2/${abc}/tags/list?n=2&last=d>; rel="next"`);
  });

  test('last need not be an existing tag; last past the end gives an empty list', async () => {
    assert.deepEqual(parseJson<{ tags: string[] }>(await get(`/v2/${abc}/tags/list?last=bb`)).tags, ['c', 'd', 'e']);
    const end = await get(`/v2/${abc}/tags/list?last=zzz`);
    expectStatus(end, 200);
    assert.deepEqual(parseJson<{ tags: string[] | null }>(end).tags ?? [], []);
    assert.equal(end.headers.get('link'), null);
    assert.deepEqual(parseJson<{ tags: string[] }>(await get(`/v2/${abc}/tags/list?last=0`)).tags, ['a', 'b', 'c', 'd', 'e']);
  });

  test('n larger than the number of tags returns them all without a Link', async () => {
    const res = await get(`/v2/${abc}/tags/list?n=100`);
    expectStatus(res, 200);
    assert.deepEqual(parseJson<{ tags: string[] }>(res).tags, ['a', 'b', 'c', 'd', 'e']);
    assert.equal(res.headers.get('link'), null);
  });

  test('n=0 returns an empty list and no Link', async () => {
    const res = await get(`/v2/${abc}/tags/list?n=0`);
    expectStatus(res, 200);
    assert.deepEqual(parseJson<{ tags: string[] | null }>(res).tags ?? [], []);
    assert.equal(res.headers.get('link'), null);
  });

  for (const n of ['-1', 'abc', '1.5', '1e3', '0x10', '99999999999999999999999']) {
    test(`n=${n} is 400`, async () => {
      expectError(await get(`/v2/${abc}/tags/list?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
    });
  }

  test('an unknown repository is 404 NAME_UNKNOWN', async () => {
    expectError(await get(`/v2/${repoName('tags-ghost')}/tags/list`), 404, 'NAME_UNKNOWN');
  });

  test('a deleted tag leaves the list; a repository whose tags are all gone lists none', async () => {
    const r = repoName('tags-del');
    const img = await pushImage(s.url, r, 'one');
    await pushManifest(s.url, r, 'two', img.manifest, MT.ociManifest);
    expectStatus(await req(s.url, `/v2/${r}/manifests/one`, { method: 'DELETE' }), 202);
    assert.deepEqual(await tagsOf(s.url, r), ['two']);
    expectStatus(await req(s.url, `/v2/${r}/manifests/${img.digest}`, { method: 'DELETE' }), 202);
    assert.deepEqual(await tagsOf(s.url, r), []);
  });

  test('a by-digest push adds no tag; re-tagging does not duplicate', async () => {
    const r = repoName('tags-nodup');
    const img = await pushImage(s.url, r, 'x');
    await pushManifest(s.url, r, img.digest, img.manifest, MT.ociManifest);
    await pushManifest(s.url, r, 'x', img.manifest, MT.ociManifest);
    assert.deepEqual(await tagsOf(s.url, r), ['x']);
  });

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
