// Immutable tags in registry/manifests.ts: what a protected tag refuses, with the pattern and where it is
// set in the message; and, on PostgreSQL, two processes racing to make one protected tag.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../src/registry/registry.js';
import { RegistryError } from '../../src/oci/errors.js';
import { openPostgresMetaStore } from '../../src/store/meta/postgres-meta-store.js';
import { ANONYMOUS as actor } from '../../src/access/access-controller.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { MemoryBlobStore } from '../helpers/memory-blob-store.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { code, pushImage, testRegistry } from './lib.js';

const denied = (message: RegExp) => (e: unknown): boolean => e instanceof RegistryError && e.code === 'DENIED' && e.status === 403 && message.test(e.message);

describe('registry: immutable tags', () => {
  test('a protected tag is made once, pushed again with its digest, never moved nor deleted; others are free', async () => {
    const { registry: r, meta } = testRegistry();
    await meta.immutableTags.add('acme', null, 'v*');
    const one = await pushImage(r, 'acme/app', 'v1', 'one');
    await r.manifests.put('acme/app', 'v1', one.bytes, 'application/vnd.oci.image.manifest.v1+json', actor);
    await assert.rejects(pushImage(r, 'acme/app', 'v1', 'two'),
      denied(/^tag v1 of acme\/app is immutable \(pattern "v\*" set on namespace acme\): it points at sha256:\w+ and cannot move to sha256:\w+$/));
    assert.equal((await r.manifests.resolve('acme/app', 'v1')).digest, one.digest);
    await assert.rejects(r.manifests.delete('acme/app', 'v1', actor), denied(/tag v1 of acme\/app is immutable .*: it cannot be deleted/));
    await assert.rejects(r.manifests.delete('acme/app', one.digest, actor), denied(new RegExp(`deleting ${one.digest} would remove it`)));
    assert.equal((await r.manifests.resolve('acme/app', one.digest)).digest, one.digest);
    // latest matches no pattern: it moves and goes as always.
    await pushImage(r, 'acme/app', 'latest', 'three');
    const four = await pushImage(r, 'acme/app', 'latest', 'four');
    assert.equal((await r.manifests.resolve('acme/app', 'latest')).digest, four.digest);
    await r.manifests.delete('acme/app', 'latest', actor);
    await r.manifests.delete('acme/app', four.digest, actor);
    await assert.rejects(r.manifests.delete('acme/app', 'v9', actor), code('MANIFEST_UNKNOWN'), 'an unknown protected tag is unknown');
    // Another namespace is not protected.
    await pushImage(r, 'beta/app', 'v1', 'five');
    await pushImage(r, 'beta/app', 'v1', 'six');
  });

  test('a repository\'s own pattern, the configuration\'s, and lifting a pattern', async () => {
    const { registry: base, meta, blobs, clock } = testRegistry();
    const r = new Registry(blobs, meta, { maxManifestBytes: 1 << 20, immutableTagPatterns: ['stable'] }, clock);
    await meta.immutableTags.add('acme', 'acme/app', 'release-?');
    await pushImage(r, 'acme/app', 'release-1', 'a');
    await assert.rejects(pushImage(r, 'acme/app', 'release-1', 'b'), denied(/pattern "release-\?" set on repository acme\/app/));
    await pushImage(r, 'acme/app', 'release-10', 'c');
    await pushImage(r, 'acme/app', 'release-10', 'd');
    await pushImage(r, 'acme/other', 'release-1', 'e');
    await pushImage(r, 'acme/other', 'release-1', 'f');
    await pushImage(r, 'top', 'stable', 'g');
    await assert.rejects(pushImage(r, 'top', 'stable', 'h'), denied(/pattern "stable" set in the registry's configuration \(immutable\.patterns\)/));
    await meta.immutableTags.remove('acme', 'acme/app', 'release-?');
    const moved = await pushImage(r, 'acme/app', 'release-1', 'i');
    assert.equal((await r.manifests.resolve('acme/app', 'release-1')).digest, moved.digest);
    await r.manifests.delete('acme/app', 'release-1', actor);
    await base.close();
  });

  test('a restore from history does not move a protected tag; an undelete of a tag deleted before its pattern came is allowed', async () => {
    const { registry: r, meta } = testRegistry();
    const one = await pushImage(r, 'acme/app', 'v1', 'one');
    const two = await pushImage(r, 'acme/app', 'v1', 'two');
    const kept = await pushImage(r, 'acme/app', 'v2', 'kept');
    await r.manifests.delete('acme/app', 'v2', actor);
    await meta.immutableTags.add('acme', null, 'v*');
    await assert.rejects(r.history.restore('acme/app', 'v1', { digest: one.digest }, actor),
      denied(new RegExp(`^tag v1 of acme/app is immutable \\(pattern "v\\*" set on namespace acme\\): it points at ${two.digest} and cannot be restored to ${one.digest}$`)));
    assert.equal((await r.manifests.resolve('acme/app', 'v1')).digest, two.digest);
    await r.history.restore('acme/app', 'v2', { undelete: true }, actor);
    assert.equal((await r.manifests.resolve('acme/app', 'v2')).digest, kept.digest);
  });

  test('a push by digest adds a manifest without touching protected tags', async () => {
    const { registry: r, meta } = testRegistry();
    await meta.immutableTags.add('acme', null, '*');
    const one = await pushImage(r, 'acme/app', 'v1', 'one');
    const two = await pushImage(r, 'acme/app', null, 'two');
    assert.equal((await r.manifests.resolve('acme/app', 'v1')).digest, one.digest);
    await r.manifests.delete('acme/app', two.digest, actor);
  });

  test('postgres: two processes racing to make one protected tag with different digests: one wins, the other is refused', async () => {
    const db = await createTestDatabase();
    const clock = new FakeClock();
    const blobs = new MemoryBlobStore(undefined, clock);
    const metas = await Promise.all([0, 1].map(() => openPostgresMetaStore({ url: db.url, maxConnections: 4, clock })));
    const [a, b] = metas.map((m) => new Registry(blobs, m, { maxManifestBytes: 1 << 20 }, clock)) as [Registry, Registry];
    try {
      await metas[0]!.immutableTags.add('acme', null, 'v*');
      for (let round = 0; round < 10; round++) {
        const tag = `v${round}`;
        const results = await Promise.allSettled([pushImage(a, 'acme/app', tag, `a${round}`), pushImage(b, 'acme/app', tag, `b${round}`)]);
        const won = results.filter((x) => x.status === 'fulfilled');
        const lost = results.filter((x) => x.status === 'rejected');
        assert.equal(won.length, 1, `round ${round}: ${results.map((x) => x.status).join(', ')}`);
        assert.ok(denied(/is immutable/)((lost[0] as PromiseRejectedResult).reason), String((lost[0] as PromiseRejectedResult).reason));
        assert.equal((await b.manifests.resolve('acme/app', tag)).digest, (won[0] as PromiseFulfilledResult<{ digest: string }>).value.digest);
      }
    } finally {
      await Promise.all(metas.map((m) => m.close()));
      await db.drop();
    }
  });
});
