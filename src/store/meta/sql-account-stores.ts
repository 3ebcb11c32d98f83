// The account aggregates (account-store.ts) in the same portable SQL as the rest of the MetaStore
// (sql-meta-store.ts). A grant on a whole namespace has repository '' in the table (keys cannot hold NULL
// portably); the interface says null.
import { upsert } from './dialect.js';
import type { Row, SqlExecutor } from './sql-database.js';
import type { SqlDeps } from './sql-meta-store.js';
import type {
  AuditQuery, AuditRecord, AuditStore, GrantRecord, GrantStore, NewAuditRecord, OrgRecord, OrgStore, Principal, PrincipalKind,
  RobotRecord, Role, SigningKeyRecord, SigningKeyStore, TeamRecord, TokenKind, TokenRecord, TokenStore, UserRecord, UserStore,
  Visibility, VisibilityStore,
} from './account-store.js';

const USER = 'id, name, password_hash AS "passwordHash", admin, created_at AS "createdAt"';
const ORG = 'id, name, visibility, created_at AS "createdAt"';
const TEAM = 'id, org_id AS "orgId", name, created_at AS "createdAt"';
const ROBOT = `id, org_id AS "orgId", name, secret_hash AS "secretHash", created_at AS "createdAt", expires_at AS "expiresAt",
  last_used_at AS "lastUsedAt"`;
const TOKEN = `id, kind, owner_kind AS "ownerKind", owner_id AS "ownerId", name, secret_hash AS "secretHash", actions,
  created_at AS "createdAt", expires_at AS "expiresAt", last_used_at AS "lastUsedAt", revoked_at AS "revokedAt"`;
const GRANT = `principal_kind AS "kind", principal_id AS "id", namespace, repository, role, created_at AS "createdAt"`;
const AUDIT = `id, at, actor, actor_kind AS "actorKind", remote, action, target, outcome, detail`;

const A = {
  insertUser: 'INSERT INTO users (name, password_hash, admin, created_at) VALUES (?, ?, ?, ?) RETURNING id',
  userByName: `SELECT ${USER} FROM users WHERE name = ?`,
  userById: `SELECT ${USER} FROM users WHERE id = ?`,
  users: `SELECT ${USER} FROM users WHERE name > ? ORDER BY name LIMIT ?`,
  setPassword: 'UPDATE users SET password_hash = ? WHERE id = ?',
  setAdmin: 'UPDATE users SET admin = ? WHERE id = ?',
  deleteUser: 'DELETE FROM users WHERE id = ?',
  countUsers: 'SELECT COUNT(*) AS n FROM users',

  insertOrg: 'INSERT INTO organizations (name, visibility, created_at) VALUES (?, ?, ?) RETURNING id',
  orgByName: `SELECT ${ORG} FROM organizations WHERE name = ?`,
  orgById: `SELECT ${ORG} FROM organizations WHERE id = ?`,
  orgs: `SELECT ${ORG} FROM organizations WHERE name > ? ORDER BY name LIMIT ?`,
  setOrgVisibility: 'UPDATE organizations SET visibility = ? WHERE id = ?',
  deleteOrg: 'DELETE FROM organizations WHERE id = ?',

  insertTeam: 'INSERT INTO teams (org_id, name, created_at) VALUES (?, ?, ?) RETURNING id',
  team: `SELECT ${TEAM} FROM teams WHERE org_id = ? AND name = ?`,
  teams: `SELECT ${TEAM} FROM teams WHERE org_id = ? ORDER BY name`,
  teamById: `SELECT ${TEAM} FROM teams WHERE id = ?`,
  teamIdsOfOrg: 'SELECT id FROM teams WHERE org_id = ?',
  deleteTeam: 'DELETE FROM teams WHERE id = ?',
  addMember: 'INSERT INTO team_members (team_id, user_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
  removeMember: 'DELETE FROM team_members WHERE team_id = ? AND user_id = ?',
  members: 'SELECT u.name FROM team_members m JOIN users u ON u.id = m.user_id WHERE m.team_id = ? ORDER BY u.name',
  teamsOf: 'SELECT team_id AS "teamId" FROM team_members WHERE user_id = ?',

  insertRobot: 'INSERT INTO robots (org_id, name, secret_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING id',
  robot: `SELECT ${ROBOT} FROM robots WHERE org_id = ? AND name = ?`,
  robotById: `SELECT ${ROBOT} FROM robots WHERE id = ?`,
  robots: `SELECT ${ROBOT} FROM robots WHERE org_id = ? ORDER BY name`,
  robotIdsOfOrg: 'SELECT id FROM robots WHERE org_id = ?',
  deleteRobot: 'DELETE FROM robots WHERE id = ?',
  robotUsed: 'UPDATE robots SET last_used_at = ? WHERE id = ?',

  setGrant: upsert('grants', ['principal_kind', 'principal_id', 'namespace', 'repository', 'role', 'created_at'],
    ['principal_kind', 'principal_id', 'namespace', 'repository'], ['role', 'created_at']),
  removeGrant: 'DELETE FROM grants WHERE principal_kind = ? AND principal_id = ? AND namespace = ? AND repository = ?',
  grantsOf: `SELECT ${GRANT} FROM grants WHERE principal_kind = ? AND principal_id = ? AND namespace = ?`,
  grantsOn: `SELECT ${GRANT} FROM grants WHERE namespace = ? ORDER BY repository, principal_kind, principal_id`,
  namespacesOf: 'SELECT DISTINCT namespace FROM grants WHERE principal_kind = ? AND principal_id = ?',
  dropGrantsOf: 'DELETE FROM grants WHERE principal_kind = ? AND principal_id = ?',
  dropGrantsOn: 'DELETE FROM grants WHERE namespace = ?',
  // What else is set on a namespace (on it or on its repositories): a later owner of the name starts clean.
  // Deleting a webhook takes its outbox, retries and delivery log with it (foreign keys).
  dropNamespaceSettings: [
    'DELETE FROM immutable_tags WHERE namespace = ?',
    'DELETE FROM quotas WHERE namespace = ?',
    'DELETE FROM retention_policies WHERE namespace = ?',
    'DELETE FROM webhooks WHERE namespace = ?',
  ],

  insertToken: `INSERT INTO access_tokens (kind, owner_kind, owner_id, name, secret_hash, actions, created_at, expires_at)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  tokenById: `SELECT ${TOKEN} FROM access_tokens WHERE id = ?`,
  tokenBySecret: `SELECT ${TOKEN} FROM access_tokens WHERE secret_hash = ?`,
  tokensOf: `SELECT ${TOKEN} FROM access_tokens WHERE owner_kind = ? AND owner_id = ? AND kind = ? ORDER BY id DESC`,
  revokeToken: 'UPDATE access_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  tokenUsed: 'UPDATE access_tokens SET last_used_at = ? WHERE id = ?',
  dropTokensOf: 'DELETE FROM access_tokens WHERE owner_kind = ? AND owner_id = ?',

  repoVisibility: 'SELECT visibility FROM repositories WHERE name = ?',
  insertRepoWithVisibility: upsert('repositories', ['name', 'created_at', 'visibility'], ['name'], ['visibility']),
  publicRepos: `SELECT name FROM repositories WHERE visibility = 'public' AND (name = ? OR name LIKE ? ESCAPE '\\') ORDER BY name`,

  appendAudit: `INSERT INTO audit_log (at, actor, actor_kind, remote, action, target, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  audit: `SELECT ${AUDIT} FROM audit_log WHERE id < ? AND at >= ? AND (? = '' OR actor = ?) AND (? = '' OR action = ?)
            ORDER BY id DESC LIMIT ?`,

  signingKeys: `SELECT kid, private_key AS "privateKeyPem", created_at AS "createdAt", superseded_at AS "supersededAt"
                  FROM signing_keys ORDER BY (superseded_at IS NULL) DESC, created_at DESC, kid DESC`,
  supersedeKeys: 'UPDATE signing_keys SET superseded_at = ? WHERE superseded_at IS NULL',
  insertKey: 'INSERT INTO signing_keys (kid, private_key, created_at) VALUES (?, ?, ?)',
  retireKey: 'DELETE FROM signing_keys WHERE kid = ?',
};

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

/** Inside the deletion of the namespace's owner: every grant on it, and what is set on it. */
async function dropNamespace(x: SqlExecutor, namespace: string): Promise<void> {
  await x.run(A.dropGrantsOn, namespace);
  for (const sql of A.dropNamespaceSettings) await x.run(sql, namespace);
}

export class SqlUsers implements UserStore {
  constructor(private readonly d: SqlDeps) {}

  async create(name: string, passwordHash: string, admin: boolean): Promise<UserRecord> {
    const now = this.d.clock.now();
    const id = (await this.d.x.get<{ id: number }>(A.insertUser, name, passwordHash, admin ? 1 : 0, now))!.id;
    return { id, name, passwordHash, admin, createdAt: now };
  }

  async byName(name: string): Promise<UserRecord | null> {
    const r = await this.d.x.get(A.userByName, name) as Row | undefined;
    return r ? user(r) : null;
  }

  async byId(id: number): Promise<UserRecord | null> {
    const r = await this.d.x.get(A.userById, id) as Row | undefined;
    return r ? user(r) : null;
  }

  async list(after: string, limit: number): Promise<UserRecord[]> {
    return (await this.d.x.all(A.users, after, limit) as Row[]).map(user);
  }

  async setPassword(id: number, passwordHash: string): Promise<boolean> {
    return (await this.d.x.run(A.setPassword, passwordHash, id)) > 0;
  }

  async setAdmin(id: number, admin: boolean): Promise<boolean> {
    return (await this.d.x.run(A.setAdmin, admin ? 1 : 0, id)) > 0;
  }

  async delete(id: number): Promise<boolean> {
    // Roles others hold on the user's personal namespace go too, and what is set on it (immutable tags,
    // quota, retention, webhooks): a later account of that name starts clean.
    return this.d.x.atomic(async (x) => {
      const u = await x.get<{ name: string }>(A.userById, id);
      if (u) await dropNamespace(x, u.name);
      await x.run(A.dropGrantsOf, 'user', id);
      await x.run(A.dropTokensOf, 'user', id);
      return (await x.run(A.deleteUser, id)) > 0;
    });
  }

  async count(): Promise<number> {
    return (await this.d.x.get<{ n: number }>(A.countUsers))!.n;
  }
}

export class SqlOrgs implements OrgStore {
  constructor(private readonly d: SqlDeps) {}

  async create(name: string, visibility: Visibility): Promise<OrgRecord> {
    const now = this.d.clock.now();
    const id = (await this.d.x.get<{ id: number }>(A.insertOrg, name, visibility, now))!.id;
    return { id, name, visibility, createdAt: now };
  }

  async byName(name: string): Promise<OrgRecord | null> {
    return (await this.d.x.get(A.orgByName, name) as OrgRecord | undefined) ?? null;
  }

  async byId(id: number): Promise<OrgRecord | null> {
    return (await this.d.x.get(A.orgById, id) as OrgRecord | undefined) ?? null;
  }

  async list(after: string, limit: number): Promise<OrgRecord[]> {
    return await this.d.x.all(A.orgs, after, limit) as OrgRecord[];
  }

  async setVisibility(id: number, visibility: Visibility): Promise<boolean> {
    return (await this.d.x.run(A.setOrgVisibility, visibility, id)) > 0;
  }

  async delete(id: number): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      const org = await x.get<OrgRecord>(A.orgById, id);
      if (!org) return false;
      // Grants and tokens name their principals by id, without a foreign key: they go first, by hand.
      for (const t of await x.all<{ id: number }>(A.teamIdsOfOrg, id)) await x.run(A.dropGrantsOf, 'team', t.id);
      for (const r of await x.all<{ id: number }>(A.robotIdsOfOrg, id)) {
        await x.run(A.dropGrantsOf, 'robot', r.id);
        await x.run(A.dropTokensOf, 'robot', r.id);
      }
      await dropNamespace(x, org.name);
      return (await x.run(A.deleteOrg, id)) > 0;
    });
  }

  async createTeam(orgId: number, name: string): Promise<TeamRecord> {
    const now = this.d.clock.now();
    const id = (await this.d.x.get<{ id: number }>(A.insertTeam, orgId, name, now))!.id;
    return { id, orgId, name, createdAt: now };
  }

  async team(orgId: number, name: string): Promise<TeamRecord | null> {
    return (await this.d.x.get(A.team, orgId, name) as TeamRecord | undefined) ?? null;
  }

  async teamById(id: number): Promise<TeamRecord | null> {
    return (await this.d.x.get(A.teamById, id) as TeamRecord | undefined) ?? null;
  }

  async teams(orgId: number): Promise<TeamRecord[]> {
    return await this.d.x.all(A.teams, orgId) as TeamRecord[];
  }

  async deleteTeam(id: number): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      await x.run(A.dropGrantsOf, 'team', id);
      return (await x.run(A.deleteTeam, id)) > 0;
    });
  }

  async addMember(teamId: number, userId: number): Promise<boolean> {
    return (await this.d.x.run(A.addMember, teamId, userId)) > 0;
  }

  async removeMember(teamId: number, userId: number): Promise<boolean> {
    return (await this.d.x.run(A.removeMember, teamId, userId)) > 0;
  }

  async members(teamId: number): Promise<string[]> {
    return (await this.d.x.all(A.members, teamId) as { name: string }[]).map((r) => r.name);
  }

  async teamsOf(userId: number): Promise<number[]> {
    return (await this.d.x.all(A.teamsOf, userId) as { teamId: number }[]).map((r) => r.teamId);
  }

  async createRobot(orgId: number, name: string, secretHash: string, expiresAt: number | null): Promise<RobotRecord> {
    const now = this.d.clock.now();
    const id = (await this.d.x.get<{ id: number }>(A.insertRobot, orgId, name, secretHash, now, expiresAt))!.id;
    return { id, orgId, name, secretHash, createdAt: now, expiresAt, lastUsedAt: null };
  }

  async robot(orgId: number, name: string): Promise<RobotRecord | null> {
    const r = await this.d.x.get(A.robot, orgId, name) as Row | undefined;
    return r ? robot(r) : null;
  }

  async robotById(id: number): Promise<RobotRecord | null> {
    const r = await this.d.x.get(A.robotById, id) as Row | undefined;
    return r ? robot(r) : null;
  }

  async robots(orgId: number): Promise<RobotRecord[]> {
    return (await this.d.x.all(A.robots, orgId) as Row[]).map(robot);
  }

  async deleteRobot(id: number): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      await x.run(A.dropGrantsOf, 'robot', id);
      await x.run(A.dropTokensOf, 'robot', id);
      return (await x.run(A.deleteRobot, id)) > 0;
    });
  }

  async robotUsed(id: number): Promise<void> {
    await this.d.x.run(A.robotUsed, this.d.clock.now(), id);
  }
}

export class SqlGrants implements GrantStore {
  constructor(private readonly d: SqlDeps) {}

  async set(principal: Principal, namespace: string, repository: string | null, role: Role): Promise<void> {
    await this.d.x.run(A.setGrant, principal.kind, principal.id, namespace, repository ?? '', role, this.d.clock.now());
  }

  async remove(principal: Principal, namespace: string, repository: string | null): Promise<boolean> {
    return (await this.d.x.run(A.removeGrant, principal.kind, principal.id, namespace, repository ?? '')) > 0;
  }

  async of(principals: Principal[], namespace: string): Promise<GrantRecord[]> {
    const out: GrantRecord[] = [];
    for (const p of principals) for (const r of await this.d.x.all(A.grantsOf, p.kind, p.id, namespace)) out.push(grant(r));
    return out;
  }

  async onNamespace(namespace: string): Promise<GrantRecord[]> {
    return (await this.d.x.all(A.grantsOn, namespace) as Row[]).map(grant);
  }

  async namespacesOf(principals: Principal[]): Promise<string[]> {
    const all = new Set<string>();
    for (const p of principals) for (const r of await this.d.x.all(A.namespacesOf, p.kind, p.id) as { namespace: string }[]) all.add(r.namespace);
    return [...all].sort();
  }
}

export class SqlTokens implements TokenStore {
  constructor(private readonly d: SqlDeps) {}

  async create(t: Omit<TokenRecord, 'id' | 'createdAt' | 'lastUsedAt' | 'revokedAt'>): Promise<TokenRecord> {
    const now = this.d.clock.now();
    const id = (await this.d.x.get<{ id: number }>(A.insertToken, t.kind, t.owner.kind, t.owner.id, t.name, t.secretHash,
      t.actions === null ? null : t.actions.join(','), now, t.expiresAt))!.id;
    return { ...t, id, createdAt: now, lastUsedAt: null, revokedAt: null };
  }

  async byId(id: number): Promise<TokenRecord | null> {
    const r = await this.d.x.get(A.tokenById, id) as Row | undefined;
    return r ? token(r) : null;
  }

  async bySecretHash(secretHash: string): Promise<TokenRecord | null> {
    const r = await this.d.x.get(A.tokenBySecret, secretHash) as Row | undefined;
    return r ? token(r) : null;
  }

  async of(owner: Principal, kind: TokenKind): Promise<TokenRecord[]> {
    return (await this.d.x.all(A.tokensOf, owner.kind, owner.id, kind) as Row[]).map(token);
  }

  async revoke(id: number): Promise<boolean> {
    return (await this.d.x.run(A.revokeToken, this.d.clock.now(), id)) > 0;
  }

  async used(id: number): Promise<void> {
    await this.d.x.run(A.tokenUsed, this.d.clock.now(), id);
  }
}

export class SqlVisibility implements VisibilityStore {
  constructor(private readonly d: SqlDeps) {}

  async repository(name: string): Promise<Visibility | null> {
    const r = await this.d.x.get(A.repoVisibility, name) as { visibility: Visibility | null } | undefined;
    return r?.visibility ?? null;
  }

  async setRepository(name: string, visibility: Visibility | null): Promise<void> {
    await this.d.x.run(A.insertRepoWithVisibility, name, this.d.clock.now(), visibility);
  }

  async publicIn(namespace: string): Promise<string[]> {
    const like = `${namespace.replace(/[\\%_]/g, '\\$&')}/%`;
    return (await this.d.x.all(A.publicRepos, namespace, like) as { name: string }[]).map((r) => r.name);
  }
}

export class SqlAudit implements AuditStore {
  constructor(private readonly d: SqlDeps) {}

  async append(r: NewAuditRecord): Promise<void> {
    await this.d.x.run(A.appendAudit, this.d.clock.now(), r.actor, r.actorKind, r.remote, r.action, r.target, r.outcome, r.detail);
  }

  async query(q: AuditQuery): Promise<AuditRecord[]> {
    const actor = q.actor ?? '';
    const action = q.action ?? '';
    return await this.d.x.all(A.audit, q.before ?? Number.MAX_SAFE_INTEGER, q.since ?? 0, actor, actor, action, action, q.limit) as AuditRecord[];
  }
}

export class SqlSigningKeys implements SigningKeyStore {
  constructor(private readonly d: SqlDeps) {}

  async current(): Promise<SigningKeyRecord[]> {
    return this.d.x.all<SigningKeyRecord>(A.signingKeys);
  }

  async add(kid: string, privateKeyPem: string): Promise<void> {
    const now = this.d.clock.now();
    await this.d.x.atomic(async (x) => {
      await x.run(A.supersedeKeys, now);
      await x.run(A.insertKey, kid, privateKeyPem, now);
    });
  }

  async retire(kid: string): Promise<boolean> {
    return (await this.d.x.run(A.retireKey, kid)) > 0;
  }
}
