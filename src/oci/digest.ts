// Content digests: parsing, validation and streaming computation.
import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.js';

export type Algorithm = 'sha256' | 'sha512';

const encodedLength: Record<Algorithm, number> = { sha256: 64, sha512: 128 };
const digestGrammar = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export interface Digest {
  algorithm: Algorithm;
  hex: string;
  /** "algorithm:hex" */
  value: string;
}

/** Parses a digest string, or returns null when it is not a supported, well-formed digest. */
export function tryParseDigest(s: string): Digest | null {
  const m = digestGrammar.exec(s);
  if (!m) return null;
  const algorithm = m[1] as Algorithm;
  const len = encodedLength[algorithm];
  if (len === undefined) return null;
  const hex = m[2]!;
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) return null;
  return { algorithm, hex, value: s };
}

/** Parses a digest, throwing DIGEST_INVALID when malformed or unsupported. */
export function parseDigest(s: string): Digest {
  const d = tryParseDigest(s);
  if (!d) throw new RegistryError('DIGEST_INVALID', `invalid digest: ${truncate(s)}`);
  return d;
}

export function isDigest(s: string): boolean {
  return tryParseDigest(s) !== null;
}

export function newHasher(algorithm: Algorithm = 'sha256'): Hash {
  return createHash(algorithm);
}

export function digestOf(data: Uint8Array | string, algorithm: Algorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

function truncate(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
