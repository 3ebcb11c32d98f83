// The mark phase of garbage collection for one repository, as a pure function of what the
// repository holds: which manifests stay, which go (only with `untagged`), which blob links go.
import type { RepositoryGraph } from '../store/meta/meta-store.js';

export interface GcPlanOptions {
  /** Also delete manifests that no tag reaches (directly, through an index, or as a referrer of a kept one). */
  untagged: boolean;
  /** Manifests stored and links made at or after this instant are young: they always stay. */
  graceBefore: number;
  /** Digests some tag pointed at within history.keep (still restorable): kept, with `untagged`, like tagged ones. */
  restorable?: readonly string[];
}

export interface RepositoryPlan {
  /** Manifests to delete (only with `untagged`). */
  deleteManifests: string[];
  /** Blob links no kept manifest needs and older than the grace period. */
  removeLinks: string[];
}

export function planRepository(g: RepositoryGraph, o: GcPlanOptions): RepositoryPlan {
  const kept = keptManifests(g, o);
  // A link is needed for a kept manifest's own bytes and for its config and layers; children are
  // manifests (kept through the closure), and a subject needs no link of the referrer's.
  const needed = new Set<string>(kept);
  for (const r of g.refs) if (kept.has(r.from) && (r.kind === 'config' || r.kind === 'layer')) needed.add(r.to);
  return {
    deleteManifests: g.manifests.filter((m) => !kept.has(m.digest)).map((m) => m.digest),
    removeLinks: g.links.filter((l) => !needed.has(l.digest) && l.linkedAt < o.graceBefore).map((l) => l.digest),
  };
}

/**
 * Every manifest present, or, with `untagged`, those reached from tags, restorable history and young
 * manifests through children and referrers.
 */
function keptManifests(g: RepositoryGraph, o: GcPlanOptions): Set<string> {
  const present = new Set(g.manifests.map((m) => m.digest));
  if (!o.untagged) return present;
  const children = new Map<string, string[]>();
  for (const r of g.refs) {
    if (r.kind !== 'child') continue;
    const list = children.get(r.from) ?? [];
    list.push(r.to);
    children.set(r.from, list);
  }
  const referrers = new Map<string, string[]>();
  for (const m of g.manifests) {
    if (m.subject === null) continue;
    const list = referrers.get(m.subject) ?? [];
    list.push(m.digest);
    referrers.set(m.subject, list);
  }
  const kept = new Set<string>();
  // A young manifest may be the child of an index not yet pushed, or wait for its tag: it stays.
  // A manifest a tag pointed at within history.keep may be restored: it stays, with what it needs.
  const stack = [...g.tagged, ...(o.restorable ?? []), ...g.manifests.filter((m) => m.createdAt >= o.graceBefore).map((m) => m.digest)];
  while (stack.length > 0) {
    const d = stack.pop()!;
    if (kept.has(d) || !present.has(d)) continue;
    kept.add(d);
    stack.push(...(children.get(d) ?? []), ...(referrers.get(d) ?? []));
  }
  return kept;
}
