// Reading Distribution's storage layout: where the tree starts, nested repository names, links, blobs;
// from a directory (its filesystem driver) and from a bucket (its s3 driver, on the test S3 endpoint).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DistributionLayout } from '../../src/migrate/distribution-layout.js';
import { openS3Distribution, parseS3Url } from '../../src/migrate/distribution-s3-storage.js';
import { openFsDistribution, TooLargeError } from '../../src/migrate/distribution-storage.js';
import { parseDigest } from '../../src/oci/digest.js';
import { createTestBucket, s3TestClient } from '../helpers/s3.js';
import { fsSource, s3Source, s3TestConnection, uploadTree, type DistributionSource } from './distribution-sources.js';
import { DistributionTree, sha256 } from './distribution-tree.js';

const trees: DistributionTree[] = [];
after(() => { for (const t of trees) t.cleanup(); });
function tree(): DistributionTree {
  const t = new DistributionTree();
  trees.push(t);
  return t;
}

describe('distribution layout', () => {
  test('--from is the storage root or its docker/registry/v2; anything else is refused with a clear message', async () => {
    const t = tree();
    t.image('app', 'a', { tag: 'v1' });
    assert.equal((await openFsDistribution(t.root)).location, t.v2);
    assert.equal((await openFsDistribution(t.v2)).location, t.v2);
    const empty = mkdtempSync(join(tmpdir(), 'not-distribution-'));
    try {
      await assert.rejects(openFsDistribution(empty), /not a Distribution storage root/);
      await assert.rejects(openFsDistribution(join(empty, 'nope')), /no such directory/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

});

// Listing pages of 2 keys: every listing of more than two entries takes several pages.
for (const source of [fsSource(), s3Source()] as DistributionSource[]) {
  describe(`distribution layout read from ${source.name}`, () => {
    after(() => source.cleanup());

    test('repositories: nested names in lexical order, a repository inside another, Distribution\'s _ directories skipped', async () => {
      const t = tree();
      t.image('team/app', 'a');
      t.image('team', 'b');
      t.image('alpha/beta/gamma', 'c');
      t.layerLink('only-layers', t.blob('x'));
      mkdirSync(join(t.v2, 'repositories', 'team', 'app', '_uploads', 'some-upload'), { recursive: true });
      writeFileSync(join(t.v2, 'repositories', 'team', 'app', '_uploads', 'some-upload', 'startedat'), '2024-01-01T00:00:00Z');
      mkdirSync(join(t.v2, 'repositories', 'empty', 'dir'), { recursive: true });
      const layout = new DistributionLayout(await source.open(t, { pageSize: 2 }));
      const names: string[] = [];
      for await (const n of layout.repositories()) names.push(n);
      assert.deepEqual(names, ['alpha/beta/gamma', 'only-layers', 'team', 'team/app']);
    });

    test('links: digests of layers, revisions and tags; a link naming another digest, or none, is a problem', async () => {
      const t = tree();
      const img = t.image('app', 'a', { tag: 'v1' });
      const other = t.blob('other');
      t.layerLink('app', other, sha256('not the directory'));
      t.tag('app', 'broken', 'garbage');
      const layout = new DistributionLayout(await source.open(t, { pageSize: 2 }));
      const layers = await layout.layerLinks('app');
      assert.deepEqual(layers.filter((l) => l.digest !== undefined).map((l) => l.digest).sort(), [img.config.digest, ...img.layers.map((l) => l.digest)].sort());
      const bad = layers.filter((l) => l.problem !== undefined);
      assert.equal(bad.length, 1);
      assert.match(bad[0]!.problem!, /names sha256:.*its directory/);
      assert.deepEqual(await layout.revisions('app'), [{ digest: img.digest }]);
      const tags = await layout.tags('app');
      assert.deepEqual(tags.map((x) => x.tag), ['broken', 'v1']);
      assert.match(tags[0]!.link.problem!, /no valid digest/);
      assert.equal(tags[1]!.link.digest, img.digest);
    });

    test('blobs: size, small reads, streamed bytes; null when absent; a file larger than the limit refused', async () => {
      const t = tree();
      const img = t.image('app', 'a', { tag: 'v1', layers: [Buffer.alloc(300_000, 7), 'small'] });
      const layout = new DistributionLayout(await source.open(t, { pageSize: 2 }));
      const big = img.layers[0]!;
      assert.equal(await layout.blobSize(parseDigest(big.digest)), big.data.length);
      assert.ok((await buffer(await layout.openBlob(parseDigest(big.digest)))).equals(big.data));
      assert.ok((await layout.readSmallBlob(parseDigest(img.digest), 4096))!.equals(img.bytes));
      await assert.rejects(layout.readSmallBlob(parseDigest(big.digest), 1000), TooLargeError);
      const absent = parseDigest(sha256('absent'));
      assert.equal(await layout.blobSize(absent), null);
      assert.equal(await layout.readSmallBlob(absent, 4096), null);
    });
  });
}

describe('distribution layout in a bucket', () => {
  const removals: (() => Promise<void>)[] = [];
  after(async () => { for (const r of removals) await r(); });

  test('s3://BUCKET[/PREFIX] URLs', () => {
    assert.deepEqual(parseS3Url('s3://b'), { bucket: 'b', prefix: '' });
    assert.deepEqual(parseS3Url('s3://b/'), { bucket: 'b', prefix: '' });
    assert.deepEqual(parseS3Url('s3://b/distribution/root/'), { bucket: 'b', prefix: 'distribution/root' });
    assert.deepEqual(parseS3Url('s3://b//x'), { bucket: 'b', prefix: 'x' });
    assert.throws(() => parseS3Url('s3://'), /not an s3:\/\/BUCKET/);
    assert.throws(() => parseS3Url('s3:///prefix'), /not an s3:\/\/BUCKET/);
  });

  test('the prefix is the rootdirectory, its docker/registry/v2, or empty for the bucket top; anything else is refused with a clear message', async () => {
    const client = s3TestClient();
    removals.push(async () => client.destroy());
    const bucket = await createTestBucket(client);
    removals.push(() => bucket.remove());
    const t = tree();
    t.image('app', 'a', { tag: 'v1' });
    await uploadTree(client, t, bucket.name, 'under/root');
    await uploadTree(client, t, bucket.name, '');
    // Keys beside a tree that are not one.
    await client.send(new PutObjectCommand({ Bucket: bucket.name, Key: 'other/readme.txt', Body: 'not a registry' }));
    const open = async (prefix: string): Promise<string> => {
      const s = await openS3Distribution({ bucket: bucket.name, prefix, connection: s3TestConnection() });
      await s.close();
      return s.location;
    };
    assert.equal(await open('under/root'), `s3://${bucket.name}/under/root/docker/registry/v2`);
    assert.equal(await open('under/root/docker/registry/v2'), `s3://${bucket.name}/under/root/docker/registry/v2`);
    assert.equal(await open(''), `s3://${bucket.name}/docker/registry/v2`);
    const names: string[] = [];
    const storage = await openS3Distribution({ bucket: bucket.name, prefix: 'under/root', connection: s3TestConnection() });
    try {
      for await (const n of new DistributionLayout(storage).repositories()) names.push(n);
    } finally {
      await storage.close();
    }
    assert.deepEqual(names, ['app']);
    await assert.rejects(open('other'), /not a Distribution storage root/);
    await assert.rejects(open('under'), /not a Distribution storage root/);
    await assert.rejects(openS3Distribution({ bucket: `${bucket.name}-absent`, prefix: '', connection: s3TestConnection() }), /no such bucket/);
    await assert.rejects(
      openS3Distribution({ bucket: bucket.name, prefix: '', connection: { ...s3TestConnection(), secretAccessKey: 'wrong' } }),
      (e: Error) => /access denied/.test(e.message) && !e.message.includes('wrong'),
    );
  });
});
