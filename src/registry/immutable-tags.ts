// Immutable tags: a tag that a pattern protects is made once and then never moves to another digest nor
// goes (by tag, or with its manifest by digest); pushing the digest it has again is fine. Patterns are
// set on a namespace or one repository (the MetaStore's immutableTags) or registry-wide in the
// configuration (immutable.patterns). The decision is made inside the unit of work that moves or
// deletes the tag, under the repository's lock: two processes racing to make a protected tag never
// both win with different digests.
import { RegistryError } from '../oci/errors.js';
import { tagPatternMatches } from '../oci/tag-patterns.js';
import { repositoryLock, type MetaTx } from '../store/meta/meta-store.js';
import { namespaceOf } from '../access/roles.js';

/** Where a protecting pattern is set. */
export type RuleScope = { namespace: string } | { repository: string } | { configuration: true };

export interface Protection {
  pattern: string;
  scope: RuleScope;
}

/** The patterns that protect a repository's tags: the configuration's, its namespace's and its own. */
export class ImmutableTags {
  constructor(private readonly configured: readonly string[] = []) {}

  /**
   * Inside a unit of work: takes the repository's lock (so the caller's read-then-write of its tags is
   * one decision) and returns a function that names the rule protecting a tag, or null.
   */
  async guard(m: MetaTx, repoId: number, repository: string): Promise<(tag: string) => Protection | null> {
    await m.lock(repositoryLock(repoId));
    const ns = namespaceOf(repository);
    const stored = ns === null ? [] : await m.immutableTags.forRepository(ns, repository);
    const rules: Protection[] = [
      ...this.configured.map((pattern): Protection => ({ pattern, scope: { configuration: true } })),
      ...stored.map((r): Protection => ({ pattern: r.pattern, scope: r.repository === null ? { namespace: r.namespace } : { repository: r.repository } })),
    ];
    return (tag) => rules.find((r) => tagPatternMatches(r.pattern, tag)) ?? null;
  }
}

function where(scope: RuleScope): string {
  if ('namespace' in scope) return `on namespace ${scope.namespace}`;
  if ('repository' in scope) return `on repository ${scope.repository}`;
  return 'in the registry\'s configuration (immutable.patterns)';
}

/** 403 DENIED naming the pattern and where it is set. */
export function immutableTagError(repository: string, tag: string, what: string, p: Protection): RegistryError {
  return new RegistryError('DENIED', `tag ${tag} of ${repository} is immutable (pattern ${JSON.stringify(p.pattern)} set ${where(p.scope)}): ${what}`, {
    detail: { tag, pattern: p.pattern, ...p.scope },
  });
}
