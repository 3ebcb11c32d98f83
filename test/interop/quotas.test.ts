// skopeo 1.9 against a quota: a copy into a namespace whose quota cannot take the image fails with the
// registry's own message (the quota, the usage and the need), leaves no tag behind, and goes through once
// the quota is raised. Wharf in auth.mode builtin over plain HTTP; skopeo signs in with --dest-creds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildImage, pseudoRandom, writeOciLayout } from './lib/images.js';
import { withClientEnv } from './lib/suite.js';
import { ADMIN, ADMIN_PASSWORD, apiOk, startBuiltin, withHeaders, type BuiltinServer } from '../api/lib/builtin.js';
import { tagsOf } from '../api/lib/registry.js';

/** One layer of 64 KiB that does not compress. */
const IMG = buildImage({ layers: [[{ path: 'big.bin', content: pseudoRandom(64 * 1024, 7) }]] });

describe('skopeo and quotas', () => {
  let s: BuiltinServer;

  before(async () => {
    s = await startBuiltin();
    await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'acme' }, 201);
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/quota', { bytes: '10KiB' }, 200);
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  test('skopeo copy over the quota fails with the registry\'s message and leaves no tag; after raising the quota it goes through', () => withClientEnv([s.addr], async (env) => {
    const layout = env.tmp('layout');
    writeOciLayout(layout, [{ tag: 'src', image: IMG }]);
    const copy = ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `admin:${ADMIN_PASSWORD}`, `oci:${layout}:src`, `docker://${s.addr}/acme/app:v1`];
    const refused = await env.skopeo(copy, { allowFail: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /denied: quota of namespace acme exceeded: 10 KiB allowed, [\d.]+ K?i?B used, this push needs 64\.\d KiB more/);
    assert.equal(await withHeaders(ADMIN, () => tagsOf(s.url, 'acme/app')), null, 'no manifest, no tag: the repository is not there');

    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/quota', { bytes: '1MiB' }, 200);
    await env.skopeo(copy);
    assert.deepEqual(await withHeaders(ADMIN, () => tagsOf(s.url, 'acme/app')), ['v1']);
    const q = await apiOk(s, ADMIN, 'GET', '/namespaces/acme/quota', undefined, 200) as { usage: { bytes: number } };
    assert.equal(q.usage.bytes, IMG.blobs.reduce((n, b) => n + b.data.length, 0));
  }));
});
