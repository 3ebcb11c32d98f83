// wharf admin grant|revoke|robot|token|repo|immutable|audit: who may do what, robot accounts, personal
// access tokens, repository visibility, immutable tags and the audit log.
import type { Command } from 'commander';
import type { Principal, Role, TokenAction, Visibility } from '../../client/admin-client.js';
import { adminAction, adminCommand, namespaceTarget, parseWhen, table, UsageError, when, type CommonFlags } from './admin-common.js';

/** Wharf's roles, and the OpenShift role names people already type. */
const ROLES: Record<string, Role> = {
  'viewer': 'viewer', 'editor': 'editor', 'admin': 'admin',
  'registry-viewer': 'viewer', 'system:image-puller': 'viewer',
  'registry-editor': 'editor', 'system:image-pusher': 'editor',
  'registry-admin': 'admin',
};

export function roleOf(arg: string): Role {
  const r = ROLES[arg];
  if (!r) throw new UsageError(`unknown role ${JSON.stringify(arg)}: use viewer, editor or admin (or ${Object.keys(ROLES).slice(3).join(', ')})`);
  return r;
}

interface GrantFlags extends CommonFlags { user?: string; team?: string; robot?: string; org?: string; repo?: string }

function principalOf(f: GrantFlags): Principal {
  const given = [f.user, f.team, f.robot].filter((x) => x !== undefined);
  if (given.length !== 1) throw new UsageError('name exactly one of --user, --team or --robot');
  if (f.user !== undefined) return { user: f.user };
  if (f.team !== undefined) return { team: f.team };
  return { robot: f.robot! };
}

/** --repo takes the full repository name or the part after ORG/. */
export function repositoryOf(org: string, repo: string | undefined): string | undefined {
  if (repo === undefined) return undefined;
  if (repo === '') throw new UsageError('--repo needs a repository name');
  return repo.startsWith(`${org}/`) ? repo : `${org}/${repo}`;
}

function principalText(p: Principal): string {
  return 'user' in p ? `user ${p.user}` : 'team' in p ? `team ${p.team}` : `robot ${p.robot}`;
}

function grantOptions(cmd: Command): Command {
  return cmd.option('--user <user>', 'a user').option('--team <team>', 'a team of the organization').option('--robot <robot>', 'a robot of the organization (NAME or ORG+NAME)')
    .option('--org <namespace>', 'the organization, or a user\'s own namespace').option('--repo <repository>', 'one repository in it (full name, or the part after ORG/)');
}

export function registerGrants(admin: Command): void {
  adminAction<GrantFlags>(grantOptions(adminCommand(admin, 'grant', 'grant a role on a namespace or one repository').argument('<role>', 'viewer, editor or admin (or system:image-puller, system:image-pusher, registry-viewer, registry-editor, registry-admin)')),
    async (ctx, [roleArg], f) => {
      const role = roleOf(roleArg!);
      const principal = principalOf(f);
      if (!f.org) throw new UsageError('--org is required');
      const repository = repositoryOf(f.org, f.repo);
      await (await ctx.client()).grant(f.org, principal, role, repository);
      ctx.print({ namespace: f.org, repository: repository ?? null, principal, role },
        () => [`Granted ${role} on ${repository ?? f.org} to ${principalText(principal)}`]);
    });

  adminAction<GrantFlags>(grantOptions(adminCommand(admin, 'revoke', 'take back the role granted on a namespace or one repository')),
    async (ctx, _args, f) => {
      const principal = principalOf(f);
      if (!f.org) throw new UsageError('--org is required');
      const repository = repositoryOf(f.org, f.repo);
      await (await ctx.client()).revoke(f.org, principal, repository);
      ctx.print({ namespace: f.org, repository: repository ?? null, principal, revoked: true },
        () => [`Revoked the role of ${principalText(principal)} on ${repository ?? f.org}`]);
    });
}

export function registerRobots(admin: Command): void {
  const robot = admin.command('robot').description('robot accounts of an organization (ORG+NAME)');

  adminAction<CommonFlags & { expires?: string }>(
    adminCommand(robot, 'create', 'create a robot; its secret is printed once').argument('<org>').argument('<name>')
      .option('--expires <when>', 'a duration (90d, 12h) or an ISO 8601 time'),
    async (ctx, [org, name], f) => {
      const expiresAt = f.expires === undefined ? undefined : parseWhen(f.expires, '--expires');
      const r = await (await ctx.client()).createRobot(org!, name!, expiresAt);
      ctx.print(r, () => [
        `Created robot ${r.name}${r.expiresAt ? ` (expires ${when(r.expiresAt)})` : ''}.`,
        'Its secret is shown only now; store it safely:',
        r.secret,
        `Log in with it: wharf login ${ctx.registry} --username '${r.name}' --password-stdin`,
      ]);
    });

  adminAction(adminCommand(robot, 'list', 'list an organization\'s robots').argument('<org>'), async (ctx, [org]) => {
    const robots = await (await ctx.client()).robots(org!);
    ctx.print(robots, () => table(['NAME', 'CREATED', 'EXPIRES', 'LAST USED'], robots.map((r) => [r.name, when(r.createdAt), when(r.expiresAt), when(r.lastUsedAt)])));
  });

  adminAction(adminCommand(robot, 'delete', 'delete a robot (its secret stops working at once)').argument('<org>').argument('<name>', 'NAME or ORG+NAME'),
    async (ctx, [org, name]) => {
      const own = name!.startsWith(`${org}+`) ? name!.slice(org!.length + 1) : name!;
      await (await ctx.client()).deleteRobot(org!, own);
      ctx.print({ name: `${org}+${own}`, deleted: true }, () => [`Deleted robot ${org}+${own}`]);
    });
}

const ACTIONS: readonly TokenAction[] = ['pull', 'push', 'delete'];

function actionsOf(v: string): TokenAction[] {
  const list = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = list.filter((a) => !(ACTIONS as readonly string[]).includes(a));
  if (list.length === 0 || bad.length > 0) throw new UsageError(`--actions takes a list of ${ACTIONS.join(', ')}, got ${JSON.stringify(v)}`);
  return [...new Set(list)] as TokenAction[];
}

export function registerTokens(admin: Command): void {
  const token = admin.command('token').description('your personal access tokens');

  adminAction<CommonFlags & { actions?: string; expires?: string }>(
    adminCommand(token, 'create', 'create a personal access token; its secret is printed once').argument('<name>')
      .option('--actions <list>', 'limit it to image actions: pull,push,delete (default: no limit, which also opens the admin API)')
      .option('--expires <when>', 'a duration (90d, 12h) or an ISO 8601 time'),
    async (ctx, [name], f) => {
      const actions = f.actions === undefined ? undefined : actionsOf(f.actions);
      const expiresAt = f.expires === undefined ? undefined : parseWhen(f.expires, '--expires');
      const t = await (await ctx.client()).createToken(name!, actions, expiresAt);
      ctx.print(t, () => [
        `Created token ${t.id} (${t.name}; ${t.actions ? t.actions.join(',') : 'no action limit'}${t.expiresAt ? `; expires ${when(t.expiresAt)}` : ''}).`,
        'Its secret is shown only now; store it safely:',
        t.secret,
        `Use it as the password: wharf login ${ctx.registry} --username YOUR-NAME --password-stdin`,
      ]);
    });

  adminAction(adminCommand(token, 'list', 'list your personal access tokens'), async (ctx) => {
    const tokens = await (await ctx.client()).tokens();
    ctx.print(tokens, () => table(['ID', 'NAME', 'ACTIONS', 'CREATED', 'EXPIRES', 'LAST USED', 'REVOKED'],
      tokens.map((t) => [String(t.id), t.name, t.actions ? t.actions.join(',') : 'all', when(t.createdAt), when(t.expiresAt), when(t.lastUsedAt), when(t.revokedAt)])));
  });

  adminAction(adminCommand(token, 'revoke', 'revoke a personal access token (at once)').argument('<id>'), async (ctx, [idArg]) => {
    if (!/^\d+$/.test(idArg!)) throw new UsageError(`a token id is a number (see \`wharf admin token list\`), got ${JSON.stringify(idArg)}`);
    const id = Number(idArg);
    await (await ctx.client()).revokeToken(id);
    ctx.print({ id, revoked: true }, () => [`Revoked token ${id}`]);
  });
}

export function registerRepos(admin: Command): void {
  const repo = admin.command('repo').description('repositories');
  adminAction(adminCommand(repo, 'visibility', 'make a repository public or private, or follow its namespace (inherit)').argument('<repository>').argument('<visibility>', 'public, private or inherit'),
    async (ctx, [name, v]) => {
      if (v !== 'public' && v !== 'private' && v !== 'inherit') throw new UsageError(`visibility is public, private or inherit, got ${JSON.stringify(v)}`);
      const client = await ctx.client();
      await client.setRepoVisibility(name!, v === 'inherit' ? null : (v as Visibility));
      const now = await client.repoVisibility(name!);
      ctx.print(now, () => [`Repository ${now.name} is ${now.effective}${now.own === null ? ' (as its namespace)' : ''}`]);
    });
}

export function registerImmutable(admin: Command): void {
  const immutable = admin.command('immutable')
    .description('immutable tags: tags matching a pattern (* any run, ? one character, the whole tag) never move nor go once made');

  adminAction(adminCommand(immutable, 'add', 'make the tags matching PATTERN immutable in a namespace or one repository').argument('<target>', 'ORG or ORG/REPO').argument('<pattern>', 'e.g. v*, release-*, latest'),
    async (ctx, [target, pattern]) => {
      const t = namespaceTarget(target!);
      const r = await (await ctx.client()).addImmutable(t.namespace, pattern!, t.repository);
      ctx.print(r, () => [r.created ? `Tags matching ${r.pattern} are immutable in ${target}` : `Tags matching ${r.pattern} were already immutable in ${target}`]);
    });

  adminAction(adminCommand(immutable, 'remove', 'lift an immutable tag pattern of a namespace or one repository').argument('<target>', 'ORG or ORG/REPO').argument('<pattern>'),
    async (ctx, [target, pattern]) => {
      const t = namespaceTarget(target!);
      await (await ctx.client()).removeImmutable(t.namespace, pattern!, t.repository);
      ctx.print({ namespace: t.namespace, repository: t.repository ?? null, pattern, removed: true }, () => [`Tags matching ${pattern} are no longer immutable in ${target}`]);
    });

  adminAction(adminCommand(immutable, 'list', 'the patterns of a namespace, those protecting one repository, or (no argument; system administrators) all').argument('[target]', 'ORG or ORG/REPO'),
    async (ctx, [target]) => {
      const t = target === undefined ? undefined : namespaceTarget(target);
      const rules = await (await ctx.client()).immutable(t?.namespace, t?.repository);
      ctx.print(rules, () => table(['SET ON', 'PATTERN', 'CREATED'], rules.map((r) => [r.repository ?? r.namespace, r.pattern, when(r.createdAt)])));
    });
}

export function registerAudit(admin: Command): void {
  adminAction<CommonFlags & { actor?: string; action?: string; since?: string; limit?: string }>(
    adminCommand(admin, 'audit', 'the audit log, newest first (system administrators)')
      .option('--actor <name>', 'only what this account did').option('--action <action>', 'only this action (user.create, grant.add, login...)')
      .option('--since <when>', 'an ISO 8601 time, or a duration back from now (24h, 7d)').option('-n, --limit <n>', 'at most this many entries (1-1000, default 100)'),
    async (ctx, _args, f) => {
      let n: number | undefined;
      if (f.limit !== undefined) {
        n = Number(f.limit);
        if (!/^\d+$/.test(f.limit) || n < 1 || n > 1000) throw new UsageError(`-n takes a number from 1 to 1000, got ${JSON.stringify(f.limit)}`);
      }
      const since = f.since === undefined ? undefined : parseWhen(f.since, '--since', true);
      const entries = await (await ctx.client()).audit({ actor: f.actor, action: f.action, since, n });
      ctx.print(entries, () => table(['AT', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME', 'REMOTE'],
        entries.map((e) => [when(e.at), e.actor, e.action, e.target, e.outcome, e.remote])));
    });
}
