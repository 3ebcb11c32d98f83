// Auth files shared with the real tools: what Wharf writes, podman and skopeo read (`login --get-login`), and what
// `podman login` / `skopeo login` write against a live Distribution registry with htpasswd auth, Wharf reads.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeCredentials, resolveCredentials, storeCredentials } from '../../src/client/auth-file.js';
import { startDistribution, type DistributionServer } from '../helpers/distribution.js';

const root = mkdtempSync(join(tmpdir(), 'wharf-auth-interop-'));
let registry: DistributionServer | undefined;
let n = 0;

function dir(name = 'd'): string {
  const p = join(root, `${name}-${++n}`);
  mkdirSync(p, { recursive: true });
  return p;
}

/** A private environment for the tools: HOME, XDG_RUNTIME_DIR, storage and config all under a fresh directory. */
function toolEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv & { HOME: string; XDG_RUNTIME_DIR: string } {
  const d = dir('env');
  for (const s of ['home', 'xdg', 'graph', 'run', 'tmp', 'libpod-tmp']) mkdirSync(join(d, s));
  writeFileSync(join(d, 'storage.conf'), `[storage]\ndriver = "vfs"\ngraphroot = "${join(d, 'graph')}"\nrunroot = "${join(d, 'run')}"\n`);
  writeFileSync(join(d, 'containers.conf'), `[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\ntmp_dir = "${join(d, 'libpod-tmp')}"\n`);
  writeFileSync(join(d, 'registries.conf'), 'unqualified-search-registries = []\n');
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    LANG: 'C.UTF-8',
    HOME: join(d, 'home'),
    XDG_RUNTIME_DIR: join(d, 'xdg'),
    TMPDIR: join(d, 'tmp'),
    CONTAINERS_STORAGE_CONF: join(d, 'storage.conf'),
    CONTAINERS_CONF: join(d, 'containers.conf'),
    CONTAINERS_REGISTRIES_CONF: join(d, 'registries.conf'),
    ...extra,
  };
}

interface Result { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { env, timeout: 60_000, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(input ?? '');
  });
}

/** `<tool> login --get-login [--authfile F] KEY`: the username, or null when the tool says it is not logged in. */
async function getLogin(tool: 'podman' | 'skopeo', key: string, env: NodeJS.ProcessEnv, authFile?: string): Promise<string | null> {
  const r = await run(tool, ['login', '--get-login', ...(authFile ? ['--authfile', authFile] : []), key], env);
  if (r.code !== 0) {
    assert.match(r.stderr, /not logged in/i, `${tool} login --get-login ${key}: ${r.stderr}`);
    return null;
  }
  return r.stdout.trim();
}

before(async () => {
  const htpasswd = join(root, 'htpasswd');
  writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', 'user', 'pa:ss word'], { encoding: 'utf8' }));
  registry = await startDistribution({
    extraConfig: ['auth:', '  htpasswd:', '    realm: wharf-test', `    path: ${htpasswd}`].join('\n'),
  });
});

after(async () => {
  await registry?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('podman and skopeo read what Wharf writes', () => {
  test('explicit auth file: host and namespaced keys', async () => {
    const env = toolEnv();
    const f = join(dir(), 'auth.json');
    await storeCredentials('127.0.0.1:5000', { username: 'wharf-user', password: 'x' }, { authFile: f });
    await storeCredentials('127.0.0.1:5000/team', { username: 'team-user', password: 'y' }, { authFile: f });
    for (const tool of ['podman', 'skopeo'] as const) {
      assert.equal(await getLogin(tool, '127.0.0.1:5000', env, f), 'wharf-user', tool);
      assert.equal(await getLogin(tool, '127.0.0.1:5000/team/app', env, f), 'team-user', tool);
      assert.equal(await getLogin(tool, '127.0.0.1:5001', env, f), null, tool);
    }
  });

  test('default locations: $XDG_RUNTIME_DIR/containers/auth.json and REGISTRY_AUTH_FILE', async () => {
    const env = toolEnv();
    const written = await storeCredentials('reg.example:5000', { username: 'default-user', password: 'x' }, { env });
    assert.equal(written, join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
    assert.equal(await getLogin('podman', 'reg.example:5000', env), 'default-user');
    assert.equal(await getLogin('skopeo', 'reg.example:5000', env), 'default-user');

    const raf = join(dir(), 'raf', 'auth.json');
    const env2 = { ...env, REGISTRY_AUTH_FILE: raf };
    assert.equal(await storeCredentials('reg.example:5000', { username: 'raf-user', password: 'x' }, { env: env2 }), raf);
    assert.equal(await getLogin('podman', 'reg.example:5000', env2), 'raf-user');
    assert.equal(await getLogin('skopeo', 'reg.example:5000', env2), 'raf-user');
  });

  test('both sides agree on file precedence and Docker config fallbacks', async () => {
    const env = toolEnv();
    const put = (path: string, value: unknown) => {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, JSON.stringify(value));
    };
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    put(join(env.HOME, '.docker', 'config.json'), {
      auths: { 'https://index.docker.io/v1/': { auth: b64('hub:x') }, 'both.example': { auth: b64('docker:x') }, 'marker.example': { auth: b64('behind:x') } },
    });
    put(join(env.HOME, '.config', 'containers', 'auth.json'), { auths: { 'both.example': { auth: b64('config:x') } } });
    put(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'), { auths: { 'marker.example': {} } });
    put(join(env.HOME, '.dockercfg'), { 'https://legacy.example/v1/': { auth: b64('legacy:x') } });
    for (const [key, repo] of [['docker.io', 'library/alpine'], ['both.example', 'ns/x'], ['marker.example', 'x'], ['legacy.example', 'x'], ['none.example', 'x']]) {
      const ours = await resolveCredentials(key!, repo, { env });
      const mine = ours && 'username' in ours ? ours.username : null;
      assert.equal(await getLogin('podman', key!, env), mine, `podman vs Wharf for ${key}`);
      assert.equal(await getLogin('skopeo', key!, env), mine, `skopeo vs Wharf for ${key}`);
    }
  });

  test('credHelpers: podman and Wharf ask the same helper', async () => {
    const bin = dir('bin');
    writeFileSync(join(bin, 'docker-credential-wharftest'), [
      '#!/bin/sh',
      'read -r server',
      'if [ "$1" = get ] && [ "$server" = "helped.example:5000" ]; then',
      '  echo \'{"ServerURL":"helped.example:5000","Username":"helper-user","Secret":"helper-pw"}\'',
      '  exit 0',
      'fi',
      'echo "credentials not found in native keychain"; exit 1',
      '',
    ].join('\n'));
    chmodSync(join(bin, 'docker-credential-wharftest'), 0o755);
    const env = toolEnv();
    env.PATH = `${bin}:${env.PATH}`;
    const f = join(dir(), 'auth.json');
    writeFileSync(f, JSON.stringify({ auths: {}, credHelpers: { 'helped.example:5000': 'wharftest', 'other.example': 'wharftest' } }));
    assert.deepEqual(await resolveCredentials('helped.example:5000', 'a/b', { authFile: f, env }), { username: 'helper-user', password: 'helper-pw' });
    assert.equal(await getLogin('podman', 'helped.example:5000', env, f), 'helper-user');
    assert.equal(await resolveCredentials('other.example', undefined, { authFile: f, env }), null);
    assert.equal(await getLogin('podman', 'other.example', env, f), null);
  });
});

describe('Wharf reads what podman login and skopeo login write (live registry, htpasswd)', () => {
  test('podman login → resolveCredentials; podman logout after Wharf stores', async () => {
    const env = toolEnv();
    const addr = registry!.addr;
    const f = join(dir(), 'sub', 'podman-auth.json');
    const bad = await run('podman', ['login', '--tls-verify=false', '--authfile', f, '-u', 'user', '-p', 'wrong', addr], env);
    assert.notEqual(bad.code, 0);
    assert.equal(existsSync(f), false, 'a failed login writes nothing');

    const r = await run('podman', ['login', '--tls-verify=false', '--authfile', f, '-u', 'user', '--password-stdin', addr], env, 'pa:ss word\n');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await resolveCredentials(addr, 'any/repo', { authFile: f }), { username: 'user', password: 'pa:ss word' });
    assert.equal(statSync(f).mode & 0o777, 0o600);

    // Wharf adds an entry; podman still reads both and can log out of Wharf's entry.
    await storeCredentials('127.0.0.1:1', { username: 'wharf', password: 'w' }, { authFile: f });
    assert.equal(await getLogin('podman', addr, env, f), 'user');
    assert.equal(await getLogin('podman', '127.0.0.1:1', env, f), 'wharf');
    const out = await run('podman', ['logout', '--authfile', f, '127.0.0.1:1'], env);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await resolveCredentials('127.0.0.1:1', undefined, { authFile: f }), null);

    // And Wharf can log out of podman's entry.
    assert.equal(await removeCredentials(addr, { authFile: f }), true);
    assert.equal(await getLogin('podman', addr, env, f), null);
    assert.deepEqual(JSON.parse(readFileSync(f, 'utf8')), { auths: {} });
  });

  test('podman login to the default location is found without an explicit file', async () => {
    const env = toolEnv();
    const addr = registry!.addr;
    const r = await run('podman', ['login', '--tls-verify=false', '-u', 'user', '-p', 'pa:ss word', addr], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json')));
    assert.deepEqual(await resolveCredentials(addr, 'x/y', { env }), { username: 'user', password: 'pa:ss word' });
  });

  test('skopeo login writes a file Wharf reads, byte-compatible with what Wharf writes', async () => {
    const env = toolEnv();
    const addr = registry!.addr;
    const f = join(dir(), 'skopeo-auth.json');
    const r = await run('skopeo', ['login', '--tls-verify=false', '--authfile', f, '-u', 'user', '-p', 'pa:ss word', addr], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await resolveCredentials(addr, undefined, { authFile: f }), { username: 'user', password: 'pa:ss word' });
    const theirs = readFileSync(f, 'utf8');
    const g = join(dir(), 'wharf-auth.json');
    await storeCredentials(addr, { username: 'user', password: 'pa:ss word' }, { authFile: g });
    assert.equal(readFileSync(g, 'utf8'), theirs);
  });
});
