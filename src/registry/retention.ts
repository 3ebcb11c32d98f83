// Retention: applies retention policies (config/retention-rules.ts) to repositories. The most specific
// policy applies: a repository's own replaces its namespace's, which replaces the configuration's default
// (retention.default). Per repository, ONE unit of work under the repository's lock re-reads its tags and
// manifests, plans (retention-plan.ts) and removes what goes, so a push racing a run is either seen by it
// or comes after it: a tag pushed during a run is never removed by that run on stale data. Tags go as a
// DELETE of the tag does (recorded in tag history: restorable within history.keep), untagged manifests as
// a DELETE by digest does; garbage collection then frees the bytes. A dry run plans the same, changes
// nothing. The registry's events for what goes (tag.deleted, manifest.deleted) name the retention job as
// their actor and are emitted once each unit of work has committed.
import { RetentionRuleError, retentionRulesJson, type RetentionRules, type RetentionRulesJson } from '../config/retention-rules.js';
import { namespaceOf } from '../access/roles.js';
import type { MetaTx, RetentionPolicyRecord } from '../store/meta/meta-store.js';
import type { RegistryContext } from './context.js';
import type { Actor, RegistryEvent } from './events.js';
import { removeManifest } from './manifests.js';
import { recordEvents, type RegistryChange } from './webhook-events.js';
import { planRetention, type KeepReason, type RetentionPlan } from './retention-plan.js';

/** The actor of what retention removes (events, the audit log). */
export const RETENTION_ACTOR: Actor = Object.freeze({ kind: 'system', name: 'retention' });

export const isRetentionEvent = (e: RegistryEvent): boolean => e.actor.kind === RETENTION_ACTOR.kind && e.actor.name === RETENTION_ACTOR.name;

/** The policy in effect and where it is set, as JSON speaks it. */
export interface EffectivePolicy extends RetentionRulesJson {
  setOn: 'repository' | 'namespace' | 'configuration';
  namespace: string | null;
  repository: string | null;
}

export interface RepositoryRetention {
  repository: string;
  policy: EffectivePolicy;
  removedTags: { tag: string; digest: string; pushedAt: string }[];
  keptTags: { tag: string; digest: string; pushedAt: string; reasons: KeepReason[] }[];
  removedManifests: { digest: string; untaggedSince: string }[];
  /** Untagged long enough to go, but kept because a kept manifest needs them. */
  keptManifests: { digest: string; untaggedSince: string; neededBy: string; as: 'child' | 'referrer' }[];
  /** Why the policy could not be applied here (nothing changed in the repository); the run goes on. */
  error?: string;
}

export interface RetentionReport {
  dryRun: boolean;
  /** What the run covered: a namespace, one repository, or (both null) everything. */
  namespace: string | null;
  repository: string | null;
  startedAt: string;
  durationMs: number;
  tagsRemoved: number;
  manifestsRemoved: number;
  /** The repositories a policy applies to, by name. */
  repositories: RepositoryRetention[];
}

export interface RetentionScope {
  namespace?: string;
  repository?: string;
}

/** A policy in effect: as reports show it, and its rules. */
interface Resolved {
  policy: EffectivePolicy;
  rules: RetentionRules;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class RetentionService {
  constructor(private readonly ctx: RegistryContext) {}

  /** The policy in effect for a repository, or (repository null) for a namespace's repositories without their own. */
  async policyFor(namespace: string | null, repository: string | null): Promise<EffectivePolicy | null> {
    return this.effective(namespace === null ? [] : await this.ctx.meta.retention.list(namespace), namespace, repository)?.policy ?? null;
  }

  private effective(stored: readonly RetentionPolicyRecord[], namespace: string | null, repository: string | null): Resolved | null {
    const own = repository === null ? undefined : stored.find((p) => p.repository === repository);
    const ofNamespace = stored.find((p) => p.namespace === namespace && p.repository === null);
    const configured = this.ctx.limits.retentionDefault;
    const at = (setOn: EffectivePolicy['setOn'], ns: string | null, repo: string | null, rules: RetentionRules): Resolved =>
      ({ policy: { setOn, namespace: ns, repository: repo, ...retentionRulesJson(rules) }, rules });
    if (own) return at('repository', namespace, repository, own.rules);
    if (ofNamespace) return at('namespace', namespace, null, ofNamespace.rules);
    if (configured) return at('configuration', null, null, configured);
    return null;
  }

  /** Applies (or, dry, plans) the policies of every repository in scope, one repository at a time. */
  async run(scope: RetentionScope, dryRun: boolean): Promise<RetentionReport> {
    const started = this.ctx.clock.now();
    const report: RetentionReport = {
      dryRun, namespace: scope.namespace ?? null, repository: scope.repository ?? null, startedAt: iso(started), durationMs: 0,
      tagsRemoved: 0, manifestsRemoved: 0, repositories: [],
    };
    const one = scope.repository === undefined ? null : { id: await this.ctx.existingRepo(scope.repository), name: scope.repository };
    const namespace = one === null ? scope.namespace ?? null : namespaceOf(one.name);
    const stored = namespace !== null ? await this.ctx.meta.retention.list(namespace) : one === null ? await this.ctx.meta.retention.list() : [];
    const configured = this.ctx.limits.retentionDefault !== undefined;
    // Nothing to apply anywhere in scope: done without reading a repository.
    if (stored.length > 0 || configured) {
      const withPolicies = new Set(stored.map((p) => p.namespace));
      const inScope = (name: string): boolean => {
        const ns = namespaceOf(name);
        return (namespace === null || ns === namespace) && (configured || (ns !== null && withPolicies.has(ns)));
      };
      const targets = one !== null ? [one] : (await this.ctx.meta.gc.repositories()).filter((r) => inScope(r.name));
      for (const r of targets) {
        const resolved = this.effective(stored, namespaceOf(r.name), r.name);
        if (resolved === null) continue;
        const done = await this.applyToRepository(r.id, r.name, resolved, dryRun).catch((e: unknown): RepositoryRetention => {
          if (!(e instanceof RetentionRuleError)) throw e;
          return { repository: r.name, policy: resolved.policy, removedTags: [], keptTags: [], removedManifests: [], keptManifests: [], error: e.message };
        });
        report.tagsRemoved += done.removedTags.length;
        report.manifestsRemoved += done.removedManifests.length;
        report.repositories.push(done);
      }
    }
    report.durationMs = this.ctx.clock.now() - started;
    return report;
  }

  /**
   * One repository, in ONE unit of work under its lock (the immutable tag guard takes it): re-read, plan,
   * and (unless dry) remove what goes, with its webhook events in the same unit of work; the registry's
   * events once it has committed.
   */
  private async applyToRepository(repoId: number, repository: string, { policy, rules }: Resolved, dryRun: boolean): Promise<RepositoryRetention> {
    let recorded = 0;
    const plan = await this.ctx.meta.tx(async (m) => {
      const protects = await this.ctx.immutableTags.guard(m, repoId, repository);
      const p = planRetention(await m.retention.contents(repoId), rules, { now: this.ctx.clock.now(), isImmutable: (tag) => protects(tag) !== null });
      if (!dryRun) {
        await removeWhatRetentionDrops(m, repoId, p);
        recorded = await recordEvents(m, retentionChanges(repository, p));
      }
      return p;
    });
    if (!dryRun) {
      this.ctx.webhooks.recorded(recorded);
      for (const t of plan.removeTags) this.ctx.events.emitEvent({ type: 'tag.deleted', repository, tag: t.tag, actor: RETENTION_ACTOR });
      for (const x of plan.removeManifests) this.ctx.events.emitEvent({ type: 'manifest.deleted', repository, digest: x.digest, actor: RETENTION_ACTOR });
    }
    return {
      repository, policy,
      removedTags: plan.removeTags.map((t) => ({ tag: t.tag, digest: t.digest, pushedAt: iso(t.pushedAt) })),
      keptTags: plan.keepTags.map((t) => ({ tag: t.tag, digest: t.digest, pushedAt: iso(t.pushedAt), reasons: t.reasons })),
      removedManifests: plan.removeManifests.map((x) => ({ digest: x.digest, untaggedSince: iso(x.untaggedSince) })),
      keptManifests: plan.keepManifests.map((x) => ({ ...x, untaggedSince: iso(x.untaggedSince) })),
    };
  }
}

/** What webhooks are told of a run: a tag deleted for each tag, a manifest deleted for each untagged manifest. */
function retentionChanges(repository: string, plan: RetentionPlan): RegistryChange[] {
  const common = { repository, previousDigest: null, mediaType: null, size: null, actor: RETENTION_ACTOR };
  return [
    ...plan.removeTags.map((t): RegistryChange => ({ type: 'io.wharf.tag.deleted', ...common, digest: t.digest, tag: t.tag })),
    ...plan.removeManifests.map((x): RegistryChange => ({ type: 'io.wharf.image.deleted', ...common, digest: x.digest, tag: null, tags: [] })),
  ];
}

/**
 * Inside the repository's unit of work: removes the plan's tags (as a DELETE of each tag: recorded in tag
 * history) and untagged manifests (as a DELETE by digest).
 */
async function removeWhatRetentionDrops(m: MetaTx, repoId: number, plan: RetentionPlan): Promise<void> {
  for (const t of plan.removeTags) await m.tags.delete(repoId, t.tag);
  for (const x of plan.removeManifests) await removeManifest(m, repoId, x.digest);
}
