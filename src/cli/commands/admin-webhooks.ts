// wharf admin webhook create|list|deliveries|test|enable|disable|delete: webhook subscriptions of a
// namespace or one repository, their delivery log, and a test delivery.
import type { Command } from 'commander';
import type { WebhookEvent, WebhookFormat } from '../../client/admin-client.js';
import { readStdin } from '../prompt.js';
import { adminAction, adminCommand, namespaceTarget, table, UsageError, when, type CommonFlags } from './admin-common.js';

const EVENTS: readonly WebhookEvent[] = ['push', 'delete', 'pull', 'tag-move'];
const FORMATS: readonly WebhookFormat[] = ['cloudevents', 'distribution'];

function eventsOf(v: string): WebhookEvent[] {
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = list.filter((e) => !(EVENTS as readonly string[]).includes(e));
  if (list.length === 0 || bad.length > 0) throw new UsageError(`--events takes a list of ${EVENTS.join(', ')}, got ${JSON.stringify(v)}`);
  return [...new Set(list)] as WebhookEvent[];
}

function idOf(arg: string): number {
  if (!/^\d{1,15}$/.test(arg)) throw new UsageError(`a webhook id is a number (see \`wharf admin webhook list\`), got ${JSON.stringify(arg)}`);
  return Number(arg);
}

interface CreateFlags extends CommonFlags { events?: string; tags?: string; repositories?: string; payload?: string; batch?: string; secretStdin?: boolean; disabled?: boolean }

/** --batch: events per request, 1 to 100 (the server says so too; checked here to fail offline). */
function batchOf(v: string): number {
  const n = Number(v);
  if (!/^\d{1,3}$/.test(v) || n < 1 || n > 100) throw new UsageError(`--batch takes a number from 1 to 100, got ${JSON.stringify(v)}`);
  return n;
}

export function registerWebhooks(admin: Command): void {
  const webhook = admin.command('webhook')
    .description('webhooks: events of a namespace or one repository (push, delete, pull, tag-move) POSTed to a URL, signed with a secret');

  adminAction<CreateFlags>(
    adminCommand(webhook, 'create', 'subscribe URL to events of a namespace or one repository; a generated secret is printed once')
      .argument('<target>', 'ORG or ORG/REPO').argument('<url>', 'http:// or https:// URL of the receiver')
      .requiredOption('--events <list>', `what to send: ${EVENTS.join(',')}`)
      .option('--tags <glob>', 'only events of tags matching this (* any run, ? one character), e.g. v*')
      .option('--repositories <glob>', 'only events of repositories (full names) matching this, e.g. acme/app-*')
      .option('--payload <format>', 'cloudevents (default) or distribution (registry:2 notifications)')
      .option('--batch <n>', 'up to N events in one request (1-100, default 1: one event per request); for busy registries')
      .option('--secret-stdin', 'read the signing secret from standard input (default: one is generated)')
      .option('--disabled', 'make it disabled (enable it with `wharf admin webhook enable`)'),
    async (ctx, [target, url], f) => {
      const events = eventsOf(f.events!);
      const batch = f.batch === undefined ? undefined : batchOf(f.batch);
      if (f.payload !== undefined && !(FORMATS as readonly string[]).includes(f.payload)) throw new UsageError(`--payload takes cloudevents or distribution, got ${JSON.stringify(f.payload)}`);
      const t = namespaceTarget(target!);
      let secret: string | undefined;
      if (f.secretStdin) {
        secret = (await readStdin()).replace(/\r?\n$/, '');
        if (secret === '') throw new UsageError('the secret on standard input is empty');
      }
      const w = await (await ctx.client()).createWebhook(t.namespace, {
        url: url!, events, ...(t.repository === undefined ? {} : { repository: t.repository }), ...(f.repositories === undefined ? {} : { repositories: f.repositories }),
        ...(f.tags === undefined ? {} : { tags: f.tags }), ...(f.payload === undefined ? {} : { format: f.payload as WebhookFormat }), ...(batch === undefined ? {} : { batch }),
        ...(secret === undefined ? {} : { secret }), ...(f.disabled ? { enabled: false } : {}),
      });
      ctx.print(w, () => [
        `Created webhook ${w.id} on ${target}: ${w.events.join(',')} to ${w.url} (${w.format}${w.batch > 1 ? `, batches of up to ${w.batch}` : ''}${w.enabled ? '' : ', disabled'})`,
        ...(w.secret === undefined
          ? [`Deliveries are signed with the secret you gave (fingerprint ${w.secretFingerprint}).`]
          : ['Deliveries are signed with this secret (X-Wharf-Signature-256); it is shown only now, store it safely:', w.secret]),
      ]);
    });

  adminAction(adminCommand(webhook, 'list', 'the subscriptions of a namespace, or (no argument; system administrators) all').argument('[org]', 'ORG'),
    async (ctx, [org]) => {
      if (org !== undefined && org.includes('/')) throw new UsageError(`list takes a namespace (ORG), got ${JSON.stringify(org)}`);
      const hooks = await (await ctx.client()).webhooks(org);
      ctx.print(hooks, () => table(['ID', 'ON', 'EVENTS', 'FILTERS', 'FORMAT', 'BATCH', 'ENABLED', 'URL'], hooks.map((w) => [
        String(w.id), w.repository ?? w.namespace, w.events.join(','),
        [w.repositories === null ? '' : `repositories=${w.repositories}`, w.tags === null ? '' : `tags=${w.tags}`].filter(Boolean).join(' ') || '-',
        w.format, String(w.batch), w.enabled ? 'yes' : 'no', w.url,
      ])));
    });

  adminAction<CommonFlags & { limit?: string }>(
    adminCommand(webhook, 'deliveries', 'the last attempts to deliver to a subscription, newest first').argument('<id>')
      .option('-n, --limit <n>', 'at most this many (1-50, default 50)'),
    async (ctx, [idArg], f) => {
      const id = idOf(idArg!);
      let n: number | undefined;
      if (f.limit !== undefined) {
        n = Number(f.limit);
        if (!/^\d+$/.test(f.limit) || n < 1 || n > 50) throw new UsageError(`-n takes a number from 1 to 50, got ${JSON.stringify(f.limit)}`);
      }
      const log = await (await ctx.client()).webhookDeliveries(id, n);
      ctx.print(log, () => table(['AT', 'EVENT', 'ATTEMPT', 'STATUS', 'MS', 'OUTCOME', 'ERROR', 'EVENT ID'], log.map((d) => [
        when(d.at), d.eventType, String(d.attempt), d.status === null ? '-' : String(d.status), String(d.durationMs), d.outcome, d.error ?? '-', d.eventId,
      ])));
    });

  adminAction(adminCommand(webhook, 'test', 'send a test event now; exit 1 when the receiver does not take it').argument('<id>'), async (ctx, [idArg]) => {
    const id = idOf(idArg!);
    const r = await (await ctx.client()).testWebhook(id);
    ctx.print(r, () => [r.delivered
      ? `Delivered test event ${r.eventId} to webhook ${id}: HTTP ${r.status} in ${r.durationMs} ms`
      : `Test event ${r.eventId} to webhook ${id} failed: ${r.error ?? 'no answer'} (${r.durationMs} ms)`]);
    if (!r.delivered) process.exitCode = 1;
  });

  for (const [verb, enabled] of [['enable', true], ['disable', false]] as const) {
    adminAction(adminCommand(webhook, verb, enabled ? 'send events again (deliveries held while disabled go out)' : 'stop sending events (pending deliveries wait)').argument('<id>'),
      async (ctx, [idArg]) => {
        const w = await (await ctx.client()).updateWebhook(idOf(idArg!), { enabled });
        ctx.print(w, () => [`Webhook ${w.id} is ${enabled ? 'enabled' : 'disabled'}`]);
      });
  }

  adminAction(adminCommand(webhook, 'delete', 'delete a subscription with its pending deliveries and its log').argument('<id>'), async (ctx, [idArg]) => {
    const id = idOf(idArg!);
    await (await ctx.client()).deleteWebhook(id);
    ctx.print({ id, deleted: true }, () => [`Deleted webhook ${id}`]);
  });
}
