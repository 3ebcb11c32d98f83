// The retention planner (registry/retention-plan.ts) as a pure function: which tags each rule keeps, how
// rules combine ("keep if any rule keeps"), immutable tags, and which untagged manifests go — never the
// children of a kept index nor the referrers of a kept manifest (transitively).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { planRetention, type RetentionPlan } from '../../src/registry/retention-plan.js';
import { RetentionRuleError, type RetentionRules } from '../../src/config/retention-rules.js';
import type { RetentionContents } from '../../src/store/meta/meta-store.js';

const NOW = 1_000_000;
const H = 3_600_000;

/** Contents with tags [name, pushedAt] each on a digest of its own (sha256:<name>). */
function tagged(...tags: [string, number][]): RetentionContents {
  return {
    tags: tags.map(([tag, pushedAt]) => ({ tag, digest: `sha256:${tag}`, pushedAt })),
    manifests: tags.map(([tag, pushedAt]) => ({ digest: `sha256:${tag}`, createdAt: pushedAt, subject: null })),
    children: [],
    untaggedAt: new Map(),
  };
}

function plan(c: RetentionContents, rules: RetentionRules, immutable: string[] = []): RetentionPlan {
  return planRetention(c, rules, { now: NOW, isImmutable: (t) => immutable.includes(t) });
}

const removed = (p: RetentionPlan): string[] => p.removeTags.map((t) => t.tag);
const kept = (p: RetentionPlan): [string, string[]][] => p.keepTags.map((t) => [t.tag, t.reasons]);

describe('retention plan: tags', () => {
  const c = tagged(['a', 1], ['v1', 2], ['v2', 3], ['v3', 4], ['latest', 5], ['v10', 6]);

  test('keep-last N of the tags match selects (anchored: v.* is "starts with v"); every other tag goes', () => {
    const p = plan(c, { keepLast: 2, match: 'v\\d' });
    assert.deepEqual(kept(p), [['v3', ['keep-last']], ['v2', ['keep-last']]], 'v10 is not v\\d: the match is anchored at both ends');
    assert.deepEqual(removed(p), ['v10', 'latest', 'v1', 'a'], 'newest first');
    assert.deepEqual(kept(plan(c, { keepLast: 2, match: 'v.*' })).map(([t]) => t), ['v10', 'v3']);
    assert.deepEqual(kept(plan(c, { keepLast: 3 })).map(([t]) => t), ['v10', 'latest', 'v3'], 'without match: every tag counts');
  });

  test('keep-last: of tags pushed at the same instant the later in byte order counts as newer, so a plan is deterministic', () => {
    const p = plan(tagged(['v1.2', 7], ['v1', 7], ['v1.2.3', 7]), { keepLast: 2 });
    assert.deepEqual(kept(p).map(([t]) => t), ['v1.2.3', 'v1.2']);
    assert.deepEqual(removed(p), ['v1']);
  });

  test('keep-within: tags pushed within the duration (the boundary included) stay', () => {
    const p = plan(tagged(['old', NOW - 2 * H - 1], ['edge', NOW - 2 * H], ['new', NOW - 1]), { keepWithin: 2 * H });
    assert.deepEqual(kept(p), [['new', ['keep-within']], ['edge', ['keep-within']]]);
    assert.deepEqual(removed(p), ['old']);
  });

  test('keep: a regular expression over the whole tag', () => {
    const p = plan(tagged(['stable', 1], ['stable-1', 2], ['unstable', 3], ['release-1.2', 4]), { keep: 'stable|release-.*' });
    assert.deepEqual(kept(p).map(([t]) => t), ['release-1.2', 'stable']);
    assert.deepEqual(removed(p), ['unstable', 'stable-1']);
  });

  test('rules combine: a tag stays when any rule keeps it, with every reason that applies', () => {
    const p = plan(tagged(['v1', 1], ['v2', NOW - 10], ['nightly-1', NOW - 5], ['stable', 2], ['old', 3]),
      { keepLast: 1, match: 'v.*', keepWithin: 60_000, keep: 'stable' });
    assert.deepEqual(kept(p), [['nightly-1', ['keep-within']], ['v2', ['keep-last', 'keep-within']], ['stable', ['keep']]]);
    assert.deepEqual(removed(p), ['old', 'v1']);
  });

  test('an immutable tag is never removed (kept: immutable), and says so beside other reasons', () => {
    const p = plan(c, { keepLast: 1 }, ['v1', 'v10']);
    assert.deepEqual(kept(p), [['v10', ['keep-last', 'immutable']], ['v1', ['immutable']]]);
    assert.ok(!removed(p).includes('v1'));
  });

  test('an expression that backtracks for ages over the tags is an error within its time budget, not a stalled process', () => {
    const started = performance.now();
    assert.throws(() => plan(tagged(['a'.repeat(40), 1]), { keep: '(a|a)*b' }),
      (e: unknown) => e instanceof RetentionRuleError && /^the regular expression "\(a\|a\)\*b" took longer than 250 ms over 1 tags: simplify it$/.test(e.message));
    assert.ok(performance.now() - started < 2000);
  });

  test('a policy without a tag rule leaves tags alone (not even judged)', () => {
    const p = plan(c, { untaggedOlderThan: H });
    assert.deepEqual(p.removeTags, []);
    assert.deepEqual(p.keepTags, []);
    assert.deepEqual(p.removeManifests, [], 'every manifest is tagged');
  });
});

describe('retention plan: untagged manifests', () => {
  const OLD = NOW - 10 * H;
  const m = (digest: string, createdAt = OLD, subject: string | null = null) => ({ digest, createdAt, subject });

  test('untagged longer than untaggedOlderThan goes (since a tag left it, or since stored); younger, or tagged, stays', () => {
    const c: RetentionContents = {
      tags: [{ tag: 'v1', digest: 'sha256:tagged', pushedAt: OLD }],
      manifests: [m('sha256:tagged'), m('sha256:never-tagged'), m('sha256:left-long-ago'), m('sha256:left-recently'), m('sha256:young', NOW - 60_000),
        m('sha256:pushed-again', NOW - 60_000)],
      children: [],
      untaggedAt: new Map([['sha256:left-long-ago', OLD + H], ['sha256:left-recently', NOW - 60_000], ['sha256:pushed-again', OLD]]),
    };
    const p = plan(c, { untaggedOlderThan: 2 * H });
    assert.deepEqual(p.removeManifests, [{ digest: 'sha256:never-tagged', untaggedSince: OLD }, { digest: 'sha256:left-long-ago', untaggedSince: OLD + H }]);
    assert.deepEqual(p.keepManifests, [], 'nothing is kept only because another manifest needs it');
  });

  test('a manifest whose tag this plan removes has been untagged since now: it stays (restorable from history)', () => {
    const c = tagged(['v1', OLD], ['v2', OLD + 1]);
    const p = plan(c, { keepLast: 1, untaggedOlderThan: 1 });
    assert.deepEqual(removed(p), ['v1']);
    assert.deepEqual(p.removeManifests, []);
  });

  test('the children of a kept index and the referrers of a kept manifest stay, transitively; those of a dropped one go', () => {
    const c: RetentionContents = {
      tags: [{ tag: 'multi', digest: 'sha256:index', pushedAt: OLD }],
      manifests: [
        m('sha256:index'), m('sha256:amd64'), m('sha256:arm64'),
        // A signature of the index, and an SBOM index referring to a child, with a child of its own.
        m('sha256:sig', OLD, 'sha256:index'), m('sha256:sbom-index', OLD, 'sha256:amd64'), m('sha256:sbom', OLD),
        // An untagged index with its child and a referrer: all go.
        m('sha256:old-index'), m('sha256:old-child'), m('sha256:old-sig', OLD, 'sha256:old-index'),
        // A referrer whose subject is not in the repository: judged by its own age.
        m('sha256:orphan-sig', OLD, 'sha256:elsewhere'),
      ],
      children: [
        { from: 'sha256:index', to: 'sha256:amd64' }, { from: 'sha256:index', to: 'sha256:arm64' },
        { from: 'sha256:sbom-index', to: 'sha256:sbom' }, { from: 'sha256:old-index', to: 'sha256:old-child' },
      ],
      untaggedAt: new Map(),
    };
    const p = plan(c, { untaggedOlderThan: H });
    assert.deepEqual(p.removeManifests.map((x) => x.digest).sort(), ['sha256:old-child', 'sha256:old-index', 'sha256:old-sig', 'sha256:orphan-sig']);
    assert.deepEqual(p.keepManifests.map((x) => [x.digest, x.as, x.neededBy]).sort(), [
      ['sha256:amd64', 'child', 'sha256:index'], ['sha256:arm64', 'child', 'sha256:index'],
      ['sha256:sbom', 'child', 'sha256:sbom-index'], ['sha256:sbom-index', 'referrer', 'sha256:amd64'], ['sha256:sig', 'referrer', 'sha256:index'],
    ]);
  });

  test('what a young manifest needs stays with it; kept means "tagged after this plan\'s removals"', () => {
    const c: RetentionContents = {
      tags: [{ tag: 'old', digest: 'sha256:old-index', pushedAt: OLD }, { tag: 'new', digest: 'sha256:new', pushedAt: NOW }],
      manifests: [m('sha256:young-index', NOW - 1), m('sha256:child'), m('sha256:old-index'), m('sha256:old-child'), m('sha256:new', NOW)],
      children: [{ from: 'sha256:young-index', to: 'sha256:child' }, { from: 'sha256:old-index', to: 'sha256:old-child' }],
      untaggedAt: new Map(),
    };
    // The tag on old-index goes in this plan: old-index has been untagged since now, so it and its child stay this time.
    const p = plan(c, { keepLast: 1, untaggedOlderThan: H });
    assert.deepEqual(removed(p), ['old']);
    assert.deepEqual(p.removeManifests, []);
    assert.deepEqual(p.keepManifests.map((x) => [x.digest, x.neededBy]).sort(), [['sha256:child', 'sha256:young-index'], ['sha256:old-child', 'sha256:old-index']]);
  });
});
