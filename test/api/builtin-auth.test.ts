// auth.mode builtin over real HTTP: the challenge, the token endpoint (GET and OAuth2 POST), refresh
// tokens, revocation taking effect at once, throttling, the admin API's errors and OpenAPI document,
// the audit log, and no secret in any line the server printed.
import { after, before, describe, test } from 'node:test';
import { createHmac } from 'node:crypto';
import assert from 'node:assert/strict';
import { expectError, req } from './lib/http.js';
import { ADMIN, ADMIN_PASSWORD, api, apiOk, basic, bearer, startBuiltin, token, type BuiltinServer } from './lib/builtin.js';

const form = (fields: Record<string, string>): { method: string; headers: Record<string, string>; body: string } =>
  ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

describe('builtin auth: token endpoint, tokens, admin API, audit', () => {
  let s: BuiltinServer;
  const secrets: string[] = [ADMIN_PASSWORD, 'alice-password-1'];
  const alice = basic('alice', 'alice-password-1');

  before(async () => {
    s = await startBuiltin();
    await apiOk(s, ADMIN, 'POST', '/users', { name: 'alice', password: 'alice-password-1' }, 201);
    await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'acme' }, 201);
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  test('/v2/ challenges with Bearer: realm is this server\'s /token, service, and the scope a route needs', async () => {
    const base = await req(s.url, '/v2/');
    expectError(base, 401, 'UNAUTHORIZED');
    assert.equal(base.headers.get('www-authenticate'), `Bearer realm="${s.url}/token",service="wharf"`);
    const m = await req(s.url, '/v2/acme/app/manifests/v1');
    assert.equal(m.headers.get('www-authenticate'), `Bearer realm="${s.url}/token",service="wharf",scope="repository:acme/app:pull"`);
    const up = await req(s.url, '/v2/acme/app/blobs/uploads/', { method: 'POST' });
    assert.equal(up.headers.get('www-authenticate'), `Bearer realm="${s.url}/token",service="wharf",scope="repository:acme/app:pull,push"`);
    // Basic works on /v2 too (curl, scripts), and a signed-in caller passes the base check.
    assert.equal((await req(s.url, '/v2/', { headers: alice })).status, 200);
    const t = await token(s, alice, []);
    assert.equal((await req(s.url, '/v2/', { headers: bearer(t.token) })).status, 200);
  });

  test('GET /token: the response, wrong credentials, unknown service, malformed scope and bad names', async () => {
    const t = await token(s, alice, ['repository:alice/app:pull,push']);
    assert.deepEqual(t.access, [{ type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }]);
    assert.equal(t.body.access_token, t.token);
    assert.equal(t.body.expires_in, 300);
    assert.ok(Math.abs(Date.parse(t.body.issued_at as string) - Date.now()) < 60_000);
    expectError(await req(s.url, '/token?service=wharf', { headers: basic('alice', 'wrong-password') }), 401, 'UNAUTHORIZED');
    expectError(await req(s.url, '/token?service=elsewhere&scope=repository:a/b:pull'), 400, 'UNSUPPORTED');
    expectError(await req(s.url, '/token?service=wharf&scope=repository-a-b-pull'), 400, 'UNSUPPORTED');
    for (const bad of ['repository:a/../b:pull', 'repository:A/b:pull', 'repository:a%252Fb:pull', 'repository:a//b:pull']) {
      expectError(await req(s.url, `/token?service=wharf&scope=${encodeURIComponent(bad)}`, { headers: alice }), 400, 'NAME_INVALID');
    }
  });

  test('forged bearer tokens are refused on /v2: a widened claim, alg none, an HMAC (HS256) signature, another issuer, a broken signature', async () => {
    const good = await token(s, alice, ['repository:alice/app:pull']);
    const [h, p, sig] = good.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const widened = enc({ ...claims, access: [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push', 'delete'] }] });
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const forged = [
      `${h}.${widened}.${sig}`,
      `${enc({ ...header, alg: 'none' })}.${widened}.`,
      `${enc({ ...header, alg: 'HS256' })}.${widened}.${createHmac('sha256', JSON.stringify(header)).update(`${h}.${widened}`).digest('base64url')}`,
      `${h}.${enc({ ...claims, iss: 'someone-else' })}.${sig}`,
      `${h}.${p}.${sig.slice(0, -4)}AAAA`,
      'not.a.token',
    ];
    for (const t of forged) {
      const r = await req(s.url, '/v2/acme/app/tags/list', { headers: bearer(t) });
      expectError(r, 401, 'UNAUTHORIZED');
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
    }
    assert.equal((await req(s.url, '/v2/', { headers: bearer(good.token) })).status, 200, 'the untouched token still works');
  });

  test('escalation: push elsewhere, `*`, another user\'s namespace — nothing beyond the rules is granted', async () => {
    const t = await token(s, alice, ['repository:acme/app:*', 'repository:admin/x:push', 'repository:alice/mine:*', 'registry:catalog:*']);
    assert.deepEqual(t.access, [
      { type: 'repository', name: 'alice/mine', actions: ['pull', 'push', 'delete'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
    ]);
  });

  test('OAuth2 POST /token: password grant with a refresh token, refresh grant, wrong grants', async () => {
    const r = await req(s.url, '/token', form({ grant_type: 'password', username: 'alice', password: 'alice-password-1', service: 'wharf', client_id: 'test', access_type: 'offline', scope: 'repository:alice/app:pull' }));
    assert.equal(r.status, 200, r.body.toString());
    const b = JSON.parse(r.body.toString()) as { access_token: string; refresh_token: string; scope: string; token_type: string };
    assert.equal(b.token_type, 'Bearer');
    assert.equal(b.scope, 'repository:alice/app:pull');
    assert.match(b.refresh_token, /^wharf_rt_/);
    secrets.push(b.refresh_token);
    const again = await req(s.url, '/token', form({ grant_type: 'refresh_token', refresh_token: b.refresh_token, service: 'wharf', client_id: 'test', scope: 'repository:alice/app:pull,push' }));
    assert.equal(again.status, 200, again.body.toString());
    const t2 = JSON.parse(again.body.toString()) as { access_token: string; refresh_token?: string };
    assert.equal(t2.refresh_token, undefined);
    assert.equal((await req(s.url, '/v2/alice/app/blobs/uploads/', { method: 'POST', headers: bearer(t2.access_token) })).status, 202);
    const wrong = await req(s.url, '/token', form({ grant_type: 'password', username: 'alice', password: 'nope-nope', service: 'wharf' }));
    assert.equal(wrong.status, 401);
    assert.equal((JSON.parse(wrong.body.toString()) as { error: string }).error, 'invalid_grant');
    const badRefresh = await req(s.url, '/token', form({ grant_type: 'refresh_token', refresh_token: 'wharf_rt_forged', service: 'wharf' }));
    assert.equal(badRefresh.status, 401);
    const grant = await req(s.url, '/token', form({ grant_type: 'client_credentials' }));
    assert.equal((JSON.parse(grant.body.toString()) as { error: string }).error, 'unsupported_grant_type');
  });

  test('revocation is effective at once: a revoked token or deleted robot fails on its next use', async () => {
    const made = await apiOk(s, alice, 'POST', '/tokens', { name: 'laptop' }, 201) as { id: number; secret: string };
    secrets.push(made.secret);
    const withToken = basic('alice', made.secret);
    assert.equal((await req(s.url, '/v2/', { headers: withToken })).status, 200);
    await token(s, withToken, ['repository:alice/app:pull']);
    const listed = await apiOk(s, alice, 'GET', '/tokens', undefined, 200) as { items: { id: number; lastUsedAt: string | null }[] };
    assert.ok(listed.items.find((t) => t.id === made.id)?.lastUsedAt, 'last use is recorded');
    await apiOk(s, alice, 'DELETE', `/tokens/${made.id}`, undefined, 204);
    expectError(await req(s.url, '/v2/', { headers: withToken }), 401, 'UNAUTHORIZED');
    expectError(await req(s.url, '/token?service=wharf', { headers: withToken }), 401, 'UNAUTHORIZED');
    // A token cannot change its owner's password (a leaked token must not take the account).
    const other0 = await apiOk(s, alice, 'POST', '/tokens', { name: 'leaky' }, 201) as { secret: string };
    secrets.push(other0.secret);
    expectError(await api(s, basic('alice', other0.secret), 'PUT', '/users/alice/password', { password: 'taken-over-1' }), 403, 'DENIED');
    // Another user's name with a token is refused too.
    const other = await apiOk(s, alice, 'POST', '/tokens', { name: 'ci' }, 201) as { secret: string };
    secrets.push(other.secret);
    expectError(await req(s.url, '/v2/', { headers: basic('admin', other.secret) }), 401, 'UNAUTHORIZED');

    const robot = await apiOk(s, ADMIN, 'POST', '/orgs/acme/robots', { name: 'deploy' }, 201) as { name: string; secret: string };
    secrets.push(robot.secret);
    assert.equal(robot.name, 'acme+deploy');
    const asRobot = basic(robot.name, robot.secret);
    assert.equal((await req(s.url, '/v2/', { headers: asRobot })).status, 200);
    await apiOk(s, ADMIN, 'DELETE', '/orgs/acme/robots/deploy', undefined, 204);
    expectError(await req(s.url, '/v2/', { headers: asRobot }), 401, 'UNAUTHORIZED');

    // A changed password: the old one stops at once, though it was just verified.
    await apiOk(s, ADMIN, 'POST', '/users', { name: 'carol', password: 'carol-password-1' }, 201);
    assert.equal((await req(s.url, '/v2/', { headers: basic('carol', 'carol-password-1') })).status, 200);
    await apiOk(s, basic('carol', 'carol-password-1'), 'PUT', '/users/carol/password', { password: 'carol-password-2' }, 204);
    expectError(await req(s.url, '/v2/', { headers: basic('carol', 'carol-password-1') }), 401, 'UNAUTHORIZED');
    assert.equal((await req(s.url, '/v2/', { headers: basic('carol', 'carol-password-2') })).status, 200);
    secrets.push('carol-password-1', 'carol-password-2');
  });

  test('failed sign-ins are throttled per account: 429 TOOMANYREQUESTS with Retry-After', async () => {
    await apiOk(s, ADMIN, 'POST', '/users', { name: 'dave', password: 'dave-password-1' }, 201);
    let throttled = null;
    for (let i = 0; i < 20 && !throttled; i++) {
      const r = await req(s.url, '/token?service=wharf', { headers: basic('dave', `guess-${i}`) });
      if (r.status === 429) throttled = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(throttled, 'no 429 after 20 wrong passwords');
    expectError(throttled, 429, 'TOOMANYREQUESTS');
    assert.ok(Number(throttled.headers.get('retry-after')) >= 1);
    // Throttled even with the right password, until the window ends.
    assert.equal((await req(s.url, '/token?service=wharf', { headers: basic('dave', 'dave-password-1') })).status, 429);
  });

  test('admin API: who may, one error shape, validation, and the OpenAPI document', async () => {
    expectError(await api(s, {}, 'GET', '/me'), 401, 'UNAUTHORIZED');
    assert.deepEqual(await apiOk(s, alice, 'GET', '/me', undefined, 200), { name: 'alice', kind: 'user', admin: false });
    expectError(await api(s, alice, 'GET', '/users'), 403, 'DENIED');
    expectError(await api(s, alice, 'POST', '/users', { name: 'eve', password: 'eve-password-1' }), 403, 'DENIED');
    expectError(await api(s, ADMIN, 'POST', '/users', { name: 'Eve!', password: 'eve-password-1' }), 400, 'INVALID');
    expectError(await api(s, ADMIN, 'POST', '/users', { name: 'eve', password: 'short' }), 400, 'INVALID');
    expectError(await api(s, ADMIN, 'POST', '/users', { name: 'eve', password: 'eve-password-1', extra: 1 }), 400, 'INVALID');
    expectError(await api(s, ADMIN, 'POST', '/users', { name: 'acme', password: 'eve-password-1' }), 409, 'CONFLICT');
    const dup = await req(s.url, '/api/v1/orgs', { method: 'POST', headers: { ...ADMIN, 'Content-Type': 'application/json' }, body: '{"name":"x1","name":"x2"}' });
    expectError(dup, 400, 'INVALID');
    expectError(await api(s, ADMIN, 'GET', '/orgs/nope'), 404, 'NOT_FOUND');
    expectError(await api(s, ADMIN, 'GET', '/no/such/route'), 404, 'NOT_FOUND');
    // alice may create an organization and administers it; not someone else's.
    await apiOk(s, alice, 'POST', '/orgs', { name: 'wonder' }, 201);
    await apiOk(s, alice, 'POST', '/orgs/wonder/teams', { name: 'core' }, 201);
    expectError(await api(s, alice, 'POST', '/orgs/acme/teams', { name: 'core' }), 404, 'NOT_FOUND');
    const orgs = await apiOk(s, alice, 'GET', '/orgs', undefined, 200) as { items: { name: string }[] };
    assert.deepEqual(orgs.items.map((o) => o.name), ['wonder']);
    const users = await apiOk(s, ADMIN, 'GET', '/users?n=2', undefined, 200) as { items: { name: string }[]; next: string };
    assert.deepEqual(users.items.map((u) => u.name), ['admin', 'alice']);
    assert.equal(users.next, 'alice');
    const rest = await apiOk(s, ADMIN, 'GET', `/users?n=2&last=${users.next}`, undefined, 200) as { items: { name: string }[] };
    assert.deepEqual(rest.items.map((u) => u.name), ['carol', 'dave']);

    const doc = JSON.parse((await req(s.url, '/api/v1/openapi.json')).body.toString()) as { openapi: string; paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> } }>> };
    assert.equal(doc.openapi, '3.1.0');
    const createUser = doc.paths['/api/v1/users']!.post!.requestBody!.content['application/json']!.schema;
    assert.deepEqual(Object.keys(createUser.properties ?? {}).sort(), ['admin', 'name', 'password']);
    assert.deepEqual(createUser.required?.sort(), ['name', 'password']);
    for (const p of ['/api/v1/orgs/{org}/robots', '/api/v1/namespaces/{namespace}/grants', '/api/v1/tokens/{id}', '/api/v1/audit']) assert.ok(doc.paths[p], p);
  });

  test('the audit log says who did what from where, and is for administrators only', async () => {
    const r = await apiOk(s, ADMIN, 'GET', '/audit?n=200', undefined, 200) as { items: { actor: string; action: string; target: string; outcome: string; remote: string; detail: unknown }[] };
    const has = (actor: string, action: string, outcome = 'ok'): boolean => r.items.some((e) => e.actor === actor && e.action === action && e.outcome === outcome);
    assert.ok(has('admin', 'user.create'));
    assert.ok(has('alice', 'token.issue'));
    assert.ok(has('alice', 'login', 'failed'));
    assert.ok(has('alice', 'token.revoke'));
    assert.ok(has('admin', 'robot.delete'));
    assert.ok(has('alice', 'org.create'));
    assert.ok(r.items.every((e) => e.remote === '127.0.0.1'));
    const onlyAlice = await apiOk(s, ADMIN, 'GET', '/audit?actor=alice&action=org.create', undefined, 200) as { items: { target: string }[] };
    assert.deepEqual(onlyAlice.items.map((e) => e.target), ['wonder']);
    expectError(await api(s, alice, 'GET', '/audit'), 403, 'DENIED');
    const text = JSON.stringify(r.items);
    for (const secret of secrets) assert.ok(!text.includes(secret), 'the audit log holds a secret');
  });

  test('no secret in any line the server printed', async () => {
    assert.ok(s.logs.length > 20, 'the server logged');
    for (const line of s.logs) for (const secret of secrets) assert.ok(!line.includes(secret), `a log line holds a secret: ${line.slice(0, 200)}`);
  });
});
