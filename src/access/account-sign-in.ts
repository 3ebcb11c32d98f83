// Signing in to built-in accounts with what a client sends as Basic credentials:
//   user + password                 (bcrypt; an unknown user costs a bcrypt check too)
//   ORG+NAME + robot secret         (a robot account)
//   user + personal access token    (wharf_pat_…, acting as the user, capped to the token's actions)
// and with a refresh token (wharf_rt_…, OAuth2). Failures are throttled per account and per address.
// A verified credential is remembered by the SHA-256 of the header, and re-checked against its row on
// every use (one indexed read): a changed password, a revoked token or a deleted robot stops working at once.
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { systemClock, type Clock } from '../config/clock.js';
import { RegistryError } from '../oci/errors.js';
import { ACCOUNT_NAMES_LOCK, type MetaStore } from '../store/meta/meta-store.js';
import type { TokenRecord } from '../store/meta/account-store.js';
import { CredentialCache, credentialKey } from './credential-cache.js';
import type { RepositoryAction, Subject } from './roles.js';
import { secretHash, secretKindOf, secretMatches } from './secrets.js';
import { FailureThrottle } from './throttle.js';

export type SignInMethod = 'password' | 'htpasswd' | 'robot' | 'personal-token' | 'refresh-token';

/**
 * Passwords kept outside the database (auth.htpasswd.path with auth.mode builtin). Its users sign in
 * with the file's password; each gets a row of its own on first sign-in (so that it can be granted
 * roles, join teams and hold tokens), marked so that no database password ever works for it.
 */
export interface ExternalPasswords {
  /** True when the file holds the user with this password; throws TOOMANYREQUESTS while throttled. */
  verify(authorization: string, remote: string): Promise<boolean>;
  /** Whether the file holds the user at all. */
  has(user: string): boolean;
  /** Whether configuration names the user a system administrator. */
  isAdmin(user: string): boolean;
}

/** The password hash of a user whose password lives in the htpasswd file: matches no password. */
export const EXTERNAL_PASSWORD = '!htpasswd';

export interface SignedIn {
  subject: Exclude<Subject, { kind: 'anonymous' }>;
  method: SignInMethod;
  /** The actions a personal access token is limited to, or null (no limit beyond the roles). */
  cap: RepositoryAction[] | null;
  /** The token used (personal or refresh), or null. */
  tokenId: number | null;
  /** What the credential was checked against (a password hash, a secret hash): a change invalidates it. */
  stamp: string;
  /** For passwords kept elsewhere: checks the credential again (the file may have changed). */
  recheck?: () => Promise<boolean>;
}

export type PasswordVerifier = (password: string, hash: string) => Promise<boolean>;

export interface AccountSignInOptions {
  clock?: Clock;
  verify?: PasswordVerifier;
  /** bcrypt cost of new password hashes. */
  bcryptCost?: number;
  /** Users whose passwords are in an htpasswd file. */
  external?: ExternalPasswords;
  cacheTtlMs?: number;
  cacheEntries?: number;
  maxFailuresPerAccount?: number;
  maxFailuresPerAddress?: number;
  failureWindowMs?: number;
}

export const DEFAULT_BCRYPT_COST = 10;
/** A check's answer for a generated secret that exists but is revoked or expired. */
const UNUSABLE = Symbol('revoked or expired');
/** Last-used times of tokens and robots are kept to the minute. */
export const LAST_USED_RESOLUTION_MS = 60_000;

export class AccountSignIn {
  private readonly clock: Clock;
  private readonly verify: PasswordVerifier;
  private readonly cache: CredentialCache<SignedIn>;
  private readonly perAccount: FailureThrottle;
  private readonly perAddress: FailureThrottle;
  /** Checks under way by cache key: a burst of requests with one new header pays bcrypt once. */
  private readonly inFlight = new Map<string, Promise<SignedIn | typeof UNUSABLE | null>>();
  private dummyHash: string | null = null;

  constructor(private readonly meta: MetaStore, private readonly opts: AccountSignInOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.verify = opts.verify ?? ((p, h) => bcrypt.compare(p, h));
    this.cache = new CredentialCache<SignedIn>({ ttlMs: opts.cacheTtlMs ?? 300_000, maxEntries: opts.cacheEntries ?? 4096, clock: this.clock });
    const windowMs = opts.failureWindowMs ?? 60_000;
    this.perAccount = new FailureThrottle({ limit: opts.maxFailuresPerAccount ?? 10, windowMs, clock: this.clock });
    this.perAddress = new FailureThrottle({ limit: opts.maxFailuresPerAddress ?? 30, windowMs, clock: this.clock });
  }

  async hashPassword(password: string): Promise<string> {
    return bcrypt.hash(password, this.opts.bcryptCost ?? DEFAULT_BCRYPT_COST);
  }

  /**
   * The account behind Basic credentials (`authorization` is the whole header: the cache key).
   * Throws UNAUTHORIZED for wrong credentials and TOOMANYREQUESTS while the account or address is throttled.
   */
  async basic(authorization: string, user: string, password: string, remote: string): Promise<SignedIn> {
    // Passwords are guessed per account. A generated secret (256 random bits) cannot be guessed, and a
    // CI job still using a revoked token must not lock its owner out: only the address counts for those.
    const account = secretKindOf(password) === null ? user : '';
    this.assertNotThrottled(account, remote);
    const key = credentialKey(authorization);
    const cached = this.cache.get(key);
    if (cached) {
      if (await this.stillValid(cached)) return cached;
      this.cache.delete(key);
    }
    let check = this.inFlight.get(key);
    const starter = check === undefined;
    if (check === undefined) {
      // Counted as a failure until it proves right, so guesses sent at once cannot outrun the throttle.
      if (account) this.perAccount.fail(account);
      this.perAddress.fail(remote);
      check = this.check(user, password, authorization, remote);
      this.inFlight.set(key, check);
    }
    let signedIn: SignedIn | typeof UNUSABLE | null;
    try {
      signedIn = await check;
    } finally {
      if (starter) this.inFlight.delete(key);
    }
    if (signedIn === UNUSABLE) {
      // A real secret, revoked or expired: its holder is no guesser, so it counts against nobody.
      if (starter) {
        if (account) this.perAccount.forgive(account);
        this.perAddress.forgive(remote);
      }
      throw new RegistryError('UNAUTHORIZED', 'this token or robot has been revoked or has expired');
    }
    if (!signedIn) throw new RegistryError('UNAUTHORIZED', 'invalid credentials');
    if (starter) {
      if (account) this.perAccount.forgive(account);
      this.perAddress.forgive(remote);
    }
    this.cache.set(key, signedIn);
    return signedIn;
  }

  /** The account behind an OAuth2 refresh token. */
  async refresh(token: string, remote: string): Promise<SignedIn> {
    this.assertNotThrottled('', remote);
    const t = secretKindOf(token) === 'refresh' ? await this.meta.tokens.bySecretHash(secretHash(token)) : null;
    const signedIn = t && t.kind === 'refresh' ? await this.fromToken(t, 'refresh-token') : null;
    if (!signedIn) {
      this.perAddress.fail(remote);
      throw new RegistryError('UNAUTHORIZED', 'invalid or expired refresh token');
    }
    return signedIn;
  }

  /** Whether a remembered sign-in still holds: its row is there, unchanged, unexpired, unrevoked. */
  async stillValid(s: SignedIn): Promise<boolean> {
    const now = this.clock.now();
    if (s.tokenId !== null) {
      const t = await this.meta.tokens.byId(s.tokenId);
      if (!t || t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= now)) return false;
    }
    if (s.subject.kind === 'user') {
      const u = await this.meta.users.byId(s.subject.id);
      if (!u) return false;
      if (s.recheck && !(await s.recheck())) return false;
      // An administrator's flag may change while the credential stays right.
      s.subject.admin = u.admin;
      return s.tokenId !== null || u.passwordHash === s.stamp;
    }
    const r = await this.meta.orgs.robotById(s.subject.id);
    return r !== null && (r.expiresAt === null || r.expiresAt > now) && (s.tokenId !== null || r.secretHash === s.stamp);
  }

  private assertNotThrottled(account: string, remote: string): void {
    const waitMs = Math.max(account ? this.perAccount.blockedFor(account) : 0, this.perAddress.blockedFor(remote));
    if (waitMs > 0) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed sign-in attempts; try again later', {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))) },
      });
    }
  }

  private async check(user: string, password: string, authorization: string, remote: string): Promise<SignedIn | typeof UNUSABLE | null> {
    const kind = secretKindOf(password);
    if (kind === 'personal') {
      const t = await this.meta.tokens.bySecretHash(secretHash(password));
      if (!t || t.kind !== 'personal') return null;
      if (t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= this.clock.now())) return UNUSABLE;
      const signedIn = await this.fromToken(t, 'personal-token');
      // The token acts for its owner only: another user's name with it is a mistake, not a sign-in.
      return signedIn && signedIn.subject.name === user ? signedIn : null;
    }
    const plus = user.indexOf('+');
    if (plus > 0) {
      const org = await this.meta.orgs.byName(user.slice(0, plus));
      const robot = org ? await this.meta.orgs.robot(org.id, user.slice(plus + 1)) : null;
      if (!org || !robot || !secretMatches(password, robot.secretHash)) return null;
      if (robot.expiresAt !== null && robot.expiresAt <= this.clock.now()) return UNUSABLE;
      if (this.due(robot.lastUsedAt)) await this.meta.orgs.robotUsed(robot.id);
      return { subject: { kind: 'robot', id: robot.id, name: user, orgId: org.id, orgName: org.name }, method: 'robot', cap: null, tokenId: null, stamp: robot.secretHash };
    }
    const u = await this.meta.users.byName(user);
    const external = this.opts.external;
    if (external && (u === null ? external.has(user) : u.passwordHash === EXTERNAL_PASSWORD)) {
      return this.externalSignIn(external, user, authorization, remote);
    }
    // An unknown user costs one bcrypt check as well, so the time taken does not tell who exists.
    if (u?.passwordHash === EXTERNAL_PASSWORD) return null; // the file is gone from the configuration
    const ok = await this.verify(password, u?.passwordHash ?? await this.dummy());
    if (!ok || !u) return null;
    return { subject: { kind: 'user', id: u.id, name: u.name, admin: u.admin }, method: 'password', cap: null, tokenId: null, stamp: u.passwordHash };
  }

  private async externalSignIn(external: ExternalPasswords, user: string, authorization: string, remote: string): Promise<SignedIn | null> {
    if (!(await external.verify(authorization, remote))) return null;
    const admin = external.isAdmin(user);
    // The user's own row, made on first sign-in; a name an organization holds stays the organization's.
    const row = await this.meta.tx(async (m) => {
      await m.lock(ACCOUNT_NAMES_LOCK);
      const existing = await m.users.byName(user);
      if (existing) {
        if (existing.admin !== admin) await m.users.setAdmin(existing.id, admin);
        return { ...existing, admin };
      }
      if (await m.orgs.byName(user)) return null;
      return m.users.create(user, EXTERNAL_PASSWORD, admin);
    });
    if (!row || row.passwordHash !== EXTERNAL_PASSWORD) return null;
    return {
      subject: { kind: 'user', id: row.id, name: row.name, admin: row.admin }, method: 'htpasswd', cap: null, tokenId: null,
      stamp: EXTERNAL_PASSWORD, recheck: () => external.verify(authorization, remote),
    };
  }

  private async fromToken(t: TokenRecord, method: SignInMethod): Promise<SignedIn | null> {
    if (t.revokedAt !== null || (t.expiresAt !== null && t.expiresAt <= this.clock.now())) return null;
    let subject: SignedIn['subject'] | null = null;
    if (t.owner.kind === 'user') {
      const u = await this.meta.users.byId(t.owner.id);
      if (u) subject = { kind: 'user', id: u.id, name: u.name, admin: u.admin };
    } else if (t.owner.kind === 'robot') {
      const r = await this.meta.orgs.robotById(t.owner.id);
      const org = r ? await this.meta.orgs.byId(r.orgId) : null;
      if (r && org && (r.expiresAt === null || r.expiresAt > this.clock.now())) subject = { kind: 'robot', id: r.id, name: `${org.name}+${r.name}`, orgId: org.id, orgName: org.name };
    }
    if (!subject) return null;
    if (this.due(t.lastUsedAt)) await this.meta.tokens.used(t.id);
    return { subject, method, cap: (t.actions as RepositoryAction[] | null), tokenId: t.id, stamp: t.secretHash };
  }

  /** Whether a last-used time is worth writing again (a write per use would cost a commit per request). */
  private due(lastUsedAt: number | null): boolean {
    return lastUsedAt === null || this.clock.now() - lastUsedAt >= LAST_USED_RESOLUTION_MS;
  }

  private async dummy(): Promise<string> {
    this.dummyHash ??= await bcrypt.hash(randomBytes(18).toString('base64'), this.opts.bcryptCost ?? DEFAULT_BCRYPT_COST);
    return this.dummyHash;
  }

  clear(): void {
    this.cache.clear();
  }
}
