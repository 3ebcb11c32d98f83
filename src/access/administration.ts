// The rules of managing who may do what (the admin API and `wharf admin` call these):
// - a system administrator manages everything, including users and the audit log;
// - any signed-in user may create an organization, and becomes its admin;
// - an organization's admins manage its teams, members, robots, grants, visibility, immutable tags and
//   retention policies (and run retention there); a user is the admin of their personal namespace (grants,
//   visibility, immutable tags and retention there);
// - quotas are set by system administrators only (an organization's admins must not lift their own
//   limits, as in Harbor); a namespace's members see its quotas and usage;
// - everyone manages their own password and personal access tokens.
// Generated secrets (robot secrets, access tokens) are returned once and kept only as hashes.
import { RegistryError } from '../oci/errors.js';
import type { Clock } from '../config/clock.js';
import { ACCOUNT_NAMES_LOCK, type ImmutableTagRule, type MetaStore, type MetaTx, type QuotaLimits, type QuotaScope, type QuotaUsage, type RetentionPolicyRecord } from '../store/meta/meta-store.js';
import { retentionRulesFrom, type RetentionRulesInput } from '../config/retention-rules.js';
import { assertTagPattern } from '../oci/tag-patterns.js';
import type { OrgRecord, Principal, Role, TokenRecord, UserRecord, Visibility } from '../store/meta/account-store.js';
import { EXTERNAL_PASSWORD, type AccountSignIn } from './account-sign-in.js';
import { namespaceOf, RolePolicy, type RepositoryAction, type Subject } from './roles.js';
import { newSecret, secretHash } from './secrets.js';
import { isValidName } from '../oci/names.js';

/** The caller of an administrative action: someone signed in. */
export type Actor = Exclude<Subject, { kind: 'anonymous' }>;

const NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const MAX_NAME = 64;
/** bcrypt reads only the first 72 bytes: a longer password would be silently cut. */
const MAX_PASSWORD_BYTES = 72;
const MIN_PASSWORD = 8;

export function assertAccountName(what: string, name: string): void {
  if (name.length < 2 || name.length > MAX_NAME || !NAME.test(name)) {
    throw new RegistryError('INVALID', `invalid ${what} name ${JSON.stringify(name.slice(0, 100))}: 2-${MAX_NAME} lowercase letters and digits, separated by single . _ or -`);
  }
}

export function assertPassword(password: string): void {
  if (password.length < MIN_PASSWORD) throw new RegistryError('INVALID', `a password needs at least ${MIN_PASSWORD} characters`);
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) throw new RegistryError('INVALID', `a password may have at most ${MAX_PASSWORD_BYTES} bytes`);
}

const notFound = (what: string, name: string): RegistryError => new RegistryError('NOT_FOUND', `no ${what} ${JSON.stringify(name)}`);
const denied = (why: string): RegistryError => new RegistryError('DENIED', why);

export interface CreatedSecret<T> {
  record: T;
  /** Shown once; only its hash is kept. */
  secret: string;
}

export type PrincipalRef = { user: string } | { team: string } | { robot: string };

/** A namespace's or repository's quota (limits null when none is set) and what it uses now. */
export interface QuotaView extends QuotaScope {
  limits: QuotaLimits;
  usage: QuotaUsage;
}

export class Administration {
  private readonly policy: RolePolicy;

  constructor(private readonly meta: MetaStore, private readonly signIn: AccountSignIn, private readonly clock: Clock) {
    this.policy = new RolePolicy(meta);
  }

  // ------------------------------------------------------------------ users

  async createUser(actor: Actor, name: string, password: string, admin: boolean): Promise<UserRecord> {
    this.assertSystemAdmin(actor);
    assertAccountName('user', name);
    assertPassword(password);
    const hash = await this.signIn.hashPassword(password);
    return this.meta.tx(async (m) => {
      await m.lock(ACCOUNT_NAMES_LOCK);
      await this.assertNameFree(m, name);
      return m.users.create(name, hash, admin);
    });
  }

  async listUsers(actor: Actor, after: string, limit: number): Promise<UserRecord[]> {
    this.assertSystemAdmin(actor);
    return this.meta.users.list(after, limit);
  }

  async user(actor: Actor, name: string): Promise<UserRecord> {
    if (!(actor.kind === 'user' && (actor.admin || actor.name === name))) throw denied('only administrators see other accounts');
    const u = await this.meta.users.byName(name);
    if (!u) throw notFound('user', name);
    return u;
  }

  async deleteUser(actor: Actor, name: string): Promise<void> {
    this.assertSystemAdmin(actor);
    if (actor.kind === 'user' && actor.name === name) throw new RegistryError('INVALID', 'an administrator cannot delete their own account');
    const u = await this.meta.users.byName(name);
    if (!u || !(await this.meta.tx((m) => m.users.delete(u.id)))) throw notFound('user', name);
  }

  /** Changes a password: one's own (with the current one, checked by the caller's sign-in), or anyone's as an administrator. */
  async setPassword(actor: Actor, name: string, password: string): Promise<void> {
    if (!(actor.kind === 'user' && (actor.admin || actor.name === name))) throw denied('only administrators change other accounts\' passwords');
    assertPassword(password);
    const u = await this.meta.users.byName(name);
    if (!u) throw notFound('user', name);
    if (u.passwordHash === EXTERNAL_PASSWORD) throw new RegistryError('INVALID', `${name}'s password is kept in the htpasswd file: change it there`);
    await this.meta.users.setPassword(u.id, await this.signIn.hashPassword(password));
  }

  async setAdmin(actor: Actor, name: string, admin: boolean): Promise<void> {
    this.assertSystemAdmin(actor);
    const u = await this.meta.users.byName(name);
    if (!u) throw notFound('user', name);
    await this.meta.users.setAdmin(u.id, admin);
  }

  // ------------------------------------------------------------------ organizations

  async createOrg(actor: Actor, name: string, visibility: Visibility): Promise<OrgRecord> {
    if (actor.kind !== 'user') throw denied('robots cannot create organizations');
    assertAccountName('organization', name);
    return this.meta.tx(async (m) => {
      await m.lock(ACCOUNT_NAMES_LOCK);
      await this.assertNameFree(m, name);
      const org = await m.orgs.create(name, visibility);
      // Whoever creates it administers it (a system administrator needs no grant).
      if (!actor.admin) await m.grants.set({ kind: 'user', id: actor.id }, name, null, 'admin');
      return org;
    });
  }

  /** Organizations the actor may see: all for an administrator, else public ones and those where they hold a role. */
  async listOrgs(actor: Actor, after: string, limit: number): Promise<OrgRecord[]> {
    if (actor.kind === 'user' && actor.admin) return this.meta.orgs.list(after, limit);
    const mine = new Set(await this.meta.grants.namespacesOf(await this.policy.principalsOf(actor)));
    if (actor.kind === 'robot') mine.add(actor.orgName);
    const out: OrgRecord[] = [];
    let cursor = after;
    // Pages of the full list, filtered, until the page is full or the list ends (bounded by the list's size).
    for (;;) {
      const page = await this.meta.orgs.list(cursor, Math.max(limit, 100));
      for (const o of page) if (o.visibility === 'public' || mine.has(o.name)) { out.push(o); if (out.length === limit) return out; }
      if (page.length < Math.max(limit, 100)) return out;
      cursor = page[page.length - 1]!.name;
    }
  }

  async org(actor: Actor, name: string): Promise<OrgRecord> {
    const org = await this.meta.orgs.byName(name);
    if (!org || (org.visibility !== 'public' && (await this.policy.roleOnNamespace(actor, name)) === null)) throw notFound('organization', name);
    return org;
  }

  async deleteOrg(actor: Actor, name: string): Promise<void> {
    const org = await this.adminOf(actor, name);
    await this.meta.tx((m) => m.orgs.delete(org.id));
  }

  async setOrgVisibility(actor: Actor, name: string, visibility: Visibility): Promise<void> {
    const org = await this.adminOf(actor, name);
    await this.meta.orgs.setVisibility(org.id, visibility);
  }

  async setRepositoryVisibility(actor: Actor, repository: string, visibility: Visibility | null): Promise<void> {
    if (!isValidName(repository)) throw new RegistryError('NAME_INVALID', `invalid repository name ${JSON.stringify(repository.slice(0, 300))}`);
    const ns = namespaceOf(repository);
    if (ns === null) this.assertSystemAdmin(actor);
    else if ((await this.policy.roleOnNamespace(actor, ns)) !== 'admin' && (await this.policy.roleOn(actor, repository)) !== 'admin') {
      throw denied(`only admins of ${ns} or of ${repository} change its visibility`);
    }
    await this.meta.visibility.setRepository(repository, visibility);
  }

  async repositoryVisibility(repository: string): Promise<{ own: Visibility | null; effective: Visibility }> {
    return { own: await this.meta.visibility.repository(repository), effective: await this.policy.visibilityOf(repository) };
  }

  // ------------------------------------------------------------------ teams

  async createTeam(actor: Actor, orgName: string, team: string): Promise<void> {
    const org = await this.adminOf(actor, orgName);
    assertAccountName('team', team);
    await this.meta.tx(async (m) => {
      await m.lock(ACCOUNT_NAMES_LOCK);
      if (await m.orgs.team(org.id, team)) throw new RegistryError('CONFLICT', `team ${orgName}/${team} exists`);
      await m.orgs.createTeam(org.id, team);
    });
  }

  async teams(actor: Actor, orgName: string): Promise<{ name: string; members: string[] }[]> {
    const org = await this.memberOf(actor, orgName);
    const out = [];
    for (const t of await this.meta.orgs.teams(org.id)) out.push({ name: t.name, members: await this.meta.orgs.members(t.id) });
    return out;
  }

  async deleteTeam(actor: Actor, orgName: string, team: string): Promise<void> {
    const org = await this.adminOf(actor, orgName);
    const t = await this.meta.orgs.team(org.id, team);
    if (!t) throw notFound('team', `${orgName}/${team}`);
    await this.meta.tx((m) => m.orgs.deleteTeam(t.id));
  }

  async setMembership(actor: Actor, orgName: string, team: string, user: string, member: boolean): Promise<boolean> {
    const org = await this.adminOf(actor, orgName);
    const t = await this.meta.orgs.team(org.id, team);
    if (!t) throw notFound('team', `${orgName}/${team}`);
    const u = await this.meta.users.byName(user);
    if (!u) throw notFound('user', user);
    return member ? this.meta.orgs.addMember(t.id, u.id) : this.meta.orgs.removeMember(t.id, u.id);
  }

  // ------------------------------------------------------------------ grants

  /** Grants a role on a namespace (`repository` null) or on one repository in it. */
  async grant(actor: Actor, to: PrincipalRef, namespace: string, repository: string | null, role: Role): Promise<void> {
    await this.assertNamespaceAdmin(actor, namespace, repository);
    const principal = await this.resolvePrincipal(to, namespace);
    await this.meta.grants.set(principal, namespace, repository, role);
  }

  async revoke(actor: Actor, to: PrincipalRef, namespace: string, repository: string | null): Promise<boolean> {
    await this.assertNamespaceAdmin(actor, namespace, repository);
    const principal = await this.resolvePrincipal(to, namespace);
    return this.meta.grants.remove(principal, namespace, repository);
  }

  /** The grants on a namespace, with principals by name. */
  async grants(actor: Actor, namespace: string): Promise<{ principal: PrincipalRef; repository: string | null; role: Role }[]> {
    await this.assertNamespaceAdmin(actor, namespace, null);
    const out = [];
    for (const g of await this.meta.grants.onNamespace(namespace)) {
      const ref = await this.nameOf(g.principal);
      if (ref) out.push({ principal: ref, repository: g.repository, role: g.role });
    }
    return out;
  }

  // ------------------------------------------------------------------ immutable tags

  /**
   * Makes tags matching the pattern immutable on a namespace (`repository` null) or one repository in it
   * (its full name); false when the rule was there already. Admins of the namespace decide.
   */
  async addImmutableTags(actor: Actor, namespace: string, repository: string | null, pattern: string): Promise<{ created: boolean; rule: ImmutableTagRule }> {
    await this.assertNamespaceAdmin(actor, namespace, repository, 'its immutable tags');
    assertTagPattern(pattern);
    const created = await this.meta.immutableTags.add(namespace, repository, pattern);
    const rule = (await this.meta.immutableTags.list(namespace)).find((r) => r.repository === repository && r.pattern === pattern);
    return { created, rule: rule ?? { namespace, repository, pattern, createdAt: this.clock.now() } };
  }

  async removeImmutableTags(actor: Actor, namespace: string, repository: string | null, pattern: string): Promise<boolean> {
    await this.assertNamespaceAdmin(actor, namespace, repository, 'its immutable tags');
    return this.meta.immutableTags.remove(namespace, repository, pattern);
  }

  /** The rules of a namespace, or of one repository in it (its own and the namespace's); every rule (namespace null) for system administrators. */
  async immutableTags(actor: Actor, namespace: string | null, repository: string | null): Promise<ImmutableTagRule[]> {
    if (namespace === null) {
      this.assertSystemAdmin(actor);
      return this.meta.immutableTags.list();
    }
    // Whoever may push in the namespace should learn which tags they cannot move: its members see them.
    await this.assertNamespaceKnown(namespace, repository);
    if ((await this.policy.roleOnNamespace(actor, namespace)) === null && (repository === null || (await this.policy.roleOn(actor, repository)) === null)) {
      throw denied(`only members of ${namespace} see its immutable tags`);
    }
    return repository === null ? this.meta.immutableTags.list(namespace) : this.meta.immutableTags.forRepository(namespace, repository);
  }

  // ------------------------------------------------------------------ quotas

  /** Sets the limits of a namespace's or one repository's quota, replacing any (a limit below the usage blocks growth only). */
  async setQuota(actor: Actor, scope: QuotaScope, limits: QuotaLimits): Promise<QuotaView> {
    this.assertSystemAdmin(actor);
    await this.assertNamespaceKnown(scope.namespace, scope.repository);
    for (const [what, n] of Object.entries(limits)) {
      if (n !== null && !(Number.isSafeInteger(n) && n >= 0)) throw new RegistryError('INVALID', `a quota's ${what} limit is a whole number from 0 on`);
    }
    if (limits.bytes === null && limits.tags === null) throw new RegistryError('INVALID', 'a quota needs a limit: bytes, tags or both');
    await this.meta.quotas.set(scope, limits);
    return { ...scope, limits, usage: await this.quotaUsage(scope) };
  }

  async removeQuota(actor: Actor, scope: QuotaScope): Promise<boolean> {
    this.assertSystemAdmin(actor);
    await this.assertNamespaceKnown(scope.namespace, scope.repository);
    return this.meta.quotas.remove(scope);
  }

  /** A namespace's or one repository's quota and usage (usage alone when none is set): for its members. */
  async quota(actor: Actor, scope: QuotaScope): Promise<QuotaView> {
    await this.assertNamespaceKnown(scope.namespace, scope.repository);
    if ((await this.policy.roleOnNamespace(actor, scope.namespace)) === null && (scope.repository === null || (await this.policy.roleOn(actor, scope.repository)) === null)) {
      throw denied(`only members of ${scope.repository ?? scope.namespace} see its quota`);
    }
    const q = await this.meta.quotas.get(scope);
    return { ...scope, limits: { bytes: q?.bytes ?? null, tags: q?.tags ?? null }, usage: await this.quotaUsage(scope) };
  }

  /** Every quota with its usage (system administrators). */
  async quotas(actor: Actor): Promise<QuotaView[]> {
    this.assertSystemAdmin(actor);
    const out: QuotaView[] = [];
    for (const q of await this.meta.quotas.list()) {
      const scope = { namespace: q.namespace, repository: q.repository };
      out.push({ ...scope, limits: { bytes: q.bytes, tags: q.tags }, usage: await this.quotaUsage(scope) });
    }
    return out;
  }

  private async quotaUsage(scope: QuotaScope): Promise<QuotaUsage> {
    return { bytes: await this.meta.quotas.storedBytes(scope), tags: await this.meta.quotas.tagCount(scope) };
  }

  // ------------------------------------------------------------------ retention policies

  /** Sets (replaces) the retention policy of a namespace (`repository` null) or one repository in it; true when it is new. */
  async setRetentionPolicy(actor: Actor, namespace: string, repository: string | null, given: RetentionRulesInput): Promise<{ created: boolean; policy: RetentionPolicyRecord }> {
    await this.assertNamespaceAdmin(actor, namespace, repository, 'its retention policies');
    const parsed = retentionRulesFrom(given);
    if ('problem' in parsed) throw new RegistryError('INVALID', parsed.problem);
    const created = await this.meta.retention.set(namespace, repository, parsed.rules);
    return { created, policy: (await this.meta.retention.get(namespace, repository))! };
  }

  async removeRetentionPolicy(actor: Actor, namespace: string, repository: string | null): Promise<boolean> {
    await this.assertNamespaceAdmin(actor, namespace, repository, 'its retention policies');
    return this.meta.retention.remove(namespace, repository);
  }

  /** The policies of a namespace (its own and its repositories'), or of one repository (its own and the namespace's); all (namespace null) for system administrators. */
  async retentionPolicies(actor: Actor, namespace: string | null, repository: string | null): Promise<RetentionPolicyRecord[]> {
    if (namespace === null) {
      this.assertSystemAdmin(actor);
      return this.meta.retention.list();
    }
    await this.assertNamespaceKnown(namespace, repository);
    if ((await this.policy.roleOnNamespace(actor, namespace)) === null && (repository === null || (await this.policy.roleOn(actor, repository)) === null)) {
      throw denied(`only members of ${namespace} see its retention policies`);
    }
    const all = await this.meta.retention.list(namespace);
    return repository === null ? all : all.filter((p) => p.repository === null || p.repository === repository);
  }

  /** Running retention: for everything (or a repository outside namespaces) system administrators, for a namespace or a repository in it its admins. */
  async assertMayRunRetention(actor: Actor, namespace: string | null, repository: string | null): Promise<void> {
    if (namespace === null) return this.assertSystemAdmin(actor);
    await this.assertNamespaceKnown(namespace, repository);
    if ((await this.policy.roleOnNamespace(actor, namespace)) !== 'admin') throw denied(`only admins of ${namespace} may run retention there`);
  }

  // ------------------------------------------------------------------ webhooks

  /** Admins of the namespace (and system administrators) subscribe it, or one repository in it, to webhooks. */
  async assertWebhookAdmin(actor: Actor, namespace: string, repository: string | null): Promise<void> {
    await this.assertNamespaceAdmin(actor, namespace, repository, 'its webhooks');
  }

  /** Whether the actor administers the namespace (a subscription's, found by id: to others it does not exist). */
  async administers(actor: Actor, namespace: string): Promise<boolean> {
    return (await this.policy.roleOnNamespace(actor, namespace)) === 'admin';
  }

  // ------------------------------------------------------------------ robots

  async createRobot(actor: Actor, orgName: string, name: string, expiresAt: number | null): Promise<CreatedSecret<{ name: string; expiresAt: number | null }>> {
    const org = await this.adminOf(actor, orgName);
    assertAccountName('robot', name);
    const secret = newSecret('robot');
    await this.meta.tx(async (m) => {
      await m.lock(ACCOUNT_NAMES_LOCK);
      if (await m.orgs.robot(org.id, name)) throw new RegistryError('CONFLICT', `robot ${orgName}+${name} exists`);
      await m.orgs.createRobot(org.id, name, secretHash(secret), expiresAt);
    });
    return { record: { name: `${orgName}+${name}`, expiresAt }, secret };
  }

  async robots(actor: Actor, orgName: string): Promise<{ name: string; createdAt: number; expiresAt: number | null; lastUsedAt: number | null }[]> {
    const org = await this.adminOf(actor, orgName);
    return (await this.meta.orgs.robots(org.id)).map((r) => ({ name: `${orgName}+${r.name}`, createdAt: r.createdAt, expiresAt: r.expiresAt, lastUsedAt: r.lastUsedAt }));
  }

  async deleteRobot(actor: Actor, orgName: string, name: string): Promise<void> {
    const org = await this.adminOf(actor, orgName);
    const r = await this.meta.orgs.robot(org.id, name);
    if (!r) throw notFound('robot', `${orgName}+${name}`);
    await this.meta.tx((m) => m.orgs.deleteRobot(r.id));
  }

  // ------------------------------------------------------------------ personal access tokens

  async createToken(actor: Actor, name: string, actions: RepositoryAction[] | null, expiresAt: number | null): Promise<CreatedSecret<TokenRecord>> {
    if (actor.kind !== 'user') throw denied('personal access tokens belong to users');
    if (name.length < 1 || name.length > 100) throw new RegistryError('INVALID', 'a token name has 1-100 characters');
    if (expiresAt !== null && expiresAt <= this.clock.now()) throw new RegistryError('INVALID', 'the expiry must be in the future');
    const secret = newSecret('personal');
    const record = await this.meta.tokens.create({
      kind: 'personal', owner: { kind: 'user', id: actor.id }, name, secretHash: secretHash(secret), actions, expiresAt,
    });
    return { record, secret };
  }

  async tokens(actor: Actor): Promise<TokenRecord[]> {
    if (actor.kind !== 'user') throw denied('personal access tokens belong to users');
    return this.meta.tokens.of({ kind: 'user', id: actor.id }, 'personal');
  }

  async revokeToken(actor: Actor, id: number): Promise<void> {
    const t = await this.meta.tokens.byId(id);
    const mine = t !== null && actor.kind === 'user' && t.owner.kind === 'user' && t.owner.id === actor.id;
    if (!t || !(mine || (actor.kind === 'user' && actor.admin))) throw notFound('token', String(id));
    await this.meta.tokens.revoke(id);
  }

  // ------------------------------------------------------------------ helpers

  assertSystemAdmin(actor: Actor): void {
    if (!(actor.kind === 'user' && actor.admin)) throw denied('only system administrators may do this');
  }

  private async assertNameFree(m: MetaTx, name: string): Promise<void> {
    if ((await m.users.byName(name)) || (await m.orgs.byName(name))) throw new RegistryError('CONFLICT', `the name ${JSON.stringify(name)} is taken`);
  }

  /** The organization, when the actor administers it (404 when they may not even see it). */
  private async adminOf(actor: Actor, orgName: string): Promise<OrgRecord> {
    const org = await this.org(actor, orgName);
    if ((await this.policy.roleOnNamespace(actor, orgName)) !== 'admin') throw denied(`only admins of ${orgName} may do this`);
    return org;
  }

  private async memberOf(actor: Actor, orgName: string): Promise<OrgRecord> {
    const org = await this.org(actor, orgName);
    if ((await this.policy.roleOnNamespace(actor, orgName)) === null) throw denied(`only members of ${orgName} may see this`);
    return org;
  }

  private async assertNamespaceAdmin(actor: Actor, namespace: string, repository: string | null, what = 'its grants'): Promise<void> {
    await this.assertNamespaceKnown(namespace, repository);
    if ((await this.policy.roleOnNamespace(actor, namespace)) !== 'admin') throw denied(`only admins of ${namespace} may change ${what}`);
  }

  /** The namespace is a user's or an organization's, and the repository (if any) is in it. */
  private async assertNamespaceKnown(namespace: string, repository: string | null): Promise<void> {
    if (repository !== null && (namespaceOf(repository) !== namespace || !isValidName(repository))) {
      throw new RegistryError('INVALID', `repository ${JSON.stringify(repository.slice(0, 300))} is not in ${namespace}`);
    }
    const isUser = await this.meta.users.byName(namespace);
    const isOrg = isUser ? null : await this.meta.orgs.byName(namespace);
    if (!isUser && !isOrg) throw notFound('namespace', namespace);
  }

  private async resolvePrincipal(ref: PrincipalRef, namespace: string): Promise<Principal> {
    if ('user' in ref) {
      const u = await this.meta.users.byName(ref.user);
      if (!u) throw notFound('user', ref.user);
      return { kind: 'user', id: u.id };
    }
    // Teams and robots are an organization's own: they are granted roles in it only.
    const org = await this.meta.orgs.byName(namespace);
    if ('team' in ref) {
      const t = org ? await this.meta.orgs.team(org.id, ref.team) : null;
      if (!t) throw notFound('team', `${namespace}/${ref.team}`);
      return { kind: 'team', id: t.id };
    }
    const plus = ref.robot.indexOf('+');
    const own = plus < 0 ? ref.robot : ref.robot.slice(0, plus) === namespace ? ref.robot.slice(plus + 1) : null;
    const r = org && own !== null ? await this.meta.orgs.robot(org.id, own) : null;
    if (!r) throw notFound('robot', ref.robot.includes('+') ? ref.robot : `${namespace}+${ref.robot}`);
    return { kind: 'robot', id: r.id };
  }

  private async nameOf(p: Principal): Promise<PrincipalRef | null> {
    if (p.kind === 'user') { const u = await this.meta.users.byId(p.id); return u ? { user: u.name } : null; }
    if (p.kind === 'robot') {
      const r = await this.meta.orgs.robotById(p.id);
      const org = r ? await this.meta.orgs.byId(r.orgId) : null;
      return r && org ? { robot: `${org.name}+${r.name}` } : null;
    }
    const t = await this.meta.orgs.teamById(p.id);
    if (t) return { team: t.name };
    return null;
  }
}
