// The admin REST API of a Wharf registry (/api/v1, auth.mode builtin) from the outside: HTTP Basic with
// the credentials `wharf login` stored in auth.json, TLS as certs.d / --cert-dir / --tls-verify say, and
// the server's JSON errors turned into AdminApiError with the server's own message.
import { HttpPools, type HttpResponse } from './http-transport.js';
import { resolveCredentials } from './auth-file.js';
import { isInsecure, loadRegistriesConf } from './registries-conf.js';
import { loadTlsSettings, tlsConnectOptions } from './tls-settings.js';
import { WharfError } from '../oci/errors.js';

const PREFIX = '/api/v1';

export interface AdminUser { name: string; admin: boolean; createdAt: string }
export interface AdminOrg { name: string; visibility: Visibility; createdAt: string }
export interface AdminTeam { name: string; members: string[] }
export interface AdminRobot { name: string; createdAt: string; expiresAt: string | null; lastUsedAt: string | null }
export interface CreatedRobot { name: string; secret: string; expiresAt: string | null }
export interface AdminToken {
  id: number; name: string; actions: TokenAction[] | null; createdAt: string; expiresAt: string | null;
  lastUsedAt: string | null; revokedAt: string | null;
}
export interface CreatedToken extends AdminToken { secret: string }
export interface ImmutableRule { namespace: string; repository: string | null; pattern: string; createdAt: string }
export interface AddedImmutableRule extends ImmutableRule { created: boolean }
export interface RepoVisibility { name: string; own: Visibility | null; effective: Visibility }
/** A namespace's or repository's quota (null limits: none set) and usage. */
export interface Quota {
  namespace: string; repository: string | null;
  limits: { bytes: number | null; tags: number | null };
  usage: { bytes: number; tags: number };
}

/** Retention rules as the admin API speaks them: durations as 30d, 12h; null where a rule is not set. */
export interface RetentionRulesOut { keepLast: number | null; match: string | null; keepWithin: string | null; keep: string | null; untaggedOlderThan: string | null }
export interface RetentionPolicy extends RetentionRulesOut { namespace: string; repository: string | null; createdAt: string; updatedAt: string }
export interface EffectiveRetention extends RetentionRulesOut { setOn: 'repository' | 'namespace' | 'configuration'; namespace: string | null; repository: string | null }
export interface RetentionReport {
  dryRun: boolean; namespace: string | null; repository: string | null; startedAt: string; durationMs: number; tagsRemoved: number; manifestsRemoved: number;
  repositories: {
    repository: string; policy: EffectiveRetention;
    removedTags: { tag: string; digest: string; pushedAt: string }[];
    keptTags: { tag: string; digest: string; pushedAt: string; reasons: string[] }[];
    removedManifests: { digest: string; untaggedSince: string }[];
    keptManifests: { digest: string; untaggedSince: string; neededBy: string; as: 'child' | 'referrer' }[];
    error?: string;
  }[];
}
export interface AuditEntry {
  id: number; at: string; actor: string; actorKind: string; remote: string; action: string; target: string;
  outcome: 'ok' | 'denied' | 'failed'; detail: unknown;
}
export type WebhookEvent = 'push' | 'delete' | 'pull' | 'tag-move';
export type WebhookFormat = 'cloudevents' | 'distribution';
export interface Webhook {
  id: number; namespace: string; repository: string | null; url: string; events: WebhookEvent[]; repositories: string | null; tags: string | null;
  format: WebhookFormat; enabled: boolean; batch: number; secretFingerprint: string; createdAt: string; updatedAt: string;
}
/** The creation's answer: with the secret when the server generated it (this once). */
export interface CreatedWebhook extends Webhook { secret?: string }
export interface NewWebhookRequest {
  url: string; events: WebhookEvent[]; repository?: string; repositories?: string; tags?: string; format?: WebhookFormat; secret?: string; enabled?: boolean; batch?: number;
}
export interface WebhookChanges {
  url?: string; events?: WebhookEvent[]; repositories?: string | null; tags?: string | null; format?: WebhookFormat; secret?: string; enabled?: boolean; batch?: number;
}
export interface WebhookDelivery {
  id: number; eventId: string; eventType: string; attempt: number; at: string; durationMs: number; status: number | null;
  response: string | null; error: string | null; outcome: 'delivered' | 'failed_attempt' | 'gave_up';
}
export interface WebhookTestResult { eventId: string; delivered: boolean; status: number | null; durationMs: number; response: string | null; error: string | null }
export type Visibility = 'public' | 'private';
export type Role = 'viewer' | 'editor' | 'admin';
export type TokenAction = 'pull' | 'push' | 'delete';
/** Exactly one of the three. */
export type Principal = { user: string } | { team: string } | { robot: string };

interface Page<T> { items: T[]; next?: string | null }

/** An error the server answered with (its status, code and message). */
export class AdminApiError extends WharfError {
  constructor(message: string, readonly status: number, readonly code?: string, readonly detail?: unknown) {
    super(message);
  }
}

/** Something on this side: no stored login, unreachable server. */
export class AdminClientError extends WharfError {}

export interface AdminClientOptions {
  /** --authfile */
  authFile?: string;
  /** --tls-verify; undefined: as registries.conf says (default verify). */
  tlsVerify?: boolean;
  certDir?: string;
  /** Without a stored login, call anonymously (an open registry) instead of failing. */
  anonymous?: boolean;
}

/** One entry of a tag's history (/api/v1/repositories/{name}/history). */
export interface HistoryEntry { tag: string; digest: string | null; at: string; restorable: boolean }
export interface RestoredTag { repository: string; tag: string; digest: string; mediaType: string }

/** host[:port] from a registry argument that may carry a scheme or a path (`https://host/v1/`). */
export function registryHost(arg: string): string {
  return arg.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
}

/** The username and password `wharf login` stored for `registry`; a clear error when there are none. */
export async function storedLogin(registry: string, authFile?: string): Promise<{ username: string; password: string }> {
  const c = await resolveCredentials(registry, undefined, { authFile });
  if (!c) throw new AdminClientError(`not logged into ${registry}: run \`wharf login ${registry}\` first`);
  if (!('username' in c)) throw new AdminClientError(`the login stored for ${registry} is an identity token, not a username and password: run \`wharf login ${registry}\` again`);
  return c;
}

export class AdminClient {
  private scheme: 'https' | 'http' = 'https';

  private constructor(
    readonly registry: string,
    private readonly authorization: string | null,
    private readonly pools: HttpPools,
    private readonly insecure: boolean,
  ) {}

  static async open(registry: string, o: AdminClientOptions = {}): Promise<AdminClient> {
    const creds = o.anonymous && (await resolveCredentials(registry, undefined, { authFile: o.authFile })) === null ? null : await storedLogin(registry, o.authFile);
    const conf = o.tlsVerify === undefined ? await loadRegistriesConf().catch(() => null) : null;
    const insecure = o.tlsVerify === false || (conf !== null && isInsecure(conf, registry));
    const tls = tlsConnectOptions(await loadTlsSettings(registry, { certDir: o.certDir, tlsVerify: !insecure }));
    const auth = creds === null ? null : `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    return new AdminClient(registry, auth, new HttpPools(tls), insecure);
  }

  close(): void {
    this.pools.close();
  }

  /** One call; the parsed JSON answer, or null for an empty one (204). */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'wharf/0.1' };
    if (this.authorization !== null) headers.authorization = this.authorization;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const res = await this.send(method, `${PREFIX}${path}`, headers, payload);
    const text = await res.body.text();
    if (res.statusCode >= 400) throw this.errorFrom(res.statusCode, text);
    if (text === '') return null as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AdminClientError(`${this.registry} answered ${method} ${path} with something that is not JSON (is it a Wharf registry?)`);
    }
  }

  /** HTTPS first; plain HTTP when insecure and HTTPS fails to connect (the request never arrived then). */
  private async send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpResponse> {
    try {
      return await this.pools.request(`${this.scheme}://${this.registry}${path}`, { method, headers, body });
    } catch (e) {
      if (this.scheme === 'https' && this.insecure && !isRefused(e)) {
        this.scheme = 'http';
        try {
          return await this.pools.request(`http://${this.registry}${path}`, { method, headers, body });
        } catch (e2) {
          throw connectError(e2, this.registry);
        }
      }
      throw connectError(e, this.registry);
    }
  }

  private errorFrom(status: number, text: string): AdminApiError {
    let code: string | undefined;
    let message = '';
    let detail: unknown;
    try {
      const e = (JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] }).errors?.[0];
      code = e?.code;
      message = e?.message ?? '';
      detail = e?.detail;
    } catch { /* not the registry's error shape */ }
    if (status === 401) {
      message = this.authorization === null
        ? `${this.registry} asks for credentials${message ? ` (${message})` : ''}: log in with \`wharf login ${this.registry}\``
        : `authentication to ${this.registry} failed${message ? ` (${message})` : ''}: log in again with \`wharf login ${this.registry}\``;
    } else if (status === 404 && code === undefined) {
      message = `${this.registry} has no admin API here (is it a Wharf registry with auth.mode builtin?)`;
    } else if (message === '') {
      message = `${this.registry} answered HTTP ${status}`;
    }
    return new AdminApiError(message, status, code, detail);
  }

  /** Every item of a list the server pages by name (`n`, `last`). */
  async all<T>(path: string): Promise<T[]> {
    const out: T[] = [];
    let last: string | null = null;
    for (let i = 0; i < 10_000; i++) {
      const q = new URLSearchParams({ n: '1000' });
      if (last !== null) q.set('last', last);
      const page = await this.call<Page<T>>('GET', `${path}?${q}`);
      out.push(...page.items);
      if (!page.next || page.items.length === 0) break;
      last = page.next;
    }
    return out;
  }

  // Users.
  users(): Promise<AdminUser[]> { return this.all<AdminUser>('/users'); }
  createUser(name: string, password: string, admin: boolean): Promise<AdminUser> { return this.call('POST', '/users', { name, password, admin }); }
  deleteUser(name: string): Promise<void> { return this.call('DELETE', `/users/${seg(name)}`); }
  setPassword(name: string, password: string): Promise<void> { return this.call('PUT', `/users/${seg(name)}/password`, { password }); }

  // Organizations and teams.
  orgs(): Promise<AdminOrg[]> { return this.all<AdminOrg>('/orgs'); }
  createOrg(name: string, visibility: Visibility): Promise<AdminOrg> { return this.call('POST', '/orgs', { name, visibility }); }
  deleteOrg(name: string): Promise<void> { return this.call('DELETE', `/orgs/${seg(name)}`); }
  setOrgVisibility(name: string, visibility: Visibility): Promise<void> { return this.call('PUT', `/orgs/${seg(name)}/visibility`, { visibility }); }
  async teams(org: string): Promise<AdminTeam[]> { return (await this.call<Page<AdminTeam>>('GET', `/orgs/${seg(org)}/teams`)).items; }
  createTeam(org: string, name: string): Promise<AdminTeam> { return this.call('POST', `/orgs/${seg(org)}/teams`, { name }); }
  setMember(org: string, team: string, user: string, member: boolean): Promise<void> {
    return this.call(member ? 'PUT' : 'DELETE', `/orgs/${seg(org)}/teams/${seg(team)}/members/${seg(user)}`);
  }

  // Robots.
  async robots(org: string): Promise<AdminRobot[]> { return (await this.call<Page<AdminRobot>>('GET', `/orgs/${seg(org)}/robots`)).items; }
  createRobot(org: string, name: string, expiresAt?: string): Promise<CreatedRobot> {
    return this.call('POST', `/orgs/${seg(org)}/robots`, expiresAt === undefined ? { name } : { name, expiresAt });
  }
  deleteRobot(org: string, name: string): Promise<void> { return this.call('DELETE', `/orgs/${seg(org)}/robots/${seg(name)}`); }

  // Grants.
  grant(namespace: string, principal: Principal, role: Role, repository?: string): Promise<void> {
    return this.call('PUT', `/namespaces/${seg(namespace)}/grants`, { principal, role, ...(repository === undefined ? {} : { repository }) });
  }
  revoke(namespace: string, principal: Principal, repository?: string): Promise<void> {
    return this.call('POST', `/namespaces/${seg(namespace)}/grants/revoke`, { principal, ...(repository === undefined ? {} : { repository }) });
  }

  // Repository visibility (null: follow the namespace).
  setRepoVisibility(name: string, visibility: Visibility | null): Promise<void> { return this.call('PUT', '/repository-visibility', { name, visibility }); }
  repoVisibility(name: string): Promise<RepoVisibility> { return this.call('GET', `/repository-visibility?${new URLSearchParams({ name })}`); }

  // Immutable tag patterns on a namespace, or one repository in it (its full name).
  addImmutable(namespace: string, pattern: string, repository?: string): Promise<AddedImmutableRule> {
    return this.call('POST', `/namespaces/${seg(namespace)}/immutable`, { pattern, ...(repository === undefined ? {} : { repository }) });
  }
  removeImmutable(namespace: string, pattern: string, repository?: string): Promise<void> {
    return this.call('DELETE', `/namespaces/${seg(namespace)}/immutable?${new URLSearchParams({ pattern, ...(repository === undefined ? {} : { repository }) })}`);
  }
  /** A namespace's rules, those protecting one repository, or (no namespace) every rule of the registry. */
  async immutable(namespace?: string, repository?: string): Promise<ImmutableRule[]> {
    if (namespace === undefined) return (await this.call<Page<ImmutableRule>>('GET', '/immutable')).items;
    const q = repository === undefined ? '' : `?${new URLSearchParams({ repository })}`;
    return (await this.call<Page<ImmutableRule>>('GET', `/namespaces/${seg(namespace)}/immutable${q}`)).items;
  }

  // Quotas on a namespace, or one repository in it (its full name).
  setQuota(namespace: string, limits: { bytes?: number; tags?: number }, repository?: string): Promise<Quota> {
    return this.call('PUT', `/namespaces/${seg(namespace)}/quota`, { ...limits, ...(repository === undefined ? {} : { repository }) });
  }
  quota(namespace: string, repository?: string): Promise<Quota> {
    return this.call('GET', `/namespaces/${seg(namespace)}/quota${repository === undefined ? '' : `?${new URLSearchParams({ repository })}`}`);
  }
  removeQuota(namespace: string, repository?: string): Promise<void> {
    return this.call('DELETE', `/namespaces/${seg(namespace)}/quota${repository === undefined ? '' : `?${new URLSearchParams({ repository })}`}`);
  }
  async quotas(): Promise<Quota[]> { return (await this.call<Page<Quota>>('GET', '/quotas')).items; }
  // Retention policies on a namespace or one repository in it (its full name), and runs.
  /** Every policy of the registry and the configuration's default (no namespace), or a namespace's (one repository's) and the one in effect. */
  retention(namespace?: string, repository?: string): Promise<{ items: RetentionPolicy[]; effective?: EffectiveRetention | null; default?: EffectiveRetention | null }> {
    if (namespace === undefined) return this.call('GET', '/retention');
    return this.call('GET', `/namespaces/${seg(namespace)}/retention${repository === undefined ? '' : `?${new URLSearchParams({ repository })}`}`);
  }
  setRetention(namespace: string, rules: Partial<Record<keyof RetentionRulesOut, string | number>>, repository?: string): Promise<RetentionPolicy> {
    return this.call('PUT', `/namespaces/${seg(namespace)}/retention`, { ...rules, ...(repository === undefined ? {} : { repository }) });
  }
  unsetRetention(namespace: string, repository?: string): Promise<void> {
    return this.call('DELETE', `/namespaces/${seg(namespace)}/retention${repository === undefined ? '' : `?${new URLSearchParams({ repository })}`}`);
  }
  runRetention(scope: { namespace?: string; repository?: string }, dryRun: boolean): Promise<RetentionReport> {
    return this.call('POST', '/retention/run', { ...scope, dryRun });
  }
  // Webhook subscriptions on a namespace or one repository in it; every one (no namespace) for system administrators.
  createWebhook(namespace: string, w: NewWebhookRequest): Promise<CreatedWebhook> { return this.call('POST', `/namespaces/${seg(namespace)}/webhooks`, w); }
  async webhooks(namespace?: string): Promise<Webhook[]> {
    return (await this.call<Page<Webhook>>('GET', namespace === undefined ? '/webhooks' : `/namespaces/${seg(namespace)}/webhooks`)).items;
  }
  updateWebhook(id: number, changes: WebhookChanges): Promise<Webhook> { return this.call('PATCH', `/webhooks/${id}`, changes); }
  deleteWebhook(id: number): Promise<void> { return this.call('DELETE', `/webhooks/${id}`); }
  async webhookDeliveries(id: number, n?: number): Promise<WebhookDelivery[]> {
    return (await this.call<Page<WebhookDelivery>>('GET', `/webhooks/${id}/deliveries${n === undefined ? '' : `?n=${n}`}`)).items;
  }
  testWebhook(id: number): Promise<WebhookTestResult> { return this.call('POST', `/webhooks/${id}/test`); }

  // Personal access tokens.
  async tokens(): Promise<AdminToken[]> { return (await this.call<Page<AdminToken>>('GET', '/tokens')).items; }
  createToken(name: string, actions?: TokenAction[], expiresAt?: string): Promise<CreatedToken> {
    return this.call('POST', '/tokens', { name, ...(actions === undefined ? {} : { actions }), ...(expiresAt === undefined ? {} : { expiresAt }) });
  }
  revokeToken(id: number): Promise<void> { return this.call('DELETE', `/tokens/${id}`); }

  // Tag history (newest first, every page) and restore; every auth mode (not only builtin).
  async history(repository: string, tag?: string): Promise<HistoryEntry[]> {
    const out: HistoryEntry[] = [];
    let before: string | null = null;
    for (let i = 0; i < 10_000; i++) {
      const q = new URLSearchParams({ n: '1000' });
      if (tag !== undefined) q.set('tag', tag);
      if (before !== null) q.set('before', before);
      const page = await this.call<Page<HistoryEntry>>('GET', `/repositories/${repoPath(repository)}/history?${q}`);
      out.push(...page.items);
      if (!page.next || page.items.length === 0) break;
      before = page.next;
    }
    return out;
  }
  restore(repository: string, tag: string, target: { digest: string } | { undelete: true }): Promise<RestoredTag> {
    return this.call('POST', `/repositories/${repoPath(repository)}/tags/${seg(tag)}/restore`, target);
  }

  // The audit log, newest first.
  async audit(q: { actor?: string; action?: string; since?: string; n?: number }): Promise<AuditEntry[]> {
    const p = new URLSearchParams();
    if (q.n !== undefined) p.set('n', String(q.n));
    if (q.actor !== undefined) p.set('actor', q.actor);
    if (q.action !== undefined) p.set('action', q.action);
    if (q.since !== undefined) p.set('since', q.since);
    const qs = p.toString();
    return (await this.call<Page<AuditEntry>>('GET', `/audit${qs ? `?${qs}` : ''}`)).items;
  }
}

/** A repository name in a path: its slashes stay separators. */
function repoPath(name: string): string {
  return name.split('/').map(seg).join('/');
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

function isRefused(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN';
}

function connectError(e: unknown, registry: string): AdminClientError {
  const code = (e as { code?: string }).code ?? '';
  const msg = (e as Error).message ?? String(e);
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code) || /certificate/i.test(msg)) {
    return new AdminClientError(`TLS verification of ${registry} failed (${code || msg}): pass --cert-dir with its CA, or use --tls-verify=false`);
  }
  if (/EPROTO|wrong version number/i.test(code + msg)) return new AdminClientError(`${registry} does not speak HTTPS: use --tls-verify=false for a plain-HTTP registry`);
  if (code === 'ECONNREFUSED') return new AdminClientError(`cannot connect to ${registry}: connection refused`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new AdminClientError(`cannot resolve ${registry}`);
  return new AdminClientError(`cannot reach ${registry}: ${msg}`);
}
