// auth.mode: htpasswd — HTTP Basic authentication against a file of bcrypt hashes (`htpasswd -B`),
// as Distribution's htpasswd access controller does. Every signed-in user may do everything (the
// file has no roles); anonymous callers may do nothing, so they are asked for credentials.
//
// bcrypt is slow on purpose, and clients send Basic credentials on every request: a verified
// credential is remembered (credential-cache.ts), and failures are throttled per user and per client
// address (throttle.ts) so that neither the cache nor many connections make guessing faster.
import { randomBytes } from 'node:crypto';
import bcrypt from 'bcrypt';
import { RegistryError } from '../oci/errors.js';
import { ANONYMOUS, type Access, type AccessController, type AuthRequest, type Identity } from './access-controller.js';
import { systemClock, type Clock } from '../config/clock.js';
import { basicChallenge, parseBasic } from './basic-auth.js';
import { CredentialCache, credentialKey } from './credential-cache.js';
import { FileChangeWatch, fileSignature, loadHtpasswd, type HtpasswdEntry } from './htpasswd-file.js';
import { FailureThrottle } from './throttle.js';

/** The part of a pino logger this controller uses. */
export interface AccessLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  info?(obj: Record<string, unknown>, msg: string): void;
}

/** Checks a password against a bcrypt hash (injectable, so tests can count the calls). */
export type PasswordVerifier = (password: string, hash: string) => Promise<boolean>;

export interface HtpasswdOptions {
  path: string;
  /** The realm of the Basic challenge. */
  realm?: string;
  logger: AccessLogger;
  clock?: Clock;
  verify?: PasswordVerifier;
  /** How long a verified credential is trusted without bcrypt (0 turns the cache off). */
  cacheTtlMs?: number;
  cacheEntries?: number;
  /** Failures per user name, and per client address, allowed in one window before 429. */
  maxFailuresPerUser?: number;
  maxFailuresPerAddress?: number;
  failureWindowMs?: number;
  /** Re-read the file when it changes (off only in tests that drive reload() themselves). */
  watch?: boolean;
  watchDebounceMs?: number;
  watchPollMs?: number;
}

const bcryptVerify: PasswordVerifier = (password, hash) => bcrypt.compare(password, hash);

/** The cost most users' hashes have, so an unknown user's dummy check takes as long as a real one. */
function typicalCost(users: Map<string, HtpasswdEntry>): number {
  const counts = new Map<number, number>();
  for (const { cost } of users.values()) counts.set(cost, (counts.get(cost) ?? 0) + 1);
  let best = 10;
  let most = 0;
  for (const [cost, n] of counts) if (n > most) [best, most] = [cost, n];
  return best;
}

export class HtpasswdAccessController implements AccessController {
  readonly kind = 'htpasswd';
  async reasksFor(): Promise<boolean> { return false; }
  readonly requiresIdentity = true;

  private readonly cache: CredentialCache;
  private readonly perUser: FailureThrottle;
  private readonly perAddress: FailureThrottle;
  private readonly challengeValue: string;
  private readonly verify: PasswordVerifier;
  /** Checks under way, by cache key, with the version of the users they check against. */
  private readonly inFlight = new Map<string, { ok: Promise<boolean>; version: number }>();
  private watch: FileChangeWatch | null = null;
  /** Bumped on every reload: a check that started against older users is not cached. */
  private version = 0;

  private constructor(
    private readonly opts: HtpasswdOptions,
    private users: Map<string, HtpasswdEntry>,
    private dummyHash: string,
  ) {
    const clock = opts.clock ?? systemClock;
    this.verify = opts.verify ?? bcryptVerify;
    this.challengeValue = basicChallenge(opts.realm ?? 'wharf');
    this.cache = new CredentialCache({ ttlMs: opts.cacheTtlMs ?? 60_000, maxEntries: opts.cacheEntries ?? 1024, clock });
    const windowMs = opts.failureWindowMs ?? 60_000;
    this.perUser = new FailureThrottle({ limit: opts.maxFailuresPerUser ?? 10, windowMs, clock });
    this.perAddress = new FailureThrottle({ limit: opts.maxFailuresPerAddress ?? 30, windowMs, clock });
  }

  /** Reads the file (refusing any hash but bcrypt, naming the line) and starts watching it. */
  static async open(opts: HtpasswdOptions): Promise<HtpasswdAccessController> {
    const since = await fileSignature(opts.path);
    const users = await loadHtpasswd(opts.path);
    const c = new HtpasswdAccessController(opts, users, await dummyHashFor(users));
    if (opts.watch !== false) {
      c.watch = await FileChangeWatch.start(opts.path, async () => void (await c.reload()), {
        debounceMs: opts.watchDebounceMs,
        pollMs: opts.watchPollMs,
        since,
      });
    }
    return c;
  }

  /** How many times the file has been reloaded (tests wait on it). */
  get generation(): number {
    return this.version;
  }

  /**
   * Re-reads the file. A file that no longer parses is reported and the users already loaded stay;
   * a good one replaces them and forgets every remembered credential.
   */
  async reload(): Promise<boolean> {
    let users: Map<string, HtpasswdEntry>;
    try {
      users = await loadHtpasswd(this.opts.path);
    } catch (e) {
      this.opts.logger.warn({ path: this.opts.path, err: (e as Error).message }, 'htpasswd file not reloaded; the previous users stay');
      return false;
    }
    const dummy = typicalCost(users) === typicalCost(this.users) ? this.dummyHash : await dummyHashFor(users);
    this.users = users;
    this.dummyHash = dummy;
    this.version++;
    this.cache.clear();
    this.opts.logger.info?.({ path: this.opts.path, users: users.size }, 'htpasswd file reloaded');
    return true;
  }

  async authenticate(req: AuthRequest): Promise<Identity> {
    const header = req.authorization;
    if (header === undefined || header === '') return ANONYMOUS;
    const creds = parseBasic(header);
    if (!creds) {
      this.opts.logger.warn({ remoteAddress: req.remoteAddress }, 'authentication failed: not Basic user:password credentials');
      throw this.unauthorized();
    }
    const { user, password } = creds;

    // Throttled callers are refused before any check, cached or not, even with the right password.
    const waitMs = Math.max(this.perUser.blockedFor(user), this.perAddress.blockedFor(req.remoteAddress));
    if (waitMs > 0) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed sign-in attempts; try again later', {
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))) },
      });
    }

    const key = credentialKey(header);
    const cached = this.cache.get(key);
    if (cached !== null) return { kind: 'user', name: cached, via: 'basic' };

    // A burst of requests with the same new header (a client pulling layers in parallel) pays
    // bcrypt once: later ones wait for the check the first one started.
    let check = this.inFlight.get(key);
    const starter = check === undefined;
    if (check === undefined) {
      const entry = this.users.get(user);
      // Counted as a failure until it proves right, so many guesses sent at once cannot outrun
      // the throttle (requests that join a check under way are the same guess, not counted again).
      this.perUser.fail(user);
      this.perAddress.fail(req.remoteAddress);
      // An unknown user costs one bcrypt check as well, so the time taken does not tell who exists.
      const ok = this.verify(password, entry?.hash ?? this.dummyHash).then((match) => match && entry !== undefined);
      check = { ok, version: this.version };
      this.inFlight.set(key, check);
    }
    let ok: boolean;
    try {
      ok = await check.ok;
    } finally {
      if (starter) this.inFlight.delete(key);
    }
    if (ok) {
      if (starter) {
        this.perUser.forgive(user);
        this.perAddress.forgive(req.remoteAddress);
      }
      // A check begun against users a reload has since replaced is answered, not remembered.
      if (check.version === this.version) this.cache.set(key, user);
      return { kind: 'user', name: user, via: 'basic' };
    }

    // Only the user name and the address: never the password, the header or the hash.
    this.opts.logger.warn({ user, remoteAddress: req.remoteAddress }, 'authentication failed');
    const userBlocked = this.perUser.blockedFor(user) > 0;
    const addressBlocked = this.perAddress.blockedFor(req.remoteAddress) > 0;
    if (starter && (userBlocked || addressBlocked)) {
      this.opts.logger.warn({ user: userBlocked ? user : undefined, remoteAddress: addressBlocked ? req.remoteAddress : undefined }, 'sign-in attempts throttled');
    }
    throw this.unauthorized();
  }

  /** Whether the file holds this user (auth.mode builtin asks, to send its users here). */
  has(user: string): boolean {
    return this.users.has(user);
  }

  async authorize(identity: Identity, wanted: readonly Access[]): Promise<Access[]> {
    return identity.kind === 'user' ? [...wanted] : [];
  }

  challenge(): string {
    return this.challengeValue;
  }

  async close(): Promise<void> {
    this.watch?.close();
    this.watch = null;
    this.cache.clear();
  }

  private unauthorized(): RegistryError {
    return new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': this.challengeValue } });
  }
}

/** A bcrypt hash of a random password nobody knows, at the cost the file's users have. */
async function dummyHashFor(users: Map<string, HtpasswdEntry>): Promise<string> {
  return bcrypt.hash(randomBytes(18).toString('base64'), typicalCost(users));
}
