// Signing in to built-in accounts with Basic credentials (password, robot secret, personal access token)
// and with refresh tokens, over a real SQLite MetaStore. A remembered sign-in is checked against its row
// on every use, so a changed password, a revoked token or an expired robot stops working at once;
// failures are throttled per account and per address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcrypt';
import { RegistryError } from '../../src/oci/errors.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { AccountSignIn, type AccountSignInOptions, type SignedIn } from '../../src/access/account-sign-in.js';
import { newSecret, secretHash } from '../../src/access/secrets.js';
import { FakeClock } from '../helpers/fake-clock.js';

const T0 = 1_700_000_000_000;
const REMOTE = '10.0.0.7';

const header = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function setup(t: { after(fn: () => unknown): void }, opts: AccountSignInOptions = {}) {
  const clock = new FakeClock(T0);
  const meta = new SqliteMetaStore({ path: ':memory:', durable: false, clock });
  t.after(() => meta.close());
  // bcrypt really runs (cost 4); the count says when the cache spared it.
  const bcryptCalls = { n: 0 };
  const signIn = new AccountSignIn(meta, {
    clock, bcryptCost: 4,
    verify: async (p, h) => { bcryptCalls.n++; return bcrypt.compare(p, h); },
    ...opts,
  });
  const alice = await meta.users.create('alice', await signIn.hashPassword('wonderland'), false);
  const bob = await meta.users.create('bob', await signIn.hashPassword('builder'), false);
  const acme = await meta.orgs.create('acme', 'private');
  const robotSecret = newSecret('robot');
  const ci = await meta.orgs.createRobot(acme.id, 'ci', secretHash(robotSecret), null);
  /** Signs in with the header the credentials make (the cache key), from REMOTE unless told. */
  const basic = (user: string, password: string, remote = REMOTE): Promise<SignedIn> => signIn.basic(header(user, password), user, password, remote);
  return { clock, meta, signIn, bcryptCalls, alice, bob, acme, ci, robotSecret, basic };
}

async function rejectsWith(p: Promise<unknown>, code: 'UNAUTHORIZED' | 'TOOMANYREQUESTS', why: string = code): Promise<RegistryError> {
  let caught: RegistryError | undefined;
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof RegistryError, `${why}: ${String(e)}`);
    assert.equal(e.code, code, why);
    caught = e;
    return true;
  }, why);
  return caught!;
}

test('password: the right one signs in as the user; a second request is answered from the cache', async (t) => {
  const { basic, alice, bcryptCalls } = await setup(t);
  const s = await basic('alice', 'wonderland');
  assert.deepEqual(s, {
    subject: { kind: 'user', id: alice.id, name: 'alice', admin: false },
    method: 'password', cap: null, tokenId: null, stamp: alice.passwordHash,
  });
  assert.equal(bcryptCalls.n, 1);
  assert.deepEqual(await basic('alice', 'wonderland'), s);
  assert.equal(bcryptCalls.n, 1, 'remembered: no second bcrypt');
});

test('password: a wrong one and an unknown user are both UNAUTHORIZED, and both cost a bcrypt check', async (t) => {
  const { basic, bcryptCalls } = await setup(t);
  const wrong = await rejectsWith(basic('alice', 'guess'), 'UNAUTHORIZED', 'wrong password');
  assert.equal(bcryptCalls.n, 1);
  const unknown = await rejectsWith(basic('mallory', 'wonderland'), 'UNAUTHORIZED', 'unknown user');
  assert.equal(bcryptCalls.n, 2, 'an unknown user is checked against a dummy hash');
  assert.equal(wrong.message, unknown.message, 'the answer does not tell who exists');
  // Another user's password is no good either.
  await rejectsWith(basic('alice', 'builder'), 'UNAUTHORIZED', 'bob\'s password for alice');
});

test('password: a burst of one new header pays bcrypt once', async (t) => {
  const { basic, bcryptCalls } = await setup(t);
  const all = await Promise.all([basic('alice', 'wonderland'), basic('alice', 'wonderland'), basic('alice', 'wonderland')]);
  assert.equal(bcryptCalls.n, 1);
  for (const s of all) assert.equal(s.subject.name, 'alice');
});

test('password: a change invalidates a remembered sign-in at once; the new one works', async (t) => {
  const { basic, meta, signIn, alice, bcryptCalls } = await setup(t);
  await basic('alice', 'wonderland');
  await meta.users.setPassword(alice.id, await signIn.hashPassword('looking-glass'));
  await rejectsWith(basic('alice', 'wonderland'), 'UNAUTHORIZED', 'old password, remembered');
  assert.equal(bcryptCalls.n, 2, 'checked again rather than answered from the cache');
  assert.equal((await basic('alice', 'looking-glass')).subject.name, 'alice');
});

test('password: a remembered sign-in follows the admin flag and ends when the user is deleted', async (t) => {
  const { basic, meta, alice } = await setup(t);
  const s0 = await basic('alice', 'wonderland');
  assert.ok(s0.subject.kind === 'user' && !s0.subject.admin);
  await meta.users.setAdmin(alice.id, true);
  const s = await basic('alice', 'wonderland');
  assert.ok(s.subject.kind === 'user' && s.subject.admin, 'now an administrator');
  await meta.users.setAdmin(alice.id, false);
  const s2 = await basic('alice', 'wonderland');
  assert.ok(s2.subject.kind === 'user' && !s2.subject.admin, 'no longer');
  await meta.users.delete(alice.id);
  await rejectsWith(basic('alice', 'wonderland'), 'UNAUTHORIZED', 'deleted user');
});

test('robot: ORG+NAME and its secret sign in as the robot and record its use', async (t) => {
  const { basic, clock, meta, acme, ci, robotSecret } = await setup(t);
  clock.advance(1234);
  const s = await basic('acme+ci', robotSecret);
  assert.deepEqual(s, {
    subject: { kind: 'robot', id: ci.id, name: 'acme+ci', orgId: acme.id, orgName: 'acme' },
    method: 'robot', cap: null, tokenId: null, stamp: ci.secretHash,
  });
  assert.equal((await meta.orgs.robotById(ci.id))!.lastUsedAt, T0 + 1234);
  await rejectsWith(basic('acme+ci', newSecret('robot')), 'UNAUTHORIZED', 'another secret');
  await rejectsWith(basic('acme+ci', robotSecret.slice(0, -1)), 'UNAUTHORIZED', 'a truncated secret');
  await rejectsWith(basic('acme+cd', robotSecret), 'UNAUTHORIZED', 'another robot name');
  await rejectsWith(basic('acmx+ci', robotSecret), 'UNAUTHORIZED', 'another org');
  // A robot of the same name in another org has its own secret.
  const beta = await meta.orgs.create('beta', 'private');
  await meta.orgs.createRobot(beta.id, 'ci', secretHash(newSecret('robot')), null);
  await rejectsWith(basic('beta+ci', robotSecret), 'UNAUTHORIZED', 'same name, other org');
});

test('robot: expired is refused, also after a remembered sign-in; deleted too', async (t) => {
  const { basic, clock, meta, acme } = await setup(t);
  const secret = newSecret('robot');
  await meta.orgs.createRobot(acme.id, 'nightly', secretHash(secret), T0 + 60_000);
  assert.equal((await basic('acme+nightly', secret)).subject.name, 'acme+nightly');
  clock.advance(59_999);
  assert.equal((await basic('acme+nightly', secret)).subject.name, 'acme+nightly');
  clock.advance(1);
  await rejectsWith(basic('acme+nightly', secret), 'UNAUTHORIZED', 'expired, remembered');
  await rejectsWith(basic('acme+nightly', secret), 'UNAUTHORIZED', 'expired, checked afresh');
  // Born expired.
  const old = newSecret('robot');
  await meta.orgs.createRobot(acme.id, 'old', secretHash(old), T0);
  await rejectsWith(basic('acme+old', old), 'UNAUTHORIZED', 'created expired');
  // Deleted while remembered.
  const gone = newSecret('robot');
  const r = await meta.orgs.createRobot(acme.id, 'gone', secretHash(gone), null);
  await basic('acme+gone', gone);
  await meta.orgs.deleteRobot(r.id);
  await rejectsWith(basic('acme+gone', gone), 'UNAUTHORIZED', 'deleted robot');
});

test('personal access token: acts as its owner with the token\'s cap, and only under the owner\'s name', async (t) => {
  const { basic, clock, meta, alice, bcryptCalls } = await setup(t);
  const secret = newSecret('personal');
  const tok = await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'ci', secretHash: secretHash(secret), actions: ['pull'], expiresAt: null });
  clock.advance(77);
  const s = await basic('alice', secret);
  assert.deepEqual(s, {
    subject: { kind: 'user', id: alice.id, name: 'alice', admin: false },
    method: 'personal-token', cap: ['pull'], tokenId: tok.id, stamp: tok.secretHash,
  });
  assert.equal((await meta.tokens.byId(tok.id))!.lastUsedAt, T0 + 77);
  assert.equal(bcryptCalls.n, 0, 'a token is not a password');
  await rejectsWith(basic('bob', secret), 'UNAUTHORIZED', 'another user\'s name');
  await rejectsWith(basic('alice', newSecret('personal')), 'UNAUTHORIZED', 'an unknown token');
  // A token without a cap carries none.
  const all = newSecret('personal');
  await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'all', secretHash: secretHash(all), actions: null, expiresAt: null });
  assert.equal((await basic('alice', all)).cap, null);
  // A password change does not touch the owner's tokens (they are separate credentials).
  await meta.users.setPassword(alice.id, 'another-hash');
  assert.equal((await basic('alice', secret)).method, 'personal-token');
});

test('personal access token: revoked is refused at once, even after a remembered sign-in', async (t) => {
  const { basic, meta, alice } = await setup(t);
  const secret = newSecret('personal');
  const tok = await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'ci', secretHash: secretHash(secret), actions: null, expiresAt: null });
  await basic('alice', secret);
  await basic('alice', secret);
  await meta.tokens.revoke(tok.id);
  await rejectsWith(basic('alice', secret), 'UNAUTHORIZED', 'revoked, remembered');
  await rejectsWith(basic('alice', secret), 'UNAUTHORIZED', 'revoked, checked afresh');
});

test('personal access token: expired is refused, also after a remembered sign-in', async (t) => {
  const { basic, clock, meta, alice } = await setup(t);
  const secret = newSecret('personal');
  await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'ci', secretHash: secretHash(secret), actions: null, expiresAt: T0 + 1000 });
  await basic('alice', secret);
  clock.advance(1000);
  await rejectsWith(basic('alice', secret), 'UNAUTHORIZED', 'expired, remembered');
  const born = newSecret('personal');
  await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'old', secretHash: secretHash(born), actions: null, expiresAt: T0 });
  await rejectsWith(basic('alice', born), 'UNAUTHORIZED', 'created expired');
});

test('a refresh token is not a Basic password, and a personal token is not a refresh token', async (t) => {
  const { basic, signIn, meta, alice } = await setup(t);
  const rt = newSecret('refresh');
  await meta.tokens.create({ kind: 'refresh', owner: { kind: 'user', id: alice.id }, name: 'docker', secretHash: secretHash(rt), actions: null, expiresAt: null });
  await rejectsWith(basic('alice', rt), 'UNAUTHORIZED', 'refresh token as a password');
  const pat = newSecret('personal');
  await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'ci', secretHash: secretHash(pat), actions: null, expiresAt: null });
  await rejectsWith(signIn.refresh(pat, REMOTE), 'UNAUTHORIZED', 'personal token as a refresh token');
  // Even a refresh-looking secret whose row is a personal token.
  const odd = newSecret('refresh');
  await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'odd', secretHash: secretHash(odd), actions: null, expiresAt: null });
  await rejectsWith(signIn.refresh(odd, REMOTE), 'UNAUTHORIZED', 'refresh prefix, personal row');
  await rejectsWith(basic('alice', odd), 'UNAUTHORIZED', 'refresh prefix, personal row, as a password');
});

test('refresh: a user\'s and a robot\'s refresh tokens; revoked, expired and unknown ones refused', async (t) => {
  const { signIn, clock, meta, alice, acme, ci } = await setup(t);
  const rt = newSecret('refresh');
  const tok = await meta.tokens.create({ kind: 'refresh', owner: { kind: 'user', id: alice.id }, name: 'docker', secretHash: secretHash(rt), actions: null, expiresAt: T0 + 10_000 });
  clock.advance(5);
  assert.deepEqual(await signIn.refresh(rt, REMOTE), {
    subject: { kind: 'user', id: alice.id, name: 'alice', admin: false },
    method: 'refresh-token', cap: null, tokenId: tok.id, stamp: tok.secretHash,
  });
  assert.equal((await meta.tokens.byId(tok.id))!.lastUsedAt, T0 + 5);

  const robotRt = newSecret('refresh');
  await meta.tokens.create({ kind: 'refresh', owner: { kind: 'robot', id: ci.id }, name: 'r', secretHash: secretHash(robotRt), actions: null, expiresAt: null });
  assert.deepEqual((await signIn.refresh(robotRt, REMOTE)).subject, { kind: 'robot', id: ci.id, name: 'acme+ci', orgId: acme.id, orgName: 'acme' });

  await rejectsWith(signIn.refresh(newSecret('refresh'), REMOTE), 'UNAUTHORIZED', 'unknown');
  await rejectsWith(signIn.refresh('wonderland', REMOTE), 'UNAUTHORIZED', 'a password');
  clock.advance(10_000);
  await rejectsWith(signIn.refresh(rt, REMOTE), 'UNAUTHORIZED', 'expired');
  assert.equal((await signIn.refresh(robotRt, REMOTE)).method, 'refresh-token');
  await meta.tokens.revoke((await meta.tokens.bySecretHash(secretHash(robotRt)))!.id);
  await rejectsWith(signIn.refresh(robotRt, REMOTE), 'UNAUTHORIZED', 'revoked');
});

test('refresh: a robot\'s refresh token ends with the robot\'s expiry', async (t) => {
  const { signIn, clock, meta, acme } = await setup(t);
  const r = await meta.orgs.createRobot(acme.id, 'short', secretHash(newSecret('robot')), T0 + 1000);
  const rt = newSecret('refresh');
  await meta.tokens.create({ kind: 'refresh', owner: { kind: 'robot', id: r.id }, name: 'r', secretHash: secretHash(rt), actions: null, expiresAt: null });
  assert.equal((await signIn.refresh(rt, REMOTE)).subject.name, 'acme+short');
  clock.advance(1000);
  await rejectsWith(signIn.refresh(rt, REMOTE), 'UNAUTHORIZED', 'robot expired');
});

test('throttling per account: past the limit even the right password waits, with Retry-After; the window ends', async (t) => {
  const { basic, clock, bcryptCalls } = await setup(t, { maxFailuresPerAccount: 3, maxFailuresPerAddress: 100, failureWindowMs: 60_000 });
  for (let i = 0; i < 3; i++) await rejectsWith(basic('alice', `guess-${i}`), 'UNAUTHORIZED', `guess ${i}`);
  const calls = bcryptCalls.n;
  const e = await rejectsWith(basic('alice', 'wonderland'), 'TOOMANYREQUESTS', 'the right password, throttled');
  assert.equal(e.status, 429);
  assert.equal(e.headers['Retry-After'], '60');
  assert.equal(bcryptCalls.n, calls, 'a throttled attempt costs no bcrypt');
  clock.advance(45_500);
  assert.equal((await rejectsWith(basic('alice', 'wonderland'), 'TOOMANYREQUESTS')).headers['Retry-After'], '15');
  // Another account from the same address is not held up.
  assert.equal((await basic('bob', 'builder')).subject.name, 'bob');
  clock.advance(14_500);
  assert.equal((await basic('alice', 'wonderland')).subject.name, 'alice', 'the window ended');
});

test('throttling: successes do not count; guesses sent at once cannot outrun the limit', async (t) => {
  const { basic, signIn } = await setup(t, { maxFailuresPerAccount: 3, maxFailuresPerAddress: 100 });
  for (let i = 0; i < 6; i++) {
    signIn.clear(); // a real check every time
    await basic('alice', 'wonderland');
  }
  const results = await Promise.allSettled([1, 2, 3, 4, 5].map((i) => basic('bob', `guess-${i}`)));
  const codes = results.map((r) => (r.status === 'rejected' && r.reason instanceof RegistryError ? r.reason.code : r.status));
  assert.deepEqual(codes, ['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'TOOMANYREQUESTS', 'TOOMANYREQUESTS']);
});

test('throttling per address: failures for several accounts from one address add up', async (t) => {
  const { basic, signIn, robotSecret } = await setup(t, { maxFailuresPerAccount: 100, maxFailuresPerAddress: 2 });
  await rejectsWith(basic('alice', 'x', '192.0.2.1'), 'UNAUTHORIZED');
  await rejectsWith(basic('bob', 'y', '192.0.2.1'), 'UNAUTHORIZED');
  await rejectsWith(basic('acme+ci', robotSecret, '192.0.2.1'), 'TOOMANYREQUESTS', 'a robot from the throttled address');
  await rejectsWith(signIn.refresh(newSecret('refresh'), '192.0.2.1'), 'TOOMANYREQUESTS', 'refresh from the throttled address');
  assert.equal((await basic('acme+ci', robotSecret, '192.0.2.2')).subject.name, 'acme+ci', 'another address');
  // Bad refresh tokens count against their address too.
  await rejectsWith(signIn.refresh(newSecret('refresh'), '192.0.2.3'), 'UNAUTHORIZED');
  await rejectsWith(signIn.refresh(newSecret('refresh'), '192.0.2.3'), 'UNAUTHORIZED');
  await rejectsWith(signIn.refresh(newSecret('refresh'), '192.0.2.3'), 'TOOMANYREQUESTS', 'refresh guesses');
});

test('throttling: failing generated secrets count against the address only, so they cannot lock their owner out', async (t) => {
  const { basic, meta, alice } = await setup(t, { maxFailuresPerAccount: 2, maxFailuresPerAddress: 100 });
  const secret = newSecret('personal');
  const tok = await meta.tokens.create({ kind: 'personal', owner: { kind: 'user', id: alice.id }, name: 'ci', secretHash: secretHash(secret), actions: null, expiresAt: null });
  await meta.tokens.revoke(tok.id);
  // A CI job still sending its revoked token, again and again.
  for (let i = 0; i < 5; i++) await rejectsWith(basic('alice', secret), 'UNAUTHORIZED', `revoked token, attempt ${i}`);
  assert.equal((await basic('alice', 'wonderland')).method, 'password', 'the owner still signs in');
  // Password guesses do count against the account.
  await rejectsWith(basic('alice', 'guess-1'), 'UNAUTHORIZED');
  await rejectsWith(basic('alice', 'guess-2'), 'UNAUTHORIZED');
  await rejectsWith(basic('alice', 'guess-3'), 'TOOMANYREQUESTS');
});
