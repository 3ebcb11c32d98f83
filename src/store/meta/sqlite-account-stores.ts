// The account aggregates (account-store.ts) on SQLite, in the same portable SQL as the rest of the
// MetaStore. A grant on a whole namespace has repository '' in the table (keys cannot hold NULL
// portably); the interface says null.
import type Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import type { Clock } from '../../config/clock.js';
import { sqliteDialect, upsert } from './dialect.js';
import type {
  AuditQuery, AuditRecord, AuditStore, GrantRecord, GrantStore, NewAuditRecord, OrgRecord, OrgStore, Principal, PrincipalKind,
  RobotRecord, Role, SigningKeyRecord, SigningKeyStore, TeamRecord, TokenKind, TokenRecord, TokenStore, UserRecord, UserStore,
  Visibility, VisibilityStore,
} from './account-store.js';

type Row = Record<string, unknown>;

const USER = 'id, name, password_hash AS "passwordHash", admin, created_at AS "createdAt"';
const ORG = 'id, name, visibility, created_at AS "createdAt"';
const TEAM = 'id, org_id AS "orgId", name, created_at AS "createdAt"';
const ROBOT = `id, org_id AS "orgId", name, secret_hash AS "secretHash", created_at AS "createdAt", expires_at AS "expiresAt",
  last_used_at AS "lastUsedAt"`;
const TOKEN = `id, kind, owner_kind AS "ownerKind", owner_id AS "ownerId", name, secret_hash AS "secretHash", actions,
  created_at AS "createdAt", expires_at AS "expiresAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;
const GRANT = `principal_kind AS "kind", principal_id AS "id", namespace, repository, role, created_at AS "createdAt"`;
const AUDIT = `id, at, actor, actor_kind AS "actorKind", remote, action, target, outcome, detail`;

function prepareAccountStatements(db: Database.Database) {
  const p = (sql: string): Statement => db.prepare(sqliteDialect.placeholders(sql));
  return {
    insertUser: p('INSERT INTO users (name, password_hash, admin, created_at) VALUES (?, ?, ?, ?)'),
    userByName: p(`SELECT ${USER} FROM users WHERE name = ?`),
    userById: p(`SELECT ${USER} FROM users WHERE id = ?`),
    users: p(`SELECT ${USER} FROM users WHERE name > ? ORDER BY name LIMIT ?`),
    setPassword: p('UPDATE users SET password_hash = ? WHERE id = ?'),
    setAdmin: p('UPDATE users SET admin = ? WHERE id = ?'),
    deleteUser: p('DELETE FROM users WHERE id = ?'),
    countUsers: p('SELECT COUNT(*) AS n FROM users'),

    insertOrg: p('INSERT INTO organizations (name, visibility, created_at) VALUES (?, ?, ?)'),
    orgByName: p(`SELECT ${ORG} FROM organizations WHERE name = ?`),
    orgById: p(`SELECT ${ORG} FROM organizations WHERE id = ?`),
    orgs: p(`SELECT ${ORG} FROM organizations WHERE name > ? ORDER BY name LIMIT ?`),
    setOrgVisibility: p('UPDATE organizations SET visibility = ? WHERE id = ?'),
    deleteOrg: p('DELETE FROM organizations WHERE id = ?'),

    insertTeam: p('INSERT INTO teams (org_id, name, created_at) VALUES (?, ?, ?)'),
    team: p(`SELECT ${TEAM} FROM teams WHERE org_id = ? AND name = ?`),
    teams: p(`SELECT ${TEAM} FROM teams WHERE org_id = ? ORDER BY name`),
    teamById: p(`SELECT ${TEAM} FROM teams WHERE id = ?`),
    teamIdsOfOrg: p('SELECT id FROM teams WHERE org_id = ?'),
    deleteTeam: p('DELETE FROM teams WHERE id = ?'),
    addMember: p('INSERT INTO team_members (team_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING'),
    removeMember: p('DELETE FROM team_members WHERE team_id = ? AND user_id = ?'),
    members: p('SELECT u.name FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = ? ORDER BY u.name'),
    teamsOf: p('SELECT team_id AS "teamId" FROM team_members WHERE user_id = ?'),

    insertRobot: p('INSERT INTO robots (org_id, name, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
    robot: p(`SELECT ${ROBOT} FROM robots WHERE org_id = ? AND name = ?`),
    robotById: p(`SELECT ${ROBOT} FROM robots WHERE id = ?`),
    robots: p(`SELECT ${ROBOT} FROM robots WHERE org_id = ? ORDER BY name`),
    robotIdsOfOrg: p('SELECT id FROM robots WHERE org_id = ?'),
    deleteRobot: p('DELETE FROM robots WHERE id = ?'),
    robotUsed: p('UPDATE robots SET last_used_at = ? WHERE id = ?'),

    setGrant: p(upsert('grants', ['principal_kind', 'principal_id', 'namespace', 'repository', 'role', 'created_at'],
      ['principal_kind', 'principal_id', 'namespace', 'repository'], ['role', 'created_at'])),
    removeGrant: p('DELETE FROM grants WHERE principal_kind = ? AND principal_id = ? AND namespace = ? AND repository = ?'),
    grantsOf: p(`SELECT ${GRANT} FROM grants WHERE principal_kind = ? AND principal_id = ? AND namespace = ?`),
    grantsOn: p(`SELECT ${GRANT} FROM grants WHERE namespace = ? ORDER BY repository, principal_kind, principal_id`),
    namespacesOf: p('SELECT DISTINCT namespace FROM grants WHERE principal_kind = ? AND principal_id = ?'),
    dropGrantsOf: p('DELETE FROM grants WHERE principal_kind = ? AND principal_id = ?'),
    dropGrantsOn: p('DELETE FROM grants WHERE namespace = ?'),

    insertToken: p(`INSERT INTO access_tokens (kind, owner_kind, owner_id, name, secret_hash, actions, created_at, expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    tokenById: p(`SELECT ${TOKEN} FROM access_tokens WHERE id = ?`),
    tokenBySecret: p(`SELECT ${TOKEN} FROM access_tokens WHERE secret_hash = ?`),
    tokensOf: p(`SELECT ${TOKEN} FROM access_tokens WHERE owner_kind = ? AND owner_id = ? AND kind = ? ORDER BY id DESC`),
    revokeToken: p('UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    tokenUsed: p('UPDATE access_tokens SET last_used_at = ? WHERE id = ?'),
    dropTokensOf: p('DELETE FROM access_tokens WHERE owner_kind = ? AND owner_id = ?'),

    repoVisibility: p('SELECT visibility FROM repositories WHERE name = ?'),
    insertRepoWithVisibility: p(upsert('repositories', ['name', 'created_at', 'visibility'], ['name'], ['visibility'])),
    publicRepos: p(`SELECT name FROM repositories WHERE visibility = 'public' AND (name = ? OR name LIKE ? ESCAPE '\\') ORDER BY name`),

    appendAudit: p(`INSERT INTO audit_log (at, actor, actor_kind, remote, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    audit: p(`SELECT ${AUDIT} FROM audit_log WHERE id < ? AND at >= ? AND (? = '' OR actor = ?) AND (? = '' OR action = ?)
              ORDER BY id DESC LIMIT ?`),

    signingKeys: p(`SELECT kid, private_key AS "privateKeyPem", created_at AS "createdAt", superseded_at AS "supersededAt"
                    FROM signing_keys ORDER BY (superseded_at IS NULL) DESC, created_at DESC, kid DESC`),
    supersedeKeys: p('UPDATE signing_keys SET superseded_at = ? WHERE superseded_at IS NULL'),
    insertKey: p('INSERT INTO signing_keys (kid, private_key, created_at) VALUES (?, ?, ?)'),
    retireKey: p('DELETE FROM signing_keys WHERE kid = ?'),
  };
}

export type AccountStatements = ReturnType<typeof prepareAccountStatements>;
export { prepareAccountStatements };

export interface AccountDeps {
  a: AccountStatements;
  clock: Clock;
  /** Null when the caller may go ahead now (see SqliteMetaStore: calls wait while a unit of work runs). */
  gate: () => Promise<void> | null;
}

const user = (r: Row): UserRecord => ({ ...(r as unknown as UserRecord), admin: r.admin === 1 });
const robot = (r: Row): RobotRecord => r as unknown as RobotRecord;
const token = (r: Row): TokenRecord => ({
  id: r.id as number, kind: r.kind as TokenKind, owner: { kind: r.ownerKind as PrincipalKind, id: r.ownerId as number },
  name: r.name as string, secretHash: r.secretHash as string, actions: r.actions === null ? null : (r.actions as string).split(','),
  createdAt: r.createdAt as number, expiresAt: r.expiresAt as number | null, lastUsedAt: r.lastUsedAt as number | null,
  revokedAt: r.revokedAt as number | null,
});
const grant = (r: Row): GrantRecord => ({
  principal: { kind: r.kind as PrincipalKind, id: r.id as number }, namespace: r.namespace as string,
  repository: r.repository === '' ? null : (r.repository as string), role: r.role as Role, createdAt: r.createdAt as number,
});

async function pass(d: AccountDeps): Promise<void> {
  const g = d.gate();
  if (g) await g;
}

export class SqliteUsers implements UserStore {
  constructor(private readonly d: AccountDeps) {}

  async create(name: string, passwordHash: string, admin: boolean): Promise<UserRecord> {
    await pass(this.d);
    const now = this.d.clock.now();
    const id = Number(this.d.a.insertUser.run(name, passwordHash, admin ? 1 : 0, now).lastInsertRowid);
    return { id, name, passwordHash, admin, createdAt: now };
  }

  async byName(name: string): Promise<UserRecord | null> {
    await pass(this.d);
    const r = this.d.a.userByName.get(name) as Row | undefined;
    return r ? user(r) : null;
  }

  async byId(id: number): Promise<UserRecord | null> {
    await pass(this.d);
    const r = this.d.a.userById.get(id) as Row | undefined;
    return r ? user(r) : null;
  }

  async list(after: string, limit: number): Promise<UserRecord[]> {
    await pass(this.d);
    return (this.d.a.users.all(after, limit) as Row[]).map(user);
  }

  async setPassword(id: number, passwordHash: string): Promise<boolean> {
    await pass(this.d);
    return this.d.a.setPassword.run(passwordHash, id).changes > 0;
  }

  async setAdmin(id: number, admin: boolean): Promise<boolean> {
    await pass(this.d);
    return this.d.a.setAdmin.run(admin ? 1 : 0, id).changes > 0;
  }

  async delete(id: number): Promise<boolean> {
    await pass(this.d);
    // Roles others hold on the user's personal namespace go too: a later account of that name starts clean.
    const u = this.d.a.userById.get(id) as { name: string } | undefined;
    if (u) this.d.a.dropGrantsOn.run(u.name);
    this.d.a.dropGrantsOf.run('user', id);
    this.d.a.dropTokensOf.run('user', id);
    return this.d.a.deleteUser.run(id).changes > 0;
  }

  async count(): Promise<number> {
    await pass(this.d);
    return (this.d.a.countUsers.get() as { n: number }).n;
  }
}

export class SqliteOrgs implements OrgStore {
  constructor(private readonly d: AccountDeps) {}

  async create(name: string, visibility: Visibility): Promise<OrgRecord> {
    await pass(this.d);
    const now = this.d.clock.now();
    const id = Number(this.d.a.insertOrg.run(name, visibility, now).lastInsertRowid);
    return { id, name, visibility, createdAt: now };
  }

  async byName(name: string): Promise<OrgRecord | null> {
    await pass(this.d);
    return (this.d.a.orgByName.get(name) as OrgRecord | undefined) ?? null;
  }

  async byId(id: number): Promise<OrgRecord | null> {
    await pass(this.d);
    return (this.d.a.orgById.get(id) as OrgRecord | undefined) ?? null;
  }

  async list(after: string, limit: number): Promise<OrgRecord[]> {
    await pass(this.d);
    return this.d.a.orgs.all(after, limit) as OrgRecord[];
  }

  async setVisibility(id: number, visibility: Visibility): Promise<boolean> {
    await pass(this.d);
    return this.d.a.setOrgVisibility.run(visibility, id).changes > 0;
  }

  async delete(id: number): Promise<boolean> {
    await pass(this.d);
    const org = this.d.a.orgById.get(id) as OrgRecord | undefined;
    if (!org) return false;
    // Grants and tokens name their principals by id, without a foreign key: they go first, by hand.
    for (const t of this.d.a.teamIdsOfOrg.all(id) as { id: number }[]) this.d.a.dropGrantsOf.run('team', t.id);
    for (const r of this.d.a.robotIdsOfOrg.all(id) as { id: number }[]) {
      this.d.a.dropGrantsOf.run('robot', r.id);
      this.d.a.dropTokensOf.run('robot', r.id);
    }
    this.d.a.dropGrantsOn.run(org.name);
    return this.d.a.deleteOrg.run(id).changes > 0;
  }

  async createTeam(orgId: number, name: string): Promise<TeamRecord> {
    await pass(this.d);
    const now = this.d.clock.now();
    const id = Number(this.d.a.insertTeam.run(orgId, name, now).lastInsertRowid);
    return { id, orgId, name, createdAt: now };
  }

  async team(orgId: number, name: string): Promise<TeamRecord | null> {
    await pass(this.d);
    return (this.d.a.team.get(orgId, name) as TeamRecord | undefined) ?? null;
  }

  async teamById(id: number): Promise<TeamRecord | null> {
    await pass(this.d);
    return (this.d.a.teamById.get(id) as TeamRecord | undefined) ?? null;
  }

  async teams(orgId: number): Promise<TeamRecord[]> {
    await pass(this.d);
    return this.d.a.teams.all(orgId) as TeamRecord[];
  }

  async deleteTeam(id: number): Promise<boolean> {
    await pass(this.d);
    this.d.a.dropGrantsOf.run('team', id);
    return this.d.a.deleteTeam.run(id).changes > 0;
  }

  async addMember(teamId: number, userId: number): Promise<boolean> {
    await pass(this.d);
    return this.d.a.addMember.run(teamId, userId).changes > 0;
  }

  async removeMember(teamId: number, userId: number): Promise<boolean> {
    await pass(this.d);
    return this.d.a.removeMember.run(teamId, userId).changes > 0;
  }

  async members(teamId: number): Promise<string[]> {
    await pass(this.d);
    return (this.d.a.members.all(teamId) as { name: string }[]).map((r) => r.name);
  }

  async teamsOf(userId: number): Promise<number[]> {
    await pass(this.d);
    return (this.d.a.teamsOf.all(userId) as { teamId: number }[]).map((r) => r.teamId);
  }

  async createRobot(orgId: number, name: string, secretHash: string, expiresAt: number | null): Promise<RobotRecord> {
    await pass(this.d);
    const now = this.d.clock.now();
    const id = Number(this.d.a.insertRobot.run(orgId, name, secretHash, now, expiresAt).lastInsertRowid);
    return { id, orgId, name, secretHash, createdAt: now, expiresAt, lastUsedAt: null };
  }

  async robot(orgId: number, name: string): Promise<RobotRecord | null> {
    await pass(this.d);
    const r = this.d.a.robot.get(orgId, name) as Row | undefined;
    return r ? robot(r) : null;
  }

  async robotById(id: number): Promise<RobotRecord | null> {
    await pass(this.d);
    const r = this.d.a.robotById.get(id) as Row | undefined;
    return r ? robot(r) : null;
  }

  async robots(orgId: number): Promise<RobotRecord[]> {
    await pass(this.d);
    return (this.d.a.robots.all(orgId) as Row[]).map(robot);
  }

  async deleteRobot(id: number): Promise<boolean> {
    await pass(this.d);
    this.d.a.dropGrantsOf.run('robot', id);
    this.d.a.dropTokensOf.run('robot', id);
    return this.d.a.deleteRobot.run(id).changes > 0;
  }

  async robotUsed(id: number): Promise<void> {
    await pass(this.d);
    this.d.a.robotUsed.run(this.d.clock.now(), id);
  }
}

export class SqliteGrants implements GrantStore {
  constructor(private readonly d: AccountDeps) {}

  async set(principal: Principal, namespace: string, repository: string | null, role: Role): Promise<void> {
    await pass(this.d);
    this.d.a.setGrant.run(principal.kind, principal.id, namespace, repository ?? '', role, this.d.clock.now());
  }

  async remove(principal: Principal, namespace: string, repository: string | null): Promise<boolean> {
    await pass(this.d);
    return this.d.a.removeGrant.run(principal.kind, principal.id, namespace, repository ?? '').changes > 0;
  }

  async of(principals: Principal[], namespace: string): Promise<GrantRecord[]> {
    await pass(this.d);
    return principals.flatMap((p) => (this.d.a.grantsOf.all(p.kind, p.id, namespace) as Row[]).map(grant));
  }

  async onNamespace(namespace: string): Promise<GrantRecord[]> {
    await pass(this.d);
    return (this.d.a.grantsOn.all(namespace) as Row[]).map(grant);
  }

  async namespacesOf(principals: Principal[]): Promise<string[]> {
    await pass(this.d);
    const all = new Set<string>();
    for (const p of principals) for (const r of this.d.a.namespacesOf.all(p.kind, p.id) as { namespace: string }[]) all.add(r.namespace);
    return [...all].sort();
  }
}

export class SqliteTokens implements TokenStore {
  constructor(private readonly d: AccountDeps) {}

  async create(t: Omit<TokenRecord, 'id' | 'createdAt' | 'lastUsedAt' | 'revokedAt'>): Promise<TokenRecord> {
    await pass(this.d);
    const now = this.d.clock.now();
    const id = Number(this.d.a.insertToken.run(t.kind, t.owner.kind, t.owner.id, t.name, t.secretHash,
      t.actions === null ? null : t.actions.join(','), now, t.expiresAt).lastInsertRowid);
    return { ...t, id, createdAt: now, lastUsedAt: null, revokedAt: null };
  }

  async byId(id: number): Promise<TokenRecord | null> {
    await pass(this.d);
    const r = this.d.a.tokenById.get(id) as Row | undefined;
    return r ? token(r) : null;
  }

  async bySecretHash(secretHash: string): Promise<TokenRecord | null> {
    await pass(this.d);
    const r = this.d.a.tokenBySecret.get(secretHash) as Row | undefined;
    return r ? token(r) : null;
  }

  async of(owner: Principal, kind: TokenKind): Promise<TokenRecord[]> {
    await pass(this.d);
    return (this.d.a.tokensOf.all(owner.kind, owner.id, kind) as Row[]).map(token);
  }

  async revoke(id: number): Promise<boolean> {
    await pass(this.d);
    return this.d.a.revokeToken.run(this.d.clock.now(), id).changes > 0;
  }

  async used(id: number): Promise<void> {
    await pass(this.d);
    this.d.a.tokenUsed.run(this.d.clock.now(), id);
  }
}

export class SqliteVisibility implements VisibilityStore {
  constructor(private readonly d: AccountDeps) {}

  async repository(name: string): Promise<Visibility | null> {
    await pass(this.d);
    const r = this.d.a.repoVisibility.get(name) as { visibility: Visibility | null } | undefined;
    return r?.visibility ?? null;
  }

  async setRepository(name: string, visibility: Visibility | null): Promise<void> {
    await pass(this.d);
    this.d.a.insertRepoWithVisibility.run(name, this.d.clock.now(), visibility);
  }

  async publicIn(namespace: string): Promise<string[]> {
    await pass(this.d);
    const like = `${namespace.replace(/[\\%_]/g, '\\$&')}/%`;
    return (this.d.a.publicRepos.all(namespace, like) as { name: string }[]).map((r) => r.name);
  }
}

export class SqliteAudit implements AuditStore {
  constructor(private readonly d: AccountDeps) {}

  async append(r: NewAuditRecord): Promise<void> {
    await pass(this.d);
    this.d.a.appendAudit.run(this.d.clock.now(), r.actor, r.actorKind, r.remote, r.action, r.target, r.outcome, r.detail);
  }

  async query(q: AuditQuery): Promise<AuditRecord[]> {
    await pass(this.d);
    const actor = q.actor ?? '';
    const action = q.action ?? '';
    return this.d.a.audit.all(q.before ?? Number.MAX_SAFE_INTEGER, q.since ?? 0, actor, actor, action, action, q.limit) as AuditRecord[];
  }
}

export class SqliteSigningKeys implements SigningKeyStore {
  constructor(private readonly d: AccountDeps) {}

  async current(): Promise<SigningKeyRecord[]> {
    await pass(this.d);
    return this.d.a.signingKeys.all() as SigningKeyRecord[];
  }

  async add(kid: string, privateKeyPem: string): Promise<void> {
    await pass(this.d);
    const now = this.d.clock.now();
    this.d.a.supersedeKeys.run(now);
    this.d.a.insertKey.run(kid, privateKeyPem, now);
  }

  async retire(kid: string): Promise<boolean> {
    await pass(this.d);
    return this.d.a.retireKey.run(kid).changes > 0;
  }
}
