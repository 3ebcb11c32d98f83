// The htpasswd AccessController: Basic credentials against a file made by the real `htpasswd -B`;
// 401 with the Basic challenge; verified credentials remembered (bcrypt skipped) until they expire or
// the file changes; failures throttled per user and per address (429 + Retry-After); the file
// re-read without a restart; nothing secret in the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RegistryError } from '../../src/oci/errors.js';
import { ANONYMOUS, type Access, type AuthRequest } from '../../src/access/access-controller.js';
import { HtpasswdAccessController, type HtpasswdOptions } from '../../src/access/htpasswd.js';
import { basicChallenge } from '../../src/access/basic-auth.js';
import { FakeClock, basic, captureLogger, countingVerifier, htpasswd, htpasswdLine, tempDir, waitFor } from './lib/htpasswd.js';

const req = (authorization: string | undefined, remoteAddress = '127.0.0.1'): AuthRequest => ({ authorization, remoteAddress, clientCertificate: null });

/** A controller over a fresh file with alice:wonderland and bob:builder, made by htpasswd -B. */
async function setup(t: { after(fn: () => unknown): void }, opts: Partial<HtpasswdOptions> = {}) {
  const tmp = tempDir();
  const path = join(tmp.dir, 'htpasswd');
  htpasswd('-cbB', path, 'alice', 'wonderland');
  htpasswd('-bB', path, 'bob', 'builder');
  const logger = captureLogger();
  const verify = countingVerifier();
  const clock = new FakeClock();
  const c = await HtpasswdAccessController.open({ path, realm: 'Wharf test', logger, verify, clock, watch: false, ...opts });
  t.after(async () => {
    await c.close();
    tmp.cleanup();
  });
  return { c, path, logger, verify, clock };
}

/** Asserts `p` rejects with the spec error `code`, and returns the error. */
async function rejectsWith(p: Promise<unknown>, code: 'UNAUTHORIZED' | 'TOOMANYREQUESTS'): Promise<RegistryError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return e instanceof RegistryError && e.code === code;
  });
  return caught as RegistryError;
}

const pull: Access = { type: 'repository', name: 'team/app', action: 'pull' };
const push: Access = { type: 'repository', name: 'team/app', action: 'push' };
const catalog: Access = { type: 'registry', name: 'catalog', action: '*' };

test('good, wrong and unknown credentials; no credentials is anonymous; users may do everything, anonymous nothing', async (t) => {
  const { c, verify } = await setup(t);
  assert.equal(c.kind, 'htpasswd');
  assert.equal(await c.reasksFor(), false);
  assert.equal(c.challenge(), 'Basic realm="Wharf test"');

  const alice = await c.authenticate(req(basic('alice', 'wonderland')));
  assert.deepEqual(alice, { kind: 'user', name: 'alice', via: 'basic' });
  assert.deepEqual(await c.authorize(alice, [pull, push, catalog]), [pull, push, catalog]);

  assert.equal(await c.authenticate(req(undefined)), ANONYMOUS);
  assert.equal(await c.authenticate(req('')), ANONYMOUS);
  assert.deepEqual(await c.authorize(ANONYMOUS, [pull]), []);

  const wrong = await rejectsWith(c.authenticate(req(basic('alice', 'wonderlanD'))), 'UNAUTHORIZED');
  assert.equal(wrong.status, 401);
  assert.deepEqual(wrong.headers, { 'WWW-Authenticate': 'Basic realm="Wharf test"' });

  // An unknown user pays a bcrypt check as well (against a dummy hash), so timing does not tell.
  const before = verify.calls;
  const unknown = await rejectsWith(c.authenticate(req(basic('carol', 'wonderland'))), 'UNAUTHORIZED');
  assert.equal(verify.calls, before + 1);
  assert.deepEqual(unknown.headers, wrong.headers);

  for (const odd of ['Bearer abc.def.ghi', 'Basic', 'Basic !!!', `Basic ${Buffer.from('nocolon').toString('base64')}`, `Basic ${Buffer.from(':pw').toString('base64')}`, 'Digest username="alice"']) {
    const e = await rejectsWith(c.authenticate(req(odd)), 'UNAUTHORIZED');
    assert.deepEqual(e.headers, { 'WWW-Authenticate': 'Basic realm="Wharf test"' }, odd);
  }
});

test('the realm is a quoted-string in the challenge; the default realm is wharf', async (t) => {
  assert.equal(basicChallenge('a "quoted" \\ realm\r\n'), 'Basic realm="a \\"quoted\\" \\\\ realm"');
  const { c } = await setup(t, { realm: undefined });
  assert.equal(c.challenge(), 'Basic realm="wharf"');
});

test('a verified credential is remembered: bcrypt runs once, then not until the entry expires', async (t) => {
  const { c, verify, clock } = await setup(t, { cacheTtlMs: 60_000 });
  const h = basic('alice', 'wonderland');
  await c.authenticate(req(h));
  assert.equal(verify.calls, 1);

  const started = process.hrtime.bigint();
  for (let i = 0; i < 200; i++) assert.deepEqual(await c.authenticate(req(h)), { kind: 'user', name: 'alice', via: 'basic' });
  const avgMs = Number(process.hrtime.bigint() - started) / 1e6 / 200;
  assert.equal(verify.calls, 1, 'cached: no bcrypt');
  assert.ok(avgMs < 1, `a cached check takes ${avgMs.toFixed(3)} ms`);

  // Failures are never remembered: each wrong password is checked again.
  await rejectsWith(c.authenticate(req(basic('alice', 'nope'))), 'UNAUTHORIZED');
  await rejectsWith(c.authenticate(req(basic('alice', 'nope'))), 'UNAUTHORIZED');
  assert.equal(verify.calls, 3);

  clock.advance(59_999);
  await c.authenticate(req(h));
  assert.equal(verify.calls, 3, 'still fresh');
  clock.advance(1);
  await c.authenticate(req(h));
  assert.equal(verify.calls, 4, 'expired: checked again');
});

test('the cache is bounded (least recently used goes first), and a burst with one new header pays bcrypt once', async (t) => {
  const { c, verify } = await setup(t, { cacheEntries: 2 });
  const a = basic('alice', 'wonderland');
  const b = basic('bob', 'builder');
  // Same user and password, another spelling of the scheme: another header, another entry.
  const a2 = a.replace('Basic', 'basic');
  await c.authenticate(req(a));
  await c.authenticate(req(b));
  await c.authenticate(req(a)); // alice is now the most recent
  assert.equal(verify.calls, 2);
  await c.authenticate(req(a2)); // evicts bob
  assert.equal(verify.calls, 3);
  await c.authenticate(req(a));
  assert.equal(verify.calls, 3, 'alice kept');
  await c.authenticate(req(b));
  assert.equal(verify.calls, 4, 'bob was evicted');

  const { c: fresh, verify: v2 } = await setup(t);
  const burst = await Promise.all(Array.from({ length: 8 }, () => fresh.authenticate(req(b))));
  assert.ok(burst.every((i) => i.name === 'bob'));
  assert.equal(v2.calls, 1);
});

test('failures are throttled per user: 429 with Retry-After, even for the right password, until the window passes', async (t) => {
  const { c, verify, clock } = await setup(t, { maxFailuresPerUser: 3, maxFailuresPerAddress: 100, failureWindowMs: 60_000 });
  const good = basic('alice', 'wonderland');
  await c.authenticate(req(good)); // cached now: the throttle must still win over the cache
  for (let i = 0; i < 3; i++) await rejectsWith(c.authenticate(req(basic('alice', `guess${i}`), '10.0.0.1')), 'UNAUTHORIZED');
  const calls = verify.calls;

  const e = await rejectsWith(c.authenticate(req(basic('alice', 'guess3'), '10.0.0.1')), 'TOOMANYREQUESTS');
  assert.equal(e.status, 429);
  assert.equal(e.headers['Retry-After'], '60');
  // The right password, from another address, cached or not: refused without a check.
  await rejectsWith(c.authenticate(req(good, '10.0.0.2')), 'TOOMANYREQUESTS');
  await rejectsWith(c.authenticate(req(basic('alice', 'wonderland '), '10.0.0.2')), 'TOOMANYREQUESTS');
  assert.equal(verify.calls, calls, 'no bcrypt while throttled');
  // Other users from the same address are not affected (the address is far from its limit).
  assert.equal((await c.authenticate(req(basic('bob', 'builder'), '10.0.0.1'))).name, 'bob');

  clock.advance(45_500);
  assert.equal((await rejectsWith(c.authenticate(req(good)), 'TOOMANYREQUESTS')).headers['Retry-After'], '15');
  clock.advance(14_500);
  assert.deepEqual(await c.authenticate(req(good)), { kind: 'user', name: 'alice', via: 'basic' });

  // A new window counts afresh: three more failures, and alice is throttled again.
  for (let i = 0; i < 3; i++) await rejectsWith(c.authenticate(req(basic('alice', `again${i}`))), 'UNAUTHORIZED');
  assert.equal((await rejectsWith(c.authenticate(req(good)), 'TOOMANYREQUESTS')).headers['Retry-After'], '60');
});

test('failures are throttled per address too, and one address succeeding does not clear another', async (t) => {
  const { c, clock } = await setup(t, { maxFailuresPerUser: 100, maxFailuresPerAddress: 5, failureWindowMs: 30_000 });
  // Five different users, so only the address's count reaches its limit.
  for (let i = 0; i < 5; i++) await rejectsWith(c.authenticate(req(basic(`user${i}`, 'x'), '192.0.2.7')), 'UNAUTHORIZED');
  const e = await rejectsWith(c.authenticate(req(basic('bob', 'builder'), '192.0.2.7')), 'TOOMANYREQUESTS');
  assert.equal(e.headers['Retry-After'], '30');
  // bob from elsewhere is fine, and that success does not reset 192.0.2.7.
  assert.equal((await c.authenticate(req(basic('bob', 'builder'), '192.0.2.8'))).name, 'bob');
  await rejectsWith(c.authenticate(req(basic('bob', 'builder'), '192.0.2.7')), 'TOOMANYREQUESTS');
  // Anonymous requests carry no credentials to guess with: never throttled.
  assert.equal(await c.authenticate(req(undefined, '192.0.2.7')), ANONYMOUS);
  clock.advance(30_000);
  assert.equal((await c.authenticate(req(basic('bob', 'builder'), '192.0.2.7'))).name, 'bob');
});

test('guesses sent all at once cannot outrun the throttle; one header sent all at once is one attempt', async (t) => {
  const { c, verify } = await setup(t, { maxFailuresPerUser: 3, maxFailuresPerAddress: 100 });
  const guesses = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => c.authenticate(req(basic('alice', `guess${i}`)))));
  const codes = guesses.map((r) => (r.status === 'rejected' ? (r.reason as RegistryError).code : 'ok'));
  assert.deepEqual(codes.filter((x) => x === 'UNAUTHORIZED').length, 3, codes.join());
  assert.deepEqual(codes.filter((x) => x === 'TOOMANYREQUESTS').length, 17, codes.join());
  assert.equal(verify.calls, 3, 'bcrypt ran for the allowed attempts only');

  // bob's client opens twelve connections with the same (right) header: no 429, one bcrypt check,
  // and his count is back to zero afterwards.
  const burst = await Promise.all(Array.from({ length: 12 }, () => c.authenticate(req(basic('bob', 'builder'), '10.1.1.1'))));
  assert.ok(burst.every((i) => i.name === 'bob'));
  assert.equal(verify.calls, 4);
  for (let i = 0; i < 2; i++) await rejectsWith(c.authenticate(req(basic('bob', `typo${i}`))), 'UNAUTHORIZED');
  assert.equal((await c.authenticate(req(basic('bob', 'builder')))).name, 'bob', 'two typos after the burst: not throttled yet');
});

test('a failed attempt logs the user name and the client address only; nothing secret is ever logged', async (t) => {
  const { c, logger } = await setup(t, { maxFailuresPerUser: 2 });
  const secrets = ['wonderland', 'hunter2-secret', 'builder'];
  const headers = [basic('alice', 'hunter2-secret'), basic('alice', 'hunter2-secret2'), basic('mallory', 'hunter2-secret')];
  for (const h of headers) await rejectsWith(c.authenticate(req(h, '203.0.113.9')), 'UNAUTHORIZED');
  await rejectsWith(c.authenticate(req(headers[0], '203.0.113.9')), 'TOOMANYREQUESTS');
  await rejectsWith(c.authenticate(req('Bearer some.jwt.token', '203.0.113.9')), 'UNAUTHORIZED');
  await c.authenticate(req(basic('bob', 'builder')));

  const failures = logger.lines.filter((l) => l.msg === 'authentication failed');
  assert.equal(failures.length, 3);
  for (const l of failures) {
    assert.equal(l.level, 'warn');
    assert.deepEqual(Object.keys(l.obj).sort(), ['remoteAddress', 'user']);
    assert.equal(l.obj.remoteAddress, '203.0.113.9');
  }
  assert.deepEqual(failures.map((l) => l.obj.user), ['alice', 'alice', 'mallory']);

  const everything = JSON.stringify(logger.lines);
  const hashes = readFileSync((c as unknown as { opts: HtpasswdOptions }).opts.path, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':')[1]!);
  for (const s of [...secrets, ...headers, ...headers.map((h) => h.slice(6)), 'some.jwt.token', ...hashes]) {
    assert.ok(!everything.includes(s), `the log holds ${s}`);
  }
});

test('the file is re-read when it changes: a new password works at once and the cached old one is dropped', async (t) => {
  const { c, path, verify, logger } = await setup(t, { watch: true, watchDebounceMs: 20, watchPollMs: 0, cacheTtlMs: 3_600_000 });
  const old = basic('alice', 'wonderland');
  await c.authenticate(req(old));
  await c.authenticate(req(old));
  assert.equal(verify.calls, 1, 'remembered');

  // Another file in the same directory changing is no reason to reload (and forget the cache).
  writeFileSync(join(dirname(path), 'unrelated'), 'x');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.generation, 0);

  // htpasswd rewrites the file in place.
  htpasswd('-bB', path, 'alice', 'looking-glass');
  assert.ok(await waitFor(() => c.generation === 1), 'reloaded after htpasswd changed the file');
  await rejectsWith(c.authenticate(req(old)), 'UNAUTHORIZED');
  assert.equal(verify.calls, 2, 'the cached credential was dropped and checked again');
  assert.equal((await c.authenticate(req(basic('alice', 'looking-glass')))).name, 'alice');
  assert.ok(logger.lines.some((l) => l.level === 'info' && l.msg === 'htpasswd file reloaded' && l.obj.users === 2));

  // An editor's way: write a new file beside it, rename over it (a new inode).
  writeFileSync(`${path}.tmp`, `${readFileSync(path, 'utf8')}${htpasswdLine('B', 'carol', 'new-user')}\n`);
  renameSync(`${path}.tmp`, path);
  assert.ok(await waitFor(() => c.generation === 2), 'reloaded after the file was replaced');
  assert.equal((await c.authenticate(req(basic('carol', 'new-user')))).name, 'carol');
  // And again: the watch must not have stayed on the first file's inode.
  writeFileSync(`${path}.tmp`, `${readFileSync(path, 'utf8')}${htpasswdLine('B', 'erin', 'second-replace')}\n`);
  renameSync(`${path}.tmp`, path);
  assert.ok(await waitFor(() => c.generation === 3), 'reloaded after the file was replaced again');
  assert.equal((await c.authenticate(req(basic('erin', 'second-replace')))).name, 'erin');
});

test('a broken new file is reported with its line number and the users already loaded stay', async (t) => {
  const { c, path, logger } = await setup(t, { watch: true, watchDebounceMs: 20, watchPollMs: 0 });
  htpasswd('-bm', path, 'dave', 'md5-pw'); // appends an MD5 ($apr1$) line: line 3
  assert.ok(await waitFor(() => logger.lines.some((l) => l.msg.startsWith('htpasswd file not reloaded'))), 'the broken file was noticed');
  const line = logger.lines.find((l) => l.msg.startsWith('htpasswd file not reloaded'))!;
  assert.equal(line.level, 'warn');
  assert.match(String(line.obj.err), new RegExp(`^${path}:3: user "dave": the password hash is MD5`));
  const md5Hash = readFileSync(path, 'utf8').split('\n').find((l) => l.startsWith('dave:'))!.slice(5);
  assert.ok(!JSON.stringify(line).includes(md5Hash), 'the hash is not logged');
  assert.equal(c.generation, 0);
  assert.equal((await c.authenticate(req(basic('alice', 'wonderland')))).name, 'alice');
  await rejectsWith(c.authenticate(req(basic('dave', 'md5-pw'))), 'UNAUTHORIZED');

  // Fixed (dave re-added with bcrypt): taken at once.
  htpasswd('-bB', path, 'dave', 'bcrypt-pw');
  assert.ok(await waitFor(() => c.generation === 1));
  assert.equal((await c.authenticate(req(basic('dave', 'bcrypt-pw')))).name, 'dave');
});

test('close() stops watching', async (t) => {
  const { c, path } = await setup(t, { watch: true, watchDebounceMs: 10, watchPollMs: 50 });
  htpasswd('-bB', path, 'alice', 'changed');
  assert.ok(await waitFor(() => c.generation === 1));
  await c.close();
  htpasswd('-bB', path, 'alice', 'after-close');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(c.generation, 1, 'no reload after close');
});
