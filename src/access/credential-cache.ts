// Verified credentials, remembered briefly so a client that sends Basic auth on every request pays
// bcrypt once a minute rather than on every manifest HEAD. Only a SHA-256 of the Authorization
// header is kept: never the header, never the password.
import { createHash } from 'node:crypto';
import { systemClock, type Clock } from '../config/clock.js';

export interface CredentialCacheOptions {
  /** Most entries kept; the least recently used goes first. */
  maxEntries?: number;
  /** How long a verified credential is trusted without checking it again. */
  ttlMs?: number;
  clock?: Clock;
}

/** The cache key of an Authorization header value. */
export function credentialKey(authorization: string): string {
  return createHash('sha256').update(authorization).digest('hex');
}

export class CredentialCache<T = string> {
  private readonly entries = new Map<string, { user: T; expiresAt: number }>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly clock: Clock;

  constructor(opts: CredentialCacheOptions = {}) {
    this.maxEntries = Math.max(1, opts.maxEntries ?? 1024);
    this.ttlMs = opts.ttlMs ?? 60_000;
    this.clock = opts.clock ?? systemClock;
  }

  /** The user a still-fresh verified credential belongs to, or null. */
  get(key: string): T | null {
    const e = this.entries.get(key);
    if (!e) return null;
    if (this.clock.now() >= e.expiresAt) {
      this.entries.delete(key);
      return null;
    }
    // Map order is the LRU order: a hit moves to the back.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.user;
  }

  set(key: string, user: T): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { user, expiresAt: this.clock.now() + this.ttlMs });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
