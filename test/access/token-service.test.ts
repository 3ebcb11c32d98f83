// The token service: ES256 JWTs signed with keys kept in the MetaStore. Issued tokens verify; anything
// forged, misaddressed, out of its time or signed by an unknown or retired key is UNAUTHORIZED with one
// message; rotation keeps old tokens valid until their key is retired, across processes sharing the
// database; a verified token costs one signature check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, base64url, calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { RegistryError } from '../../src/oci/errors.js';
import type { Access } from '../../src/access/access-controller.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { TokenKeys } from '../../src/access/token-keys.js';
import { TokenService, type TokenServiceOptions } from '../../src/access/token-service.js';
import { FakeClock } from '../helpers/fake-clock.js';

const ISSUER = 'wharf-test';
const SERVICE = 'registry.test';
const LIFETIME_S = 300;
const T0 = 1_700_000_000_000;

const PULL_PUSH: Access[] = [
  { type: 'repository', name: 'acme/app', action: 'pull' },
  { type: 'repository', name: 'acme/app', action: 'push' },
  { type: 'registry', name: 'catalog', action: '*' },
];

async function setup(t: { after(fn: () => unknown): void }, opts: Partial<TokenServiceOptions> = {}) {
  const clock = new FakeClock(T0);
  const meta = new SqliteMetaStore({ path: ':memory:', durable: false, clock });
  t.after(() => meta.close());
  const keys = await TokenKeys.open(meta, clock);
  const service = new TokenService(keys, { issuer: ISSUER, service: SERVICE, lifetimeS: LIFETIME_S, clock, ...opts });
  return { clock, meta, keys, service };
}

/** Asserts the token is refused as UNAUTHORIZED and returns the message (the same for every reason). */
async function refused(service: TokenService, token: string, why: string): Promise<string> {
  let message = '';
  await assert.rejects(service.verify(token), (e: unknown) => {
    assert.ok(e instanceof RegistryError, `${why}: ${String(e)}`);
    assert.equal(e.code, 'UNAUTHORIZED', why);
    message = e.message;
    return true;
  }, why);
  return message;
}

/** A token signed by hand, with the claims an issued one has unless overridden (undefined removes one). */
async function forge(key: KeyObject | Uint8Array, header: { alg: string; kid?: string }, claims: Record<string, unknown> = {}, nowS = T0 / 1000) {
  const payload: Record<string, unknown> = {
    access: [{ type: 'repository', name: 'acme/app', actions: ['pull'] }],
    iss: ISSUER, sub: 'alice', aud: SERVICE, iat: nowS, nbf: nowS, exp: nowS + LIFETIME_S, ...claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ typ: 'JWT', ...header }).sign(key);
}

/** Counts the key look-ups verify makes: each one is a signature check the cache did not spare. */
function countVerifierCalls(keys: TokenKeys): { calls: number } {
  const counter = { calls: 0 };
  const verifier = keys.verifier.bind(keys);
  keys.verifier = async (kid: string) => {
    counter.calls++;
    return verifier(kid);
  };
  return counter;
}

test('issue then verify: subject, access, exp = iat + lifetime, ES256 with the signer\'s kid', async (t) => {
  const { clock, keys, service } = await setup(t);
  clock.advance(1_500); // not on a whole second: iat is the second it falls in
  const issued = await service.issue('alice', PULL_PUSH);
  const header = decodeProtectedHeader(issued.token);
  const claims = decodeJwt(issued.token);
  assert.deepEqual(header, { alg: 'ES256', typ: 'JWT', kid: (await keys.signer()).kid });
  assert.equal(claims.iat, T0 / 1000 + 1);
  assert.equal(claims.nbf, claims.iat);
  assert.equal(claims.exp, claims.iat! + LIFETIME_S);
  assert.equal(claims.iss, ISSUER);
  assert.equal(claims.aud, SERVICE);
  assert.equal(claims.sub, 'alice');
  assert.equal(typeof claims.jti, 'string');
  assert.deepEqual(claims.access, [
    { type: 'repository', name: 'acme/app', actions: ['pull', 'push'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
  ]);
  assert.equal(issued.expiresIn, LIFETIME_S);
  assert.equal(issued.issuedAt.getTime(), (T0 / 1000 + 1) * 1000);
  assert.deepEqual(issued.access, claims.access);

  const verified = await service.verify(issued.token);
  assert.deepEqual(verified, { subject: 'alice', access: PULL_PUSH, cap: null, expiresAt: claims.exp! * 1000 });
  assert.equal('wharf_cap' in claims, false, 'no cap, no claim');
  // Two tokens for the same grant are still two tokens.
  assert.notEqual(decodeJwt((await service.issue('alice', PULL_PUSH)).token).jti, claims.jti);
});

test('anonymous tokens (subject \'\') and empty grants verify too', async (t) => {
  const { service } = await setup(t);
  const issued = await service.issue('', []);
  assert.deepEqual(await service.verify(issued.token), { subject: '', access: [], cap: null, expiresAt: (T0 / 1000 + LIFETIME_S) * 1000 });
});

test('a cap (a personal access token\'s action limit) travels in the token and comes back verified', async (t) => {
  const { service } = await setup(t);
  const issued = await service.issue('alice', PULL_PUSH.slice(0, 1), ['pull']);
  assert.deepEqual(decodeJwt(issued.token).wharf_cap, ['pull']);
  assert.deepEqual(await service.verify(issued.token), {
    subject: 'alice', access: PULL_PUSH.slice(0, 1), cap: ['pull'], expiresAt: (T0 / 1000 + LIFETIME_S) * 1000,
  });
  const none = await service.issue('alice', [], []);
  assert.deepEqual((await service.verify(none.token)).cap, [], 'an empty cap is not the same as no cap');
});

test('the kid is the signing key\'s JWK thumbprint; several processes opening one empty store make one key', async (t) => {
  const clock = new FakeClock(T0);
  const meta = new SqliteMetaStore({ path: ':memory:', durable: false, clock });
  t.after(() => meta.close());
  const [a, b] = await Promise.all([TokenKeys.open(meta, clock), TokenKeys.open(meta, clock)]);
  assert.equal((await meta.signingKeys.current()).length, 1);
  assert.equal((await a.signer()).kid, (await b.signer()).kid);
  const thumbprint = await calculateJwkThumbprint((await a.signer()).publicKey.export({ format: 'jwk' }) as JWK, 'sha256');
  assert.equal((await a.signer()).kid, thumbprint);
});

test('refused, with one message whatever failed', async (t) => {
  const { clock, keys, service } = await setup(t);
  const good = (await service.issue('alice', PULL_PUSH)).token;
  const [h, p, s] = good.split('.') as [string, string, string];
  const kid = (await keys.signer()).kid;
  const messages = new Set<string>();
  const check = async (token: string, why: string) => messages.add(await refused(service, token, why));

  // A character of the signature changed (in the middle: the last one carries padding bits).
  const i = 20;
  await check(`${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`, 'flipped signature');
  // The payload changed under the same signature (a wider grant).
  const wider = base64url.encode(JSON.stringify({ ...decodeJwt(good), sub: 'root' }));
  await check(`${h}.${wider}.${s}`, 'payload swapped');
  // alg none, with the right kid and no signature.
  await check(`${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT', kid }))}.${p}.`, 'alg none');
  // HS256 with the public key's bytes as the HMAC secret (the classic key confusion).
  const publicPem = (await keys.signer()).publicKey.export({ format: 'pem', type: 'spki' }) as string;
  await check(await forge(new TextEncoder().encode(publicPem), { alg: 'HS256', kid }), 'HS256 with the public key as secret');
  const publicDer = (await keys.signer()).publicKey.export({ format: 'der', type: 'spki' });
  await check(await forge(new Uint8Array(publicDer), { alg: 'HS256', kid }), 'HS256 with the DER public key as secret');
  // Audience and issuer of another service.
  await check((await new TokenService(keys, { ...service.opts, service: 'elsewhere' }).issue('alice', PULL_PUSH)).token, 'wrong audience');
  await check((await new TokenService(keys, { ...service.opts, issuer: 'someone-else' }).issue('alice', PULL_PUSH)).token, 'wrong issuer');
  // A key the store does not hold, whether it names a kid of its own, the store's kid, or none.
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  await check(await forge(stranger, { alg: 'ES256', kid: 'unknown-kid' }), 'unknown kid');
  await check(await forge(stranger, { alg: 'ES256', kid }), 'known kid, other key');
  await check(await forge((await keys.signer()).privateKey, { alg: 'ES256' }), 'no kid');
  // Claims the service demands.
  await check(await forge((await keys.signer()).privateKey, { alg: 'ES256', kid }, { sub: undefined }), 'no subject');
  await check(await forge((await keys.signer()).privateKey, { alg: 'ES256', kid }, { nbf: undefined }), 'no nbf');
  // Not yet valid: nbf beyond the 30 s tolerance.
  await check(await forge((await keys.signer()).privateKey, { alg: 'ES256', kid }, { nbf: T0 / 1000 + 31 }), 'nbf in the future');
  // Not a JWT at all.
  await check('not-a-token', 'garbage');
  await check('', 'empty');

  // Expired: past exp and the 30 s tolerance.
  clock.advance((LIFETIME_S + 31) * 1000);
  await check(good, 'expired');
  assert.deepEqual([...messages], ['invalid or expired token']);
});

test('the 30 s clock tolerance, on both ends', async (t) => {
  const { clock, keys, service } = await setup(t);
  const kid = (await keys.signer()).kid;
  // nbf 20 s ahead: accepted (another process's clock may run ahead).
  const early = await forge((await keys.signer()).privateKey, { alg: 'ES256', kid }, { nbf: T0 / 1000 + 20 });
  assert.equal((await service.verify(early)).subject, 'alice');
  const good = (await service.issue('alice', PULL_PUSH)).token;
  clock.advance((LIFETIME_S + 29) * 1000);
  assert.equal((await service.verify(good)).subject, 'alice', 'within the tolerance after exp');
  clock.advance(2_000);
  await refused(service, good, 'beyond the tolerance');
});

test('rotation: new tokens carry the new kid; old tokens verify until their key is retired', async (t) => {
  const { keys, service, clock } = await setup(t);
  const oldKid = (await keys.signer()).kid;
  const old = (await service.issue('alice', PULL_PUSH)).token;
  assert.equal((await service.verify(old)).subject, 'alice'); // now remembered
  const newKid = await keys.rotate();
  assert.notEqual(newKid, oldKid);
  assert.equal((await keys.signer()).kid, newKid);
  assert.deepEqual(keys.all().map((k) => k.kid), [newKid, oldKid]);
  const fresh = (await service.issue('bob', PULL_PUSH)).token;
  assert.equal(decodeProtectedHeader(fresh).kid, newKid);
  assert.equal((await service.verify(fresh)).subject, 'bob');
  // A service that never saw the old token verifies it against the superseded key.
  const other = new TokenService(keys, service.opts);
  assert.equal((await other.verify(old)).subject, 'alice');

  assert.equal(await keys.retire(newKid), false, 'the signing key cannot be retired');
  assert.equal(await keys.retire(oldKid), true);
  assert.deepEqual(keys.all().map((k) => k.kid), [newKid]);
  clock.advance(10_000); // the look-up of an unknown kid may go back to the store: it is not there either
  await refused(new TokenService(keys, service.opts), old, 'retired key, never verified here');
  // A service that remembered the token forgets it when told a key was retired.
  service.forget();
  await refused(service, old, 'retired key, after forget');
  assert.equal((await service.verify(fresh)).subject, 'bob', 'the new key still verifies');
});

test('a second TokenKeys over the same store sees a key rotated by the first (reloads on an unknown kid)', async (t) => {
  const { clock, meta, keys: first, service: s1 } = await setup(t);
  const second = await TokenKeys.open(meta, clock);
  const s2 = new TokenService(second, s1.opts);
  assert.equal((await second.signer()).kid, (await first.signer()).kid, 'the second process found the first key');
  const before = (await s1.issue('alice', PULL_PUSH)).token;
  assert.equal((await s2.verify(before)).subject, 'alice');

  const newKid = await first.rotate();
  const after = (await s1.issue('alice', PULL_PUSH)).token;
  // Within the reload interval the second process does not go back to the database for every bad kid.
  await refused(s2, after, 'unknown kid, reload rate-limited');
  clock.advance(5_000);
  assert.equal((await s2.verify(after)).subject, 'alice');
  assert.equal((await second.signer()).kid, newKid, 'and signs with it from then on');
  assert.equal(decodeProtectedHeader((await s2.issue('bob', [])).token).kid, newKid);
  // The first process verifies what the second now issues.
  assert.equal((await s1.verify((await s2.issue('carol', PULL_PUSH)).token)).subject, 'carol');
});

test('a key retired by one process stops verifying in the others within a bounded time', async (t) => {
  const { clock, meta, keys: first, service: s1 } = await setup(t);
  const second = await TokenKeys.open(meta, clock);
  const s2 = new TokenService(second, s1.opts);
  const oldKey = await first.signer();
  await first.rotate();
  assert.equal(await first.retire(oldKey.kid), true);
  // Long after: any bound on staleness (ARCHITECTURE: "caches are bounded in staleness") has passed.
  clock.advance(10 * 60_000);
  // Someone holding the retired private key (the reason to retire it) mints a token.
  const minted = await forge(oldKey.privateKey, { alg: 'ES256', kid: oldKey.kid }, {}, clock.now() / 1000);
  await refused(s1, minted, 'retired key, in the process that retired it');
  await refused(s2, minted, 'retired key, in another process');
  // And the other process no longer signs with it, so the first one accepts what it issues.
  assert.equal((await s1.verify((await s2.issue('bob', [])).token)).subject, 'bob');
});

test('a verified token is remembered until it expires; failures are not', async (t) => {
  const { clock, keys, service } = await setup(t);
  const a = (await service.issue('alice', PULL_PUSH)).token;
  const b = (await service.issue('bob', PULL_PUSH)).token;
  const counter = countVerifierCalls(keys); // after issuing: only verify's look-ups count
  await service.verify(a);
  await service.verify(a);
  await service.verify(a);
  assert.equal(counter.calls, 1, 'one check for three verifies');
  await service.verify(b);
  assert.equal(counter.calls, 2);
  // A bad token is checked again every time.
  const bad = `${a.slice(0, -10)}${a.slice(-10) === 'AAAAAAAAAA' ? 'BBBBBBBBBB' : 'AAAAAAAAAA'}`;
  await refused(service, bad, 'bad');
  await refused(service, bad, 'bad again');
  assert.equal(counter.calls, 4);
  // forget() drops everything.
  service.forget();
  await service.verify(b);
  assert.equal(counter.calls, 5);
  // At exp the memory ends (the tolerance still lets the signature check pass).
  await service.verify(a);
  assert.equal(counter.calls, 6);
  clock.advance(LIFETIME_S * 1000 - 1);
  await service.verify(a);
  assert.equal(counter.calls, 6, 'still remembered a millisecond before exp');
  clock.advance(1);
  await service.verify(a);
  assert.equal(counter.calls, 7, 'checked again at exp');
});

test('the cache holds at most cacheEntries tokens, the least recently used going first', async (t) => {
  const { keys, service } = await setup(t, { cacheEntries: 2 });
  const [a, b, c] = await Promise.all(['a', 'b', 'c'].map(async (s) => (await service.issue(s, [])).token)) as [string, string, string];
  const counter = countVerifierCalls(keys);
  await service.verify(a);
  await service.verify(b);
  await service.verify(a); // a is now the most recently used
  assert.equal(counter.calls, 2);
  await service.verify(c); // evicts b
  assert.equal(counter.calls, 3);
  await service.verify(a);
  assert.equal(counter.calls, 3, 'a stayed');
  await service.verify(b);
  assert.equal(counter.calls, 4, 'b was evicted');
});
