// No secret in any output: login, inspect, list-tags and copy, failing in every way a user meets (a wrong
// password, no CA for the registry's certificate, a registry that is down, an image that does not exist),
// with distinctive passwords against Debian's docker-registry (htpasswd, TLS). Neither the right nor the
// wrong password may appear in stdout, stderr, or any file the client left in its environment (HOME, the
// runtime directory, work directories); the auth file may hold credentials only base64-encoded.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { freePort } from '../helpers/distribution.js';
import { Cli, withHistory, type RunResult } from './lib/cli.js';
import { repoName, startSecureDistribution, type SecureRegistry } from './lib/registries.js';

const IMG = sampleImage('cli-secrets');
// Distinctive: long enough never to occur by chance, with characters that need quoting in URLs and shells.
const PASSWORD = `S3cr3t-${randomBytes(8).toString('hex')}-p@ss:w0rd`;
const WRONG = `Wr0ng-${randomBytes(8).toString('hex')}-p@ss`;
let reg: SecureRegistry;
let cli: Cli;
let base: string;
let repo: string;

before(async () => {
  reg = await startSecureDistribution('secret-user', PASSWORD);
  cli = new Cli();
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }]);
  repo = repoName('secrets');
  await cli.wharf(['copy', '--quiet', '--dest-creds', `${reg.user}:${PASSWORD}`, '--dest-cert-dir', reg.certDir, `oci:${base}:img`, `docker://${reg.addr}/${repo}:v1`]);
});

after(async () => {
  cli?.cleanup();
  await reg?.stop();
});

/** Every file under the client environment's root, with its bytes. */
function environmentFiles(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[]) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name);
    try {
      out.push({ path, bytes: readFileSync(path) });
    } catch { /* vanished or unreadable (a socket): not something the client wrote */ }
  }
  return out;
}

/** Neither password is in the command's output, nor in plain text in any file of the environment. */
function assertNoSecrets(r: RunResult, what: string): void {
  for (const secret of [PASSWORD, WRONG]) {
    for (const [name, text] of [['stderr', r.stderr], ['stdout', r.stdout]] as const) {
      assert.ok(!text.includes(secret), `${what}: a password appears in ${name}:\n${text}`);
      // Not even URL-encoded or base64'd (a URL with credentials, an Authorization header).
      assert.ok(!text.includes(encodeURIComponent(secret)), `${what}: a URL-encoded password appears in ${name}:\n${text}`);
      assert.ok(!text.includes(Buffer.from(`${reg.user}:${secret}`).toString('base64')), `${what}: Basic credentials appear in ${name}:\n${text}`);
    }
    for (const f of environmentFiles(cli.env.root)) {
      assert.ok(!f.bytes.includes(secret), `${what}: a password appears in plain text in ${f.path}`);
    }
  }
}

const clearAuth = (): void => writeFileSync(cli.authFile, JSON.stringify({ auths: {} }));

describe('no secret in any output', () => {
  test('login: a wrong password, no CA, a registry that is down; and a successful login', () => withHistory(cli, async () => {
    clearAuth();
    const down = `127.0.0.1:${await freePort()}`;
    const cases: [string, string[]][] = [
      ['login with a wrong password', ['login', '-u', reg.user, '-p', WRONG, '--cert-dir', reg.certDir, reg.addr]],
      ['login with a wrong password on stdin', ['login', '-u', reg.user, '--password-stdin', '--cert-dir', reg.certDir, reg.addr]],
      ['login without the CA', ['login', '-u', reg.user, '-p', PASSWORD, reg.addr]],
      ['login to a registry that is down', ['login', '-u', reg.user, '-p', PASSWORD, '--tls-verify=false', down]],
    ];
    for (const [what, args] of cases) {
      const r = await cli.wharfFails(args, { input: `${WRONG}\n` });
      assertNoSecrets(r, what);
    }
    const ok = await cli.wharf(['login', '-u', reg.user, '-p', PASSWORD, '--cert-dir', reg.certDir, reg.addr]);
    assert.match(ok.stdout, /Login Succeeded/);
    assertNoSecrets(ok, 'a successful login');
  }));

  test('inspect and list-tags: a wrong password, no CA, an unknown image, a registry that is down', () => withHistory(cli, async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const cases: [string, string[]][] = [
      ['inspect with a wrong password', ['inspect', '--creds', `${reg.user}:${WRONG}`, '--cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:v1`]],
      ['inspect without the CA', ['inspect', '--creds', `${reg.user}:${PASSWORD}`, `docker://${reg.addr}/${repo}:v1`]],
      ['inspect of an unknown image', ['inspect', '--creds', `${reg.user}:${PASSWORD}`, '--cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:nope`]],
      ['inspect of a registry that is down', ['inspect', '--retry-times', '0', '--creds', `${reg.user}:${PASSWORD}`, '--tls-verify=false', `docker://${down}/${repo}:v1`]],
      ['list-tags with a wrong password', ['list-tags', '--creds', `${reg.user}:${WRONG}`, '--cert-dir', reg.certDir, `docker://${reg.addr}/${repo}`]],
    ];
    for (const [what, args] of cases) assertNoSecrets(await cli.wharfFails(args), what);
    // With the credentials stored by login (the auth file holds them base64-encoded only).
    clearAuth();
    await cli.wharf(['login', '-u', reg.user, '-p', PASSWORD, '--cert-dir', reg.certDir, reg.addr]);
    assertNoSecrets(await cli.wharfFails(['inspect', '--cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:nope`]), 'inspect with stored credentials');
  }));

  test('copy: a wrong password (push and pull), no CA, an unknown image', () => withHistory(cli, async () => {
    clearAuth();
    const cases: [string, string[]][] = [
      ['push with a wrong password', ['copy', '--dest-creds', `${reg.user}:${WRONG}`, '--dest-cert-dir', reg.certDir, `oci:${base}:img`, `docker://${reg.addr}/${repoName('s-push')}:v1`]],
      ['pull with a wrong password', ['copy', '--src-creds', `${reg.user}:${WRONG}`, '--src-cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:v1`, `oci:${cli.path('s-pull')}:v1`]],
      ['push without the CA', ['copy', '--dest-creds', `${reg.user}:${PASSWORD}`, `oci:${base}:img`, `docker://${reg.addr}/${repoName('s-noca')}:v1`]],
      ['pull of an unknown image', ['copy', '--src-creds', `${reg.user}:${PASSWORD}`, '--src-cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:nope`, `dir:${cli.path('s-unknown')}`]],
      ['registry to registry, the destination refusing', ['copy', '--src-creds', `${reg.user}:${PASSWORD}`, '--dest-creds', `${reg.user}:${WRONG}`,
        '--src-cert-dir', reg.certDir, '--dest-cert-dir', reg.certDir, `docker://${reg.addr}/${repo}:v1`, `docker://${reg.addr}/${repoName('s-r2r')}:v1`]],
    ];
    for (const [what, args] of cases) assertNoSecrets(await cli.wharfFails(args), what);
  }));
});
