// RolePolicy over a small world kept in a real (SQLite, in-memory) MetaStore: which actions each kind
// of subject gets on which repository. Each row writes its expected set out literally.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { RolePolicy, namespaceOf, strongerRole, type Subject } from '../../src/access/roles.js';
import type { Role } from '../../src/store/meta/account-store.js';
import { FakeClock } from '../helpers/fake-clock.js';

const meta = new SqliteMetaStore({ path: ':memory:', durable: false, clock: new FakeClock() });
const policy = new RolePolicy(meta);
const who: Record<string, Subject> = { anonymous: { kind: 'anonymous' } };

/**
 * The world:
 *   acme  private org; team devs (bob) editor on acme; carol viewer, dave editor, erin admin on acme;
 *         frank editor on acme/app only; gina viewer on acme and admin on acme/app;
 *         acme/pub set public; robot acme+ci editor on acme (and admin on `other`, which must not count).
 *   open  public org; open/secret set private; hank viewer on open.
 *   other private org.
 *   alice a personal namespace; bob viewer on alice/shared.
 *   root  a system administrator.
 */
before(async () => {
  const u = async (name: string, admin = false) => {
    const r = await meta.users.create(name, 'x', admin);
    who[name] = { kind: 'user', id: r.id, name, admin };
    return { kind: 'user' as const, id: r.id };
  };
  const acme = await meta.orgs.create('acme', 'private');
  await meta.orgs.create('open', 'public');
  await meta.orgs.create('other', 'private');
  const devs = await meta.orgs.createTeam(acme.id, 'devs');

  await u('alice');
  const bob = await u('bob');
  await meta.orgs.addMember(devs.id, bob.id);
  await meta.grants.set({ kind: 'team', id: devs.id }, 'acme', null, 'editor');
  await meta.grants.set(bob, 'acme', null, 'viewer'); // weaker than the team's: the team's wins
  await meta.grants.set(bob, 'alice', 'alice/shared', 'viewer');
  await meta.grants.set(await u('carol'), 'acme', null, 'viewer');
  await meta.grants.set(await u('dave'), 'acme', null, 'editor');
  await meta.grants.set(await u('erin'), 'acme', null, 'admin');
  await meta.grants.set(await u('frank'), 'acme', 'acme/app', 'editor');
  const gina = await u('gina');
  await meta.grants.set(gina, 'acme', null, 'viewer');
  await meta.grants.set(gina, 'acme', 'acme/app', 'admin');
  await meta.grants.set(await u('hank'), 'open', null, 'viewer');
  await u('root', true);

  const ci = await meta.orgs.createRobot(acme.id, 'ci', 'h', null);
  await meta.grants.set({ kind: 'robot', id: ci.id }, 'acme', null, 'editor');
  await meta.grants.set({ kind: 'robot', id: ci.id }, 'other', null, 'admin');
  await meta.grants.set({ kind: 'robot', id: ci.id }, 'open', 'open/secret', 'admin');
  who['acme+ci'] = { kind: 'robot', id: ci.id, name: 'acme+ci', orgId: acme.id, orgName: 'acme' };

  await meta.visibility.setRepository('acme/pub', 'public');
  await meta.visibility.setRepository('open/secret', 'private');
});
after(() => meta.close());

const P = ['pull'];
const PP = ['pull', 'push'];
const ALL = ['pull', 'push', 'delete'];
const NONE: string[] = [];

// [subject, repository, expected actions, why]
const rows: [string, string, string[], string][] = [
  ['anonymous', 'acme/app', NONE, 'private org'],
  ['anonymous', 'acme/pub', P, 'repository set public in a private org'],
  ['anonymous', 'open/app', P, 'public org'],
  ['anonymous', 'open/secret', NONE, 'repository set private in a public org'],
  ['anonymous', 'alice/app', NONE, 'personal namespaces are private'],
  ['anonymous', 'library', NONE, 'no namespace'],

  ['carol', 'acme/app', P, 'viewer on the org'],
  ['carol', 'acme/deep/name', P, 'a namespace grant covers nested names'],
  ['dave', 'acme/app', PP, 'editor on the org'],
  ['erin', 'acme/app', ALL, 'admin on the org'],
  ['erin', 'acmex/app', NONE, 'another namespace that starts the same'],
  ['erin', 'open/secret', NONE, 'nothing in another org'],
  ['bob', 'acme/app', PP, 'editor through team devs beats his own viewer grant'],
  ['frank', 'acme/app', PP, 'editor on this repository only'],
  ['frank', 'acme/other', NONE, 'not on its siblings'],
  ['frank', 'acme/app2', NONE, 'nor on a name it prefixes'],
  ['frank', 'acme/app/sub', NONE, 'nor on a name under it'],
  ['frank', 'acme/pub', P, 'public content still'],
  ['gina', 'acme/app', ALL, 'the stronger of namespace viewer and repository admin'],
  ['gina', 'acme/other', P, 'namespace viewer elsewhere'],
  ['dave', 'acme/pub', PP, 'public adds nothing to an editor'],
  ['hank', 'open/secret', P, 'viewer on a public org reads its private repository'],
  ['carol', 'open/secret', NONE, 'no grant on open'],

  ['alice', 'alice/app', ALL, 'her own namespace'],
  ['alice', 'alice/deep/app', ALL, 'her own namespace, nested'],
  ['alice', 'alice2/app', NONE, 'a namespace that only starts with her name'],
  ['alice', 'acme/app', NONE, 'no grant on acme'],
  ['alice', 'library', NONE, 'no namespace: system admins only'],
  ['bob', 'alice/shared', P, 'a repository grant in a personal namespace'],
  ['bob', 'alice/app', NONE, 'only that one'],

  ['acme+ci', 'acme/app', PP, 'robot: editor on its org'],
  ['acme+ci', 'acme/pub', PP, 'robot: editor on its org, public too'],
  ['acme+ci', 'other/app', NONE, 'robot: its grant on another org is ignored'],
  ['acme+ci', 'open/secret', NONE, 'robot: its repository grant in another org is ignored'],
  ['acme+ci', 'open/app', P, 'robot: public content of another org'],
  ['acme+ci', 'library', NONE, 'robot: no namespace'],

  ['root', 'acme/app', ALL, 'system admin'],
  ['root', 'alice/app', ALL, 'system admin, in a personal namespace'],
  ['root', 'open/secret', ALL, 'system admin, private in public'],
  ['root', 'library', ALL, 'system admin, no namespace'],
  ['root', 'nobody/app', ALL, 'system admin, a namespace nobody has'],
];

test('RolePolicy.actionsOn, row by row', async (t) => {
  for (const [subject, repository, expected, why] of rows) {
    await t.test(`${subject} on ${repository}: ${expected.join(',') || '(nothing)'} — ${why}`, async () => {
      const s = who[subject];
      assert.ok(s, `no subject ${subject}`);
      const got = await policy.actionsOn(s, repository);
      // Sorted both ways: a set has no order, the rows do.
      assert.deepEqual([...got].sort(), [...expected].sort());
    });
  }
});

test('RolePolicy.roleOnNamespace counts only grants on the whole namespace', async () => {
  const cases: [string, string, Role | null][] = [
    ['anonymous', 'acme', null],
    ['carol', 'acme', 'viewer'],
    ['bob', 'acme', 'editor'],
    ['erin', 'acme', 'admin'],
    ['frank', 'acme', null], // a repository grant is not a role on the namespace
    ['gina', 'acme', 'viewer'],
    ['alice', 'alice', 'admin'],
    ['bob', 'alice', null],
    ['acme+ci', 'acme', 'editor'],
    ['acme+ci', 'other', null],
    ['root', 'other', 'admin'],
  ];
  for (const [subject, ns, expected] of cases) assert.equal(await policy.roleOnNamespace(who[subject]!, ns), expected, `${subject} on ${ns}`);
});

test('RolePolicy.visibilityOf: the repository\'s own setting, else its org\'s, else private', async () => {
  assert.equal(await policy.visibilityOf('acme/app'), 'private');
  assert.equal(await policy.visibilityOf('acme/pub'), 'public');
  assert.equal(await policy.visibilityOf('open/app'), 'public');
  assert.equal(await policy.visibilityOf('open/secret'), 'private');
  assert.equal(await policy.visibilityOf('alice/app'), 'private');
  assert.equal(await policy.visibilityOf('library'), 'private');
});

test('namespaceOf and strongerRole', () => {
  assert.equal(namespaceOf('acme/app'), 'acme');
  assert.equal(namespaceOf('acme/a/b'), 'acme');
  assert.equal(namespaceOf('library'), null);
  assert.equal(strongerRole(null, 'viewer'), 'viewer');
  assert.equal(strongerRole('viewer', 'admin'), 'admin');
  assert.equal(strongerRole('admin', 'viewer'), 'admin');
  assert.equal(strongerRole('editor', 'viewer'), 'editor');
});
