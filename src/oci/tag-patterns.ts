// Tag patterns (immutable tags): glob-style and anchored to the whole tag, as Harbor and Quay users
// expect. `*` matches any run of characters (none included), `?` exactly one; every other character
// is itself, case-sensitive as tags are. `v*` matches v1 and v1.2.3 (not latest), `release-?` release-1
// (not release-10), `*` every tag, `latest` only latest.
import { RegistryError } from './errors.js';

const PATTERN = /^[a-zA-Z0-9_.\-*?]{1,128}$/;

export function isValidTagPattern(pattern: string): boolean {
  return PATTERN.test(pattern);
}

export function assertTagPattern(pattern: string): void {
  if (!isValidTagPattern(pattern)) {
    throw new RegistryError('INVALID', `invalid tag pattern ${JSON.stringify(pattern.slice(0, 200))}: 1-128 of the characters of a tag (letters, digits, _ . -) and the wildcards * (any run) and ? (one character)`);
  }
}

/** A pattern over repository names (webhook filters): the same globs over a name's characters, slashes included. */
const REPOSITORY_PATTERN = /^[a-z0-9._\-/*?]{1,255}$/;

export function isValidRepositoryPattern(pattern: string): boolean {
  return REPOSITORY_PATTERN.test(pattern);
}

/** Whether the (valid) pattern matches the whole tag (or, for a repository pattern, the whole name). */
export function tagPatternMatches(pattern: string, tag: string): boolean {
  // Iterative glob matching with backtracking to the last `*`: linear in practice, no regular expression built.
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < tag.length) {
    const c = pattern[p];
    if (c === '*') {
      star = p++;
      mark = t;
    } else if (c !== undefined && (c === '?' || c === tag[t])) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
