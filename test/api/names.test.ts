// Repository names: invalid names (upper case, dot segments, encoded slashes, leading/double slashes,
// bad separators, over 255 characters) are refused with 400 NAME_INVALID or 404, never 5xx, on every
// endpoint, and nothing is stored, not even under the name a path normaliser would make of them.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { errorCodes, expectError, expectNot5xx, raw, show, type Res } from './lib/http.js';
import { MT, randomBlob } from './lib/content.js';
import { getManifest, makeImage, pushImage, pushImageParts, snapshot, type Image } from './lib/registry.js';

describe('repository names', () => {
  const s = useWharf();
  // Real repositories that a normalising server might confuse the invalid names with.
  const targets = ['names-target', 'names-base', 'names-base/names-target'];
  let img: Image;

  before(async () => {
    img = makeImage();
    // Each target holds the image's blobs, so a manifest PUT landing there by mistake would succeed.
    for (const t of targets) await pushImageParts(s.url, t, 'keep', img);
  });

  /** Refused: 400 NAME_INVALID, or 404 with a spec error body; never 2xx/3xx, never 5xx. */
  const expectRefused = (res: Res): void => {
    expectNot5xx(res);
    if (res.status === 404) {
      if (res.method !== 'HEAD') errorCodes(res);
      return;
    }
    assert.equal(res.status, 400, `expected 400 NAME_INVALID or 404: ${show(res)}`);
    expectError(res, 400, 'NAME_INVALID');
  };

  const invalid: [string, string][] = [
    ['upper case', 'Names-Target'],
    ['upper case in a later component', 'names-base/Names-Target'],
    ['a dot-dot segment', 'names-base/../names-target'],
    ['a leading dot-dot', '../names-target'],
    ['a dot segment', 'names-base/./names-target'],
    ['an encoded dot-dot', 'names-base/%2e%2e/names-target'],
    ['an encoded slash', 'names-base%2Fnames-target'],
    ['a leading slash', '/names-target'],
    ['a double slash', 'names-base//names-target'],
    ['a trailing slash', 'names-target/'],
    ['a leading separator', '-names-target'],
    ['a trailing separator', 'names-target-'],
    ['three underscores', 'names___target'],
    ['a dot next to a dash', 'names.-target'],
    ['a percent-encoded space', 'names%20target'],
    ['non-ASCII', 'caf%C3%A9'],
    ['256 characters', 'a'.repeat(256)],
    ['many components over 255 characters', `${'abcdefgh/'.repeat(28)}abcdefgh`],
  ];

  for (const [what, name] of invalid) {
    test(`a name with ${what} is refused on every endpoint and nothing is stored`, async () => {
      const before = await snapshot(s.url, targets, targets.map((repo) => ({ repo, digest: img.digest })));
      const blob = randomBlob(32);
      const attempts: Res[] = [
        await raw(s.url, `/v2/${name}/manifests/keep`),
        await raw(s.url, `/v2/${name}/manifests/keep`, { method: 'HEAD' }),
        await raw(s.url, `/v2/${name}/manifests/new`, { method: 'PUT', body: img.manifest.data, headers: { 'content-type': MT.ociManifest } }),
        await raw(s.url, `/v2/${name}/manifests/${img.digest}`, { method: 'PUT', body: img.manifest.data, headers: { 'content-type': MT.ociManifest } }),
        await raw(s.url, `/v2/${name}/manifests/keep`, { method: 'DELETE' }),
        await raw(s.url, `/v2/${name}/blobs/${img.config.digest}`),
        await raw(s.url, `/v2/${name}/blobs/${img.config.digest}`, { method: 'DELETE' }),
        await raw(s.url, `/v2/${name}/blobs/uploads/`, { method: 'POST' }),
        await raw(s.url, `/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { method: 'POST', body: blob.data, headers: { 'content-type': 'application/octet-stream' } }),
        await raw(s.url, `/v2/${name}/blobs/uploads/?mount=${img.config.digest}&from=names-target`, { method: 'POST' }),
        await raw(s.url, `/v2/${name}/tags/list`),
        await raw(s.url, `/v2/${name}/referrers/${img.digest}`),
      ];
      for (const res of attempts) expectRefused(res);
      const after = await snapshot(s.url, targets, targets.map((repo) => ({ repo, digest: img.digest })));
      assert.deepEqual(after, before, 'a request with an invalid name changed what clients see');
      for (const t of targets) {
        expectError(await getManifest(s.url, t, 'new'), 404, 'MANIFEST_UNKNOWN');
        expectError(await raw(s.url, `/v2/${t}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
      }
    });
  }

  test('a name is also refused as the from= of a mount (no 5xx, nothing mounted)', async () => {
    const res = await raw(s.url, `/v2/names-fresh/blobs/uploads/?mount=${img.config.digest}&from=Names-Target`, { method: 'POST' });
    expectNot5xx(res);
    assert.notEqual(res.status, 201, `mounted from an invalid name: ${show(res)}`);
    expectError(await raw(s.url, `/v2/names-fresh/blobs/${img.config.digest}`), 404, 'BLOB_UNKNOWN', 'NAME_UNKNOWN');
  });

  const valid = [
    'a',
    '0',
    'a/b/c/d/e',
    'names.with-separators__ok/x--y',
    'library/ubuntu',
    'a-repository-with/manifests/in-its-name',
    `${'abcdefgh/'.repeat(20)}end`,
  ];
  for (const name of valid) {
    test(`the valid name ${name.length > 40 ? `${name.slice(0, 20)}...(${name.length})` : name} works end to end`, async () => {
      const pushed = await pushImage(s.url, name, 'v1');
      const get = await getManifest(s.url, name, 'v1');
      assert.equal(get.status, 200, show(get));
      assert.ok(get.body.equals(pushed.manifest.data));
      const tags = await raw(s.url, `/v2/${name}/tags/list`);
      assert.equal(tags.status, 200, show(tags));
      assert.deepEqual(JSON.parse(tags.body.toString()), { name, tags: ['v1'] });
    });
  }

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
