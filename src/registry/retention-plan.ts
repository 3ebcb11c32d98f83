// The retention plan of one repository, as a pure function of what it holds, its policy and the time:
// which tags go, which untagged manifests go, and why the others stay.
//  - Tags (only when the policy has a tag rule): a tag stays when any rule keeps it — keepLast (the N most
//    recently pushed of those `match` selects), keepWithin (pushed that recently), keep (matches) — or when
//    an immutable tag pattern protects it; every other tag goes. An expression that takes too long over the
//    repository's tags throws RetentionRuleError (nothing is planned for it).
//  - Untagged manifests (only with untaggedOlderThan): a manifest goes when no tag points at it after this
//    plan's tag removals and it has had none for longer than untaggedOlderThan (since a tag last left it,
//    or since it was stored; a tag this plan removes leaves it now) — unless a kept manifest needs it: the
//    children of a kept index and the referrers of a kept manifest stay, transitively, as garbage
//    collection keeps them (gc-plan.ts).
import { hasTagRule, tagsMatching, type RetentionRules } from '../config/retention-rules.js';
import type { RetentionContents } from '../store/meta/meta-store.js';

export type KeepReason = 'keep-last' | 'keep-within' | 'keep' | 'immutable';

export interface PlannedTag {
  tag: string;
  digest: string;
  pushedAt: number;
}

export interface RetentionPlan {
  /** Newest first. */
  removeTags: PlannedTag[];
  /** Newest first; empty when the policy has no tag rule (tags are not judged then). */
  keepTags: (PlannedTag & { reasons: KeepReason[] })[];
  removeManifests: { digest: string; untaggedSince: number }[];
  /** Untagged long enough to go, but needed by a kept manifest: as its child, or as a referrer of it. */
  keepManifests: { digest: string; untaggedSince: number; neededBy: string; as: 'child' | 'referrer' }[];
}

export interface PlanOptions {
  now: number;
  /** Whether an immutable tag pattern protects the tag. */
  isImmutable: (tag: string) => boolean;
}

/** Most recently pushed first; of tags pushed at the same instant, the later in byte order first (v1.2.3 before v1.2), so plans are deterministic. */
const newestFirst = (a: PlannedTag, b: PlannedTag): number => b.pushedAt - a.pushedAt || (a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0);

export function planRetention(c: RetentionContents, rules: RetentionRules, o: PlanOptions): RetentionPlan {
  const { removeTags, keepTags } = planTags(c.tags, rules, o);
  const { removeManifests, keepManifests } = planUntagged(c, rules, removeTags, o.now);
  return { removeTags, keepTags, removeManifests, keepManifests };
}

function planTags(tags: readonly PlannedTag[], rules: RetentionRules, o: PlanOptions): Pick<RetentionPlan, 'removeTags' | 'keepTags'> {
  if (!hasTagRule(rules)) return { removeTags: [], keepTags: [] };
  const sorted = [...tags].sort(newestFirst);
  const reasons = new Map<string, KeepReason[]>(sorted.map((t) => [t.tag, []]));
  const matching = (source: string): PlannedTag[] => {
    const hits = tagsMatching(source, sorted.map((t) => t.tag));
    return sorted.filter((_, i) => hits[i]);
  };
  if (rules.keepLast !== undefined) {
    for (const t of (rules.match === undefined ? sorted : matching(rules.match)).slice(0, rules.keepLast)) reasons.get(t.tag)!.push('keep-last');
  }
  if (rules.keepWithin !== undefined) {
    for (const t of sorted) if (o.now - t.pushedAt <= rules.keepWithin) reasons.get(t.tag)!.push('keep-within');
  }
  if (rules.keep !== undefined) for (const t of matching(rules.keep)) reasons.get(t.tag)!.push('keep');
  for (const t of sorted) if (o.isImmutable(t.tag)) reasons.get(t.tag)!.push('immutable');
  return {
    removeTags: sorted.filter((t) => reasons.get(t.tag)!.length === 0),
    keepTags: sorted.filter((t) => reasons.get(t.tag)!.length > 0).map((t) => ({ ...t, reasons: reasons.get(t.tag)! })),
  };
}

function planUntagged(c: RetentionContents, rules: RetentionRules, removedTags: readonly PlannedTag[], now: number): Pick<RetentionPlan, 'removeManifests' | 'keepManifests'> {
  const olderThan = rules.untaggedOlderThan;
  if (olderThan === undefined) return { removeManifests: [], keepManifests: [] };
  const removed = new Set(removedTags.map((t) => t.tag));
  const tagged = new Set(c.tags.filter((t) => !removed.has(t.tag)).map((t) => t.digest));
  const untaggedNow = new Set(removedTags.map((t) => t.digest));
  // The later of: stored (a manifest pushed again after a delete starts afresh), a tag last leaving it.
  const untaggedSince = new Map(c.manifests.map((m) => [m.digest,
    untaggedNow.has(m.digest) ? now : Math.max(m.createdAt, c.untaggedAt.get(m.digest) ?? m.createdAt)]));

  const needs = new Map<string, { digest: string; as: 'child' | 'referrer' }[]>();
  const add = (from: string, digest: string, as: 'child' | 'referrer'): void => {
    const list = needs.get(from);
    if (list) list.push({ digest, as });
    else needs.set(from, [{ digest, as }]);
  };
  for (const r of c.children) add(r.from, r.to, 'child');
  for (const m of c.manifests) if (m.subject !== null) add(m.subject, m.digest, 'referrer');

  // Kept on their own: tagged, or not untagged long enough. Then what they need, transitively.
  const present = new Set(c.manifests.map((m) => m.digest));
  const neededBy = new Map<string, { by: string; as: 'child' | 'referrer' }>();
  const kept = new Set<string>();
  const roots = new Set(c.manifests.filter((m) => tagged.has(m.digest) || now - untaggedSince.get(m.digest)! <= olderThan).map((m) => m.digest));
  const stack = [...roots];
  while (stack.length > 0) {
    const d = stack.pop()!;
    if (kept.has(d)) continue;
    kept.add(d);
    for (const n of needs.get(d) ?? []) {
      if (!present.has(n.digest) || kept.has(n.digest) || roots.has(n.digest)) continue;
      if (!neededBy.has(n.digest)) neededBy.set(n.digest, { by: d, as: n.as });
      stack.push(n.digest);
    }
  }
  return {
    removeManifests: c.manifests.filter((m) => !kept.has(m.digest)).map((m) => ({ digest: m.digest, untaggedSince: untaggedSince.get(m.digest)! })),
    keepManifests: c.manifests.filter((m) => neededBy.has(m.digest))
      .map((m) => ({ digest: m.digest, untaggedSince: untaggedSince.get(m.digest)!, neededBy: neededBy.get(m.digest)!.by, as: neededBy.get(m.digest)!.as })),
  };
}
