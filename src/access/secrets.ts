// Generated secrets (robot secrets, personal access tokens, refresh tokens): 256 random bits behind a
// prefix that says what they are (so secret scanners and people recognise them). Only their SHA-256 is
// stored: they are random, so a fast hash is enough, and the hash doubles as the lookup key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = { personal: 'wharf_pat_', refresh: 'wharf_rt_', robot: 'wharf_robot_' } as const;
export type SecretKind = keyof typeof SECRET_PREFIX;

export function newSecret(kind: SecretKind): string {
  return SECRET_PREFIX[kind] + randomBytes(32).toString('base64url');
}

export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** What kind of generated secret a password is, by its prefix; null for a plain password. */
export function secretKindOf(password: string): SecretKind | null {
  for (const [kind, prefix] of Object.entries(SECRET_PREFIX) as [SecretKind, string][]) if (password.startsWith(prefix)) return kind;
  return null;
}

/** Compares a secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(secretHash(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
