// Real clients against Wharf's built-in token service over TLS (the development CA trusted through
// --cert-dir): skopeo login (auth.json written, then reused) and --creds, podman login/push/pull,
// buildah push, a robot pushing from a script, a pull-only access token refused on push, wharf login,
// and a private repository refused to anonymous clients. Each client follows the Bearer challenge to
// /token by itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sampleImage, writeOciLayout } from './lib/images.js';
import { Cli, withHistory } from '../client-cli/lib/cli.js';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { generateCerts, type GeneratedCerts } from '../tls/lib/tls.js';
import { ADMIN, ADMIN_PASSWORD, apiOk, basic, startBuiltin, type BuiltinServer } from '../api/lib/builtin.js';

const IMG = sampleImage('builtin-auth');
const ALICE = 'alice-Pw-9f3k2';

describe('builtin token service: real clients over TLS', () => {
  let certs: GeneratedCerts;
  let s: BuiltinServer;
  let cli: Cli;
  let layout: string;
  let caDir: string;
  let robot: { name: string; secret: string };
  let pullOnly: string;
  const ref = (repo: string, tag: string): string => `docker://${s.addr}/${repo}:${tag}`;
  let dispatcher: Dispatcher;

  before(async () => {
    certs = generateCerts({ hosts: ['localhost'], ips: ['127.0.0.1'] });
    // This process's own admin API calls trust the development CA too (fetch's global dispatcher).
    dispatcher = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ connect: { ca: readFileSync(certs.ca) } }));
    s = await startBuiltin({ WHARF_TLS_CERT: certs.cert, WHARF_TLS_KEY: certs.key });
    await apiOk(s, ADMIN, 'POST', '/users', { name: 'alice', password: ALICE }, 201);
    await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'acme' }, 201);
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'alice' }, role: 'editor' }, 204);
    robot = await apiOk(s, ADMIN, 'POST', '/orgs/acme/robots', { name: 'ci' }, 201) as { name: string; secret: string };
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { robot: 'acme+ci' }, role: 'editor' }, 204);
    pullOnly = (await apiOk(s, basic('alice', ALICE), 'POST', '/tokens', { name: 'pull only', actions: ['pull'] }, 201) as { secret: string }).secret;
    cli = new Cli();
    layout = cli.tmp('layout');
    writeOciLayout(layout, [{ tag: 'src', image: IMG }]);
    caDir = cli.tmp('ca');
    copyFileSync(certs.ca, join(caDir, 'ca.crt'));
  });
  after(async () => {
    setGlobalDispatcher(dispatcher);
    cli?.cleanup();
    await s?.stop();
    s?.cleanup();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  test('the challenge points at this server\'s /token over https', async () => {
    const r = await cli.skopeo(['inspect', '--cert-dir', caDir, ref('acme/none', 'v1')], { allowFail: true });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unauthorized|authentication required/i);
  });

  test('skopeo login writes auth.json; copy, inspect and list-tags reuse it; logout forgets it', () => withHistory(cli, async () => {
    await cli.skopeo(['login', '--cert-dir', caDir, '-u', 'alice', '--password-stdin', s.addr], { input: ALICE });
    const auth = JSON.parse(readFileSync(cli.authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(auth.auths[s.addr]!.auth, 'base64').toString(), `alice:${ALICE}`);
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:src`, ref('acme/skopeo', 'v1')]);
    const i = JSON.parse((await cli.skopeo(['inspect', '--cert-dir', caDir, ref('acme/skopeo', 'v1')])).stdout) as { Digest: string };
    assert.equal(i.Digest, IMG.manifestDigest);
    const tags = JSON.parse((await cli.skopeo(['list-tags', '--cert-dir', caDir, `docker://${s.addr}/acme/skopeo`])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags, ['v1']);
    await cli.skopeo(['logout', s.addr]);
    const anon = await cli.skopeo(['inspect', '--cert-dir', caDir, ref('acme/skopeo', 'v1')], { allowFail: true });
    assert.notEqual(anon.code, 0, 'a private repository is refused to an anonymous client');
  }));

  test('skopeo --creds; wrong credentials fail without echoing them', () => withHistory(cli, async () => {
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, '--dest-creds', `alice:${ALICE}`, `oci:${layout}:src`, ref('acme/creds', 'v1')]);
    const wrong = await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, '--dest-creds', 'alice:not-her-password', `oci:${layout}:src`, ref('acme/creds', 'v2')], { allowFail: true });
    assert.notEqual(wrong.code, 0);
    assert.ok(!wrong.stderr.includes('not-her-password'));
  }));

  test('a robot pushes from a script with its secret; outside its organization it is denied', () => withHistory(cli, async () => {
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, '--dest-creds', `${robot.name}:${robot.secret}`, `oci:${layout}:src`, ref('acme/robot', 'v1')]);
    const elsewhere = await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, '--dest-creds', `${robot.name}:${robot.secret}`, `oci:${layout}:src`, ref('alice/robot', 'v1')], { allowFail: true });
    assert.notEqual(elsewhere.code, 0);
    assert.match(elsewhere.stderr, /denied|unauthorized|forbidden/i);
  }));

  test('an access token limited to pull pulls, and is refused on push', () => withHistory(cli, async () => {
    const creds = `alice:${pullOnly}`;
    await cli.skopeo(['inspect', '--cert-dir', caDir, '--creds', creds, ref('acme/skopeo', 'v1')]);
    const push = await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, '--dest-creds', creds, `oci:${layout}:src`, ref('acme/pat', 'v1')], { allowFail: true });
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /denied|forbidden/i);
  }));

  test('podman login, push, pull, logout', () => withHistory(cli, async () => {
    const etc = cli.tmp('etc-containers');
    const image = `${s.addr}/acme/podman:v1`;
    await cli.podman(['login', '--cert-dir', caDir, '-u', 'alice', '--password-stdin', s.addr], { input: ALICE });
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:src`, `docker://${image}`]);
    const pulled = await cli.podman(['pull', '--cert-dir', caDir, image]);
    assert.equal(pulled.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7));
    await cli.podman(['tag', image, `${s.addr}/acme/podman:copy`]);
    await cli.podman(['push', '--cert-dir', caDir, `${s.addr}/acme/podman:copy`]);
    await cli.podman(['logout', s.addr]);
    const after = await cli.podman(['pull', '--cert-dir', caDir, `${s.addr}/acme/podman:copy`], { allowFail: true });
    assert.notEqual(after.code, 0, 'after logout the pull is refused');
    rmSync(etc, { recursive: true, force: true });
  }));

  test('buildah push with --creds', () => withHistory(cli, async () => {
    const ctr = (await cli.env.buildah(['from', `oci:${layout}:src`])).stdout.trim().split('\n').pop()!;
    await cli.env.buildah(['commit', '--quiet', ctr, 'localhost/builtin-buildah:v1']);
    await cli.env.buildah(['push', '--cert-dir', caDir, '--creds', `alice:${ALICE}`, 'localhost/builtin-buildah:v1', ref('acme/buildah', 'v1')]);
    const i = await cli.skopeo(['inspect', '--cert-dir', caDir, '--creds', `alice:${ALICE}`, ref('acme/buildah', 'v1')]);
    assert.ok(JSON.parse(i.stdout));
  }));

  test('wharf login and copy through the token service', () => withHistory(cli, async () => {
    await cli.wharf(['login', '--cert-dir', caDir, '-u', 'alice', '--password-stdin', s.addr], { input: ALICE });
    await cli.wharf(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:src`, ref('acme/wharf', 'v1')]);
    const raw = await cli.wharf(['inspect', '--raw', '--cert-dir', caDir, ref('acme/wharf', 'v1')]);
    assert.equal(raw.stdout, IMG.manifest.toString());
    await cli.wharf(['logout', s.addr]);
  }));

  test('no password or secret reached any line the server printed', () => {
    for (const line of s.logs) for (const secret of [ALICE, ADMIN_PASSWORD, robot.secret, pullOnly]) assert.ok(!line.includes(secret), `a secret in: ${line.slice(0, 200)}`);
  });
});
