// The client's Bearer token flow (Docker Hub, ghcr.io and quay.io all use it) against Debian's
// docker-registry with `auth: token`, trusting a token service that runs in this test process and records
// every token request: its grant and its scopes.
// - copy (both directions, and registry to registry with a mount), inspect and list-tags ask for one token
//   per scope set, reused for every request with those scopes, fetched once even by parallel requests;
// - a token is fetched again once it expires (an in-process client on a clock the test moves), and when
//   the registry refuses a token it had cached (revoked or expired early);
// - an identity token in auth.json (what `docker login` stores for OAuth registries) is exchanged with the
//   OAuth2 refresh grant (POST grant_type=refresh_token), as containers/image does, never sent as Basic;
// - login checks the credentials with the token service; bad credentials or a bad identity token give a
//   clear error that does not contain the secret, and nothing is stored.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { Cli, parseCopySummary, withHistory, type RunResult } from './lib/cli.js';
import { repoName } from './lib/registries.js';
import { startTokenAuthDistribution, startTokenService, type TokenService } from './lib/token-service.js';
import { readBack } from './lib/transports.js';
import type { DistributionServer } from '../helpers/distribution.js';

const IMG = sampleImage('cli-bearer', { layers: 2 });
let svc: TokenService;
let reg: DistributionServer;
let cli: Cli;
let base: string;

before(async () => {
  svc = await startTokenService();
  reg = await startTokenAuthDistribution(svc);
  cli = new Cli();
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }]);
});

after(async () => {
  cli?.cleanup();
  await reg?.stop();
  await svc?.stop();
});

const creds = (): string => `${svc.user}:${svc.password}`;
const pull = (repo: string): string => `repository:${repo}:pull`;
const push = (repo: string): string => `repository:${repo}:pull,push`;

function setAuthFile(auths: Record<string, { auth?: string; identitytoken?: string }>): void {
  writeFileSync(cli.authFile, JSON.stringify({ auths }));
}

/** Token requests by scope set, for failure messages. */
function tally(): string {
  return svc.requests.map((r) => `${r.method} ${r.grant}${r.refused ? ' REFUSED' : ''} [${r.scopes}]`).join('\n');
}

/** No scope set was asked for twice; returns the scope sets asked for. */
function assertOnePerScope(what: string): string[] {
  const counts = new Map<string, number>();
  for (const r of svc.requests) counts.set(r.scopes, (counts.get(r.scopes) ?? 0) + 1);
  for (const [scopes, n] of counts) assert.equal(n, 1, `${what}: ${n} token requests for [${scopes}] (cached per scope, one is enough):\n${tally()}`);
  return [...counts.keys()].sort();
}

/** The secret appears in no output of the command. */
function assertNoSecret(r: RunResult, secret: string): void {
  assert.ok(!r.stderr.includes(secret), `the secret appears in stderr:\n${r.stderr}`);
  assert.ok(!r.stdout.includes(secret), `the secret appears in stdout:\n${r.stdout}`);
}

/** Pushes the sample image (with --dest-creds) and returns its repository. */
async function pushSample(label: string): Promise<string> {
  const repo = repoName(label);
  await cli.wharf(['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', creds(), `oci:${base}:img`, `docker://${reg.addr}/${repo}:v1`]);
  return repo;
}

describe('Bearer tokens with --creds', () => {
  test('copy to the registry: one token request per scope set, with Basic credentials', () => withHistory(cli, async () => {
    setAuthFile({});
    svc.reset();
    const repo = repoName('push');
    const r = await cli.wharf(['copy', '--dest-tls-verify=false', '--dest-creds', creds(), `oci:${base}:img`, `docker://${reg.addr}/${repo}:v1`]);
    assert.equal(parseCopySummary(r.stderr).digest, IMG.manifestDigest);
    const scopes = assertOnePerScope('copy to the registry');
    assert.ok(scopes.includes(push(repo)), `no push token was asked for:\n${tally()}`);
    assert.ok(svc.requests.every((q) => q.grant === 'basic' && q.method === 'GET' && !q.refused), tally());
    // The registry really holds it (skopeo reads it back with its own token flow).
    const back = await cli.skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(), `docker://${reg.addr}/${repo}:v1`]);
    assert.ok(back.stdoutBuf.equals(IMG.manifest));
  }));

  test('copy from the registry: one pull token', () => withHistory(cli, async () => {
    const repo = await pushSample('pull');
    svc.reset();
    const out = cli.path('pulled');
    await cli.wharf(['copy', '--quiet', '--src-tls-verify=false', '--src-creds', creds(), `docker://${reg.addr}/${repo}:v1`, `oci:${out}:v1`]);
    assert.ok((await readBack(cli, `oci:${out}:v1`)).manifest.equals(IMG.manifest));
    assert.deepEqual(assertOnePerScope('copy from the registry'), [pull(repo)]);
  }));

  test('registry to registry with a cross-repository mount: one token per scope set', () => withHistory(cli, async () => {
    const from = await pushSample('mount-src');
    const to = repoName('mount-dst');
    svc.reset();
    const r = await cli.wharf(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--src-creds', creds(), '--dest-creds', creds(),
      `docker://${reg.addr}/${from}:v1`, `docker://${reg.addr}/${to}:v1`]);
    assert.equal(parseCopySummary(r.stderr).mounted, 3, r.stderr);
    const scopes = assertOnePerScope('registry to registry');
    assert.ok(scopes.includes([pull(from), push(to)].sort().join(' ')), `the mount did not ask for push on the destination and pull on the source in one token:\n${tally()}`);
  }));

  test('inspect and list-tags: one pull token each', () => withHistory(cli, async () => {
    const repo = await pushSample('inspect');
    svc.reset();
    const i = JSON.parse((await cli.wharf(['inspect', '--tls-verify=false', '--creds', creds(), `docker://${reg.addr}/${repo}:v1`])).stdout) as { Digest: string; RepoTags: string[] };
    assert.equal(i.Digest, IMG.manifestDigest);
    assert.deepEqual(i.RepoTags, ['v1']);
    assert.deepEqual(assertOnePerScope('inspect'), [pull(repo)]);
    svc.reset();
    const t = JSON.parse((await cli.wharf(['list-tags', '--tls-verify=false', '--creds', creds(), `docker://${reg.addr}/${repo}`])).stdout) as { Tags: string[] };
    assert.deepEqual(t.Tags, ['v1']);
    assert.deepEqual(assertOnePerScope('list-tags'), [pull(repo)]);
  }));

  test('wrong password: a clear error without the password, for copy, inspect and list-tags', () => withHistory(cli, async () => {
    const repo = await pushSample('badpass');
    const wrong = `Wr0ng-${svc.password}-x`;
    svc.reset();
    const bad = `${svc.user}:${wrong}`;
    for (const args of [
      ['copy', '--dest-tls-verify=false', '--dest-creds', bad, `oci:${base}:img`, `docker://${reg.addr}/${repoName('badpass-push')}:v1`],
      ['copy', '--src-tls-verify=false', '--src-creds', bad, `docker://${reg.addr}/${repo}:v1`, `oci:${cli.path('x')}:v1`],
      ['inspect', '--tls-verify=false', '--creds', bad, `docker://${reg.addr}/${repo}:v1`],
      ['list-tags', '--tls-verify=false', '--creds', bad, `docker://${reg.addr}/${repo}`],
    ]) {
      const r = await cli.wharfFails(args);
      assert.match(r.stderr, /authenticat|credential|password/i, `unclear message for ${args[0]}: ${r.stderr}`);
      assertNoSecret(r, wrong);
    }
    assert.ok(svc.requests.every((q) => q.refused), `a wrong password got a token:\n${tally()}`);
  }));

  test('no credentials: the error says to log in', () => withHistory(cli, async () => {
    setAuthFile({});
    const repo = await pushSample('nocreds');
    const r = await cli.wharfFails(['inspect', '--tls-verify=false', `docker://${reg.addr}/${repo}:v1`]);
    assert.match(r.stderr, /requires authentication/, r.stderr);
    assert.match(r.stderr, /wharf login|--creds/, r.stderr);
  }));
});

describe('wharf login against a token registry', () => {
  test('checks the credentials with the token service, stores them, and copies use them', () => withHistory(cli, async () => {
    setAuthFile({});
    svc.reset();
    const r = await cli.wharf(['login', '--tls-verify=false', '-u', svc.user, '--password-stdin', reg.addr], { input: `${svc.password}\n` });
    assert.match(r.stdout, /Login Succeeded/);
    assertNoSecret(r, svc.password);
    assert.equal(svc.count('', 'basic'), 1, `login did not check the credentials with the token service:\n${tally()}`);
    const repo = repoName('login');
    svc.reset();
    await cli.wharf(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, `docker://${reg.addr}/${repo}:v1`]);
    assertOnePerScope('copy with stored credentials');
    assert.ok(svc.requests.every((q) => q.grant === 'basic' && !q.refused), tally());
  }));

  test('a wrong password: refused, nothing stored, the password in no output', () => withHistory(cli, async () => {
    setAuthFile({});
    const before = cli.authFileBytes();
    const wrong = `Nope-${svc.password}`;
    const r = await cli.wharfFails(['login', '--tls-verify=false', '-u', svc.user, '-p', wrong, reg.addr]);
    assert.match(r.stderr, /credential|password/i, r.stderr);
    assertNoSecret(r, wrong);
    assert.equal(cli.authFileBytes(), before);
  }));
});

describe('identity tokens (OAuth2 refresh grant)', () => {
  test('an identitytoken in auth.json is exchanged with grant_type=refresh_token, never sent as Basic', () => withHistory(cli, async () => {
    const repo = await pushSample('identity');
    const refresh = svc.issueRefreshToken();
    setAuthFile({ [reg.addr]: { auth: '', identitytoken: refresh } });
    svc.reset();
    const i = JSON.parse((await cli.wharf(['inspect', '--tls-verify=false', `docker://${reg.addr}/${repo}:v1`])).stdout) as { Digest: string };
    assert.equal(i.Digest, IMG.manifestDigest);
    assert.deepEqual(assertOnePerScope('inspect with an identity token'), [pull(repo)]);
    assert.ok(svc.requests.every((q) => q.method === 'POST' && q.grant === 'refresh_token' && !q.refused), `not the refresh grant:\n${tally()}`);
    svc.reset();
    await cli.wharf(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, `docker://${reg.addr}/${repoName('identity-push')}:v1`]);
    assertOnePerScope('copy with an identity token');
    assert.ok(svc.requests.every((q) => q.grant === 'refresh_token' && !q.refused), tally());
  }));

  test('a refresh token the service refuses: a clear error without the token', () => withHistory(cli, async () => {
    const repo = await pushSample('identity-bad');
    const revoked = `refresh-revoked-${Date.now()}`;
    setAuthFile({ [reg.addr]: { auth: '', identitytoken: revoked } });
    const r = await cli.wharfFails(['inspect', '--tls-verify=false', `docker://${reg.addr}/${repo}:v1`]);
    assert.match(r.stderr, /identity token/, r.stderr);
    assert.match(r.stderr, /log in again|wharf login/, r.stderr);
    assertNoSecret(r, revoked);
  }));
});

describe('token lifetime (an in-process client on a test clock)', () => {
  test('a token is reused until it expires, then fetched again; under 60 s counts as 60 s', async () => {
    const repo = await pushSample('expiry');
    let clock = Date.now();
    const client = new RegistryClient({ registry: reg.addr, credentials: { username: svc.user, password: svc.password }, insecure: true, now: () => clock });
    const saved = svc.expiresIn;
    try {
      svc.expiresIn = 300;
      svc.reset();
      assert.deepEqual(await client.listTags(repo), ['v1']);
      await client.listTags(repo);
      clock += 200_000;
      await client.listTags(repo);
      assert.equal(svc.count(pull(repo)), 1, `fetched again before it expired:\n${tally()}`);
      clock += 101_000; // 301 s after it was issued
      await client.listTags(repo);
      assert.equal(svc.count(pull(repo)), 2, `not fetched again after it expired:\n${tally()}`);
      // expires_in: 5 is taken as 60 s (Docker and containers/image do the same).
      svc.expiresIn = 5;
      svc.reset();
      clock += 400_000;
      await client.listTags(repo);
      clock += 30_000;
      await client.listTags(repo);
      assert.equal(svc.count(pull(repo)), 1, `a 5 s token was not kept for the minimum 60 s:\n${tally()}`);
      clock += 31_000;
      await client.listTags(repo);
      assert.equal(svc.count(pull(repo)), 2, tally());
    } finally {
      svc.expiresIn = saved;
      await client.close();
    }
  });

  test('a cached token the registry refuses (expired early) is dropped and fetched again, once', async () => {
    const repo = await pushSample('stale');
    const client = new RegistryClient({ registry: reg.addr, credentials: { username: svc.user, password: svc.password }, insecure: true });
    try {
      svc.reset();
      svc.staleTokens = 1;
      assert.deepEqual(await client.listTags(repo), ['v1']);
      assert.equal(svc.count(pull(repo)), 2, tally());
      await client.listTags(repo);
      assert.equal(svc.count(pull(repo)), 2, `the fresh token was not cached:\n${tally()}`);
      // A registry that refuses every token: the error, after one fresh token, not a loop.
      svc.staleTokens = 100;
      svc.reset();
      const other = new RegistryClient({ registry: reg.addr, credentials: { username: svc.user, password: svc.password }, insecure: true });
      try {
        await assert.rejects(other.listTags(repo), /authenticat|credential|password/i);
      } finally {
        await other.close();
      }
      assert.equal(svc.count(pull(repo)), 2, tally());
    } finally {
      svc.staleTokens = 0;
      await client.close();
    }
  });

  test('parallel requests with one scope share one token fetch', async () => {
    const repo = await pushSample('parallel');
    const client = new RegistryClient({ registry: reg.addr, credentials: { username: svc.user, password: svc.password }, insecure: true });
    try {
      svc.reset();
      const sizes = await Promise.all(IMG.layers.concat(IMG.layers).map((l) => client.headBlob(repo, l.digest)));
      assert.ok(sizes.every((s) => s !== null && s > 0));
      assert.equal(svc.count(pull(repo)), 1, `parallel requests each fetched a token:\n${tally()}`);
    } finally {
      await client.close();
    }
  });
});
