// Basic authentication from one htpasswd file (made by Debian's `htpasswd -B`), against Wharf and,
// with the same steps and the same file, Debian's docker-registry: skopeo, podman, buildah and wharf
// log in and push/pull with --creds and with auth.json; without or with wrong credentials they fail.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWharf, wharfBin, type WharfServer } from '../helpers/server.js';
import { startDistribution, type DistributionServer } from '../helpers/distribution.js';
import { sampleImage, writeOciLayout } from './lib/images.js';
import { withClientEnv } from './lib/suite.js';
import type { ClientEnv } from './lib/containers.js';

const USER = 'alice';
const PASSWORD = `Pw-${Math.random().toString(36).slice(2)}-htpasswd`;
const IMG = sampleImage('htpasswd-a');

interface Target { name: string; addr: string }

describe('htpasswd: real clients against Wharf and docker-registry with one htpasswd file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-htpasswd-'));
  const file = join(dir, 'htpasswd');
  let wharf: WharfServer;
  let distribution: DistributionServer;
  const wharfLog: string[] = [];
  let targets: Target[] = [];

  before(async () => {
    execFileSync('htpasswd', ['-Bbc', file, USER, PASSWORD], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-Bb', file, 'bob', 'other-password'], { stdio: 'ignore' });
    wharf = await startWharf({ env: { WHARF_AUTH_HTPASSWD_PATH: file, WHARF_AUTH_HTPASSWD_REALM: 'wharf-test' } });
    createInterface({ input: wharf.proc.stdout! }).on('line', (l) => wharfLog.push(l));
    distribution = await startDistribution({ extraConfig: ['auth:', '  htpasswd:', '    realm: dist-test', `    path: ${file}`].join('\n') });
    targets = [{ name: 'wharf', addr: wharf.addr }, { name: 'distribution', addr: distribution.addr }];
  });
  after(async () => {
    await wharf?.stop();
    wharf?.cleanup();
    await distribution?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const each = (title: string, fn: (env: ClientEnv, t: Target) => Promise<void>): void => {
    for (const which of ['distribution', 'wharf']) {
      test(`${title} [${which}]`, { timeout: 120_000 }, async () => {
        const t = targets.find((x) => x.name === which)!;
        await withClientEnv([t.addr], (env) => fn(env, t));
      });
    }
  };

  const layout = (env: ClientEnv): string => {
    const l = env.tmp('layout');
    writeOciLayout(l, [{ tag: 'src', image: IMG }]);
    return l;
  };

  each('anonymous requests get 401 with a Basic challenge', async (_env, t) => {
    const res = await fetch(`http://${t.addr}/v2/`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic realm="(wharf|dist)-test"$/);
  });

  each('skopeo copy and inspect with --creds; without or with wrong ones it fails', async (env, t) => {
    const dest = `docker://${t.addr}/auth/skopeo:v1`;
    const denied = await env.skopeo(['copy', '--dest-tls-verify=false', `oci:${layout(env)}:src`, dest], { allowFail: true });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /unauthorized|authentication required/i);
    const wrong = await env.skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${USER}:not-it`, `oci:${layout(env)}:src`, dest], { allowFail: true });
    assert.notEqual(wrong.code, 0);
    assert.ok(!wrong.stderr.includes('not-it'));
    await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`, `oci:${layout(env)}:src`, dest]);
    const raw = await env.skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, dest]);
    assert.equal(raw.stdoutBuf.toString(), IMG.manifest.toString());
    const anon = await env.skopeo(['inspect', '--raw', '--tls-verify=false', dest], { allowFail: true });
    assert.notEqual(anon.code, 0);
  });

  each('skopeo login stores the credentials in auth.json, then copies use them', async (env, t) => {
    await env.skopeo(['login', '--tls-verify=false', '-u', USER, '--password-stdin', t.addr], { input: PASSWORD });
    const dest = `docker://${t.addr}/auth/skopeo-login:v1`;
    await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout(env)}:src`, dest]);
    const tags = JSON.parse((await env.skopeo(['list-tags', '--tls-verify=false', dest.replace(/:v1$/, '')])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['v1']);
    const bad = await env.skopeo(['login', '--tls-verify=false', '-u', USER, '--password-stdin', t.addr], { input: 'wrong', allowFail: true });
    assert.notEqual(bad.code, 0);
  });

  each('podman login, push, pull, logout', async (env, t) => {
    const ref = `${t.addr}/auth/podman:v1`;
    await env.skopeo(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`, `oci:${layout(env)}:src`, `docker://${ref}`]);
    const anon = await env.podman(['pull', '--tls-verify=false', ref], { allowFail: true });
    assert.notEqual(anon.code, 0);
    await env.podman(['login', '--tls-verify=false', '-u', USER, '--password-stdin', t.addr], { input: PASSWORD });
    const pulled = await env.podman(['pull', '--tls-verify=false', ref]);
    assert.equal(pulled.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7));
    await env.podman(['tag', ref, `${t.addr}/auth/podman:copy`]);
    await env.podman(['push', '--tls-verify=false', `${t.addr}/auth/podman:copy`]);
    await env.podman(['logout', t.addr]);
    const after = await env.podman(['pull', '--tls-verify=false', `${t.addr}/auth/podman:copy`], { allowFail: true });
    assert.notEqual(after.code, 0, 'after logout the pull is refused again');
  });

  each('buildah push and pull with --creds', async (env, t) => {
    const ref = `${t.addr}/auth/buildah:v1`;
    const ctr = (await env.buildah(['from', `oci:${layout(env)}:src`])).stdout.trim().split('\n').pop()!;
    await env.buildah(['commit', '--quiet', ctr, 'localhost/auth-buildah:v1']);
    await env.buildah(['push', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, 'localhost/auth-buildah:v1', `docker://${ref}`]);
    const denied = await env.buildah(['pull', '--tls-verify=false', '--creds', `${USER}:wrong`, ref], { allowFail: true });
    assert.notEqual(denied.code, 0);
    await env.buildah(['pull', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, ref]);
  });

  each('wharf login, copy and inspect', async (env, t) => {
    const wharfCli = (args: string[], opts: { input?: string; allowFail?: boolean } = {}) => env.run(process.execPath, [wharfBin, ...args], { ...opts, noNamespace: true });
    const dest = `docker://${t.addr}/auth/wharf:v1`;
    const denied = await wharfCli(['copy', '--dest-tls-verify=false', `oci:${layout(env)}:src`, dest], { allowFail: true });
    assert.notEqual(denied.code, 0);
    await wharfCli(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`, `oci:${layout(env)}:src`, dest]);
    const bad = await wharfCli(['login', '--tls-verify=false', '-u', USER, '--password-stdin', t.addr], { input: 'wrong-one', allowFail: true });
    assert.notEqual(bad.code, 0);
    assert.ok(!bad.stderr.includes('wrong-one'));
    await wharfCli(['login', '--tls-verify=false', '-u', USER, '--password-stdin', t.addr], { input: PASSWORD });
    const raw = await wharfCli(['inspect', '--raw', '--tls-verify=false', dest]);
    assert.equal(raw.stdout, IMG.manifest.toString());
    // podman reads what wharf login wrote.
    const pulled = await env.podman(['pull', '--tls-verify=false', `${t.addr}/auth/wharf:v1`]);
    assert.equal(pulled.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7));
  });

  test('Wharf logged failed attempts with the user name and address only, never a password', async () => {
    await new Promise((r) => setTimeout(r, 200));
    const all = wharfLog.join('\n');
    assert.ok(!all.includes(PASSWORD), 'the password reached the log');
    for (const secret of ['not-it', 'wrong-one', Buffer.from(`${USER}:not-it`).toString('base64')]) assert.ok(!all.includes(secret), `${secret} reached the log`);
    const failures = wharfLog.filter((l) => /"user":"alice"/.test(l) && /"level":40/.test(l));
    assert.ok(failures.length > 0, 'failed attempts are logged (as warnings, with the user name)');
    for (const f of failures) assert.match(f, /127\.0\.0\.1/);
  });
});
