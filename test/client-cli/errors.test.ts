// Clear errors: every failure exits non-zero, says what is wrong on stderr and prints nothing on stdout.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { Cli, withHistory } from './lib/cli.js';
import { RegistryPool, TARGETS, dockerRef, repoName, type Registry, type TargetName } from './lib/registries.js';
import { freePort } from '../helpers/distribution.js';

const IMG = sampleImage('cli-errors');
const pool = new RegistryPool();
let cli: Cli;
let regs: Record<TargetName, Registry>;
let base: string;

before(async () => {
  cli = new Cli();
  const [wharf, distribution] = await Promise.all([pool.get('wharf'), pool.get('distribution')]);
  regs = { wharf, distribution };
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }]);
});

after(async () => {
  cli?.cleanup();
  await pool.stopAll();
});

describe('image names', () => {
  test('docker://registry.example.com/ is rejected: a full image name is needed', () => withHistory(cli, async () => {
    for (const args of [
      ['inspect', 'docker://registry.example.com/'],
      ['copy', 'docker://registry.example.com/', `oci:${cli.path('x')}:x`],
      ['copy', `oci:${base}:img`, 'docker://registry.example.com/'],
      ['delete', 'docker://registry.example.com/'],
      ['list-tags', 'docker://registry.example.com/'],
    ]) {
      const r = await cli.wharfFails(args, { timeoutMs: 20_000 });
      assert.match(r.stderr, /full image name|image name/i, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /registry\.example\.com/, `${args.join(' ')}: the message names the input`);
    }
  }));

  test('an unknown transport (foo:bar) is rejected, naming the transports', () => withHistory(cli, async () => {
    for (const args of [['inspect', 'foo:bar'], ['copy', 'foo:bar', `oci:${cli.path('x')}:x`], ['copy', `oci:${base}:img`, 'foo:bar']]) {
      const r = await cli.wharfFails(args);
      assert.match(r.stderr, /foo:bar/, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /transport/i);
      assert.match(r.stderr, /docker/);
    }
  }));

  test('a name without a transport is rejected', () => withHistory(cli, async () => {
    const r = await cli.wharfFails(['inspect', 'busybox']);
    assert.match(r.stderr, /transport|docker:\/\//i);
  }));

  test('docker: without // is rejected', () => withHistory(cli, async () => {
    const r = await cli.wharfFails(['inspect', 'docker:busybox']);
    assert.match(r.stderr, /docker:\/\//);
  }));

  test('list-tags and delete only take docker:// names', () => withHistory(cli, async () => {
    const l = await cli.wharfFails(['list-tags', `oci:${base}`]);
    assert.match(l.stderr, /docker:\/\//);
    const d = await cli.wharfFails(['delete', `oci:${base}:img`]);
    assert.match(d.stderr, /docker:\/\//);
  }));
});

for (const target of TARGETS) {
  describe(`registry errors on ${target}`, () => {
    test('a missing tag: manifest unknown (inspect, copy)', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('missing');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, 'present')]);
      const i = await cli.wharfFails(['inspect', '--tls-verify=false', dockerRef(reg, repo, 'absent')]);
      assert.match(i.stderr, /manifest[ _]unknown/i);
      const c = await cli.wharfFails(['copy', '--src-tls-verify=false', dockerRef(reg, repo, 'absent'), `dir:${cli.path('d')}`]);
      assert.match(c.stderr, /manifest[ _]unknown/i);
      const raw = await cli.wharfFails(['inspect', '--raw', '--tls-verify=false', dockerRef(reg, repo, 'absent')]);
      assert.match(raw.stderr, /manifest[ _]unknown/i);
    }));

    test('a plain-HTTP registry without --tls-verify=false: the message says to use it', () => withHistory(cli, async () => {
      const reg = regs[target];
      const repo = repoName('https');
      await cli.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, dockerRef(reg, repo, 'v1')]);
      const r = await cli.wharfFails(['inspect', dockerRef(reg, repo, 'v1')]);
      assert.match(r.stderr, /--tls-verify=false/);
      const c = await cli.wharfFails(['copy', `oci:${base}:img`, dockerRef(reg, repo, 'v2')]);
      assert.match(c.stderr, /--tls-verify=false/);
      // Nothing was written.
      const s = await cli.skopeo(['inspect', '--raw', '--tls-verify=false', dockerRef(reg, repo, 'v2')], { allowFail: true });
      assert.notEqual(s.code, 0);
    }));
  });
}

describe('other failures', () => {
  test('nothing listening: connection refused', () => withHistory(cli, async () => {
    const port = await freePort();
    const r = await cli.wharfFails(['inspect', '--tls-verify=false', '--retry-times', '0', `docker://127.0.0.1:${port}/a/b:1`]);
    assert.match(r.stderr, /refused|connect/i);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  }));

  test('missing local sources name the path', () => withHistory(cli, async () => {
    const nowhere = cli.path('nowhere');
    for (const name of [`oci:${nowhere}:x`, `dir:${nowhere}`, `oci-archive:${nowhere}.tar`, `docker-archive:${nowhere}.tar`]) {
      const r = await cli.wharfFails(['inspect', name]);
      assert.ok(r.stderr.includes(nowhere), `${name}: ${r.stderr}`);
    }
  }));

  test('a ref that is not in the layout names the refs it has', () => withHistory(cli, async () => {
    const r = await cli.wharfFails(['inspect', `oci:${base}:nope`]);
    assert.match(r.stderr, /nope/);
    assert.match(r.stderr, /img/);
  }));

  test('invalid option values', () => withHistory(cli, async () => {
    const f = await cli.wharfFails(['copy', '--format', 'v2s1', `oci:${base}:img`, `dir:${cli.path('d')}`]);
    assert.match(f.stderr, /--format/);
    const m = await cli.wharfFails(['copy', '--multi-arch', 'some', `oci:${base}:img`, `dir:${cli.path('d')}`]);
    assert.match(m.stderr, /--multi-arch/);
    const n = await cli.wharfFails(['copy', '--retry-times', '-1', `oci:${base}:img`, `dir:${cli.path('d')}`]);
    assert.match(n.stderr, /--retry-times/);
    const a = await cli.wharfFails(['copy', `oci:${base}:img`]);
    assert.match(a.stderr, /destination|argument/i);
  }));
});
