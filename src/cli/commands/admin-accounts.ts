// wharf admin user|org|team: accounts, organizations and teams.
import type { Command } from 'commander';
import type { Visibility } from '../../client/admin-client.js';
import { adminAction, adminCommand, readNewPassword, table, UsageError, when, type CommonFlags } from './admin-common.js';

function visibilityArg(v: string): Visibility {
  if (v !== 'public' && v !== 'private') throw new UsageError(`visibility is public or private, got ${JSON.stringify(v)}`);
  return v;
}

export function registerUsers(admin: Command): void {
  const user = admin.command('user').description('users (system administrators; anyone for their own password)');

  adminAction<CommonFlags & { admin?: boolean; passwordStdin?: boolean }>(
    adminCommand(user, 'create', 'create a user (password from --password-stdin or typed twice)').argument('<name>')
      .option('--admin', 'make the user a system administrator').option('--password-stdin', 'read the password from standard input'),
    async (ctx, [name], f) => {
      const password = await readNewPassword(f.passwordStdin, name!);
      const u = await (await ctx.client()).createUser(name!, password, f.admin ?? false);
      ctx.print(u, () => [`Created user ${u.name}${u.admin ? ' (system administrator)' : ''}`]);
    });

  adminAction(adminCommand(user, 'delete', 'delete a user with their memberships, grants and tokens').argument('<name>'),
    async (ctx, [name]) => {
      await (await ctx.client()).deleteUser(name!);
      ctx.print({ name, deleted: true }, () => [`Deleted user ${name}`]);
    });

  adminAction<CommonFlags & { passwordStdin?: boolean }>(
    adminCommand(user, 'passwd', 'set a user\'s password (password from --password-stdin or typed twice)').argument('<name>')
      .option('--password-stdin', 'read the password from standard input'),
    async (ctx, [name], f) => {
      const password = await readNewPassword(f.passwordStdin, name!);
      await (await ctx.client()).setPassword(name!, password);
      ctx.print({ name, passwordChanged: true }, () => [`Changed the password of ${name}`]);
    });

  adminAction(adminCommand(user, 'list', 'list users'), async (ctx) => {
    const users = await (await ctx.client()).users();
    ctx.print(users, () => table(['NAME', 'ADMIN', 'CREATED'], users.map((u) => [u.name, u.admin ? 'yes' : 'no', when(u.createdAt)])));
  });
}

export function registerOrgs(admin: Command): void {
  const org = admin.command('org').description('organizations');

  adminAction<CommonFlags & { public?: boolean }>(
    adminCommand(org, 'create', 'create an organization (its creator administers it)').argument('<name>').option('--public', 'anyone may pull its images'),
    async (ctx, [name], f) => {
      const o = await (await ctx.client()).createOrg(name!, f.public ? 'public' : 'private');
      ctx.print(o, () => [`Created organization ${o.name} (${o.visibility})`]);
    });

  adminAction(adminCommand(org, 'delete', 'delete an organization with its teams, robots and grants (not its images)').argument('<name>'),
    async (ctx, [name]) => {
      await (await ctx.client()).deleteOrg(name!);
      ctx.print({ name, deleted: true }, () => [`Deleted organization ${name}`]);
    });

  adminAction(adminCommand(org, 'list', 'list the organizations you may see'), async (ctx) => {
    const orgs = await (await ctx.client()).orgs();
    ctx.print(orgs, () => table(['NAME', 'VISIBILITY', 'CREATED'], orgs.map((o) => [o.name, o.visibility, when(o.createdAt)])));
  });

  adminAction(adminCommand(org, 'visibility', 'make an organization public or private').argument('<org>').argument('<visibility>', 'public or private'),
    async (ctx, [name, v]) => {
      const visibility = visibilityArg(v!);
      await (await ctx.client()).setOrgVisibility(name!, visibility);
      ctx.print({ name, visibility }, () => [`Organization ${name} is now ${visibility}`]);
    });
}

export function registerTeams(admin: Command): void {
  const team = admin.command('team').description('teams of an organization');

  adminAction(adminCommand(team, 'create', 'create a team').argument('<org>').argument('<team>'), async (ctx, [org, name]) => {
    const t = await (await ctx.client()).createTeam(org!, name!);
    ctx.print({ org, ...t }, () => [`Created team ${org}/${t.name}`]);
  });

  adminAction(adminCommand(team, 'add', 'add a user to a team').argument('<org>').argument('<team>').argument('<user>'), async (ctx, [org, name, user]) => {
    await (await ctx.client()).setMember(org!, name!, user!, true);
    ctx.print({ org, team: name, user, member: true }, () => [`Added ${user} to ${org}/${name}`]);
  });

  adminAction(adminCommand(team, 'remove', 'remove a user from a team').argument('<org>').argument('<team>').argument('<user>'), async (ctx, [org, name, user]) => {
    await (await ctx.client()).setMember(org!, name!, user!, false);
    ctx.print({ org, team: name, user, member: false }, () => [`Removed ${user} from ${org}/${name}`]);
  });

  adminAction(adminCommand(team, 'list', 'list an organization\'s teams and their members').argument('<org>'), async (ctx, [org]) => {
    const teams = await (await ctx.client()).teams(org!);
    ctx.print(teams, () => table(['TEAM', 'MEMBERS'], teams.map((t) => [t.name, t.members.length ? t.members.join(',') : '-'])));
  });
}
