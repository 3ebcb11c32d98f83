// The admin REST API under /api/v1 (auth.mode builtin): users, organizations, teams, memberships, role
// grants, robots, personal access tokens, repository visibility, immutable tags, quotas, retention, webhooks, signing keys and the audit log. JSON in
// and out; one route table holds each route's schemas, which both validate requests and make the
// OpenAPI 3.1 document at /api/v1/openapi.json. Errors have the registry's JSON shape
// ({"errors":[{"code","message","detail"}]}). Callers sign in with Basic credentials (a password, an
// access token without an action limit, or a robot): a bearer token is scoped to images, not to this.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { Administration, type Actor, type PrincipalRef } from '../access/administration.js';
import { parseBasic } from '../access/basic-auth.js';
import type { BuiltinAccessController } from '../access/builtin.js';
import { namespaceOf } from '../access/roles.js';
import { retentionRulesJson } from '../config/retention-rules.js';
import type { Registry } from '../registry/registry.js';
import { RegistryError } from '../oci/errors.js';
import type { AuditTrail } from './audit-trail.js';
import { originOf } from './access-check.js';
import type { TestDeliveryResult } from '../jobs/webhook-dispatcher.js';
import type { WebhookRecord } from '../store/meta/meta-store.js';
import { notFound as webhookNotFound, WebhookSubscriptionService } from '../registry/webhook-subscriptions.js';
import { parseJsonBody, readBoundedBody, validate } from './http-utils.js';
import { buildOpenApi, type ApiRoute } from './admin-openapi.js';
import * as S from './admin-schemas.js';

const BODY_LIMIT = 64 * 1024;
const PREFIX = '/api/v1';

interface Call {
  actor: Actor;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  req: FastifyRequest;
}

type Handler = (c: Call) => Promise<{ status?: number; body?: unknown; audit?: { action: string; target: string; detail?: Record<string, unknown> } }>;

interface Route extends ApiRoute {
  handle: Handler;
}

function page(q: URLSearchParams): { after: string; limit: number } {
  const n = q.get('n');
  const limit = n === null ? 100 : Number(n);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RegistryError('INVALID', 'n must be an integer from 1 to 1000');
  return { after: q.get('last') ?? '', limit };
}

/** GET /api/v1/openapi.json: the document of these routes, made once. */
export function serveOpenApi(app: FastifyInstance, routes: readonly ApiRoute[]): void {
  const doc = JSON.stringify(buildOpenApi(routes, PREFIX));
  app.get(`${PREFIX}/openapi.json`, async (_req, reply) => { reply.type('application/json').send(doc); });
}

function principalOf(p: z.infer<typeof S.principal>): PrincipalRef {
  if (p.user !== undefined) return { user: p.user };
  if (p.team !== undefined) return { team: p.team };
  return { robot: p.robot! };
}

/** What the webhook routes need besides the store: the test delivery, and what to re-read after a change. */
export interface WebhookAdminDeps {
  test(w: WebhookRecord, actor: { name: string; kind: string }, origin: string): Promise<TestDeliveryResult>;
  changed(): Promise<void>;
}

/** scheme://host[:port] of a receiver's URL: what the audit log names (a path or query may hold a token). */
function receiverOf(url: string): string {
  try { return new URL(url).origin; } catch { return '(invalid URL)'; }
}

/** `documented`: routes served elsewhere under the prefix that the OpenAPI document also describes. */
export function registerAdminApi(app: FastifyInstance, controller: BuiltinAccessController, audit: AuditTrail, registry: Registry, webhookDeps?: WebhookAdminDeps, documented: readonly ApiRoute[] = []): void {
  const admin = new Administration(controller.meta, controller.signIn, controller.clock);
  const hooks = new WebhookSubscriptionService(controller.meta, webhookDeps?.changed ?? (async () => undefined));
  /** The subscription, when the actor administers its namespace (to anyone else it does not exist). */
  const ownWebhook = async (actor: Actor, idParam: string): Promise<WebhookRecord> => {
    const id = /^\d{1,15}$/.test(idParam) ? Number(idParam) : null;
    const w = id === null ? null : await hooks.get(id);
    if (!w || !(await admin.administers(actor, w.namespace))) throw webhookNotFound(idParam);
    return w;
  };
  const listed = <T>(items: T[], limit: number, key: (t: T) => string): { items: T[]; next: string | null } =>
    ({ items, next: items.length === limit ? key(items[items.length - 1]!) : null });

  const routes: Route[] = [
    { method: 'GET', path: '/me', summary: 'Who the caller is', response: S.me,
      handle: async ({ actor }) => ({ body: { name: actor.name, kind: actor.kind, admin: actor.kind === 'user' && actor.admin } }) },

    // Users (system administrators; everyone for their own password).
    { method: 'GET', path: '/users', summary: 'List users (paginated by name: n, last)', query: S.pageQuery, response: S.userList,
      handle: async ({ actor, query }) => { const p = page(query); return { body: listed((await admin.listUsers(actor, p.after, p.limit)).map(S.userOut), p.limit, (u) => u.name) }; } },
    { method: 'POST', path: '/users', summary: 'Create a user', body: S.newUser, response: S.user, status: 201,
      handle: async ({ actor, body }) => {
        const b = body as z.infer<typeof S.newUser>;
        const u = await admin.createUser(actor, b.name, b.password, b.admin ?? false);
        return { status: 201, body: S.userOut(u), audit: { action: 'user.create', target: u.name, detail: { admin: u.admin } } };
      } },
    { method: 'GET', path: '/users/{user}', summary: 'Show a user', response: S.user,
      handle: async ({ actor, params }) => ({ body: S.userOut(await admin.user(actor, params.user!)) }) },
    { method: 'DELETE', path: '/users/{user}', summary: 'Delete a user, with their memberships, grants and tokens', status: 204,
      handle: async ({ actor, params }) => { await admin.deleteUser(actor, params.user!); return { status: 204, audit: { action: 'user.delete', target: params.user! } }; } },
    { method: 'PUT', path: '/users/{user}/password', summary: 'Set a password (one\'s own, or anyone\'s as an administrator)', body: S.password, status: 204,
      handle: async ({ actor, params, body, req }) => {
        // One's own password is changed with the password itself: a leaked token must not take the account.
        if (!(actor.kind === 'user' && actor.admin) && signIns.get(req) !== 'password') {
          throw new RegistryError('DENIED', 'sign in with your current password (not a token) to change it');
        }
        await admin.setPassword(actor, params.user!, (body as z.infer<typeof S.password>).password);
        return { status: 204, audit: { action: 'user.password', target: params.user! } };
      } },
    { method: 'PUT', path: '/users/{user}/admin', summary: 'Make a user a system administrator, or not', body: S.adminFlag, status: 204,
      handle: async ({ actor, params, body }) => {
        const { admin: flag } = body as z.infer<typeof S.adminFlag>;
        await admin.setAdmin(actor, params.user!, flag);
        return { status: 204, audit: { action: 'user.admin', target: params.user!, detail: { admin: flag } } };
      } },

    // Organizations, teams, robots.
    { method: 'GET', path: '/orgs', summary: 'List the organizations the caller may see', query: S.pageQuery, response: S.orgList,
      handle: async ({ actor, query }) => { const p = page(query); return { body: listed((await admin.listOrgs(actor, p.after, p.limit)).map(S.orgOut), p.limit, (o) => o.name) }; } },
    { method: 'POST', path: '/orgs', summary: 'Create an organization (its creator administers it)', body: S.newOrg, response: S.org, status: 201,
      handle: async ({ actor, body }) => {
        const b = body as z.infer<typeof S.newOrg>;
        const o = await admin.createOrg(actor, b.name, b.visibility ?? 'private');
        return { status: 201, body: S.orgOut(o), audit: { action: 'org.create', target: o.name, detail: { visibility: o.visibility } } };
      } },
    { method: 'GET', path: '/orgs/{org}', summary: 'Show an organization', response: S.org,
      handle: async ({ actor, params }) => ({ body: S.orgOut(await admin.org(actor, params.org!)) }) },
    { method: 'DELETE', path: '/orgs/{org}', summary: 'Delete an organization with its teams, robots and grants (not its images)', status: 204,
      handle: async ({ actor, params }) => { await admin.deleteOrg(actor, params.org!); return { status: 204, audit: { action: 'org.delete', target: params.org! } }; } },
    { method: 'PUT', path: '/orgs/{org}/visibility', summary: 'Make an organization public or private', body: S.visibility, status: 204,
      handle: async ({ actor, params, body }) => {
        const { visibility } = body as z.infer<typeof S.visibility>;
        await admin.setOrgVisibility(actor, params.org!, visibility);
        return { status: 204, audit: { action: 'org.visibility', target: params.org!, detail: { visibility } } };
      } },
    { method: 'GET', path: '/orgs/{org}/teams', summary: 'List an organization\'s teams and their members', response: S.teamList,
      handle: async ({ actor, params }) => ({ body: { items: await admin.teams(actor, params.org!) } }) },
    { method: 'POST', path: '/orgs/{org}/teams', summary: 'Create a team', body: S.newTeam, status: 201,
      handle: async ({ actor, params, body }) => {
        const { name } = body as z.infer<typeof S.newTeam>;
        await admin.createTeam(actor, params.org!, name);
        return { status: 201, body: { name, members: [] }, audit: { action: 'team.create', target: `${params.org}/${name}` } };
      } },
    { method: 'DELETE', path: '/orgs/{org}/teams/{team}', summary: 'Delete a team', status: 204,
      handle: async ({ actor, params }) => { await admin.deleteTeam(actor, params.org!, params.team!); return { status: 204, audit: { action: 'team.delete', target: `${params.org}/${params.team}` } }; } },
    { method: 'PUT', path: '/orgs/{org}/teams/{team}/members/{user}', summary: 'Add a user to a team', status: 204,
      handle: async ({ actor, params }) => {
        await admin.setMembership(actor, params.org!, params.team!, params.user!, true);
        return { status: 204, audit: { action: 'team.add', target: `${params.org}/${params.team}`, detail: { user: params.user } } };
      } },
    { method: 'DELETE', path: '/orgs/{org}/teams/{team}/members/{user}', summary: 'Remove a user from a team', status: 204,
      handle: async ({ actor, params }) => {
        await admin.setMembership(actor, params.org!, params.team!, params.user!, false);
        return { status: 204, audit: { action: 'team.remove', target: `${params.org}/${params.team}`, detail: { user: params.user } } };
      } },
    { method: 'GET', path: '/orgs/{org}/robots', summary: 'List an organization\'s robots', response: S.robotList,
      handle: async ({ actor, params }) => ({ body: { items: (await admin.robots(actor, params.org!)).map((r) => ({ name: r.name, createdAt: S.time(r.createdAt)!, expiresAt: S.time(r.expiresAt), lastUsedAt: S.time(r.lastUsedAt) })) } }) },
    { method: 'POST', path: '/orgs/{org}/robots', summary: 'Create a robot (ORG+NAME); its secret is in this answer only', body: S.newRobot, response: S.createdRobot, status: 201,
      handle: async ({ actor, params, body }) => {
        const b = body as z.infer<typeof S.newRobot>;
        const made = await admin.createRobot(actor, params.org!, b.name, b.expiresAt === undefined ? null : Date.parse(b.expiresAt));
        return { status: 201, body: { name: made.record.name, secret: made.secret, expiresAt: S.time(made.record.expiresAt) }, audit: { action: 'robot.create', target: made.record.name } };
      } },
    { method: 'DELETE', path: '/orgs/{org}/robots/{robot}', summary: 'Delete a robot (its secret stops working at once)', status: 204,
      handle: async ({ actor, params }) => { await admin.deleteRobot(actor, params.org!, params.robot!); return { status: 204, audit: { action: 'robot.delete', target: `${params.org}+${params.robot}` } }; } },

    // Grants on a namespace (an organization or a user's own) or on one repository in it.
    { method: 'GET', path: '/namespaces/{namespace}/grants', summary: 'List the roles granted in a namespace', response: S.grantList,
      handle: async ({ actor, params }) => ({ body: { items: await admin.grants(actor, params.namespace!) } }) },
    { method: 'PUT', path: '/namespaces/{namespace}/grants', summary: 'Grant a role to a user, team or robot on the namespace or one repository', body: S.grant, status: 204,
      handle: async ({ actor, params, body }) => {
        const g = body as z.infer<typeof S.grant>;
        await admin.grant(actor, principalOf(g.principal), params.namespace!, g.repository ?? null, g.role);
        return { status: 204, audit: { action: 'grant.add', target: g.repository ?? params.namespace!, detail: { principal: g.principal, role: g.role } } };
      } },
    { method: 'POST', path: '/namespaces/{namespace}/grants/revoke', summary: 'Take a role back', body: S.revoke, status: 204,
      handle: async ({ actor, params, body }) => {
        const g = body as z.infer<typeof S.revoke>;
        if (!(await admin.revoke(actor, principalOf(g.principal), params.namespace!, g.repository ?? null))) throw new RegistryError('NOT_FOUND', 'no such grant');
        return { status: 204, audit: { action: 'grant.remove', target: g.repository ?? params.namespace!, detail: { principal: g.principal } } };
      } },

    // Immutable tags: patterns on a namespace or one repository in it (its admins decide; its members see them).
    { method: 'GET', path: '/immutable', summary: 'Every immutable tag pattern of the registry (system administrators)', response: S.immutableRuleList,
      handle: async ({ actor }) => ({ body: { items: (await admin.immutableTags(actor, null, null)).map(S.immutableRuleOut) } }) },
    { method: 'GET', path: '/namespaces/{namespace}/immutable', summary: 'The immutable tag patterns of a namespace, or those protecting one repository in it (repository)', query: S.immutableListQuery, response: S.immutableRuleList,
      handle: async ({ actor, params, query }) => {
        const q = S.immutableListQuery.parse(Object.fromEntries(query));
        return { body: { items: (await admin.immutableTags(actor, params.namespace!, q.repository ?? null)).map(S.immutableRuleOut) } };
      } },
    { method: 'POST', path: '/namespaces/{namespace}/immutable', summary: 'Make the tags matching a pattern immutable, on the namespace or one repository (201; 200 when the pattern was there)', body: S.newImmutableRule, response: S.addedImmutableRule, status: 201,
      handle: async ({ actor, params, body }) => {
        const b = body as z.infer<typeof S.newImmutableRule>;
        const ns = params.namespace!;
        const { created, rule } = await admin.addImmutableTags(actor, ns, b.repository ?? null, b.pattern);
        return {
          status: created ? 201 : 200,
          body: { ...S.immutableRuleOut(rule), created },
          ...(created ? { audit: { action: 'immutable.add', target: b.repository ?? ns, detail: { pattern: b.pattern } } } : {}),
        };
      } },
    { method: 'DELETE', path: '/namespaces/{namespace}/immutable', summary: 'Lift an immutable tag pattern (pattern, and repository for one set on a repository)', query: S.immutableRuleQuery, status: 204,
      handle: async ({ actor, params, query }) => {
        const q = S.immutableRuleQuery.parse(Object.fromEntries(query));
        const ns = params.namespace!;
        if (!(await admin.removeImmutableTags(actor, ns, q.repository ?? null, q.pattern))) {
          throw new RegistryError('NOT_FOUND', `no immutable tag pattern ${JSON.stringify(q.pattern)} on ${q.repository ?? ns}`);
        }
        return { status: 204, audit: { action: 'immutable.remove', target: q.repository ?? ns, detail: { pattern: q.pattern } } };
      } },

    // Quotas: limits on a namespace or one repository in it, with their usage (system administrators set them; members see them).
    { method: 'GET', path: '/quotas', summary: 'Every quota of the registry with its usage (system administrators)', response: S.quotaList,
      handle: async ({ actor }) => ({ body: { items: await admin.quotas(actor) } }) },
    { method: 'GET', path: '/namespaces/{namespace}/quota', summary: 'The quota and usage of a namespace, or of one repository in it (repository); limits are null where none is set', query: S.quotaQuery, response: S.quota,
      handle: async ({ actor, params, query }) => {
        const q = S.quotaQuery.parse(Object.fromEntries(query));
        return { body: await admin.quota(actor, { namespace: params.namespace!, repository: q.repository ?? null }) };
      } },
    { method: 'PUT', path: '/namespaces/{namespace}/quota', summary: 'Set the quota of a namespace or one repository (bytes: a number or a size such as 10GiB; tags): it replaces any (system administrators)', body: S.setQuota, response: S.quota,
      handle: async ({ actor, params, body }) => {
        const b = body as z.infer<typeof S.setQuota>;
        const limits = { bytes: b.bytes ?? null, tags: b.tags ?? null };
        const view = await admin.setQuota(actor, { namespace: params.namespace!, repository: b.repository ?? null }, limits);
        return { body: view, audit: { action: 'quota.set', target: b.repository ?? params.namespace!, detail: limits } };
      } },
    { method: 'DELETE', path: '/namespaces/{namespace}/quota', summary: 'Remove the quota of a namespace or one repository (repository) (system administrators)', query: S.quotaQuery, status: 204,
      handle: async ({ actor, params, query }) => {
        const q = S.quotaQuery.parse(Object.fromEntries(query));
        const ns = params.namespace!;
        if (!(await admin.removeQuota(actor, { namespace: ns, repository: q.repository ?? null }))) throw new RegistryError('NOT_FOUND', `no quota on ${q.repository ?? ns}`);
        return { status: 204, audit: { action: 'quota.unset', target: q.repository ?? ns } };
      } },
    // Retention policies: on a namespace or one repository in it (its admins decide; its members see them), and runs.
    { method: 'GET', path: '/retention', summary: 'Every retention policy of the registry, and the configuration\'s default (system administrators)', response: S.allRetentionPolicies,
      handle: async ({ actor }) => {
        const items = (await admin.retentionPolicies(actor, null, null)).map(S.retentionPolicyOut);
        return { body: { items, default: await registry.retention.policyFor(null, null) } };
      } },
    { method: 'GET', path: '/namespaces/{namespace}/retention', summary: 'The retention policies of a namespace, or of one repository in it (repository), and the one in effect', query: S.retentionQuery, response: S.retentionPolicyList,
      handle: async ({ actor, params, query }) => {
        const q = S.retentionQuery.parse(Object.fromEntries(query));
        const items = (await admin.retentionPolicies(actor, params.namespace!, q.repository ?? null)).map(S.retentionPolicyOut);
        return { body: { items, effective: await registry.retention.policyFor(params.namespace!, q.repository ?? null) } };
      } },
    { method: 'PUT', path: '/namespaces/{namespace}/retention', summary: 'Set (replace) the retention policy of the namespace or one repository in it (201 when new, 200 when replaced)', body: S.newRetentionPolicy, response: S.retentionPolicy, status: 201,
      handle: async ({ actor, params, body }) => {
        const { repository, ...rules } = body as z.infer<typeof S.newRetentionPolicy>;
        const ns = params.namespace!;
        const { created, policy } = await admin.setRetentionPolicy(actor, ns, repository ?? null, rules);
        return { status: created ? 201 : 200, body: S.retentionPolicyOut(policy), audit: { action: 'retention.set', target: repository ?? ns, detail: { ...retentionRulesJson(policy.rules) } } };
      } },
    { method: 'DELETE', path: '/namespaces/{namespace}/retention', summary: 'Remove the retention policy of the namespace, or of one repository in it (repository)', query: S.retentionQuery, status: 204,
      handle: async ({ actor, params, query }) => {
        const q = S.retentionQuery.parse(Object.fromEntries(query));
        const ns = params.namespace!;
        if (!(await admin.removeRetentionPolicy(actor, ns, q.repository ?? null))) throw new RegistryError('NOT_FOUND', `no retention policy on ${q.repository ?? ns}`);
        return { status: 204, audit: { action: 'retention.unset', target: q.repository ?? ns } };
      } },
    { method: 'POST', path: '/retention/run', summary: 'Apply retention now, or (dryRun) list what would go: everywhere, in a namespace, or in one repository', body: S.retentionRun, response: S.retentionReport,
      handle: async ({ actor, body }) => {
        const b = body as z.infer<typeof S.retentionRun>;
        const ns = b.repository === undefined ? b.namespace ?? null : namespaceOf(b.repository);
        if (b.repository !== undefined && b.namespace !== undefined && ns !== b.namespace) {
          throw new RegistryError('INVALID', `repository ${JSON.stringify(b.repository.slice(0, 300))} is not in ${b.namespace}`);
        }
        await admin.assertMayRunRetention(actor, ns, b.repository ?? null);
        const report = await registry.retention.run(b.repository === undefined ? { namespace: b.namespace } : { repository: b.repository }, b.dryRun === true);
        return {
          body: report,
          audit: { action: 'retention.run', target: b.repository ?? b.namespace ?? '*', detail: { dryRun: report.dryRun, tagsRemoved: report.tagsRemoved, manifestsRemoved: report.manifestsRemoved } },
        };
      } },
    // Webhooks: subscriptions on a namespace or one repository in it. Its admins (and system administrators)
    // manage them; found by id, a subscription of a namespace one does not administer does not exist.
    { method: 'GET', path: '/webhooks', summary: 'Every webhook subscription of the registry (system administrators)', response: S.webhookList,
      handle: async ({ actor }) => { admin.assertSystemAdmin(actor); return { body: { items: (await hooks.list()).map(S.webhookOut) } }; } },
    { method: 'GET', path: '/namespaces/{namespace}/webhooks', summary: 'A namespace\'s webhook subscriptions (on it and on its repositories)', response: S.webhookList,
      handle: async ({ actor, params }) => {
        await admin.assertWebhookAdmin(actor, params.namespace!, null);
        return { body: { items: (await hooks.list(params.namespace!)).map(S.webhookOut) } };
      } },
    { method: 'POST', path: '/namespaces/{namespace}/webhooks', summary: 'Subscribe a URL to events of the namespace or one repository; a generated secret is in this answer only', body: S.newWebhook, response: S.createdWebhook, status: 201,
      handle: async ({ actor, params, body }) => {
        const b = body as z.infer<typeof S.newWebhook>;
        const ns = params.namespace!;
        await admin.assertWebhookAdmin(actor, ns, b.repository ?? null);
        const made = await hooks.create(ns, b);
        return {
          status: 201, body: { ...S.webhookOut(made.record), ...(made.secret === undefined ? {} : { secret: made.secret }) },
          audit: { action: 'webhook.create', target: b.repository ?? ns, detail: { id: made.record.id, receiver: receiverOf(b.url), events: made.record.events } },
        };
      } },
    { method: 'GET', path: '/webhooks/{id}', summary: 'Show a webhook subscription (its secret only as a fingerprint)', response: S.webhook,
      handle: async ({ actor, params }) => ({ body: S.webhookOut(await ownWebhook(actor, params.id!)) }) },
    { method: 'PATCH', path: '/webhooks/{id}', summary: 'Change a subscription: enabled, events, url, repositories, tags, format, batch, secret (null clears a filter)', body: S.webhookChanges, response: S.webhook,
      handle: async ({ actor, params, body }) => {
        const w = await ownWebhook(actor, params.id!);
        const c = body as z.infer<typeof S.webhookChanges>;
        const updated = await hooks.update(w, c);
        return { body: S.webhookOut(updated), audit: { action: 'webhook.update', target: w.repository ?? w.namespace, detail: { id: w.id, changed: Object.keys(c).sort() } } };
      } },
    { method: 'DELETE', path: '/webhooks/{id}', summary: 'Delete a subscription with its pending deliveries and its log', status: 204,
      handle: async ({ actor, params }) => {
        const w = await ownWebhook(actor, params.id!);
        await hooks.delete(w);
        return { status: 204, audit: { action: 'webhook.delete', target: w.repository ?? w.namespace, detail: { id: w.id } } };
      } },
    { method: 'GET', path: '/webhooks/{id}/deliveries', summary: 'The last attempts to deliver to a subscription, newest first (n, at most 50)', query: S.deliveriesQuery, response: S.deliveryList,
      handle: async ({ actor, params, query }) => {
        const w = await ownWebhook(actor, params.id!);
        const q = S.deliveriesQuery.parse(Object.fromEntries(query));
        return { body: { items: (await hooks.deliveries(w, q.n ?? 50)).map(S.deliveryOut) } };
      } },
    { method: 'POST', path: '/webhooks/{id}/test', summary: 'Send a test event (io.wharf.webhook.test) now and tell how the receiver answered', response: S.testDelivery,
      handle: async ({ actor, params, req }) => {
        const w = await ownWebhook(actor, params.id!);
        if (!webhookDeps) throw new RegistryError('UNSUPPORTED', 'webhook delivery is not running in this process', { status: 503 });
        const r = await webhookDeps.test(w, actor, originOf(req));
        return {
          body: { eventId: r.eventId, delivered: r.delivered, status: r.status, durationMs: r.durationMs, response: r.response, error: r.error },
          audit: { action: 'webhook.test', target: w.repository ?? w.namespace, detail: { id: w.id, delivered: r.delivered, status: r.status } },
        };
      } },

    // Repository visibility (the path holds slashes: the name is a query parameter).
    { method: 'GET', path: '/repository-visibility', summary: 'A repository\'s own visibility and the one in effect', query: S.repoQuery, response: S.repoVisibility,
      handle: async ({ query }) => {
        const name = query.get('name') ?? '';
        return { body: { name, ...(await admin.repositoryVisibility(name)) } };
      } },
    { method: 'PUT', path: '/repository-visibility', summary: 'Make a repository public or private, or follow its namespace (null)', body: S.setRepoVisibility, status: 204,
      handle: async ({ actor, body }) => {
        const b = body as z.infer<typeof S.setRepoVisibility>;
        await admin.setRepositoryVisibility(actor, b.name, b.visibility);
        return { status: 204, audit: { action: 'repository.visibility', target: b.name, detail: { visibility: b.visibility } } };
      } },

    // Personal access tokens (one's own).
    { method: 'GET', path: '/tokens', summary: 'List the caller\'s personal access tokens', response: S.tokenList,
      handle: async ({ actor }) => ({ body: { items: (await admin.tokens(actor)).map(S.tokenOut) } }) },
    { method: 'POST', path: '/tokens', summary: 'Create a personal access token; its secret is in this answer only', body: S.newToken, response: S.createdToken, status: 201,
      handle: async ({ actor, body }) => {
        const b = body as z.infer<typeof S.newToken>;
        const made = await admin.createToken(actor, b.name, b.actions ?? null, b.expiresAt === undefined ? null : Date.parse(b.expiresAt));
        return { status: 201, body: { ...S.tokenOut(made.record), secret: made.secret }, audit: { action: 'token.create', target: `${actor.name}/${made.record.id}`, detail: { name: b.name } } };
      } },
    { method: 'DELETE', path: '/tokens/{id}', summary: 'Revoke a personal access token (at once)', status: 204,
      handle: async ({ actor, params }) => {
        const id = Number(params.id);
        if (!Number.isSafeInteger(id)) throw new RegistryError('NOT_FOUND', `no token ${JSON.stringify(params.id)}`);
        await admin.revokeToken(actor, id);
        return { status: 204, audit: { action: 'token.revoke', target: String(id) } };
      } },

    // The token service's signing keys (system administrators).
    { method: 'GET', path: '/signing-keys', summary: 'List the keys that verify tokens (the first signs)', response: S.keyList,
      handle: async ({ actor }) => {
        admin.assertSystemAdmin(actor);
        return { body: { items: controller.keys.all().map((k) => ({ kid: k.kid, createdAt: S.time(k.createdAt), supersededAt: S.time(k.supersededAt) })) } };
      } },
    { method: 'POST', path: '/signing-keys', summary: 'Add a key that signs from now on (older keys keep verifying)', status: 201,
      handle: async ({ actor }) => {
        admin.assertSystemAdmin(actor);
        const kid = await controller.keys.rotate();
        return { status: 201, body: { kid }, audit: { action: 'key.rotate', target: kid } };
      } },
    { method: 'DELETE', path: '/signing-keys/{kid}', summary: 'Retire a superseded key (tokens it signed stop verifying)', status: 204,
      handle: async ({ actor, params }) => {
        admin.assertSystemAdmin(actor);
        if (!(await controller.keys.retire(params.kid!))) throw new RegistryError('NOT_FOUND', `no retirable key ${JSON.stringify(params.kid)} (the signing key cannot be retired)`);
        controller.tokens.forget();
        return { status: 204, audit: { action: 'key.retire', target: params.kid! } };
      } },

    // The audit log (system administrators).
    { method: 'GET', path: '/audit', summary: 'The audit log, newest first (n, before, actor, action, since)', query: S.auditQuery, response: S.auditList,
      handle: async ({ actor, query }) => {
        admin.assertSystemAdmin(actor);
        const q = S.auditQuery.parse(Object.fromEntries(query));
        const n = q.n ?? 100;
        const items = await controller.meta.audit.query({ limit: n, before: q.before, actor: q.actor, action: q.action, since: q.since === undefined ? undefined : Date.parse(q.since) });
        return { body: { items: items.map(S.auditOut), next: items.length === n ? String(items[items.length - 1]!.id) : null } };
      } },
  ];

  serveOpenApi(app, [...routes, ...documented]);

  const signedInActor = async (req: FastifyRequest): Promise<Actor> => {
    const header = req.headers.authorization;
    const challenge = { 'WWW-Authenticate': 'Basic realm="wharf admin"' };
    const basic = header ? parseBasic(header) : null;
    if (!header || !basic) throw new RegistryError('UNAUTHORIZED', 'sign in with Basic credentials: a password, an access token, or a robot\'s secret', { headers: challenge });
    const signedIn = await controller.signIn.basic(header, basic.user, basic.password, req.ip).catch(async (e: unknown) => {
      await audit.record(req, { actor: basic.user, actorKind: 'unknown', action: 'login', target: 'admin-api', outcome: 'failed' });
      throw e instanceof RegistryError && e.code === 'UNAUTHORIZED' ? new RegistryError('UNAUTHORIZED', e.message, { headers: challenge }) : e;
    });
    // A token limited to some image actions is not a key to the administration.
    if (signedIn.cap !== null) throw new RegistryError('DENIED', 'this access token is limited to image actions; use one without a limit');
    signIns.set(req, signedIn.method);
    return signedIn.subject;
  };
  const signIns = new WeakMap<FastifyRequest, string>();

  for (const route of routes) {
    const url = PREFIX + route.path.replace(/\{(\w+)\}/g, ':$1');
    app.route({
      method: route.method,
      url,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const actor = await signedInActor(req);
        let body: unknown;
        if (route.body) {
          const raw = await readBoundedBody(req.raw, BODY_LIMIT, () => new RegistryError('SIZE_INVALID', 'request body too large', { status: 413 }));
          body = parseJsonBody(raw, route.body);
        }
        const rawUrl = req.raw.url ?? '';
        const qi = rawUrl.indexOf('?');
        const query = new URLSearchParams(qi < 0 ? '' : rawUrl.slice(qi + 1));
        if (route.query) validate(route.query, Object.fromEntries(query));
        const out = await route.handle({ actor, params: req.params as Record<string, string>, query, body, req });
        if (out.audit) await audit.record(req, { actor: actor.name, actorKind: actor.kind, outcome: 'ok', ...out.audit });
        reply.code(out.status ?? 200).header('Cache-Control', 'no-store');
        if (out.body === undefined) return void reply.send();
        reply.type('application/json').send(JSON.stringify(out.body));
      },
    });
  }
  // Anything else under the prefix: the same JSON error shape.
  app.all(`${PREFIX}/*`, async () => { throw new RegistryError('NOT_FOUND', 'no such admin API route'); });
}
