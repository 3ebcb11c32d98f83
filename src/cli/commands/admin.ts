// wharf admin: the admin API of a Wharf registry (auth.mode builtin) with the credentials `wharf login`
// stored. Usage errors (commander's and ours) exit 2, the server's refusals exit 1 with its message.
import type { Command } from 'commander';
import { usageExitCodes } from './admin-common.js';
import { registerOrgs, registerTeams, registerUsers } from './admin-accounts.js';
import { registerAudit, registerGrants, registerImmutable, registerRepos, registerRobots, registerTokens } from './admin-access.js';
import { registerQuota } from './admin-quota.js';
import { registerRetention } from './admin-retention.js';
import { registerWebhooks } from './admin-webhooks.js';

export function registerAdmin(program: Command): void {
  // Set before the subcommands are made: they inherit it.
  const admin = usageExitCodes(program.command('admin').description('administer a Wharf registry: users, organizations, teams, roles, robots, tokens, immutable tags, quotas, retention, webhooks, audit'));
  registerUsers(admin);
  registerOrgs(admin);
  registerTeams(admin);
  registerGrants(admin);
  registerRobots(admin);
  registerTokens(admin);
  registerRepos(admin);
  registerImmutable(admin);
  registerQuota(admin);
  registerRetention(admin);
  registerWebhooks(admin);
  registerAudit(admin);
}
