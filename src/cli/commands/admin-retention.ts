// wharf admin retention set|show|unset|run: retention policies on a namespace or one repository (what to
// keep of its tags, how long untagged manifests stay), and applying them now or listing what would go.
import type { Command } from 'commander';
import type { EffectiveRetention, RetentionPolicy, RetentionReport } from '../../client/admin-client.js';
import { describeRetentionRules, retentionRulesFrom } from '../../config/retention-rules.js';
import { adminAction, adminCommand, namespaceTarget, table, UsageError, when, type CommonFlags } from './admin-common.js';

interface RuleFlags extends CommonFlags { keepLast?: string; match?: string; keepWithin?: string; keep?: string; untaggedOlderThan?: string }

const FLAGS: Record<string, string> = { keepLast: '--keep-last', match: '--match', keepWithin: '--keep-within', keep: '--keep', untaggedOlderThan: '--untagged-older-than' };

/** The rules the flags give, checked here as the server checks them (a mistake exits 2 offline). */
function rulesOf(f: RuleFlags): Partial<Record<keyof typeof FLAGS, string | number>> {
  if (f.keepLast !== undefined && !/^\d+$/.test(f.keepLast)) throw new UsageError(`--keep-last takes a whole number, got ${JSON.stringify(f.keepLast)}`);
  const given = {
    ...(f.keepLast === undefined ? {} : { keepLast: Number(f.keepLast) }), ...(f.match === undefined ? {} : { match: f.match }),
    ...(f.keepWithin === undefined ? {} : { keepWithin: f.keepWithin }), ...(f.keep === undefined ? {} : { keep: f.keep }),
    ...(f.untaggedOlderThan === undefined ? {} : { untaggedOlderThan: f.untaggedOlderThan }),
  };
  const parsed = retentionRulesFrom(given);
  if ('problem' in parsed) throw new UsageError(parsed.problem.replace(/\b(keepLast|match|keepWithin|keep|untaggedOlderThan)\b/g, (k) => FLAGS[k]!));
  return given;
}

function setOnText(p: EffectiveRetention): string {
  if (p.setOn === 'repository') return `its own policy (${p.repository})`;
  if (p.setOn === 'namespace') return `the policy of namespace ${p.namespace}`;
  return 'the configuration\'s default (retention.default)';
}

function policyTable(items: RetentionPolicy[]): string[] {
  return table(['SET ON', 'RULES', 'UPDATED'], items.map((p) => [p.repository ?? p.namespace, describeRetentionRules(p), when(p.updatedAt)]));
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The report for people: a summary line, then per repository its policy and what goes and stays. */
export function formatRetentionReport(r: RetentionReport): string[] {
  const what = `${count(r.tagsRemoved, 'tag', 'tags')} and ${count(r.manifestsRemoved, 'untagged manifest', 'untagged manifests')}`;
  const where = `${count(r.repositories.length, 'repository', 'repositories')} with a policy`;
  const lines = [r.dryRun ? `Retention dry run (nothing changed): ${what} would go, in ${where}` : `Retention: ${what} removed, in ${where}`];
  for (const repo of r.repositories) {
    lines.push('', `${repo.repository}: ${setOnText(repo.policy)}: ${describeRetentionRules(repo.policy)}`);
    const rows = [
      ...repo.removedTags.map((t) => ['remove', `tag ${t.tag}`, t.digest, `pushed ${when(t.pushedAt)}`]),
      ...repo.keptTags.map((t) => ['keep', `tag ${t.tag}`, t.digest, t.reasons.join(', ')]),
      ...repo.removedManifests.map((m) => ['remove', 'manifest', m.digest, `untagged since ${when(m.untaggedSince)}`]),
      ...repo.keptManifests.map((m) => ['keep', 'manifest', m.digest, `${m.as} of ${m.neededBy}`]),
    ];
    if (repo.error !== undefined) lines.push(`  not applied: ${repo.error}`);
    else if (rows.length === 0) lines.push('  nothing to do');
    else lines.push(...table(['ACTION', 'WHAT', 'DIGEST', 'WHY'], rows).map((l) => `  ${l}`));
  }
  return lines;
}

export function registerRetention(admin: Command): void {
  const retention = admin.command('retention')
    .description('retention policies: which tags to keep (the rest go; history can restore them within history.keep) and how long untagged manifests stay');

  adminAction<RuleFlags>(adminCommand(retention, 'set', 'set (replace) the retention policy of a namespace or one repository').argument('<target>', 'ORG or ORG/REPO')
    .option('--keep-last <n>', 'keep the N most recently pushed tags (of those --match selects)')
    .option('--match <regex>', 'limit --keep-last to the tags this regular expression matches (the whole tag)')
    .option('--keep-within <duration>', 'keep tags pushed within this long (30d, 12h)')
    .option('--keep <regex>', 'always keep tags this regular expression matches (the whole tag)')
    .option('--untagged-older-than <duration>', 'delete manifests without a tag for longer than this (30d)'),
  async (ctx, [target], f) => {
    const t = namespaceTarget(target!);
    const rules = rulesOf(f);
    const p = await (await ctx.client()).setRetention(t.namespace, rules, t.repository);
    ctx.print(p, () => [`Retention policy of ${target}: ${describeRetentionRules(p)}`]);
  });

  adminAction(adminCommand(retention, 'show', 'the policies of a namespace, of one repository (and the one in effect), or (no argument; system administrators) all').argument('[target]', 'ORG or ORG/REPO'),
    async (ctx, [target]) => {
      const t = target === undefined ? undefined : namespaceTarget(target);
      const r = await (await ctx.client()).retention(t?.namespace, t?.repository);
      ctx.print(r, () => {
        const lines = r.items.length === 0 ? ['No retention policies'] : policyTable(r.items);
        if (t === undefined) lines.push(r.default ? `Default (retention.default): ${describeRetentionRules(r.default)}` : 'No default in the configuration');
        else lines.push(r.effective ? `In effect for ${target}: ${setOnText(r.effective)}: ${describeRetentionRules(r.effective)}` : `No retention policy applies to ${target}`);
        return lines;
      });
    });

  adminAction(adminCommand(retention, 'unset', 'remove the retention policy of a namespace or one repository').argument('<target>', 'ORG or ORG/REPO'),
    async (ctx, [target]) => {
      const t = namespaceTarget(target!);
      await (await ctx.client()).unsetRetention(t.namespace, t.repository);
      ctx.print({ namespace: t.namespace, repository: t.repository ?? null, removed: true }, () => [`Removed the retention policy of ${target}`]);
    });

  adminAction<CommonFlags & { dryRun?: boolean }>(adminCommand(retention, 'run', 'apply retention now, or list what would go (--dry-run): everywhere (system administrators), in a namespace or one repository')
    .argument('[target]', 'ORG or ORG/REPO').option('--dry-run', 'list what would go and why the rest stays; change nothing'),
  async (ctx, [target], f) => {
    const t: { namespace?: string; repository?: string } = target === undefined ? {} : namespaceTarget(target);
    const report = await (await ctx.client()).runRetention(t.repository === undefined ? { namespace: t.namespace } : { repository: t.repository }, f.dryRun === true);
    ctx.print(report, () => formatRetentionReport(report));
  });
}
