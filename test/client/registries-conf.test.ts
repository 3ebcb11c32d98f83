// containers-registries.conf(5) / .conf.d(5): parsing, drop-in merging, prefix matching, mirrors — and the merged
// result compared with what podman itself reads (`podman info`) from the same files.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  findRegistry,
  isBlocked,
  isInsecure,
  loadRegistriesConf,
  parseRegistriesConf,
  pullSources,
  refMatchingPrefix,
  registriesConfFiles,
  resolveAlias,
  type RegistriesConf,
} from '../../src/client/registries-conf.js';

const root = mkdtempSync(join(tmpdir(), 'wharf-regconf-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function dir(name = 'd'): string {
  const p = join(root, `${name}-${++n}`);
  mkdirSync(p, { recursive: true });
  return p;
}
function write(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const MAIN = `
unqualified-search-registries = ["registry.fedoraproject.org", "quay.io", "docker.io"]
short-name-mode = "enforcing"
credential-helpers = ["containers-auth.json", "secretservice"]

[[registry]]
prefix = "example.com/foo"
insecure = false
blocked = false
location = "internal-registry-for-example.com/bar"

[[registry.mirror]]
location = "example-mirror-0.local/mirror-for-foo"

[[registry.mirror]]
location = "example-mirror-1.local/mirrors/foo"
insecure = true
pull-from-mirror = "digest-only"

[[registry.mirror]]
location = "example-mirror-2.local/foo"
pull-from-mirror = "tag-only"

[[registry]]
location = "registry.com"

[[registry.mirror]]
location = "mirror.registry.com"

[[registry]]
prefix = "*.internal.example"
insecure = true

[[registry]]
prefix = "*.blocked.example"
blocked = true

[[registry]]
location = "127.0.0.1:5000"
insecure = true

[[registry]]
prefix = "docker.io/library/alpine"
location = "127.0.0.1:5000/mirror/alpine"
insecure = true
mirror-by-digest-only = true

[[registry.mirror]]
location = "digest-mirror.local/alpine"

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"gone" = "quay.io/old/gone"
`;

const DROP_IN_1 = `
unqualified-search-registries = ["quay.io"]

# Replaces the main file's table with the same prefix.
[[registry]]
location = "registry.com"
blocked = true

[[registry]]
prefix = "new.example"
location = "new-location.example:5000"

[aliases]
"gone" = ""
"ubi" = "registry.access.redhat.com/ubi9"
`;

const DROP_IN_2 = `
short-name-mode = "disabled"
[aliases]
"ubi" = "registry.access.redhat.com/ubi8"
`;

async function sample(): Promise<{ conf: RegistriesConf; main: string; d1: string; d2: string }> {
  const d = dir('sample');
  const main = write(join(d, 'registries.conf'), MAIN);
  const dropDir = join(d, 'registries.conf.d');
  // Loaded in name order; non-.conf files and directories are ignored.
  const d2 = write(join(dropDir, '20-second.conf'), DROP_IN_2);
  const d1 = write(join(dropDir, '10-first.conf'), DROP_IN_1);
  write(join(dropDir, '30-ignored.conf.bak'), 'this is not toml = = =');
  mkdirSync(join(dropDir, '40-dir.conf'));
  const conf = await loadRegistriesConf({ path: main, dropInDirs: [dropDir, join(d, 'absent.d')] });
  return { conf, main, d1, d2 };
}

describe('loadRegistriesConf', () => {
  test('main file plus drop-ins in name order', async () => {
    const { conf, main, d1, d2 } = await sample();
    assert.deepEqual(conf.files, [main, d1, d2]);
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['quay.io']);
    assert.equal(conf.shortNameMode, 'disabled');
    assert.deepEqual(conf.credentialHelpers, ['containers-auth.json', 'secretservice']);
    assert.deepEqual(conf.aliases, { fedora: 'registry.fedoraproject.org/fedora', ubi: 'registry.access.redhat.com/ubi8' });
    assert.deepEqual(conf.registries.map((r) => r.prefix), [
      '*.blocked.example', '*.internal.example', '127.0.0.1:5000', 'docker.io/library/alpine', 'example.com/foo',
      'new.example', 'registry.com',
    ]);
    const reg = findRegistry(conf, { registry: 'registry.com', repository: 'x' })!;
    assert.deepEqual(reg, { prefix: 'registry.com', location: 'registry.com', insecure: false, blocked: true, mirrorByDigestOnly: false, mirrors: [] },
      'the drop-in table replaced the whole main-file table, mirrors included');
  });

  test('tables: prefix defaults to location; mirrors', async () => {
    const { conf } = await sample();
    assert.deepEqual(findRegistry(conf, { registry: 'example.com', repository: 'foo/image' }), {
      prefix: 'example.com/foo',
      location: 'internal-registry-for-example.com/bar',
      insecure: false,
      blocked: false,
      mirrorByDigestOnly: false,
      mirrors: [
        { location: 'example-mirror-0.local/mirror-for-foo', insecure: false, pullFromMirror: '' },
        { location: 'example-mirror-1.local/mirrors/foo', insecure: true, pullFromMirror: 'digest-only' },
        { location: 'example-mirror-2.local/foo', insecure: false, pullFromMirror: 'tag-only' },
      ],
    });
  });

  test('longest prefix, whole components, wildcards', async () => {
    const { conf } = await sample();
    const prefix = (registry: string, repository = 'a/b') => findRegistry(conf, { registry, repository })?.prefix ?? null;
    assert.equal(prefix('example.com', 'foo/image'), 'example.com/foo');
    assert.equal(prefix('example.com', 'foo'), 'example.com/foo');
    assert.equal(prefix('example.com', 'foobar/image'), null);
    assert.equal(prefix('example.com'), null);
    assert.equal(prefix('docker.io', 'library/alpine'), 'docker.io/library/alpine');
    assert.equal(prefix('docker.io', 'library/alpine-x'), null);
    assert.equal(prefix('a.internal.example'), '*.internal.example');
    assert.equal(prefix('a.b.internal.example:5000'), '*.internal.example');
    assert.equal(prefix('internal.example'), null, 'the wildcard needs a subdomain');
    assert.equal(prefix('xinternal.example'), null);
    assert.equal(prefix('a.internal.example.evil.org'), null);
    assert.equal(prefix('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(prefix('127.0.0.1:50001'), null);
    assert.equal(findRegistry(conf, 'example.com/foo/image:tag')?.prefix, 'example.com/foo');
    assert.equal(findRegistry(conf, 'example.com/foo@sha256:abc')?.prefix, 'example.com/foo');
  });

  test('isInsecure / isBlocked', async () => {
    const { conf } = await sample();
    assert.equal(isInsecure(conf, '127.0.0.1:5000'), true);
    assert.equal(isInsecure(conf, 'x.internal.example'), true);
    assert.equal(isInsecure(conf, 'registry.com'), false);
    assert.equal(isInsecure(conf, 'unknown.example'), false);
    assert.equal(isBlocked(conf, 'registry.com'), true);
    assert.equal(isBlocked(conf, { registry: 'a.blocked.example', repository: 'x' }), true);
    assert.equal(isBlocked(conf, { registry: 'example.com', repository: 'foo/x' }), false);
  });

  test('pullSources: mirrors by pull kind, then the rewritten primary location', async () => {
    const { conf } = await sample();
    const src = (registry: string, repository: string, byDigest: boolean) =>
      pullSources(conf, { registry, repository }, byDigest).map((s) => `${s.registry}/${s.repository}${s.insecure ? ' (insecure)' : ''}`);
    assert.deepEqual(src('example.com', 'foo/image', false), [
      'example-mirror-0.local/mirror-for-foo/image',
      'example-mirror-2.local/foo/image',
      'internal-registry-for-example.com/bar/image',
    ]);
    assert.deepEqual(src('example.com', 'foo/image', true), [
      'example-mirror-0.local/mirror-for-foo/image',
      'example-mirror-1.local/mirrors/foo/image (insecure)',
      'internal-registry-for-example.com/bar/image',
    ]);
    assert.deepEqual(src('docker.io', 'library/alpine', false), ['127.0.0.1:5000/mirror/alpine (insecure)']);
    assert.deepEqual(src('docker.io', 'library/alpine', true), ['digest-mirror.local/alpine', '127.0.0.1:5000/mirror/alpine (insecure)']);
    assert.deepEqual(src('a.internal.example', 'ns/img', false), ['a.internal.example/ns/img (insecure)']);
    assert.deepEqual(src('elsewhere.example', 'ns/img', false), ['elsewhere.example/ns/img']);
  });

  test('aliases: tags and digests are stripped before lookup', async () => {
    const { conf } = await sample();
    assert.equal(resolveAlias(conf, 'fedora:39'), 'registry.fedoraproject.org/fedora');
    assert.equal(resolveAlias(conf, 'fedora@sha256:00'), 'registry.fedoraproject.org/fedora');
    assert.equal(resolveAlias(conf, 'gone'), null);
  });

  test('file selection: CONTAINERS_REGISTRIES_CONF, else per-user file with only per-user drop-ins, else system', async () => {
    const home = dir('home');
    const explicit = write(join(dir(), 'explicit.conf'), 'unqualified-search-registries = ["explicit.example"]\n');
    let files = await registriesConfFiles({ env: { HOME: home, CONTAINERS_REGISTRIES_CONF: explicit } });
    assert.equal(files.main, explicit);
    assert.equal(files.mainRequired, true);
    files = await registriesConfFiles({ env: { HOME: home }, systemPath: '/nonexistent/registries.conf' });
    assert.equal(files.main, '/nonexistent/registries.conf');
    assert.equal(files.mainRequired, false);
    const user = write(join(home, '.config', 'containers', 'registries.conf'), 'short-name-mode = "disabled"\n');
    const userDrop = write(join(home, '.config', 'containers', 'registries.conf.d', '1.conf'), 'unqualified-search-registries = ["u.example"]\n');
    files = await registriesConfFiles({ env: { HOME: home } });
    assert.deepEqual(files, { main: user, mainRequired: false, dropIns: [userDrop] });
    const conf = await loadRegistriesConf({ env: { HOME: home } });
    assert.deepEqual(conf.unqualifiedSearchRegistries, ['u.example']);
    assert.equal(conf.shortNameMode, 'disabled');
    // A missing default file is empty; a missing explicit one is an error.
    const empty = await loadRegistriesConf({ env: { HOME: dir('home') }, systemPath: '/nonexistent/registries.conf', dropInDirs: [] });
    assert.deepEqual(empty.registries, []);
    assert.equal(empty.shortNameMode, 'permissive');
    assert.deepEqual(empty.credentialHelpers, ['containers-auth.json']);
    await assert.rejects(loadRegistriesConf({ path: join(root, 'missing.conf'), dropInDirs: [] }), /missing\.conf/);
  });
});

describe('parseRegistriesConf', () => {
  test('V1 format is converted', () => {
    const p = parseRegistriesConf(`
[registries.search]
registries = ['registry1.com', 'registry2.com']
[registries.insecure]
registries = ['registry3.com', 'registry1.com']
[registries.block]
registries = ['registry.untrusted.com']
`);
    assert.deepEqual(p.unqualifiedSearchRegistries, ['registry1.com', 'registry2.com']);
    assert.deepEqual(p.registries.map((r) => [r.prefix, r.insecure, r.blocked]), [
      ['registry.untrusted.com', false, true],
      ['registry1.com', true, false],
      ['registry2.com', false, false],
      ['registry3.com', true, false],
    ]);
  });

  test('trailing slashes are trimmed from prefixes and locations', () => {
    const p = parseRegistriesConf('[[registry]]\nprefix = "a.example/ns/"\nlocation = "b.example/x//"\n[[registry.mirror]]\nlocation = "m.example/y/"\n');
    assert.deepEqual(p.registries.map((r) => [r.prefix, r.location, r.mirrors[0]!.location]), [['a.example/ns', 'b.example/x', 'm.example/y']]);
  });

  test('within one file the first table for a prefix wins', () => {
    const p = parseRegistriesConf('[[registry]]\nlocation = "a.example"\n[[registry]]\nprefix = "a.example"\nlocation = "b.example"\n');
    assert.deepEqual(p.registries.map((r) => r.location), ['a.example']);
  });

  test('invalid configurations are errors naming the file', () => {
    const bad: [string, RegExp][] = [
      ['[[registry]]\ninsecure = true\n', /both location and prefix are unset/],
      ['[[registry]]\nprefix = "example.com"\n', /location is unset and prefix is not in the format/],
      ['[[registry]]\nlocation = "https://example.com"\n', /URI schemes are not supported/],
      ['[[registry]]\nlocation = "a.example"\n[[registry.mirror]]\ninsecure = true\n', /mirror location is unset/],
      ['[[registry]]\nlocation = "a.example"\npull-from-mirror = "all"\n', /pull-from-mirror must not be set for a non-mirror registry/],
      ['[[registry]]\nlocation = "a.example"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "sometimes"\n', /unsupported pull-from-mirror/],
      ['[[registry]]\nlocation = "a.example"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "all"\n', /at the same time/],
      ['[[registry]]\nprefix = "a.example/x"\nlocation = "r.example"\ninsecure = true\n[[registry]]\nprefix = "a.example/y"\nlocation = "r.example"\n', /conflicting 'insecure'/],
      ['[[registry]]\nprefix = "*.example.com/foo"\n', /wildcard prefix/],
      ['[[registry]]\nprefix = "example.*.com"\nlocation = "x"\n', /wildcards are only allowed at the beginning/],
      ['short-name-mode = "sometimes"\n', /invalid short-name mode/],
      ['[aliases]\n"quay.io/x" = "quay.io/x/y"\n', /must be a short name/],
      ['[aliases]\n"x" = "y"\n', /must be fully qualified/],
      ['[aliases]\n"x" = "quay.io/x:latest"\n', /tag or digest/],
      ['[registries.search]\nregistries = ["a"]\n[[registry]]\nlocation = "b"\n', /mixing sysregistry v1\/v2/],
      ['[[registry]]\nlocation = 5\n', /location must be a string/],
      ['not toml at all = = =', /registries configuration "bad.conf"/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseRegistriesConf(text, 'bad.conf'), re, text);
  });

  test('refMatchingPrefix', () => {
    assert.equal(refMatchingPrefix('example.com/foo/bar', 'example.com/foo'), 15);
    assert.equal(refMatchingPrefix('example.com/foo', 'example.com/foo'), 15);
    assert.equal(refMatchingPrefix('example.com/foobar', 'example.com/foo'), -1);
    assert.equal(refMatchingPrefix('example.com/foo:tag', 'example.com/foo'), 15);
    assert.equal(refMatchingPrefix('example.com/foo@sha256:x', 'example.com/foo'), 15);
    assert.equal(refMatchingPrefix('x.example.com/foo', '*.example.com'), 13);
    assert.equal(refMatchingPrefix('x.y.example.com:5000/foo', '*.example.com'), 15);
    assert.equal(refMatchingPrefix('example.com/foo', '*.example.com'), -1);
    assert.equal(refMatchingPrefix('foo/x.example.com', '*.example.com'), -1);
  });
});

describe('interop: podman reads the same configuration', () => {
  test('podman info reports the same merged [[registry]] tables and search list', async () => {
    const d = dir('podman');
    const home = join(d, 'home');
    const cfg = join(home, '.config', 'containers');
    write(join(cfg, 'registries.conf'), MAIN);
    write(join(cfg, 'registries.conf.d', '10-first.conf'), DROP_IN_1);
    write(join(cfg, 'registries.conf.d', '20-second.conf'), DROP_IN_2);
    for (const s of ['graph', 'run', 'xdg', 'tmp', 'libpod-tmp']) mkdirSync(join(d, s));
    write(join(d, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${join(d, 'graph')}"\nrunroot = "${join(d, 'run')}"\n`);
    write(join(d, 'containers.conf'), `[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\ntmp_dir = "${join(d, 'libpod-tmp')}"\n`);
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      XDG_RUNTIME_DIR: join(d, 'xdg'),
      TMPDIR: join(d, 'tmp'),
      CONTAINERS_STORAGE_CONF: join(d, 'storage.conf'),
      CONTAINERS_CONF: join(d, 'containers.conf'),
    };
    const r = spawnSync('podman', ['info', '--format', '{{json .Registries}}'], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `podman info failed: ${r.stderr}`);
    const theirs = JSON.parse(r.stdout) as Record<string, unknown> & { search: string[] };
    const ours = await loadRegistriesConf({ env: { HOME: home } });

    assert.deepEqual(theirs.search, ours.unqualifiedSearchRegistries);
    const theirTables = Object.entries(theirs)
      .filter(([k]) => k !== 'search')
      .map(([, v]) => {
        const t = v as { Prefix: string; Location: string; Insecure: boolean; Blocked: boolean; MirrorByDigestOnly: boolean;
          Mirrors: { Location: string; Insecure: boolean; PullFromMirror: string }[] | null };
        return {
          prefix: t.Prefix, location: t.Location, insecure: t.Insecure, blocked: t.Blocked, mirrorByDigestOnly: t.MirrorByDigestOnly,
          mirrors: (t.Mirrors ?? []).map((m) => ({ location: m.Location, insecure: m.Insecure, pullFromMirror: m.PullFromMirror })),
        };
      })
      .sort((a, b) => (a.prefix < b.prefix ? -1 : 1));
    assert.deepEqual(ours.registries, theirTables);
  });
});
