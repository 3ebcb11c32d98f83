// wharf login / logout: credentials in the containers auth.json, checked against the registry first.
import type { Command } from 'commander';
import { removeAllCredentials, removeCredentials, resolveCredentials, storeCredentials } from '../../client/auth-file.js';
import { registryClientFor } from '../../transports/open.js';
import { readPassword, readStdin, readLine } from '../prompt.js';

interface LoginFlags { username?: string; password?: string; passwordStdin?: boolean; authfile?: string; tlsVerify?: boolean; certDir?: string; getLogin?: boolean }

/** A registry argument may be a bare host or carry a scheme/path (as `docker login https://host/v1/` does). */
function registryHost(arg: string): string {
  return arg.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
}

export function registerLogin(program: Command): void {
  program.command('login').description('log in to a registry and store the credentials in auth.json').argument('<registry>')
    .option('-u, --username <name>').option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--authfile <file>', 'auth file (default: REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json)')
    .option('--tls-verify').option('--no-tls-verify', 'allow plain HTTP and unverified TLS')
    .option('--cert-dir <dir>')
    .option('--get-login', 'print the stored username and exit')
    .action(async (arg: string, f: LoginFlags) => {
      const registry = registryHost(arg);
      if (f.getLogin) {
        const c = await resolveCredentials(registry, undefined, { authFile: f.authfile });
        if (!c || !('username' in c)) throw new Error(`not logged into ${registry}`);
        process.stdout.write(`${c.username}\n`);
        return;
      }
      if (f.password !== undefined && f.passwordStdin) throw new Error('--password and --password-stdin are mutually exclusive');
      let username = f.username;
      let password = f.password;
      if (f.passwordStdin) {
        if (!username) throw new Error('--password-stdin needs --username');
        password = (await readStdin()).replace(/\r?\n$/, '');
      }
      if (!username) username = await readLine('Username: ');
      if (password === undefined) password = await readPassword('Password: ');
      if (!username) throw new Error('a username is required');
      const client = await registryClientFor({ registry, repository: '' }, { creds: `${username}:${password}`, tlsVerify: f.tlsVerify, certDir: f.certDir, retryTimes: 1 });
      try {
        await client.checkLogin();
      } finally {
        await client.close();
      }
      await storeCredentials(registry, { username, password }, { authFile: f.authfile });
      process.stdout.write('Login Succeeded!\n');
    });
}

export function registerLogout(program: Command): void {
  program.command('logout').description('remove stored credentials').argument('[registry]')
    .option('-a, --all', 'remove the credentials of every registry')
    .option('--authfile <file>')
    .action(async (arg: string | undefined, f: { all?: boolean; authfile?: string }) => {
      if (f.all) {
        await removeAllCredentials({ authFile: f.authfile });
        process.stdout.write('Removed login credentials for all registries\n');
        return;
      }
      if (!arg) throw new Error('logout needs a registry, or --all');
      const registry = registryHost(arg);
      if (!(await removeCredentials(registry, { authFile: f.authfile }))) throw new Error(`not logged into ${registry}`);
      process.stdout.write(`Removed login credentials for ${registry}\n`);
    });
}
