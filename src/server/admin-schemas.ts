// The admin API's request and response shapes (zod): they validate requests and, through
// admin-openapi.ts, are the OpenAPI document. Times are ISO 8601 strings; absent ones are null.
import { z } from 'zod';
import type { AuditRecord, OrgRecord, TokenRecord, UserRecord } from '../store/meta/account-store.js';
import type { DeliveryLogEntry, ImmutableTagRule, RetentionPolicyRecord, WebhookEventKind, WebhookRecord } from '../store/meta/meta-store.js';
import { parseSize } from '../config/units.js';
import { MAX_KEEP_LAST, MAX_TAG_REGEX, retentionRulesJson } from '../config/retention-rules.js';
import { isValidRepositoryPattern, isValidTagPattern } from '../oci/tag-patterns.js';
import { secretFingerprint, shownUrl, WEBHOOK_BATCH_MAX } from '../registry/webhook-subscriptions.js';
import { WEBHOOK_EVENT_KINDS } from '../registry/webhook-events.js';

export const time = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const name = z.string().min(1).max(255);
const isoTime = z.iso.datetime({ offset: true });
const nullableTime = z.string().nullable();
export const visibilityValue = z.enum(['private', 'public']);
const role = z.enum(['viewer', 'editor', 'admin']);
const action = z.enum(['pull', 'push', 'delete']);
const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next: z.string().nullable().optional() });

export const pageQuery = z.object({ n: z.string().regex(/^\d+$/).optional(), last: z.string().optional() }).strict();

export const me = z.object({ name: z.string(), kind: z.enum(['user', 'robot']), admin: z.boolean() });

export const user = z.object({ name: z.string(), admin: z.boolean(), createdAt: z.string() });
export const userList = list(user);
export const userOut = (u: UserRecord): z.infer<typeof user> => ({ name: u.name, admin: u.admin, createdAt: time(u.createdAt)! });
export const newUser = z.object({ name, password: z.string(), admin: z.boolean().optional() }).strict();
export const password = z.object({ password: z.string() }).strict();
export const adminFlag = z.object({ admin: z.boolean() }).strict();

export const org = z.object({ name: z.string(), visibility: visibilityValue, createdAt: z.string() });
export const orgList = list(org);
export const orgOut = (o: OrgRecord): z.infer<typeof org> => ({ name: o.name, visibility: o.visibility, createdAt: time(o.createdAt)! });
export const newOrg = z.object({ name, visibility: visibilityValue.optional() }).strict();
export const visibility = z.object({ visibility: visibilityValue }).strict();

export const newTeam = z.object({ name }).strict();
export const teamList = list(z.object({ name: z.string(), members: z.array(z.string()) }));

export const newRobot = z.object({ name, expiresAt: isoTime.optional() }).strict();
export const createdRobot = z.object({ name: z.string(), secret: z.string(), expiresAt: nullableTime });
export const robotList = list(z.object({ name: z.string(), createdAt: z.string(), expiresAt: nullableTime, lastUsedAt: nullableTime }));

/** Exactly one of user, team (of the namespace's organization) or robot. */
export const principal = z.object({ user: name.optional(), team: name.optional(), robot: name.optional() }).strict()
  .refine((p) => [p.user, p.team, p.robot].filter((x) => x !== undefined).length === 1, 'name exactly one of user, team or robot');
export const grant = z.object({ principal, repository: name.optional(), role }).strict();
export const revoke = z.object({ principal, repository: name.optional() }).strict();
export const grantList = list(z.object({ principal: z.object({ user: z.string().optional(), team: z.string().optional(), robot: z.string().optional() }), repository: z.string().nullable(), role }));

export const repoQuery = z.object({ name }).strict();
export const setRepoVisibility = z.object({ name, visibility: visibilityValue.nullable() }).strict();
export const repoVisibility = z.object({ name: z.string(), own: visibilityValue.nullable(), effective: visibilityValue });

// Immutable tags: `*` (any run) and `?` (one character) globs anchored to the whole tag.
const tagPattern = z.string().regex(/^[a-zA-Z0-9_.\-*?]{1,128}$/, 'a tag pattern: the characters of a tag and the wildcards * and ?');
export const newImmutableRule = z.object({ pattern: tagPattern, repository: name.optional() }).strict();
export const immutableRuleQuery = z.object({ pattern: z.string().min(1), repository: name.optional() }).strict();
export const immutableListQuery = z.object({ repository: name.optional() }).strict();
export const immutableRule = z.object({ namespace: z.string(), repository: z.string().nullable(), pattern: z.string(), createdAt: z.string() });
export const addedImmutableRule = immutableRule.extend({ created: z.boolean() });
export const immutableRuleList = list(immutableRule);
export const immutableRuleOut = (r: ImmutableTagRule): z.infer<typeof immutableRule> =>
  ({ namespace: r.namespace, repository: r.repository, pattern: r.pattern, createdAt: time(r.createdAt)! });

// Quotas: limits on a namespace or one repository in it (at least one), and what it uses.
const quotaBytes = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === null || !Number.isSafeInteger(n)) {
    ctx.addIssue({ code: 'custom', message: `expected a number of bytes or a size such as 500MiB or 10GB, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return n;
});
export const setQuota = z.object({ repository: name.optional(), bytes: quotaBytes.optional(), tags: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).strict()
  .refine((q) => q.bytes !== undefined || q.tags !== undefined, 'set bytes, tags or both');
export const quotaQuery = z.object({ repository: name.optional() }).strict();
export const quota = z.object({
  namespace: z.string(), repository: z.string().nullable(),
  limits: z.object({ bytes: z.number().nullable(), tags: z.number().nullable() }),
  usage: z.object({ bytes: z.number(), tags: z.number() }),
});
export const quotaList = list(quota);
// Retention policies (config/retention-rules.ts): regular expressions over the whole tag; durations as 30d,
// 12h or 1h30m (or milliseconds); a rule left out or null is not set.
const durationIn = z.union([z.string().min(1).max(50), z.number().int().min(0)]);
const tagRegexIn = z.string().min(1).max(MAX_TAG_REGEX);
export const newRetentionPolicy = z.object({
  repository: name.optional(),
  keepLast: z.number().int().min(1).max(MAX_KEEP_LAST).nullish(),
  match: tagRegexIn.nullish(),
  keepWithin: durationIn.nullish(),
  keep: tagRegexIn.nullish(),
  untaggedOlderThan: durationIn.nullish(),
}).strict();
export const retentionQuery = z.object({ repository: name.optional() }).strict();
const retentionRules = {
  keepLast: z.number().nullable(), match: z.string().nullable(), keepWithin: z.string().nullable(), keep: z.string().nullable(), untaggedOlderThan: z.string().nullable(),
};
export const retentionPolicy = z.object({ namespace: z.string(), repository: z.string().nullable(), ...retentionRules, createdAt: z.string(), updatedAt: z.string() });
export const retentionPolicyOut = (p: RetentionPolicyRecord): z.infer<typeof retentionPolicy> => ({
  namespace: p.namespace, repository: p.repository, ...retentionRulesJson(p.rules), createdAt: time(p.createdAt)!, updatedAt: time(p.updatedAt)!,
});
/** The policy in effect (a repository's own, its namespace's, or the configuration's), or null. */
const effectiveRetention = z.object({
  setOn: z.enum(['repository', 'namespace', 'configuration']), namespace: z.string().nullable(), repository: z.string().nullable(), ...retentionRules,
});
export const retentionPolicyList = z.object({ items: z.array(retentionPolicy), effective: effectiveRetention.nullable() });
export const allRetentionPolicies = z.object({ items: z.array(retentionPolicy), default: effectiveRetention.nullable() });
export const retentionRun = z.object({ namespace: name.optional(), repository: name.optional(), dryRun: z.boolean().optional() }).strict();
const plannedTag = { tag: z.string(), digest: z.string(), pushedAt: z.string() };
export const retentionReport = z.object({
  dryRun: z.boolean(), namespace: z.string().nullable(), repository: z.string().nullable(), startedAt: z.string(), durationMs: z.number(),
  tagsRemoved: z.number(), manifestsRemoved: z.number(),
  repositories: z.array(z.object({
    repository: z.string(),
    policy: effectiveRetention,
    removedTags: z.array(z.object(plannedTag)),
    keptTags: z.array(z.object({ ...plannedTag, reasons: z.array(z.enum(['keep-last', 'keep-within', 'keep', 'immutable'])) })),
    removedManifests: z.array(z.object({ digest: z.string(), untaggedSince: z.string() })),
    keptManifests: z.array(z.object({ digest: z.string(), untaggedSince: z.string(), neededBy: z.string(), as: z.enum(['child', 'referrer']) })),
    error: z.string().optional(),
  })),
});
// Webhooks: subscriptions on a namespace or one repository in it; the secret is in the creation's answer only.
const webhookUrl = z.string().max(2048).refine((v) => {
  try { return ['http:', 'https:'].includes(new URL(v).protocol); } catch { return false; }
}, 'an http:// or https:// URL');
const webhookEvents = z.array(z.enum(WEBHOOK_EVENT_KINDS as [WebhookEventKind, ...WebhookEventKind[]])).min(1);
const webhookFormat = z.enum(['cloudevents', 'distribution']);
const webhookBatch = z.number().int().min(1).max(WEBHOOK_BATCH_MAX);
const repositoryGlob = z.string().refine(isValidRepositoryPattern, 'a repository pattern: the characters of a repository name (a-z 0-9 . _ - /) and the wildcards * and ?');
const tagGlob = z.string().refine(isValidTagPattern, 'a tag pattern: the characters of a tag and the wildcards * and ?');
export const newWebhook = z.object({
  url: webhookUrl, events: webhookEvents, repository: name.optional(), repositories: repositoryGlob.optional(), tags: tagGlob.optional(),
  format: webhookFormat.optional(), secret: z.string().min(1).max(1024).optional(), enabled: z.boolean().optional(), batch: webhookBatch.optional(),
}).strict();
export const webhookChanges = z.object({
  url: webhookUrl.optional(), events: webhookEvents.optional(), repositories: repositoryGlob.nullable().optional(), tags: tagGlob.nullable().optional(),
  format: webhookFormat.optional(), secret: z.string().min(1).max(1024).optional(), enabled: z.boolean().optional(), batch: webhookBatch.optional(),
}).strict().refine((c) => Object.keys(c).length > 0, 'name something to change');
export const webhook = z.object({
  id: z.number(), namespace: z.string(), repository: z.string().nullable(), url: z.string(), events: z.array(z.string()),
  repositories: z.string().nullable(), tags: z.string().nullable(), format: webhookFormat, enabled: z.boolean(), batch: z.number(),
  secretFingerprint: z.string(), createdAt: z.string(), updatedAt: z.string(),
});
export const createdWebhook = webhook.extend({ secret: z.string().optional() });
export const webhookList = list(webhook);
export const webhookOut = (w: WebhookRecord): z.infer<typeof webhook> => ({
  id: w.id, namespace: w.namespace, repository: w.repository, url: shownUrl(w.url), events: w.events, repositories: w.repositories,
  tags: w.tags, format: w.format, enabled: w.enabled, batch: w.batch, secretFingerprint: secretFingerprint(w.secret), createdAt: time(w.createdAt)!, updatedAt: time(w.updatedAt)!,
});
export const deliveriesQuery = z.object({ n: z.coerce.number().int().min(1).max(50).optional() }).strict();
export const delivery = z.object({
  id: z.number(), eventId: z.string(), eventType: z.string(), attempt: z.number(), at: z.string(), durationMs: z.number(),
  status: z.number().nullable(), response: z.string().nullable(), error: z.string().nullable(), outcome: z.enum(['delivered', 'failed_attempt', 'gave_up']),
});
export const deliveryList = list(delivery);
export const deliveryOut = (d: DeliveryLogEntry): z.infer<typeof delivery> => ({
  id: d.id, eventId: d.eventId, eventType: d.eventType, attempt: d.attempt, at: time(d.at)!, durationMs: d.durationMs,
  status: d.status, response: d.response, error: d.error, outcome: d.outcome,
});
export const testDelivery = z.object({
  eventId: z.string(), delivered: z.boolean(), status: z.number().nullable(), durationMs: z.number(), response: z.string().nullable(), error: z.string().nullable(),
});

export const token = z.object({
  id: z.number(), name: z.string(), actions: z.array(action).nullable(), createdAt: z.string(), expiresAt: nullableTime,
  lastUsedAt: nullableTime, revokedAt: nullableTime,
});
export const tokenList = list(token);
export const tokenOut = (t: TokenRecord): z.infer<typeof token> => ({
  id: t.id, name: t.name, actions: t.actions as z.infer<typeof action>[] | null, createdAt: time(t.createdAt)!, expiresAt: time(t.expiresAt),
  lastUsedAt: time(t.lastUsedAt), revokedAt: time(t.revokedAt),
});
export const newToken = z.object({ name: z.string().min(1).max(100), actions: z.array(action).min(1).optional(), expiresAt: isoTime.optional() }).strict();
export const createdToken = token.extend({ secret: z.string() });

export const keyList = list(z.object({ kid: z.string(), createdAt: nullableTime, supersededAt: nullableTime }));

export const auditQuery = z.object({
  n: z.coerce.number().int().min(1).max(1000).optional(),
  before: z.coerce.number().int().positive().optional(),
  actor: z.string().optional(),
  action: z.string().optional(),
  since: isoTime.optional(),
}).strict();
export const auditEntry = z.object({
  id: z.number(), at: z.string(), actor: z.string(), actorKind: z.string(), remote: z.string(), action: z.string(), target: z.string(),
  outcome: z.enum(['ok', 'denied', 'failed']), detail: z.unknown().nullable(),
});
export const auditList = list(auditEntry);
export const auditOut = (r: AuditRecord): z.infer<typeof auditEntry> => ({
  id: r.id, at: time(r.at)!, actor: r.actor, actorKind: r.actorKind, remote: r.remote, action: r.action, target: r.target, outcome: r.outcome,
  detail: r.detail === null ? null : JSON.parse(r.detail) as unknown,
});
