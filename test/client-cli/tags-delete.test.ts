// wharf list-tags against skopeo list-tags (Wharf lists tags sorted, so the lists must be equal; Distribution's
// order is its own, so they are compared as sets), pagination over more than 100 tags (Wharf pages when the client
// passes n, and wharf list-tags must follow the Link header to the end), and wharf delete followed by inspect.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MT, sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { Cli, withHistory } from './lib/cli.js';
import { startProxy, type Proxy } from './lib/proxy.js';
import { RegistryPool, TARGETS, dockerRef, putManifest, repoName, type Registry, type TargetName } from './lib/registries.js';

const IMG = sampleImage('cli-tags');
const pool = new RegistryPool();
let cli: Cli;
let regs: Record<TargetName, Registry>;
let base: string;
const proxies: Proxy[] = [];

/** 150 tags, created in an order that is not the sorted order. */
const MANY = Array.from({ length: 150 }, (_, i) => `t${String((i * 37) % 150).padStart(3, '0')}-${i % 2 ? 'odd' : 'even'}`);

interface TagList { Repository: string; Tags: string[] | null }

before(async () => {
  cli = new Cli();
  const [wharf, distribution] = await Promise.all([pool.get('wharf'), pool.get('distribution')]);
  regs = { wharf, distribution };
  base = cli.tmp('base');
  const images = ['a', 'b', 'c'].map((s) => sampleImage(`cli-del-${s}`, { layers: 1 }));
  writeOciLayout(base, [{ tag: 'img', image: IMG }, ...images.map((image, i) => ({ tag: `del${i}`, image }))]);
});

after(async () => {
  for (const p of proxies) await p.stop();
  cli?.cleanup();
  await pool.stopAll();
});

async function wharfTags(name: string, extra: string[] = []): Promise<TagList> {
  return JSON.parse((await cli.wharf(['list-tags', '--tls-verify=false', ...extra, name])).stdout) as TagList;
}

async function skopeoTags(name: string): Promise<TagList> {
  return JSON.parse((await cli.skopeo(['list-tags', '--tls-verify=false', name])).stdout) as TagList;
}

/** Pushes IMG once with skopeo, then tags it under every name of `tags` (PUT manifest). */
async function tagMany(reg: Registry, repo: string, tags: string[]): Promise<void> {
  await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, tags[0]!)]);
  const rest = tags.slice(1);
  const worker = async (): Promise<void> => {
    for (let t = rest.shift(); t !== undefined; t = rest.shift()) await putManifest(reg, repo, t, IMG.manifest, MT.ociManifest);
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

for (const target of TARGETS) {
  describe(`list-tags and delete on ${target}`, () => {
    test('list-tags equals skopeo list-tags', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('tags');
      const tags = ['latest', '1.0', 'v2', '1.10', 'A-upper', '0.9_rc', 'zeta', 'beta.3'];
      await tagMany(reg, repo, tags);
      const name = `docker://${reg.addr}/${repo}`;
      const ours = await wharfTags(name);
      const theirs = await skopeoTags(name);
      assert.equal(ours.Repository, theirs.Repository);
      assert.equal(ours.Repository, `${reg.addr}/${repo}`);
      assert.deepEqual([...ours.Tags!].sort(), [...tags].sort());
      if (target === 'wharf') {
        assert.deepEqual(ours.Tags, theirs.Tags, 'same list, same order as skopeo');
        assert.deepEqual(ours.Tags, [...tags].sort(), 'Wharf lists tags sorted');
      } else {
        assert.deepEqual([...ours.Tags!].sort(), [...theirs.Tags!].sort(), 'same set as skopeo');
      }
    }));

    test('list-tags of 150 tags: all of them, as skopeo', { timeout: 60_000 }, () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('many');
      await tagMany(reg, repo, MANY);
      const name = `docker://${reg.addr}/${repo}`;
      const ours = await wharfTags(name);
      const theirs = await skopeoTags(name);
      assert.equal(ours.Tags!.length, MANY.length);
      assert.deepEqual([...ours.Tags!].sort(), [...MANY].sort());
      if (target === 'wharf') assert.deepEqual(ours.Tags, theirs.Tags);
      else assert.deepEqual([...ours.Tags!].sort(), [...theirs.Tags!].sort());
    }));

    test('list-tags of an unknown repository fails', () => withHistory(cli, async () => {
      const r = await cli.wharfFails(['list-tags', '--tls-verify=false', `docker://${regs[target].addr}/${repoName('nothing')}`]);
      assert.match(r.stderr, /NAME_UNKNOWN|not known|unknown/i);
    }));

    test('delete by tag, then inspect fails (wharf and skopeo)', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('del');
      for (const i of [0, 1]) await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:del${i}`, dockerRef(reg, repo, `d${i}`)]);
      const r = await cli.wharf(['delete', '--tls-verify=false', dockerRef(reg, repo, 'd0')]);
      assert.equal(r.stdout, '');
      const w = await cli.wharfFails(['inspect', '--tls-verify=false', dockerRef(reg, repo, 'd0')]);
      assert.match(w.stderr, /manifest[ _]unknown/i);
      const s = await cli.skopeo(['inspect', '--tls-verify=false', dockerRef(reg, repo, 'd0')], { allowFail: true });
      assert.notEqual(s.code, 0, 'skopeo still sees the deleted image');
      assert.match(s.stderr, /manifest unknown/i);
      // The other image is untouched.
      await cli.wharf(['inspect', '--tls-verify=false', dockerRef(reg, repo, 'd1')]);
      const tags = await wharfTags(`docker://${reg.addr}/${repo}`);
      assert.deepEqual(tags.Tags, ['d1']);
    }));

    test('delete by digest, then inspect by digest fails', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('deldigest');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:del2`, dockerRef(reg, repo, 'x')]);
      const digest = (await cli.wharf(['inspect', '--format', '{{.Digest}}', '--tls-verify=false', dockerRef(reg, repo, 'x')])).stdout.trim();
      await cli.wharf(['delete', '--tls-verify=false', dockerRef(reg, repo, digest)]);
      const w = await cli.wharfFails(['inspect', '--tls-verify=false', dockerRef(reg, repo, digest)]);
      assert.match(w.stderr, /manifest[ _]unknown/i);
      assert.notEqual((await cli.skopeo(['inspect', '--raw', '--tls-verify=false', dockerRef(reg, repo, 'x')], { allowFail: true })).code, 0);
    }));

    test('delete of a missing tag fails', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('delmissing');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:del0`, dockerRef(reg, repo, 'present')]);
      const r = await cli.wharfFails(['delete', '--tls-verify=false', dockerRef(reg, repo, 'absent')]);
      assert.match(r.stderr, /manifest[ _]unknown/i);
      await cli.wharf(['inspect', '--tls-verify=false', dockerRef(reg, repo, 'present')]);
    }));
  });
}

describe('tag pagination on Wharf', () => {
  let repo: string;
  before(async () => {
    repo = repoName('paged');
    await tagMany(regs.wharf, repo, MANY);
  });

  test('Wharf pages when the client passes n (Link to the next page)', async () => {
    const res = await fetch(`${regs.wharf.url}/v2/${repo}/tags/list?n=40`);
    const body = (await res.json()) as { tags: string[] };
    assert.equal(res.status, 200);
    assert.deepEqual(body.tags, [...MANY].sort().slice(0, 40));
    assert.match(res.headers.get('link') ?? '', /^<[^>]*[?&]n=40[^>]*last=[^>]+>;\s*rel="next"$/);
  });

  test('wharf list-tags follows Link to the last page (through a proxy that makes Wharf page by 40)', () => withHistory(cli, async () => {
    // The proxy adds n=40 to tag listings that carry no n, so the client gets 40 tags and a Link per page.
    const proxy = await startProxy(regs.wharf.addr, {
      rewritePath: (p) => (/\/tags\/list$/.test(p) ? `${p}?n=40` : p),
    });
    proxies.push(proxy);
    const ours = await wharfTags(`docker://${proxy.addr}/${repo}`);
    assert.deepEqual(ours.Tags, [...MANY].sort(), 'every tag, in order, exactly once');
    const pages = proxy.requests.filter((r) => r.startsWith('GET ') && r.includes('/tags/list'));
    assert.equal(pages.length, 4, `150 tags by 40 are 4 pages; requests:\n${pages.join('\n')}`);
    assert.equal(ours.Repository, `${proxy.addr}/${repo}`);
    const theirs = await skopeoTags(`docker://${proxy.addr}/${repo}`);
    assert.deepEqual(ours.Tags, theirs.Tags, 'as skopeo through the same proxy');
  }));
});
