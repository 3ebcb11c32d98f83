// Docker token authentication's tokens: short-lived JWTs (ES256, with the signing key's kid) whose
// `access` claim lists exactly what was granted. Issuing is the token endpoint's job (server/token-api.ts
// decides the grant); this module signs, and verifies what comes back on /v2 — once per token: a verified
// token is remembered until it expires, so a client's burst of requests costs one signature check.
import { randomUUID, sign, type KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, decodeProtectedHeader } from 'jose';
import { systemClock, type Clock } from '../config/clock.js';
import { RegistryError } from '../oci/errors.js';
import type { Access } from './access-controller.js';
import { accessesOf, resourcesOf, type ResourceActions } from './scope.js';
import type { TokenKeys } from './token-keys.js';

export interface TokenServiceOptions {
  /** The `iss` claim, and what verification demands. */
  issuer: string;
  /** The `aud` claim: the service name clients send as `service=`. */
  service: string;
  /** Lifetime of an access token, in seconds. */
  lifetimeS: number;
  clock?: Clock;
  /** Verified tokens remembered (the least recently used go first). */
  cacheEntries?: number;
}

export interface IssuedToken {
  token: string;
  expiresIn: number;
  issuedAt: Date;
  access: ResourceActions[];
}

export interface VerifiedToken {
  subject: string;
  access: Access[];
  /** The actions the credential behind the token was limited to (a personal access token's), or null. */
  cap: string[] | null;
  expiresAt: number;
}

/** Leeway for the clocks of several processes (and of clients' hosts), in seconds. */
const CLOCK_TOLERANCE_S = 30;

export class TokenService {
  private readonly cache = new Map<string, VerifiedToken>();
  private readonly clock: Clock;
  private readonly cacheEntries: number;

  constructor(private readonly keys: TokenKeys, readonly opts: TokenServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.cacheEntries = Math.max(1, opts.cacheEntries ?? 4096);
  }

  /**
   * Signs a token for `subject` ('' for anonymous) granting `access`. `cap` (a personal access token's
   * action limit) travels in the token, so the registry knows a narrower token cannot be widened.
   */
  async issue(subject: string, access: readonly Access[], cap: readonly string[] | null = null): Promise<IssuedToken> {
    const key = await this.keys.signer();
    const now = Math.floor(this.clock.now() / 1000);
    const resources = resourcesOf(access);
    const claims: Record<string, unknown> = {
      iss: this.opts.issuer, sub: subject, aud: this.opts.service, exp: now + this.opts.lifetimeS, nbf: now, iat: now, jti: randomUUID(),
      access: resources, ...(cap === null ? {} : { wharf_cap: [...cap] }),
    };
    const token = signEs256({ alg: 'ES256', typ: 'JWT', kid: key.kid }, claims, key.privateKey);
    return { token, expiresIn: this.opts.lifetimeS, issuedAt: new Date(now * 1000), access: resources };
  }

  /** The token's subject and access; UNAUTHORIZED (without saying which check failed) when it is not valid. */
  async verify(token: string): Promise<VerifiedToken> {
    const now = this.clock.now();
    const hit = this.cache.get(token);
    if (hit) {
      if (now < hit.expiresAt) {
        this.cache.delete(token);
        this.cache.set(token, hit);
        return hit;
      }
      this.cache.delete(token);
    }
    const verified = await this.check(token, now);
    while (this.cache.size >= this.cacheEntries) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, verified);
    return verified;
  }

  /** Forgets every verified token (a key was retired). */
  forget(): void {
    this.cache.clear();
  }

  private async check(token: string, now: number): Promise<VerifiedToken> {
    const invalid = (): RegistryError => new RegistryError('UNAUTHORIZED', 'invalid or expired token');
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      throw invalid();
    }
    const key = kid === undefined ? null : await this.keys.verifier(kid);
    if (!key) throw invalid();
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        algorithms: ['ES256'], issuer: this.opts.issuer, audience: this.opts.service,
        currentDate: new Date(now), clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['exp', 'nbf', 'sub'],
      });
      const access = accessesOf(parseAccessClaim(payload.access));
      // Remembered no longer than the token lives, nor than the tolerance would stretch it.
      const cap = Array.isArray(payload.wharf_cap) ? payload.wharf_cap.filter((a): a is string => typeof a === 'string') : null;
      return { subject: payload.sub!, access, cap, expiresAt: payload.exp! * 1000 };
    } catch (e) {
      if (e instanceof joseErrors.JOSEError) throw invalid();
      throw e;
    }
  }
}

/**
 * A compact JWS with ES256, signed by node:crypto directly. jose (which verifies every token here) signs
 * through WebCrypto, whose per-call overhead capped the token endpoint at a few hundred tokens a second;
 * the encoding is the whole of RFC 7515's compact form: base64url(header).base64url(payload).base64url(sig),
 * the signature as r||s (IEEE P1363), as JWS wants it.
 */
function signEs256(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function parseAccessClaim(claim: unknown): ResourceActions[] {
  if (!Array.isArray(claim)) return [];
  return claim.filter((r): r is ResourceActions =>
    typeof r === 'object' && r !== null && typeof r.type === 'string' && typeof r.name === 'string'
    && Array.isArray(r.actions) && r.actions.every((a: unknown) => typeof a === 'string'));
}
