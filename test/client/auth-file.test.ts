// containers-auth.json(5): locations, lookup order, legacy keys and safe rewriting.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  authFileCandidates,
  authFileKey,
  normalizeAuthFileKey,
  removeAllCredentials,
  removeCredentials,
  resolveCredentials,
  storeCredentials,
} from '../../src/client/auth-file.js';

const root = mkdtempSync(join(tmpdir(), 'wharf-auth-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function dir(name = 'd'): string {
  const p = join(root, `${name}-${++n}`);
  mkdirSync(p, { recursive: true });
  return p;
}
const b64 = (s: string) => Buffer.from(s).toString('base64');
function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value));
}
function entry(user: string, pass = 'pw') {
  return { auth: b64(`${user}:${pass}`) };
}
/** An isolated environment: HOME and XDG_RUNTIME_DIR under a fresh directory. */
function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv & { HOME: string; XDG_RUNTIME_DIR: string } {
  const d = dir('env');
  mkdirSync(join(d, 'run'));
  return { PATH: process.env.PATH, HOME: join(d, 'home'), XDG_RUNTIME_DIR: join(d, 'run'), ...extra };
}

describe('authFileCandidates', () => {
  test('XDG_RUNTIME_DIR primary, then ~/.config, ~/.docker, ~/.dockercfg', () => {
    assert.deepEqual(authFileCandidates({ HOME: '/h', XDG_RUNTIME_DIR: '/run/user/7' }), [
      { path: '/run/user/7/containers/auth.json', writable: true },
      { path: '/h/.config/containers/auth.json', writable: false },
      { path: '/h/.docker/config.json', writable: false },
      { path: '/h/.dockercfg', writable: false, legacyFormat: true },
    ]);
  });

  test('without XDG_RUNTIME_DIR the primary is /run/containers/$UID/auth.json (as podman and skopeo)', () => {
    const c = authFileCandidates({ HOME: '/h' });
    assert.deepEqual(c[0], { path: `/run/containers/${process.getuid!()}/auth.json`, writable: true });
    assert.equal(c[1]!.path, '/h/.config/containers/auth.json');
  });

  test('REGISTRY_AUTH_FILE replaces the primary; XDG_CONFIG_HOME and DOCKER_CONFIG move the fallbacks', () => {
    const c = authFileCandidates({
      HOME: '/h', XDG_RUNTIME_DIR: '/r', REGISTRY_AUTH_FILE: '/a/auth.json', XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dc',
    });
    assert.deepEqual(c.map((x) => [x.path, x.writable]), [
      ['/a/auth.json', true],
      ['/cfg/containers/auth.json', false],
      ['/dc/config.json', false],
      ['/h/.dockercfg', false],
    ]);
  });

  test('a primary that is also a fallback is listed once', () => {
    const c = authFileCandidates({ HOME: '/h', REGISTRY_AUTH_FILE: '/h/.docker/config.json' });
    assert.deepEqual(c.map((x) => x.path), ['/h/.docker/config.json', '/h/.config/containers/auth.json', '/h/.dockercfg']);
  });
});

describe('keys', () => {
  test('authFileKey: URLs become host[:port]; tags and digests are refused', () => {
    assert.equal(authFileKey('https://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
    assert.equal(authFileKey('quay.io/ns/'), 'quay.io/ns');
    assert.equal(authFileKey('localhost:5000', 'a/b'), 'localhost:5000/a/b');
    assert.throws(() => authFileKey('quay.io/ns/img:tag'), /':' character/);
    assert.throws(() => authFileKey('quay.io/ns/img@sha256:00'), /'@' character/);
  });

  test('normalizeAuthFileKey maps Docker-written keys to hosts', () => {
    assert.equal(normalizeAuthFileKey('https://index.docker.io/v1/'), 'index.docker.io');
    assert.equal(normalizeAuthFileKey('docker.io'), 'index.docker.io');
    assert.equal(normalizeAuthFileKey('http://reg:5000'), 'reg:5000');
    assert.equal(normalizeAuthFileKey('reg:5000/ns'), 'reg:5000/ns');
    assert.equal(normalizeAuthFileKey('reg:5000/ns', true), 'reg:5000');
  });
});

describe('resolveCredentials', () => {
  test('reads base64 user:pass; passwords may contain colons', async () => {
    const f = join(dir(), 'auth.json');
    writeJson(f, { auths: { '127.0.0.1:5000': { auth: b64('user:pa:ss') } } });
    assert.deepEqual(await resolveCredentials('127.0.0.1:5000', undefined, { authFile: f }), { username: 'user', password: 'pa:ss' });
    assert.equal(await resolveCredentials('127.0.0.1:5001', 'x', { authFile: f }), null);
  });

  test('the most specific key wins: host/ns/repo, host/ns, host', async () => {
    const f = join(dir(), 'auth.json');
    writeJson(f, {
      auths: {
        'reg.local': entry('host'),
        'reg.local/team': entry('team'),
        'reg.local/team/app': entry('app'),
        'reg.local/te': entry('partial'),
      },
    });
    const who = async (repo?: string) => {
      const c = await resolveCredentials('reg.local', repo, { authFile: f });
      return c && 'username' in c ? c.username : null;
    };
    assert.equal(await who('team/app'), 'app');
    assert.equal(await who('team/app/sub'), 'app');
    assert.equal(await who('team/other'), 'team');
    assert.equal(await who('team'), 'team');
    assert.equal(await who('tea/x'), 'host');
    assert.equal(await who('teamx/app'), 'host', 'keys match whole path components only');
    assert.equal(await who(undefined), 'host');
  });

  test('legacy Docker keys: https://index.docker.io/v1/ for docker.io, URL keys for other hosts', async () => {
    const f = join(dir(), 'config.json');
    writeJson(f, {
      auths: {
        'https://index.docker.io/v1/': entry('hub'),
        'https://reg.example:5000/v1/': entry('v1url'),
        'http://plain.example': entry('plain'),
      },
    });
    const user = async (reg: string, repo?: string) => {
      const c = await resolveCredentials(reg, repo, { authFile: f });
      return c && 'username' in c ? c.username : null;
    };
    assert.equal(await user('docker.io', 'library/alpine'), 'hub');
    assert.equal(await user('registry-1.docker.io'), 'hub');
    assert.equal(await user('reg.example:5000', 'a/b'), 'v1url');
    assert.equal(await user('plain.example'), 'plain');
    assert.equal(await user('reg.example'), null, 'the port is part of the host');
  });

  test('an exact key is preferred to a legacy key', async () => {
    const f = join(dir(), 'config.json');
    writeJson(f, { auths: { 'https://index.docker.io/v1/': entry('legacy'), 'docker.io': entry('exact') } });
    assert.deepEqual(await resolveCredentials('docker.io', 'library/x', { authFile: f }), { username: 'exact', password: 'pw' });
  });

  test('identitytoken; NUL padding of passwords is trimmed', async () => {
    const f = join(dir(), 'auth.json');
    writeJson(f, {
      auths: {
        'tok.example': { auth: b64('<token>:'), identitytoken: 'refresh-123' },
        'nul.example': { auth: b64('u:p\0\0') },
      },
    });
    assert.deepEqual(await resolveCredentials('tok.example', undefined, { authFile: f }), { identityToken: 'refresh-123' });
    assert.deepEqual(await resolveCredentials('nul.example', undefined, { authFile: f }), { username: 'u', password: 'p' });
  });

  test('file precedence: primary, ~/.config, DOCKER_CONFIG, ~/.dockercfg; empty markers fall through', async () => {
    const env = isolatedEnv();
    const primary = join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
    const config = join(env.HOME, '.config', 'containers', 'auth.json');
    const docker = join(env.HOME, '.docker', 'config.json');
    const legacy = join(env.HOME, '.dockercfg');
    const user = async (reg: string, e: NodeJS.ProcessEnv = env) => {
      const c = await resolveCredentials(reg, 'ns/repo', { env: e });
      return c && 'username' in c ? c.username : null;
    };
    writeJson(legacy, { 'r.example': entry('legacy'), 'https://old.example/v1/': entry('legacy-url') });
    assert.equal(await user('r.example'), 'legacy');
    assert.equal(await user('old.example'), 'legacy-url');
    writeJson(docker, { auths: { 'r.example': entry('docker') } });
    assert.equal(await user('r.example'), 'docker');
    writeJson(config, { auths: { 'r.example': entry('config') } });
    assert.equal(await user('r.example'), 'config');
    // A more specific key in a later file does not beat an earlier file.
    writeJson(primary, { auths: { 'r.example': entry('primary'), 'marker.example': {} } });
    writeJson(docker, { auths: { 'r.example/ns/repo': entry('docker-specific'), 'marker.example': entry('behind-marker') } });
    assert.equal(await user('r.example'), 'primary');
    assert.equal(await user('marker.example'), 'behind-marker');
    // DOCKER_CONFIG replaces ~/.docker.
    const dc = dir('dc');
    writeJson(join(dc, 'config.json'), { auths: { 'only-dc.example': entry('dc') } });
    assert.equal(await user('only-dc.example', { ...env, DOCKER_CONFIG: dc }), 'dc');
    assert.equal(await user('marker.example', { ...env, DOCKER_CONFIG: dc }), null);
    // REGISTRY_AUTH_FILE replaces the primary but keeps the fallbacks.
    const raf = join(dir(), 'raf.json');
    writeJson(raf, { auths: { 'r.example': entry('raf') } });
    assert.equal(await user('r.example', { ...env, REGISTRY_AUTH_FILE: raf }), 'raf');
    assert.equal(await user('marker.example', { ...env, REGISTRY_AUTH_FILE: raf }), 'behind-marker');
  });

  test('an explicit authFile is the only file read', async () => {
    const env = isolatedEnv();
    writeJson(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'), { auths: { 'r.example': entry('primary') } });
    const f = join(dir(), 'explicit.json');
    writeJson(f, { auths: { 'other.example': entry('explicit') } });
    assert.equal(await resolveCredentials('r.example', undefined, { env, authFile: f }), null);
    assert.deepEqual(await resolveCredentials('other.example', undefined, { env, authFile: f }), { username: 'explicit', password: 'pw' });
    assert.equal(await resolveCredentials('r.example', undefined, { env, authFile: join(dir(), 'missing.json') }), null);
  });

  test('malformed files and entries are errors naming the file', async () => {
    const f = join(dir(), 'bad.json');
    writeFileSync(f, '{"auths": ');
    await assert.rejects(resolveCredentials('x', undefined, { authFile: f }), (e: Error) => e.message.includes(f));
    writeJson(f, { auths: { x: { auth: '!!not base64!!' } } });
    await assert.rejects(resolveCredentials('x', undefined, { authFile: f }), /invalid base64/);
    writeJson(f, { auths: { x: { auth: b64('no-colon') } } });
    assert.equal(await resolveCredentials('x', undefined, { authFile: f }), null);
  });
});

describe('storeCredentials', () => {
  test('writes the format podman writes: tab-indented, mode 0600, parents 0700', async () => {
    const d = dir();
    const f = join(d, 'a', 'b', 'auth.json');
    const written = await storeCredentials('127.0.0.1:5000', { username: 'user', password: 'pass' }, { authFile: f });
    assert.equal(written, f);
    assert.equal(readFileSync(f, 'utf8'), '{\n\t"auths": {\n\t\t"127.0.0.1:5000": {\n\t\t\t"auth": "dXNlcjpwYXNz"\n\t\t}\n\t}\n}');
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.equal(statSync(join(d, 'a')).mode & 0o777, 0o700);
    assert.equal(statSync(join(d, 'a', 'b')).mode & 0o777, 0o700);
    assert.deepEqual(await resolveCredentials('127.0.0.1:5000', 'any/repo', { authFile: f }), { username: 'user', password: 'pass' });
  });

  test('round-trips unusual usernames and passwords', async () => {
    const f = join(dir(), 'auth.json');
    const creds = { username: 'ünï cødé', password: 'p:a"s\\s w\u00f6rd\n' };
    await storeCredentials('reg.example', creds, { authFile: f });
    assert.deepEqual(await resolveCredentials('reg.example', undefined, { authFile: f }), creds);
  });

  test('preserves other entries and top-level keys, replaces the entry, rewrites atomically', async () => {
    const d = dir();
    const f = join(d, 'config.json');
    const original = {
      psFormat: 'table {{.ID}}',
      auths: { 'z.example': entry('z'), 'reg.example': { auth: b64('old:old'), identitytoken: 'stale' }, 'a.example': {} },
      credHelpers: { 'helper.example': 'pass' },
      proxies: { default: { httpProxy: 'http://127.0.0.1:3128' } },
    };
    writeJson(f, original);
    const inoBefore = statSync(f).ino;
    await storeCredentials('reg.example', { username: 'new', password: 'secret' }, { authFile: f });
    const after = JSON.parse(readFileSync(f, 'utf8'));
    assert.deepEqual(Object.keys(after), ['psFormat', 'auths', 'credHelpers', 'proxies']);
    assert.deepEqual(Object.keys(after.auths), ['a.example', 'reg.example', 'z.example'], 'entries sorted, as Go writes maps');
    assert.deepEqual(after.auths['reg.example'], { auth: b64('new:secret') });
    assert.deepEqual(after.auths['z.example'], original.auths['z.example']);
    assert.deepEqual(after.credHelpers, original.credHelpers);
    assert.deepEqual(after.proxies, original.proxies);
    assert.notEqual(statSync(f).ino, inoBefore, 'replaced by rename, not rewritten in place');
    assert.deepEqual(readdirSync(d), ['config.json'], 'no temporary files left behind');
  });

  test('namespaced keys and URL arguments', async () => {
    const f = join(dir(), 'auth.json');
    await storeCredentials('reg.example/team', { username: 'team', password: 't' }, { authFile: f });
    await storeCredentials('https://reg.example/v2/', { username: 'host', password: 'h' }, { authFile: f });
    const auths = JSON.parse(readFileSync(f, 'utf8')).auths;
    assert.deepEqual(Object.keys(auths), ['reg.example', 'reg.example/team']);
    assert.deepEqual(await resolveCredentials('reg.example', 'team/app', { authFile: f }), { username: 'team', password: 't' });
    assert.deepEqual(await resolveCredentials('reg.example', 'other/app', { authFile: f }), { username: 'host', password: 'h' });
  });

  test('concurrent stores to one file all land', async () => {
    const f = join(dir(), 'auth.json');
    await Promise.all(Array.from({ length: 20 }, (_, i) =>
      storeCredentials(`r${i}.example`, { username: `u${i}`, password: 'p' }, { authFile: f })));
    assert.equal(Object.keys(JSON.parse(readFileSync(f, 'utf8')).auths).length, 20);
  });

  test('without authFile, writes the primary file (REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json)', async () => {
    const env = isolatedEnv();
    const expected = join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
    assert.equal(await storeCredentials('reg.example', { username: 'u', password: 'p' }, { env }), expected);
    assert.deepEqual(await resolveCredentials('reg.example', undefined, { env }), { username: 'u', password: 'p' });
    const raf = join(dir(), 'x', 'raf.json');
    assert.equal(await storeCredentials('reg.example', { username: 'u', password: 'p' }, { env: { ...env, REGISTRY_AUTH_FILE: raf } }), raf);
    await assert.rejects(
      storeCredentials('reg.example', { username: 'u', password: 'p' }, { env: { ...env, XDG_RUNTIME_DIR: join(root, 'nope') } }),
      /XDG_RUNTIME_DIR does not exist/,
    );
  });
});

describe('removeCredentials / removeAllCredentials', () => {
  test('removes one entry, keeping the rest', async () => {
    const f = join(dir(), 'auth.json');
    writeJson(f, { auths: { 'a.example': entry('a'), 'b.example': entry('b'), 'b.example/ns': entry('bns') }, other: 1 });
    assert.equal(await removeCredentials('b.example', { authFile: f }), true);
    assert.equal(await removeCredentials('b.example', { authFile: f }), false);
    assert.equal(await removeCredentials('nothing.example', { authFile: join(dir(), 'missing.json') }), false);
    const after = JSON.parse(readFileSync(f, 'utf8'));
    assert.deepEqual(after, { auths: { 'a.example': entry('a'), 'b.example/ns': entry('bns') }, other: 1 });
    assert.equal(statSync(f).mode & 0o777, 0o600);
  });

  test('removeAll empties auths only in the writable file', async () => {
    const env = isolatedEnv();
    const primary = join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
    const docker = join(env.HOME, '.docker', 'config.json');
    writeJson(primary, { auths: { 'a.example': entry('a'), 'b.example': entry('b') }, credHelpers: {}, keep: true });
    writeJson(docker, { auths: { 'a.example': entry('docker') } });
    await removeAllCredentials({ env });
    assert.deepEqual(JSON.parse(readFileSync(primary, 'utf8')), { auths: {}, credHelpers: {}, keep: true });
    assert.deepEqual(JSON.parse(readFileSync(docker, 'utf8')), { auths: { 'a.example': entry('docker') } });
    assert.deepEqual(await resolveCredentials('a.example', undefined, { env }), { username: 'docker', password: 'pw' });
  });
});
