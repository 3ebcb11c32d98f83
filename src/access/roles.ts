// Roles to actions (auth.mode builtin). The first path component of a repository is its namespace:
// an organization, or a user's personal namespace. A repository without a slash is in no namespace:
// only system administrators push there. Roles are granted on a namespace or on one repository, to a
// user, a team or a robot; the strongest role that applies wins:
//   viewer → pull        editor → pull, push        admin → pull, push, delete (and the namespace's settings)
// Public content (the repository's own setting, else its organization's) may be pulled by anyone.
// A user administers their own namespace; a system administrator may do everything.
import type { MetaTx } from '../store/meta/meta-store.js';
import type { Principal, Role, Visibility } from '../store/meta/account-store.js';

export type RepositoryAction = 'pull' | 'push' | 'delete';
export const ALL_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete'];

const ROLE_ACTIONS: Record<Role, readonly RepositoryAction[]> = {
  viewer: ['pull'],
  editor: ['pull', 'push'],
  admin: ['pull', 'push', 'delete'],
};
const ROLE_RANK: Record<Role, number> = { viewer: 1, editor: 2, admin: 3 };

export function actionsOfRole(role: Role): readonly RepositoryAction[] {
  return ROLE_ACTIONS[role];
}

export function strongerRole(a: Role | null, b: Role): Role {
  return a === null || ROLE_RANK[b] > ROLE_RANK[a] ? b : a;
}

/** The namespace of a repository name, or null for a name without a slash. */
export function namespaceOf(repository: string): string | null {
  const slash = repository.indexOf('/');
  return slash < 0 ? null : repository.slice(0, slash);
}

/** Who asks, as the rules need to know them. */
export type Subject =
  | { kind: 'anonymous' }
  | { kind: 'user'; id: number; name: string; admin: boolean }
  | { kind: 'robot'; id: number; name: string; orgId: number; orgName: string };

/** The stores the rules read. */
export type RoleFacts = Pick<MetaTx, 'orgs' | 'grants' | 'visibility'>;

export class RolePolicy {
  constructor(private readonly facts: RoleFacts) {}

  /** Whether the repository's content may be pulled by anyone. */
  async isPublic(repository: string): Promise<boolean> {
    return (await this.visibilityOf(repository)) === 'public';
  }

  async visibilityOf(repository: string): Promise<Visibility> {
    const own = await this.facts.visibility.repository(repository);
    if (own !== null) return own;
    const ns = namespaceOf(repository);
    const org = ns === null ? null : await this.facts.orgs.byName(ns);
    return org?.visibility ?? 'private';
  }

  /** The principals whose grants count for the subject: a user and their teams, or a robot. */
  async principalsOf(subject: Subject): Promise<Principal[]> {
    switch (subject.kind) {
      case 'anonymous': return [];
      case 'robot': return [{ kind: 'robot', id: subject.id }];
      case 'user': return [{ kind: 'user', id: subject.id }, ...(await this.facts.orgs.teamsOf(subject.id)).map((id) => ({ kind: 'team' as const, id }))];
    }
  }

  /** The subject's role in the namespace or on the repository (the stronger of the two), or null. */
  async roleOn(subject: Subject, repository: string): Promise<Role | null> {
    if (subject.kind === 'anonymous') return null;
    if (subject.kind === 'user' && subject.admin) return 'admin';
    const ns = namespaceOf(repository);
    if (ns === null) return null;
    if (subject.kind === 'user' && ns === subject.name) return 'admin';
    // A robot acts only inside its own organization, whatever else it was granted.
    if (subject.kind === 'robot' && ns !== subject.orgName) return null;
    let role: Role | null = null;
    for (const g of await this.facts.grants.of(await this.principalsOf(subject), ns)) {
      if (g.repository === null || g.repository === repository) role = strongerRole(role, g.role);
    }
    return role;
  }

  /** Everything the subject may do on the repository. */
  async actionsOn(subject: Subject, repository: string): Promise<Set<RepositoryAction>> {
    const role = await this.roleOn(subject, repository);
    const actions = new Set<RepositoryAction>(role ? ROLE_ACTIONS[role] : []);
    if (!actions.has('pull') && await this.isPublic(repository)) actions.add('pull');
    return actions;
  }

  /** The subject's role on the namespace itself (settings, members, robots), or null. */
  async roleOnNamespace(subject: Subject, namespace: string): Promise<Role | null> {
    if (subject.kind === 'anonymous') return null;
    if (subject.kind === 'user' && subject.admin) return 'admin';
    if (subject.kind === 'user' && namespace === subject.name) return 'admin';
    if (subject.kind === 'robot' && namespace !== subject.orgName) return null;
    let role: Role | null = null;
    for (const g of await this.facts.grants.of(await this.principalsOf(subject), namespace)) {
      if (g.repository === null) role = strongerRole(role, g.role);
    }
    return role;
  }
}
