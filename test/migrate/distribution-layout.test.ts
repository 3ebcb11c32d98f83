// Reading Distribution's storage layout: where the tree starts, nested repository names, links.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DistributionLayout } from '../../src/migrate/distribution-layout.js';
import { openFsDistribution } from '../../src/migrate/distribution-storage.js';
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

  test('repositories: nested names in lexical order, a repository inside another, Distribution\'s _ directories skipped', async () => {
    const t = tree();
    t.image('team/app', 'a');
    t.image('team', 'b');
    t.image('alpha/beta/gamma', 'c');
    t.layerLink('only-layers', t.blob('x'));
    mkdirSync(join(t.v2, 'repositories', 'team', 'app', '_uploads', 'some-upload'), { recursive: true });
    mkdirSync(join(t.v2, 'repositories', 'empty', 'dir'), { recursive: true });
    const layout = new DistributionLayout(await openFsDistribution(t.root));
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
    const layout = new DistributionLayout(await openFsDistribution(t.root));
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
});
