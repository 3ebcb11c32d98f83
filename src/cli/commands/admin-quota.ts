// wharf admin quota set|show|unset|list: storage and tag quotas of a namespace or one repository, and
// what each uses (every blob once per namespace, as Harbor counts it).
import type { Command } from 'commander';
import type { Quota } from '../../client/admin-client.js';
import { formatSize, parseSize } from '../../config/units.js';
import { adminAction, adminCommand, namespaceTarget, table, UsageError, type CommonFlags } from './admin-common.js';

/** "used (percent of the limit)", or the usage alone where there is no limit. */
function used(usage: number, limit: number | null, show: (n: number) => string): string {
  if (limit === null) return show(usage);
  const percent = limit === 0 ? (usage === 0 ? 0 : Infinity) : (usage / limit) * 100;
  return `${show(usage)} (${Number.isFinite(percent) ? `${Math.round(percent)}%` : 'over'})`;
}

function quotaTable(quotas: Quota[]): string[] {
  const count = (n: number): string => String(n);
  return table(['SET ON', 'STORAGE USED', 'STORAGE LIMIT', 'TAGS USED', 'TAGS LIMIT'], quotas.map((q) => [
    q.repository ?? q.namespace,
    used(q.usage.bytes, q.limits.bytes, formatSize), q.limits.bytes === null ? '-' : formatSize(q.limits.bytes),
    used(q.usage.tags, q.limits.tags, count), q.limits.tags === null ? '-' : count(q.limits.tags),
  ]));
}

function over(q: Quota): boolean {
  return (q.limits.bytes !== null && q.usage.bytes > q.limits.bytes) || (q.limits.tags !== null && q.usage.tags > q.limits.tags);
}

export function registerQuota(admin: Command): void {
  const quota = admin.command('quota')
    .description('quotas: the bytes (each blob once per namespace) and tags a namespace or one repository may hold; a push beyond them is refused');

  adminAction<CommonFlags & { bytes?: string; tags?: string }>(
    adminCommand(quota, 'set', 'set the quota of a namespace or one repository, replacing any (system administrators)').argument('<target>', 'ORG or ORG/REPO')
      .option('--bytes <size>', 'the storage limit: 500MiB, 10GB, 1.5GiB, or bytes').option('--tags <n>', 'the most tags it may hold'),
    async (ctx, [target], f) => {
      const t = namespaceTarget(target!);
      const limits: { bytes?: number; tags?: number } = {};
      if (f.bytes !== undefined) {
        const n = parseSize(f.bytes);
        if (n === null || !Number.isSafeInteger(n)) throw new UsageError(`--bytes takes a size such as 500MiB or 10GB, got ${JSON.stringify(f.bytes)}`);
        limits.bytes = n;
      }
      if (f.tags !== undefined) {
        if (!/^\d+$/.test(f.tags) || !Number.isSafeInteger(Number(f.tags))) throw new UsageError(`--tags takes a whole number, got ${JSON.stringify(f.tags)}`);
        limits.tags = Number(f.tags);
      }
      if (limits.bytes === undefined && limits.tags === undefined) throw new UsageError('set --bytes, --tags or both');
      const q = await (await ctx.client()).setQuota(t.namespace, limits, t.repository);
      ctx.print(q, () => [
        `Quota of ${target}: ${q.limits.bytes === null ? 'no storage limit' : formatSize(q.limits.bytes)}, ${q.limits.tags === null ? 'no tag limit' : `${q.limits.tags} tag${q.limits.tags === 1 ? '' : 's'}`}`,
        ...quotaTable([q]),
        ...(over(q) ? [`${target} holds more than its quota already: pushes that add to it are refused`] : []),
      ]);
    });

  adminAction(adminCommand(quota, 'show', 'the quota and usage of a namespace or one repository (usage alone when none is set)').argument('<target>', 'ORG or ORG/REPO'),
    async (ctx, [target]) => {
      const t = namespaceTarget(target!);
      const q = await (await ctx.client()).quota(t.namespace, t.repository);
      ctx.print(q, () => [...quotaTable([q]), ...(over(q) ? [`${target} is over its quota: pushes that add to it are refused`] : [])]);
    });

  adminAction(adminCommand(quota, 'unset', 'remove the quota of a namespace or one repository (system administrators)').argument('<target>', 'ORG or ORG/REPO'),
    async (ctx, [target]) => {
      const t = namespaceTarget(target!);
      await (await ctx.client()).removeQuota(t.namespace, t.repository);
      ctx.print({ namespace: t.namespace, repository: t.repository ?? null, removed: true }, () => [`Removed the quota of ${target}`]);
    });

  adminAction(adminCommand(quota, 'list', 'every quota of the registry with its usage (system administrators)'), async (ctx) => {
    const quotas = await (await ctx.client()).quotas();
    ctx.print(quotas, () => quotaTable(quotas));
  });
}
