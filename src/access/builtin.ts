// auth.mode: builtin — accounts, organizations, teams, robots and tokens in the MetaStore; roles decide
// (roles.ts); the token service (token-service.ts, served at /token) hands out the JWTs clients bring.
//
// On /v2 a caller may come with:
//   a bearer token  → exactly the access its `access` claim lists (no database read once verified);
//   Basic credentials (curl, scripts) → the rules, read for each request;
//   nothing         → pull of public content; anything else gets the Bearer challenge.
// A bearer caller lacking access is asked again (401, insufficient_scope) when the rules would allow it —
// the token was merely too narrow — and refused (403 DENIED) when they would not.
import { systemClock, type Clock } from '../config/clock.js';
import { RegistryError } from '../oci/errors.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import { type Access, type AccessController, type AuthRequest, type ChallengeContext, type Identity } from './access-controller.js';
import type { AccountSignIn, SignedIn } from './account-sign-in.js';
import { parseBasic } from './basic-auth.js';
import { RolePolicy, type Subject } from './roles.js';
import { formatScope, resourcesOf } from './scope.js';
import type { TokenKeys } from './token-keys.js';
import type { TokenService, VerifiedToken } from './token-service.js';

export interface BuiltinOptions {
  /** The token endpoint's URL; null: this server's own /token, as the client addressed it. */
  realm: string | null;
  /** The service name (the tokens' audience). */
  service: string;
  /** How long an OAuth2 refresh token lives, in milliseconds. */
  refreshTokenLifetimeMs: number;
  /** Releases what the controller was built with (an htpasswd file's watch). */
  close?: () => Promise<void>;
}

/** What this controller learnt of a caller while authenticating, kept beside the identity. */
type Credentials = { via: 'bearer'; token: VerifiedToken } | { via: 'basic'; signedIn: SignedIn };

function quoted(v: string): string {
  return `"${v.replace(/["\\]/g, '\\$&')}"`;
}

export class BuiltinAccessController implements AccessController {
  readonly kind = 'builtin';
  readonly requiresIdentity = true;
  private readonly credentials = new WeakMap<Identity, Credentials>();
  readonly policy: RolePolicy;

  constructor(
    readonly meta: MetaStore,
    readonly signIn: AccountSignIn,
    readonly tokens: TokenService,
    readonly opts: BuiltinOptions,
    readonly keys: TokenKeys,
    readonly clock: Clock = systemClock,
  ) {
    this.policy = new RolePolicy(meta);
  }

  async authenticate(req: AuthRequest): Promise<Identity> {
    const header = req.authorization;
    if (header === undefined || header === '') return { kind: 'anonymous', name: '', remote: req.remoteAddress };
    const bearer = /^Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i.exec(header);
    if (bearer) {
      const token = await this.tokens.verify(bearer[1]!).catch((e: unknown) => { throw this.withChallenge(e, req); });
      const identity: Identity = token.subject === ''
        ? { kind: 'anonymous', name: '', via: 'bearer', remote: req.remoteAddress }
        : { kind: token.subject.includes('+') ? 'robot' : 'user', name: token.subject, via: 'bearer', remote: req.remoteAddress };
      this.credentials.set(identity, { via: 'bearer', token });
      return identity;
    }
    const basic = parseBasic(header);
    if (!basic) throw this.withChallenge(new RegistryError('UNAUTHORIZED', 'unsupported Authorization scheme: use Bearer tokens from the realm, or Basic'), req);
    const signedIn = await this.signIn.basic(header, basic.user, basic.password, req.remoteAddress)
      .catch((e: unknown) => { throw this.withChallenge(e, req); });
    const identity: Identity = { kind: signedIn.subject.kind, name: signedIn.subject.name, via: 'basic', remote: req.remoteAddress };
    this.credentials.set(identity, { via: 'basic', signedIn });
    return identity;
  }

  async authorize(identity: Identity, wanted: readonly Access[]): Promise<Access[]> {
    const c = this.credentials.get(identity);
    if (c?.via === 'bearer') {
      return wanted.filter((w) => c.token.access.some((a) => a.type === w.type && a.name === w.name && a.action === w.action));
    }
    return this.grantable(c?.via === 'basic' ? c.signedIn.subject : { kind: 'anonymous' }, c?.via === 'basic' ? c.signedIn.cap : null, wanted);
  }

  /** What the rules let `subject` do of `wanted` (capped by a personal access token's actions). */
  async grantable(subject: Subject, cap: readonly string[] | null, wanted: readonly Access[]): Promise<Access[]> {
    const byRepo = new Map<string, Set<string>>();
    const out: Access[] = [];
    for (const w of wanted) {
      if (w.type === 'registry') {
        // Anyone may ask for the catalog: it lists only what the caller may pull.
        out.push(w);
        continue;
      }
      let actions = byRepo.get(w.name);
      if (!actions) {
        actions = await this.policy.actionsOn(subject, w.name);
        byRepo.set(w.name, actions);
      }
      if (actions.has(w.action) && (cap === null || cap.includes(w.action))) out.push(w);
    }
    return out;
  }

  async canRead(identity: Identity, repository: string): Promise<boolean> {
    const subject = await this.subjectOf(identity);
    return subject !== null && (await this.policy.actionsOn(subject, repository)).has('pull');
  }

  challenge(wanted: readonly Access[] = [], ctx?: ChallengeContext): string {
    const realm = this.opts.realm ?? `${ctx?.origin ?? 'http://localhost'}/token`;
    let value = `Bearer realm=${quoted(realm)},service=${quoted(this.opts.service)}`;
    if (wanted.length > 0) value += `,scope=${quoted(formatScope(resourcesOf(wanted)))}`;
    if (ctx?.insufficientScope) value += ',error="insufficient_scope"';
    return value;
  }

  async reasksFor(identity: Identity, wanted: readonly Access[]): Promise<boolean> {
    const c = this.credentials.get(identity);
    if (c?.via !== 'bearer') return false;
    const subject = await this.subjectOf(identity);
    if (subject === null) return false;
    return (await this.grantable(subject, c.token.cap, wanted)).length === wanted.length;
  }

  /** The subject behind an identity, as the rules know it now; null when it no longer exists. */
  async subjectOf(identity: Identity): Promise<Subject | null> {
    const c = this.credentials.get(identity);
    if (c?.via === 'basic') return c.signedIn.subject;
    if (identity.kind === 'anonymous') return { kind: 'anonymous' };
    if (identity.kind === 'robot') {
      const plus = identity.name.indexOf('+');
      const org = await this.meta.orgs.byName(identity.name.slice(0, plus));
      const robot = org ? await this.meta.orgs.robot(org.id, identity.name.slice(plus + 1)) : null;
      return org && robot ? { kind: 'robot', id: robot.id, name: identity.name, orgId: org.id, orgName: org.name } : null;
    }
    const u = await this.meta.users.byName(identity.name);
    return u ? { kind: 'user', id: u.id, name: u.name, admin: u.admin } : null;
  }

  /** The sign-in behind a Basic identity (the token endpoint issues for it), or null. */
  signedInOf(identity: Identity): SignedIn | null {
    const c = this.credentials.get(identity);
    return c?.via === 'basic' ? c.signedIn : null;
  }

  async close(): Promise<void> {
    this.signIn.clear();
    this.tokens.forget();
    await this.opts.close?.();
  }

  private withChallenge(e: unknown, req: AuthRequest): unknown {
    if (e instanceof RegistryError && e.code === 'UNAUTHORIZED' && !e.headers['WWW-Authenticate']) {
      return new RegistryError('UNAUTHORIZED', e.message, { headers: { 'WWW-Authenticate': this.challenge([], { origin: req.origin ?? 'http://localhost' }) } });
    }
    return e;
  }
}
