// The facts of who may do what: accounts, organizations and their teams, robots, access and refresh
// tokens, role grants, repository visibility, the audit log and the token service's signing keys.
// access/ decides with them; this layer only keeps them. Secrets are never stored: passwords as
// bcrypt hashes, generated secrets (robots, tokens) as SHA-256 hashes.

export type Role = 'viewer' | 'editor' | 'admin';
export type Visibility = 'private' | 'public';
export type PrincipalKind = 'user' | 'team' | 'robot';

export interface Principal {
  kind: PrincipalKind;
  id: number;
}

export interface UserRecord {
  id: number;
  name: string;
  passwordHash: string;
  /** A system administrator: every action everywhere, and the admin API. */
  admin: boolean;
  createdAt: number;
}

export interface OrgRecord {
  id: number;
  name: string;
  visibility: Visibility;
  createdAt: number;
}

export interface TeamRecord {
  id: number;
  orgId: number;
  name: string;
  createdAt: number;
}

export interface RobotRecord {
  id: number;
  orgId: number;
  /** The robot's own part of its name (`ORG+NAME` is what it signs in as). */
  name: string;
  secretHash: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

export type TokenKind = 'personal' | 'refresh';

export interface TokenRecord {
  id: number;
  kind: TokenKind;
  /** Whose token it is: a user (personal and refresh tokens) or a robot (refresh tokens). */
  owner: Principal;
  name: string;
  secretHash: string;
  /** The actions it may ever carry (a cap on the owner's own), or null for all of them. */
  actions: string[] | null;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** A role on a whole namespace (`repository` null) or on one repository in it. */
export interface GrantRecord {
  principal: Principal;
  namespace: string;
  repository: string | null;
  role: Role;
  createdAt: number;
}

export interface AuditRecord {
  id: number;
  at: number;
  /** Who acted ('' for anonymous callers) and how they signed in. */
  actor: string;
  actorKind: string;
  /** The client's address. */
  remote: string;
  /** e.g. login, token.issue, access.denied, manifest.push, org.create, grant.add. */
  action: string;
  target: string;
  outcome: 'ok' | 'denied' | 'failed';
  /** Extra facts as JSON (never a secret), or null. */
  detail: string | null;
}

export type NewAuditRecord = Omit<AuditRecord, 'id' | 'at'>;

export interface AuditQuery {
  /** Records with an id below this (the page before); default the newest. */
  before?: number;
  limit: number;
  actor?: string;
  action?: string;
  /** Only records at or after this time. */
  since?: number;
}

export interface SigningKeyRecord {
  kid: string;
  /** PKCS#8 PEM of the private key. */
  privateKeyPem: string;
  createdAt: number;
  /** Set once a newer key signs: this one still verifies the tokens it issued until they expire. */
  supersededAt: number | null;
}

export interface UserStore {
  create(name: string, passwordHash: string, admin: boolean): Promise<UserRecord>;
  byName(name: string): Promise<UserRecord | null>;
  byId(id: number): Promise<UserRecord | null>;
  list(after: string, limit: number): Promise<UserRecord[]>;
  setPassword(id: number, passwordHash: string): Promise<boolean>;
  setAdmin(id: number, admin: boolean): Promise<boolean>;
  /** Removes the user with their memberships, grants and tokens. */
  delete(id: number): Promise<boolean>;
  count(): Promise<number>;
}

export interface OrgStore {
  create(name: string, visibility: Visibility): Promise<OrgRecord>;
  byName(name: string): Promise<OrgRecord | null>;
  byId(id: number): Promise<OrgRecord | null>;
  list(after: string, limit: number): Promise<OrgRecord[]>;
  setVisibility(id: number, visibility: Visibility): Promise<boolean>;
  /** Removes the organization with its teams, robots, and every grant on its namespace. */
  delete(id: number): Promise<boolean>;

  createTeam(orgId: number, name: string): Promise<TeamRecord>;
  team(orgId: number, name: string): Promise<TeamRecord | null>;
  teamById(id: number): Promise<TeamRecord | null>;
  teams(orgId: number): Promise<TeamRecord[]>;
  deleteTeam(id: number): Promise<boolean>;
  addMember(teamId: number, userId: number): Promise<boolean>;
  removeMember(teamId: number, userId: number): Promise<boolean>;
  members(teamId: number): Promise<string[]>;
  /** The ids of the teams the user belongs to (in any organization). */
  teamsOf(userId: number): Promise<number[]>;

  createRobot(orgId: number, name: string, secretHash: string, expiresAt: number | null): Promise<RobotRecord>;
  robot(orgId: number, name: string): Promise<RobotRecord | null>;
  robotById(id: number): Promise<RobotRecord | null>;
  robots(orgId: number): Promise<RobotRecord[]>;
  deleteRobot(id: number): Promise<boolean>;
  robotUsed(id: number): Promise<void>;
}

export interface GrantStore {
  /** Sets the principal's role on the namespace or repository (replacing the role it had there). */
  set(principal: Principal, namespace: string, repository: string | null, role: Role): Promise<void>;
  remove(principal: Principal, namespace: string, repository: string | null): Promise<boolean>;
  /** Grants of these principals in the namespace (on it, or on any of its repositories). */
  of(principals: Principal[], namespace: string): Promise<GrantRecord[]>;
  /** Every grant on the namespace (its members and collaborators). */
  onNamespace(namespace: string): Promise<GrantRecord[]>;
  /** Namespaces where these principals hold any grant (listings: what else a caller may see). */
  namespacesOf(principals: Principal[]): Promise<string[]>;
}

export interface TokenStore {
  create(t: Omit<TokenRecord, 'id' | 'createdAt' | 'lastUsedAt' | 'revokedAt'>): Promise<TokenRecord>;
  byId(id: number): Promise<TokenRecord | null>;
  /** The token whose secret has this SHA-256 (secrets are random: the hash is the lookup key). */
  bySecretHash(secretHash: string): Promise<TokenRecord | null>;
  /** The owner's tokens of a kind, newest first. */
  of(owner: Principal, kind: TokenKind): Promise<TokenRecord[]>;
  revoke(id: number): Promise<boolean>;
  used(id: number): Promise<void>;
}

export interface VisibilityStore {
  /** The repository's own setting, or null when it follows its namespace. */
  repository(name: string): Promise<Visibility | null>;
  /** Sets it (creating the repository's row when it has none yet). */
  setRepository(name: string, visibility: Visibility | null): Promise<void>;
  /** Names of repositories set public, in a namespace. */
  publicIn(namespace: string): Promise<string[]>;
}

export interface AuditStore {
  append(r: NewAuditRecord): Promise<void>;
  query(q: AuditQuery): Promise<AuditRecord[]>;
}

export interface SigningKeyStore {
  /** Every key that still verifies, newest first; the first one signs. */
  current(): Promise<SigningKeyRecord[]>;
  /** Adds a key that signs from now on; the previous signer is marked superseded. */
  add(kid: string, privateKeyPem: string): Promise<void>;
  /** Forgets a key: tokens it signed stop verifying. */
  retire(kid: string): Promise<boolean>;
}
