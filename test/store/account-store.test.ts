// The account aggregates (users, organizations with teams and robots, grants, tokens, repository
// visibility, the audit log, signing keys), on SQLite and on PostgreSQL: what each call keeps, what
// deletes take with them, and the timestamps they stamp from the injected clock.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { metaDrivers } from './lib/meta-drivers.js';
import type { Principal } from '../../src/store/meta/account-store.js';

const T0 = 1_700_000_000_000;

const drivers = metaDrivers(T0);

for (const [driver, open] of Object.entries(drivers)) describe(`account aggregates: ${driver}`, () => {

  const user = (id: number): Principal => ({ kind: 'user', id });
  const team = (id: number): Principal => ({ kind: 'team', id });
  const robot = (id: number): Principal => ({ kind: 'robot', id });

  test('users: create, look up by name and id, stamped by the clock, admin as a boolean', async (t) => {
    const { m, clock } = await open(t);
    const alice = await m.users.create('alice', 'hash-a', false);
    clock.advance(1000);
    const root = await m.users.create('root', 'hash-r', true);
    assert.deepEqual(alice, { id: alice.id, name: 'alice', passwordHash: 'hash-a', admin: false, createdAt: T0 });
    assert.deepEqual(await m.users.byName('alice'), alice);
    assert.deepEqual(await m.users.byId(root.id), { id: root.id, name: 'root', passwordHash: 'hash-r', admin: true, createdAt: T0 + 1000 });
    assert.equal((await m.users.byName('root'))!.admin, true, 'admin is a boolean, not the stored 1');
    assert.equal(await m.users.byName('nobody'), null);
    assert.equal(await m.users.byId(9999), null);
    assert.equal(await m.users.count(), 2);
  });

  test('users: a name is unique', async (t) => {
    const { m } = await open(t);
    await m.users.create('alice', 'h', false);
    await assert.rejects(m.users.create('alice', 'other', true), /UNIQUE|unique/);
    assert.equal(await m.users.count(), 1);
    assert.equal((await m.users.byName('alice'))!.passwordHash, 'h');
  });

  test('users: list pages by name, after the last name of the previous page', async (t) => {
    const { m } = await open(t);
    for (const n of ['dave', 'alice', 'erin', 'carol', 'bob']) await m.users.create(n, 'h', false);
    const names = async (after: string, limit: number) => (await m.users.list(after, limit)).map((u) => u.name);
    assert.deepEqual(await names('', 2), ['alice', 'bob']);
    assert.deepEqual(await names('bob', 2), ['carol', 'dave']);
    assert.deepEqual(await names('dave', 2), ['erin']);
    assert.deepEqual(await names('erin', 2), []);
    assert.deepEqual(await names('', 100), ['alice', 'bob', 'carol', 'dave', 'erin']);
  });

  test('users: setPassword and setAdmin change the row; false for an unknown id', async (t) => {
    const { m } = await open(t);
    const u = await m.users.create('alice', 'old', false);
    assert.equal(await m.users.setPassword(u.id, 'new'), true);
    assert.equal(await m.users.setAdmin(u.id, true), true);
    assert.deepEqual(await m.users.byId(u.id), { ...u, passwordHash: 'new', admin: true });
    assert.equal(await m.users.setAdmin(u.id, false), true);
    assert.equal((await m.users.byId(u.id))!.admin, false);
    assert.equal(await m.users.setPassword(u.id + 100, 'x'), false);
    assert.equal(await m.users.setAdmin(u.id + 100, true), false);
  });

  test('users: delete removes the user with their grants, tokens and team memberships, and nobody else\'s', async (t) => {
    const { m } = await open(t);
    const alice = await m.users.create('alice', 'h', false);
    const bob = await m.users.create('bob', 'h', false);
    const acme = await m.orgs.create('acme', 'private');
    const devs = await m.orgs.createTeam(acme.id, 'devs');
    await m.orgs.addMember(devs.id, alice.id);
    await m.orgs.addMember(devs.id, bob.id);
    await m.grants.set(user(alice.id), 'acme', null, 'editor');
    await m.grants.set(user(alice.id), 'other', 'other/app', 'viewer');
    await m.grants.set(user(bob.id), 'acme', null, 'viewer');
    await m.grants.set(team(devs.id), 'acme', null, 'viewer');
    const pat = await m.tokens.create({ kind: 'personal', owner: user(alice.id), name: 'ci', secretHash: 'a1', actions: null, expiresAt: null });
    const rt = await m.tokens.create({ kind: 'refresh', owner: user(alice.id), name: 'docker', secretHash: 'a2', actions: null, expiresAt: null });
    const bobs = await m.tokens.create({ kind: 'personal', owner: user(bob.id), name: 'ci', secretHash: 'b1', actions: null, expiresAt: null });

    assert.equal(await m.users.delete(alice.id), true);
    assert.equal(await m.users.byId(alice.id), null);
    assert.deepEqual(await m.grants.of([user(alice.id)], 'acme'), []);
    assert.deepEqual(await m.grants.of([user(alice.id)], 'other'), []);
    assert.deepEqual(await m.grants.namespacesOf([user(alice.id)]), []);
    assert.equal(await m.tokens.byId(pat.id), null);
    assert.equal(await m.tokens.byId(rt.id), null);
    assert.deepEqual(await m.orgs.teamsOf(alice.id), []);
    assert.deepEqual(await m.orgs.members(devs.id), ['bob']);
    // Bob's and the team's facts stay.
    assert.deepEqual((await m.grants.of([user(bob.id)], 'acme')).map((g) => g.role), ['viewer']);
    assert.deepEqual((await m.grants.of([team(devs.id)], 'acme')).map((g) => g.role), ['viewer']);
    assert.notEqual(await m.tokens.byId(bobs.id), null);
    assert.equal(await m.users.count(), 1);
    assert.equal(await m.users.delete(alice.id), false, 'a second delete finds nothing');
  });

  test('users: delete removes the grants others hold on the personal namespace (a new account of that name inherits none)', async (t) => {
    const { m } = await open(t);
    const alice = await m.users.create('alice', 'h', false);
    const bob = await m.users.create('bob', 'h', false);
    // Alice administers her namespace and let bob in (administration.grant allows it).
    await m.grants.set(user(bob.id), 'alice', null, 'editor');
    await m.users.delete(alice.id);
    // Organizations are deleted with "every grant on its namespace"; a personal namespace should be too.
    assert.deepEqual(await m.grants.onNamespace('alice'), []);
    await m.orgs.create('alice', 'private');
    assert.deepEqual(await m.grants.namespacesOf([user(bob.id)]), []);
  });

  test('deleting an organization or a user drops what is set on its namespace (immutable tags, quota, retention, webhooks and their deliveries), and nobody else\'s', async (t) => {
    const { m } = await open(t);
    const settle = async (ns: string): Promise<number> => {
      await m.immutableTags.add(ns, null, 'v*');
      await m.immutableTags.add(ns, `${ns}/app`, 'release-*');
      await m.quotas.set({ namespace: ns, repository: null }, { bytes: 1000, tags: null });
      await m.retention.set(ns, `${ns}/app`, { keepLast: 3 });
      const w = await m.webhooks.subscriptions.create({ namespace: ns, repository: null, url: 'http://127.0.0.1:9/hook', events: ['push'],
        repositories: null, tags: null, format: 'cloudevents', secret: 's', enabled: true, batch: 1 });
      await m.webhooks.outbox.add([{ webhookId: w.id, eventId: `${ns}-1`, eventType: 'io.wharf.image.pushed', payload: '{}' }]);
      return w.id;
    };
    const settings = async (ns: string) => ({
      immutable: (await m.immutableTags.list(ns)).length,
      quota: await m.quotas.get({ namespace: ns, repository: null }),
      retention: (await m.retention.list(ns)).length,
      webhooks: (await m.webhooks.subscriptions.list(ns)).length,
    });
    const acme = await m.orgs.create('acme', 'private');
    const alice = await m.users.create('alice', 'h', false);
    await m.orgs.create('beta', 'private');
    await settle('acme');
    await settle('alice');
    const kept = await settle('beta');
    assert.equal(await m.webhooks.outbox.pending(), 3);

    await m.orgs.delete(acme.id);
    await m.users.delete(alice.id);
    for (const ns of ['acme', 'alice']) assert.deepEqual(await settings(ns), { immutable: 0, quota: null, retention: 0, webhooks: 0 }, ns);
    assert.equal(await m.webhooks.outbox.pending(), 1, 'the deleted subscriptions\' deliveries went with them');
    const beta = await settings('beta');
    assert.deepEqual({ ...beta, quota: beta.quota?.bytes }, { immutable: 2, quota: 1000, retention: 1, webhooks: 1 });
    assert.deepEqual((await m.webhooks.outbox.claim('h', 1000, 10)).map((d) => d.webhookId), [kept]);
  });

  test('orgs: create, look up, list pages by name, setVisibility; a name is unique', async (t) => {
    const { m, clock } = await open(t);
    const acme = await m.orgs.create('acme', 'private');
    clock.advance(5);
    const open2 = await m.orgs.create('open', 'public');
    await m.orgs.create('beta', 'private');
    assert.deepEqual(acme, { id: acme.id, name: 'acme', visibility: 'private', createdAt: T0 });
    assert.deepEqual(await m.orgs.byName('open'), { id: open2.id, name: 'open', visibility: 'public', createdAt: T0 + 5 });
    assert.deepEqual(await m.orgs.byId(acme.id), acme);
    assert.equal(await m.orgs.byName('nope'), null);
    assert.deepEqual((await m.orgs.list('', 2)).map((o) => o.name), ['acme', 'beta']);
    assert.deepEqual((await m.orgs.list('beta', 2)).map((o) => o.name), ['open']);
    await assert.rejects(m.orgs.create('acme', 'public'), /UNIQUE|unique/);
    assert.equal(await m.orgs.setVisibility(acme.id, 'public'), true);
    assert.equal((await m.orgs.byName('acme'))!.visibility, 'public');
    assert.equal(await m.orgs.setVisibility(9999, 'public'), false);
  });

  test('orgs: teams are unique per organization; members are listed by name; teamsOf spans organizations', async (t) => {
    const { m, clock } = await open(t);
    const acme = await m.orgs.create('acme', 'private');
    const beta = await m.orgs.create('beta', 'private');
    clock.advance(7);
    const devs = await m.orgs.createTeam(acme.id, 'devs');
    const ops = await m.orgs.createTeam(acme.id, 'ops');
    const betaDevs = await m.orgs.createTeam(beta.id, 'devs');
    assert.deepEqual(devs, { id: devs.id, orgId: acme.id, name: 'devs', createdAt: T0 + 7 });
    await assert.rejects(m.orgs.createTeam(acme.id, 'devs'), /UNIQUE|unique/);
    assert.deepEqual(await m.orgs.team(acme.id, 'devs'), devs);
    assert.deepEqual(await m.orgs.team(beta.id, 'devs'), betaDevs);
    assert.equal(await m.orgs.team(beta.id, 'ops'), null);
    assert.deepEqual((await m.orgs.teams(acme.id)).map((x) => x.name), ['devs', 'ops']);

    const carol = await m.users.create('carol', 'h', false);
    const alice = await m.users.create('alice', 'h', false);
    assert.equal(await m.orgs.addMember(devs.id, carol.id), true);
    assert.equal(await m.orgs.addMember(devs.id, alice.id), true);
    assert.equal(await m.orgs.addMember(devs.id, alice.id), false, 'already a member');
    assert.equal(await m.orgs.addMember(betaDevs.id, alice.id), true);
    assert.deepEqual(await m.orgs.members(devs.id), ['alice', 'carol']);
    assert.deepEqual((await m.orgs.teamsOf(alice.id)).sort((a, b) => a - b), [devs.id, betaDevs.id].sort((a, b) => a - b));
    assert.equal(await m.orgs.removeMember(devs.id, alice.id), true);
    assert.equal(await m.orgs.removeMember(devs.id, alice.id), false);
    assert.deepEqual(await m.orgs.teamsOf(alice.id), [betaDevs.id]);
    assert.deepEqual(await m.orgs.members(ops.id), []);
  });

  test('orgs: deleteTeam removes the team, its memberships and its grants', async (t) => {
    const { m } = await open(t);
    const acme = await m.orgs.create('acme', 'private');
    const devs = await m.orgs.createTeam(acme.id, 'devs');
    const ops = await m.orgs.createTeam(acme.id, 'ops');
    const alice = await m.users.create('alice', 'h', false);
    await m.orgs.addMember(devs.id, alice.id);
    await m.grants.set(team(devs.id), 'acme', null, 'editor');
    await m.grants.set(team(ops.id), 'acme', null, 'viewer');
    assert.equal(await m.orgs.deleteTeam(devs.id), true);
    assert.equal(await m.orgs.team(acme.id, 'devs'), null);
    assert.deepEqual(await m.orgs.teamsOf(alice.id), []);
    assert.deepEqual(await m.grants.of([team(devs.id)], 'acme'), []);
    assert.deepEqual((await m.grants.onNamespace('acme')).map((g) => g.principal), [team(ops.id)]);
    assert.equal(await m.orgs.deleteTeam(devs.id), false);
  });

  test('orgs: robots are unique per organization, stamped, and record their last use', async (t) => {
    const { m, clock } = await open(t);
    const acme = await m.orgs.create('acme', 'private');
    const beta = await m.orgs.create('beta', 'private');
    const ci = await m.orgs.createRobot(acme.id, 'ci', 'sh1', T0 + 60_000);
    assert.deepEqual(ci, { id: ci.id, orgId: acme.id, name: 'ci', secretHash: 'sh1', createdAt: T0, expiresAt: T0 + 60_000, lastUsedAt: null });
    await assert.rejects(m.orgs.createRobot(acme.id, 'ci', 'sh2', null), /UNIQUE|unique/);
    const betaCi = await m.orgs.createRobot(beta.id, 'ci', 'sh3', null);
    const deploy = await m.orgs.createRobot(acme.id, 'deploy', 'sh4', null);
    assert.deepEqual(await m.orgs.robot(acme.id, 'ci'), ci);
    assert.deepEqual(await m.orgs.robot(beta.id, 'ci'), betaCi);
    assert.equal(await m.orgs.robot(beta.id, 'deploy'), null);
    assert.deepEqual(await m.orgs.robotById(deploy.id), deploy);
    assert.deepEqual((await m.orgs.robots(acme.id)).map((r) => r.name), ['ci', 'deploy']);
    clock.advance(42);
    await m.orgs.robotUsed(ci.id);
    assert.equal((await m.orgs.robotById(ci.id))!.lastUsedAt, T0 + 42);
    assert.equal((await m.orgs.robotById(deploy.id))!.lastUsedAt, null);
  });

  test('orgs: deleteRobot removes the robot with its grants and tokens', async (t) => {
    const { m } = await open(t);
    const acme = await m.orgs.create('acme', 'private');
    const ci = await m.orgs.createRobot(acme.id, 'ci', 'sh1', null);
    const other = await m.orgs.createRobot(acme.id, 'other', 'sh2', null);
    await m.grants.set(robot(ci.id), 'acme', null, 'editor');
    await m.grants.set(robot(other.id), 'acme', null, 'viewer');
    const rt = await m.tokens.create({ kind: 'refresh', owner: robot(ci.id), name: 'r', secretHash: 't1', actions: null, expiresAt: null });
    assert.equal(await m.orgs.deleteRobot(ci.id), true);
    assert.equal(await m.orgs.robotById(ci.id), null);
    assert.deepEqual(await m.grants.of([robot(ci.id)], 'acme'), []);
    assert.equal(await m.tokens.byId(rt.id), null);
    assert.deepEqual((await m.grants.onNamespace('acme')).map((g) => g.principal), [robot(other.id)]);
    assert.equal(await m.orgs.deleteRobot(ci.id), false);
  });

  test('orgs: delete removes teams, memberships, robots, their grants and tokens, and every grant on the namespace', async (t) => {
    const { m } = await open(t);
    const acme = await m.orgs.create('acme', 'private');
    const keep = await m.orgs.create('keep', 'private');
    const alice = await m.users.create('alice', 'h', false);
    const devs = await m.orgs.createTeam(acme.id, 'devs');
    const keepTeam = await m.orgs.createTeam(keep.id, 'devs');
    await m.orgs.addMember(devs.id, alice.id);
    await m.orgs.addMember(keepTeam.id, alice.id);
    const ci = await m.orgs.createRobot(acme.id, 'ci', 'sh1', null);
    const keepCi = await m.orgs.createRobot(keep.id, 'ci', 'sh2', null);
    // Grants on the namespace, and grants the org's team and robot hold elsewhere.
    await m.grants.set(user(alice.id), 'acme', null, 'admin');
    await m.grants.set(user(alice.id), 'acme', 'acme/app', 'admin');
    await m.grants.set(team(devs.id), 'acme', null, 'editor');
    await m.grants.set(team(devs.id), 'keep', null, 'viewer');
    await m.grants.set(robot(ci.id), 'keep', 'keep/app', 'viewer');
    await m.grants.set(robot(keepCi.id), 'acme', null, 'viewer');
    await m.grants.set(user(alice.id), 'keep', null, 'editor');
    const rt = await m.tokens.create({ kind: 'refresh', owner: robot(ci.id), name: 'r', secretHash: 't1', actions: null, expiresAt: null });
    const keepRt = await m.tokens.create({ kind: 'refresh', owner: robot(keepCi.id), name: 'r', secretHash: 't2', actions: null, expiresAt: null });

    assert.equal(await m.orgs.delete(acme.id), true);
    assert.equal(await m.orgs.byName('acme'), null);
    assert.equal(await m.orgs.team(acme.id, 'devs'), null);
    assert.deepEqual(await m.orgs.teamsOf(alice.id), [keepTeam.id]);
    assert.equal(await m.orgs.robotById(ci.id), null);
    assert.equal(await m.tokens.byId(rt.id), null);
    assert.deepEqual(await m.grants.onNamespace('acme'), [], 'every grant on the namespace, whoever holds it');
    assert.deepEqual(await m.grants.namespacesOf([team(devs.id), robot(ci.id)]), [], 'the team\'s and robot\'s grants elsewhere');
    // The other organization and alice's grant there stay.
    assert.deepEqual((await m.grants.onNamespace('keep')).map((g) => [g.principal, g.role]), [[user(alice.id), 'editor']]);
    assert.notEqual(await m.orgs.robotById(keepCi.id), null);
    assert.notEqual(await m.tokens.byId(keepRt.id), null);
    assert.notEqual(await m.users.byId(alice.id), null);
    assert.equal(await m.orgs.delete(acme.id), false);
  });

  test('grants: set replaces the role at the same place; a namespace grant and a repository grant are separate', async (t) => {
    const { m, clock } = await open(t);
    const a = user(1);
    await m.grants.set(a, 'acme', null, 'viewer');
    await m.grants.set(a, 'acme', 'acme/app', 'admin');
    clock.advance(10);
    await m.grants.set(a, 'acme', null, 'editor');
    const byPlace = (x: { repository: string | null }, y: { repository: string | null }) => (x.repository ?? '').localeCompare(y.repository ?? '');
    assert.deepEqual((await m.grants.of([a], 'acme')).sort(byPlace), [
      { principal: a, namespace: 'acme', repository: null, role: 'editor', createdAt: T0 + 10 },
      { principal: a, namespace: 'acme', repository: 'acme/app', role: 'admin', createdAt: T0 },
    ]);
    // Removing the namespace grant leaves the repository grant.
    assert.equal(await m.grants.remove(a, 'acme', null), true);
    assert.equal(await m.grants.remove(a, 'acme', null), false);
    assert.deepEqual((await m.grants.of([a], 'acme')).map((g) => [g.repository, g.role]), [['acme/app', 'admin']]);
    assert.equal(await m.grants.remove(a, 'acme', 'acme/other'), false);
    assert.equal(await m.grants.remove(a, 'acme', 'acme/app'), true);
    assert.deepEqual(await m.grants.of([a], 'acme'), []);
  });

  test('grants: of several principals in one namespace; onNamespace; namespacesOf distinct and sorted', async (t) => {
    const { m } = await open(t);
    const u = user(1);
    const tm = team(1); // same id, another kind: a separate principal
    const r = robot(1);
    await m.grants.set(u, 'acme', null, 'viewer');
    await m.grants.set(tm, 'acme', null, 'editor');
    await m.grants.set(tm, 'beta', 'beta/x', 'viewer');
    await m.grants.set(r, 'zeta', null, 'admin');
    await m.grants.set(user(2), 'acme', null, 'admin');
    const of = await m.grants.of([u, tm], 'acme');
    assert.deepEqual(of.map((g) => [g.principal, g.role]).sort(), [[u, 'viewer'], [tm, 'editor']].sort());
    assert.deepEqual(await m.grants.of([u], 'beta'), []);
    assert.deepEqual(await m.grants.of([], 'acme'), []);
    assert.deepEqual((await m.grants.onNamespace('acme')).length, 3);
    assert.deepEqual(await m.grants.namespacesOf([u, tm]), ['acme', 'beta']);
    assert.deepEqual(await m.grants.namespacesOf([r, tm, u]), ['acme', 'beta', 'zeta']);
    assert.deepEqual(await m.grants.namespacesOf([user(3)]), []);
  });

  test('tokens: create, by id and by secret hash, actions round-trip, of by owner and kind newest first', async (t) => {
    const { m, clock } = await open(t);
    const owner = user(1);
    const first = await m.tokens.create({ kind: 'personal', owner, name: 'ci', secretHash: 'h1', actions: ['pull', 'push'], expiresAt: T0 + 1000 });
    clock.advance(1);
    const second = await m.tokens.create({ kind: 'personal', owner, name: 'laptop', secretHash: 'h2', actions: null, expiresAt: null });
    const refresh = await m.tokens.create({ kind: 'refresh', owner, name: 'docker', secretHash: 'h3', actions: null, expiresAt: null });
    await m.tokens.create({ kind: 'personal', owner: user(2), name: 'ci', secretHash: 'h4', actions: null, expiresAt: null });
    assert.deepEqual(first, {
      id: first.id, kind: 'personal', owner, name: 'ci', secretHash: 'h1', actions: ['pull', 'push'],
      createdAt: T0, expiresAt: T0 + 1000, lastUsedAt: null, revokedAt: null,
    });
    assert.deepEqual(await m.tokens.byId(first.id), first);
    assert.deepEqual(await m.tokens.bySecretHash('h1'), first);
    assert.deepEqual(await m.tokens.bySecretHash('h2'), second);
    assert.equal((await m.tokens.bySecretHash('h2'))!.actions, null);
    assert.equal(await m.tokens.bySecretHash('nope'), null);
    assert.deepEqual((await m.tokens.of(owner, 'personal')).map((x) => x.id), [second.id, first.id]);
    assert.deepEqual((await m.tokens.of(owner, 'refresh')).map((x) => x.id), [refresh.id]);
    assert.deepEqual(await m.tokens.of(robot(1), 'personal'), [], 'a robot with the same id owns nothing');
    await assert.rejects(m.tokens.create({ kind: 'personal', owner, name: 'dup', secretHash: 'h1', actions: null, expiresAt: null }), /UNIQUE|unique/);
  });

  test('tokens: revoke stamps once; used stamps the last use', async (t) => {
    const { m, clock } = await open(t);
    const tok = await m.tokens.create({ kind: 'personal', owner: user(1), name: 'ci', secretHash: 'h1', actions: null, expiresAt: null });
    clock.advance(100);
    await m.tokens.used(tok.id);
    assert.equal((await m.tokens.byId(tok.id))!.lastUsedAt, T0 + 100);
    clock.advance(100);
    assert.equal(await m.tokens.revoke(tok.id), true);
    clock.advance(100);
    assert.equal(await m.tokens.revoke(tok.id), false, 'already revoked: the first time stays');
    assert.equal((await m.tokens.byId(tok.id))!.revokedAt, T0 + 200);
    assert.equal(await m.tokens.revoke(9999), false);
  });

  test('visibility: a repository\'s own setting, with and without an existing repositories row', async (t) => {
    const { m } = await open(t);
    assert.equal(await m.visibility.repository('acme/app'), null);
    // No row yet: setting it creates one.
    await m.visibility.setRepository('acme/new', 'public');
    assert.equal(await m.visibility.repository('acme/new'), 'public');
    assert.notEqual(await m.repositories.idOf('acme/new'), null);
    // An existing row keeps its id.
    const id = await m.repositories.ensure('acme/app');
    await m.visibility.setRepository('acme/app', 'private');
    assert.equal(await m.visibility.repository('acme/app'), 'private');
    assert.equal(await m.repositories.idOf('acme/app'), id);
    await m.visibility.setRepository('acme/app', 'public');
    assert.equal(await m.visibility.repository('acme/app'), 'public');
    // Null: follow the namespace again.
    await m.visibility.setRepository('acme/app', null);
    assert.equal(await m.visibility.repository('acme/app'), null);
    assert.equal(await m.repositories.idOf('acme/app'), id);
  });

  test('visibility: publicIn lists the namespace\'s public repositories; _ and % in the namespace are literal', async (t) => {
    const { m } = await open(t);
    await m.visibility.setRepository('a_b/one', 'public');
    await m.visibility.setRepository('a_b/deep/two', 'public');
    await m.visibility.setRepository('a_b/hidden', 'private');
    await m.visibility.setRepository('a_b/plain', null);
    await m.visibility.setRepository('axb/other', 'public'); // `_` as a LIKE wildcard would match this
    await m.visibility.setRepository('a_bc/other', 'public');
    await m.visibility.setRepository('a/x', 'public');
    assert.deepEqual(await m.visibility.publicIn('a_b'), ['a_b/deep/two', 'a_b/one']);
    assert.deepEqual(await m.visibility.publicIn('a'), ['a/x']);
    assert.deepEqual(await m.visibility.publicIn('a%'), []);
    assert.deepEqual(await m.visibility.publicIn('nothing'), []);
  });

  test('audit: append stamps the time; query pages newest first and filters by actor, action and since', async (t) => {
    const { m, clock } = await open(t);
    const rec = (actor: string, action: string) => ({ actor, actorKind: 'user', remote: '10.0.0.1', action, target: 'acme/app', outcome: 'ok' as const, detail: null });
    await m.audit.append(rec('alice', 'login'));              // T0
    clock.advance(10);
    await m.audit.append({ ...rec('bob', 'login'), outcome: 'denied', detail: '{"why":"x"}' }); // T0+10
    clock.advance(10);
    await m.audit.append(rec('alice', 'manifest.push'));      // T0+20
    clock.advance(10);
    await m.audit.append(rec('alice', 'login'));              // T0+30

    const all = await m.audit.query({ limit: 10 });
    assert.deepEqual(all.map((r) => [r.actor, r.action, r.at]), [
      ['alice', 'login', T0 + 30], ['alice', 'manifest.push', T0 + 20], ['bob', 'login', T0 + 10], ['alice', 'login', T0],
    ]);
    assert.deepEqual(all[2], { id: all[2]!.id, at: T0 + 10, actor: 'bob', actorKind: 'user', remote: '10.0.0.1', action: 'login', target: 'acme/app', outcome: 'denied', detail: '{"why":"x"}' });
    // Paging: the page before the last id seen.
    const p1 = await m.audit.query({ limit: 3 });
    assert.deepEqual(p1.map((r) => r.at), [T0 + 30, T0 + 20, T0 + 10]);
    const p2 = await m.audit.query({ limit: 3, before: p1[2]!.id });
    assert.deepEqual(p2.map((r) => r.at), [T0]);
    assert.deepEqual(await m.audit.query({ limit: 3, before: p2[0]!.id }), []);
    // Filters, alone and together.
    assert.deepEqual((await m.audit.query({ limit: 10, actor: 'bob' })).map((r) => r.at), [T0 + 10]);
    assert.deepEqual((await m.audit.query({ limit: 10, action: 'login' })).map((r) => r.at), [T0 + 30, T0 + 10, T0]);
    assert.deepEqual((await m.audit.query({ limit: 10, actor: 'alice', action: 'login' })).map((r) => r.at), [T0 + 30, T0]);
    assert.deepEqual((await m.audit.query({ limit: 10, since: T0 + 20 })).map((r) => r.at), [T0 + 30, T0 + 20]);
    assert.deepEqual((await m.audit.query({ limit: 1, actor: 'alice', since: T0 + 1 })).map((r) => r.at), [T0 + 30]);
    assert.deepEqual(await m.audit.query({ limit: 10, actor: 'nobody' }), []);
  });

  test('signing keys: the newest added signs, the older ones are superseded at that time; retire forgets one', async (t) => {
    const { m, clock } = await open(t);
    assert.deepEqual(await m.signingKeys.current(), []);
    await m.signingKeys.add('k1', 'pem1');
    assert.deepEqual(await m.signingKeys.current(), [{ kid: 'k1', privateKeyPem: 'pem1', createdAt: T0, supersededAt: null }]);
    clock.advance(1000);
    await m.signingKeys.add('k2', 'pem2');
    clock.advance(1000);
    await m.signingKeys.add('k3', 'pem3');
    assert.deepEqual(await m.signingKeys.current(), [
      { kid: 'k3', privateKeyPem: 'pem3', createdAt: T0 + 2000, supersededAt: null },
      { kid: 'k2', privateKeyPem: 'pem2', createdAt: T0 + 1000, supersededAt: T0 + 2000 },
      { kid: 'k1', privateKeyPem: 'pem1', createdAt: T0, supersededAt: T0 + 1000 },
    ]);
    assert.equal(await m.signingKeys.retire('k2'), true);
    assert.equal(await m.signingKeys.retire('k2'), false);
    assert.deepEqual((await m.signingKeys.current()).map((k) => k.kid), ['k3', 'k1']);
  });

  test('account stores run inside a unit of work: a failed one leaves nothing behind', async (t) => {
    const { m } = await open(t);
    await assert.rejects(m.tx(async (x) => {
      const u = await x.users.create('alice', 'h', false);
      await x.grants.set(user(u.id), 'acme', null, 'admin');
      await x.orgs.create('acme', 'private');
      throw new Error('boom');
    }), /boom/);
    assert.equal(await m.users.byName('alice'), null);
    assert.equal(await m.orgs.byName('acme'), null);
    assert.deepEqual(await m.grants.onNamespace('acme'), []);
  });
});
