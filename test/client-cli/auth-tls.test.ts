// Login, stored credentials and TLS against Debian's docker-registry with htpasswd auth (bcrypt) behind a self-signed
// certificate for 127.0.0.1: wharf login (-u/-p, --password-stdin, --cert-dir, --tls-verify=false) checks the
// credentials before storing them; what wharf login writes, skopeo and podman read, and the other way round; copies
// use the stored credentials or --src-creds/--dest-creds, and fail clearly without; logout removes them; a TLS
// failure says what to do.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { Cli, parseCopySummary, withHistory } from './lib/cli.js';
import { repoName, startSecureDistribution, type SecureRegistry } from './lib/registries.js';
import { readBack } from './lib/transports.js';

const IMG = sampleImage('cli-auth');
let reg: SecureRegistry;
let cli: Cli;
let base: string;

before(async () => {
  reg = await startSecureDistribution('user', 'pa:ss word');
  cli = new Cli();
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }]);
});

after(async () => {
  cli?.cleanup();
  await reg?.stop();
});

/** Clears the private auth file. */
function logoutAll(): void {
  writeFileSync(cli.authFile, JSON.stringify({ auths: {} }));
}

interface AuthFile { auths: Record<string, { auth?: string }> }

function storedAuth(): string | undefined {
  return (JSON.parse(cli.authFileBytes() || '{"auths":{}}') as AuthFile).auths[reg.addr]?.auth;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe('wharf login', () => {
  test('-u/-p with --cert-dir: checks, stores, and skopeo/podman login --get-login read it', () => withHistory(cli, async () => {
    logoutAll();
    const r = await cli.wharf(['login', '-u', reg.user, '-p', reg.password, '--cert-dir', reg.certDir, reg.addr]);
    assert.match(r.stdout, /Login Succeeded/);
    assert.equal(storedAuth(), b64(`${reg.user}:${reg.password}`));
    assert.equal((await cli.skopeo(['login', '--get-login', reg.addr])).stdout.trim(), reg.user);
    assert.equal((await cli.podman(['login', '--get-login', reg.addr])).stdout.trim(), reg.user);
    assert.equal((await cli.wharf(['login', '--get-login', reg.addr])).stdout.trim(), reg.user);
  }));

  test('--password-stdin with --tls-verify=false', () => withHistory(cli, async () => {
    logoutAll();
    const r = await cli.wharf(['login', '-u', reg.user, '--password-stdin', '--tls-verify=false', reg.addr], { input: `${reg.password}\n` });
    assert.match(r.stdout, /Login Succeeded/);
    assert.equal(storedAuth(), b64(`${reg.user}:${reg.password}`));
    assert.equal((await cli.skopeo(['login', '--get-login', reg.addr])).stdout.trim(), reg.user);
  }));

  test('a wrong password: non-zero exit, a message about the credentials, auth file unchanged', () => withHistory(cli, async () => {
    logoutAll();
    await cli.wharf(['login', '-u', reg.user, '-p', reg.password, '--cert-dir', reg.certDir, reg.addr]);
    const before = cli.authFileBytes();
    const r = await cli.wharfFails(['login', '-u', reg.user, '-p', 'wrong', '--cert-dir', reg.certDir, reg.addr]);
    assert.match(r.stderr, /authenticat|unauthorized|credential/i);
    // A rejected login must say the credentials were rejected, not merely that authentication is required.
    assert.match(r.stderr, /credential|password/i, `the message should say the username/password was rejected: ${r.stderr}`);
    assert.equal(cli.authFileBytes(), before, 'the auth file is unchanged');
    const stdin = await cli.wharfFails(['login', '-u', reg.user, '--password-stdin', '--cert-dir', reg.certDir, reg.addr], { input: 'nope\n' });
    assert.match(stdin.stderr, /authenticat|unauthorized|credential/i);
    assert.equal(cli.authFileBytes(), before, 'the auth file is unchanged');
  }));

  test('a wrong password into an empty environment creates no credentials', () => withHistory(cli, async () => {
    logoutAll();
    await cli.wharfFails(['login', '-u', reg.user, '-p', 'wrong', '--tls-verify=false', reg.addr]);
    assert.equal(storedAuth(), undefined);
    const s = await cli.skopeo(['login', '--get-login', reg.addr], { allowFail: true });
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /not logged in/i);
  }));

  test('reads what skopeo login wrote (--get-login)', () => withHistory(cli, async () => {
    logoutAll();
    await cli.skopeo(['login', '-u', 'user', '-p', reg.password, '--cert-dir', reg.certDir, reg.addr]);
    assert.equal((await cli.wharf(['login', '--get-login', reg.addr])).stdout.trim(), 'user');
  }));

  test('--get-login when not logged in fails', () => withHistory(cli, async () => {
    logoutAll();
    const r = await cli.wharfFails(['login', '--get-login', reg.addr]);
    assert.match(r.stderr, /not logged in/i);
  }));

  test('TLS failure without --cert-dir says to use --cert-dir or --tls-verify', () => withHistory(cli, async () => {
    logoutAll();
    const r = await cli.wharfFails(['login', '-u', reg.user, '-p', reg.password, reg.addr]);
    assert.match(r.stderr, /certificate|TLS|x509/i);
    assert.match(r.stderr, /--cert-dir|--tls-verify/);
    assert.equal(storedAuth(), undefined);
    const i = await cli.wharfFails(['inspect', '--creds', `${reg.user}:${reg.password}`, `docker://${reg.addr}/${repoName('x')}:1`]);
    assert.match(i.stderr, /--cert-dir|--tls-verify/);
  }));

  test('the CA in the per-user certs.d directory is used without --cert-dir', () => withHistory(cli, async () => {
    logoutAll();
    const d = join(cli.env.env.HOME!, '.config', 'containers', 'certs.d', reg.addr);
    mkdirSync(d, { recursive: true });
    copyFileSync(join(reg.certDir, 'ca.crt'), join(d, 'ca.crt'));
    try {
      const r = await cli.wharf(['login', '-u', reg.user, '-p', reg.password, reg.addr]);
      assert.match(r.stdout, /Login Succeeded/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }));
});

describe('copies with credentials', () => {
  const access = (): string[] => ['--src-cert-dir', reg.certDir, '--dest-cert-dir', reg.certDir];

  test('with the credentials stored by wharf login: push, pull, inspect, list-tags', () => withHistory(cli, async () => {
    logoutAll();
    await cli.wharf(['login', '-u', reg.user, '-p', reg.password, '--cert-dir', reg.certDir, reg.addr]);
    const repo = repoName('stored');
    const ref = `docker://${reg.addr}/${repo}:v1`;
    const push = await cli.wharf(['copy', ...access(), `oci:${base}:img`, ref]);
    assert.equal(parseCopySummary(push.stderr).digest, IMG.manifestDigest);
    const out = cli.path('pulled');
    await cli.wharf(['copy', '--quiet', ...access(), ref, `oci:${out}:v1`]);
    assert.ok((await readBack(cli, `oci:${out}:v1`)).manifest.equals(IMG.manifest));
    const digest = (await cli.wharf(['inspect', '--cert-dir', reg.certDir, '--format', '{{.Digest}}', ref])).stdout.trim();
    assert.equal(digest, IMG.manifestDigest);
    const tags = JSON.parse((await cli.wharf(['list-tags', '--cert-dir', reg.certDir, `docker://${reg.addr}/${repo}`])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['v1']);
    // skopeo, with the same auth file, sees the image.
    const raw = (await cli.skopeo(['inspect', '--raw', '--cert-dir', reg.certDir, ref])).stdoutBuf;
    assert.ok(raw.equals(IMG.manifest));
  }));

  test('with --src-creds / --dest-creds and an empty auth file', () => withHistory(cli, async () => {
    logoutAll();
    const creds = `${reg.user}:${reg.password}`;
    const repo = repoName('flags');
    const ref = `docker://${reg.addr}/${repo}:v1`;
    await cli.wharf(['copy', '--quiet', '--dest-creds', creds, '--dest-cert-dir', reg.certDir, `oci:${base}:img`, ref]);
    const out = cli.path('pulled');
    await cli.wharf(['copy', '--quiet', '--src-creds', creds, '--src-cert-dir', reg.certDir, ref, `dir:${out}`]);
    assert.ok((await readBack(cli, `dir:${out}`)).manifest.equals(IMG.manifest));
    // Registry to registry within the secure registry, both sides with flags.
    await cli.wharf(['copy', '--quiet', '--src-creds', creds, '--dest-creds', creds, ...access(), ref, `docker://${reg.addr}/${repoName('flags2')}:v1`]);
    assert.equal(cli.authFileBytes(), JSON.stringify({ auths: {} }), '--creds never write to the auth file');
    // --tls-verify=false also reaches the TLS registry (no verification).
    await cli.wharf(['copy', '--quiet', '--src-creds', creds, '--src-tls-verify=false', ref, `oci:${cli.path('insecure')}:x`]);
  }));

  test('--creds with a wrong password fails with a message about the credentials', () => withHistory(cli, async () => {
    logoutAll();
    const r = await cli.wharfFails(['copy', '--dest-creds', `${reg.user}:wrong`, '--dest-cert-dir', reg.certDir, `oci:${base}:img`, `docker://${reg.addr}/${repoName('bad')}:v1`]);
    assert.match(r.stderr, /credential|password/i, `unclear message: ${r.stderr}`);
  }));

  test('without credentials: push and pull fail with a message that says to log in', () => withHistory(cli, async () => {
    logoutAll();
    const repo = repoName('nocreds');
    const push = await cli.wharfFails(['copy', '--dest-cert-dir', reg.certDir, `oci:${base}:img`, `docker://${reg.addr}/${repo}:v1`]);
    assert.match(push.stderr, /login|--creds|credentials/i, `unclear message: ${push.stderr}`);
    await cli.wharf(['copy', '--quiet', '--dest-creds', `${reg.user}:${reg.password}`, '--dest-cert-dir', reg.certDir, `oci:${base}:img`, `docker://${reg.addr}/${repo}:v1`]);
    const pull = await cli.wharfFails(['copy', '--src-cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:v1`, `oci:${cli.path('x')}:v1`]);
    assert.match(pull.stderr, /login|--creds|credentials/i, `unclear message: ${pull.stderr}`);
    const inspect = await cli.wharfFails(['inspect', '--cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:v1`]);
    assert.match(inspect.stderr, /login|--creds|credentials/i, `unclear message: ${inspect.stderr}`);
  }));

  test('wharf logout removes the credentials; copies then fail', () => withHistory(cli, async () => {
    logoutAll();
    await cli.wharf(['login', '-u', reg.user, '-p', reg.password, '--cert-dir', reg.certDir, reg.addr]);
    const repo = repoName('logout');
    await cli.wharf(['copy', '--quiet', '--dest-cert-dir', reg.certDir, `oci:${base}:img`, `docker://${reg.addr}/${repo}:v1`]);
    const r = await cli.wharf(['logout', reg.addr]);
    assert.match(r.stdout, /Removed login credentials/);
    assert.equal(storedAuth(), undefined);
    const s = await cli.skopeo(['login', '--get-login', reg.addr], { allowFail: true });
    assert.notEqual(s.code, 0, 'skopeo still finds credentials');
    await cli.wharfFails(['login', '--get-login', reg.addr]);
    const f = await cli.wharf(['inspect', '--cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:v1`], { allowFail: true });
    assert.notEqual(f.code, 0, 'inspect still works after logout');
    const again = await cli.wharfFails(['logout', reg.addr]);
    assert.match(again.stderr, /not logged in/i);
  }));

  test('wharf logout --all removes what skopeo login wrote', () => withHistory(cli, async () => {
    logoutAll();
    await cli.skopeo(['login', '-u', reg.user, '-p', reg.password, '--cert-dir', reg.certDir, reg.addr]);
    await cli.wharf(['logout', '--all']);
    assert.equal(storedAuth(), undefined);
    const s = await cli.skopeo(['login', '--get-login', reg.addr], { allowFail: true });
    assert.notEqual(s.code, 0);
  }));

  test('--authfile: login writes there and copies read from there', () => withHistory(cli, async () => {
    logoutAll();
    const file = join(cli.tmp('authfile'), 'my-auth.json');
    await cli.wharf(['login', '--authfile', file, '-u', reg.user, '-p', reg.password, '--cert-dir', reg.certDir, reg.addr]);
    assert.equal(storedAuth(), undefined, 'the default auth file is untouched');
    assert.equal((await cli.skopeo(['login', '--get-login', '--authfile', file, reg.addr])).stdout.trim(), reg.user);
    await cli.wharf(['copy', '--quiet', '--authfile', file, '--dest-cert-dir', reg.certDir, `oci:${base}:img`, `docker://${reg.addr}/${repoName('authfile')}:v1`]);
  }));
});
