// The cast of the `wharf admin` policy tests: a builtin server, a private CLI environment, and the
// administrator and dev (a member of organization acme) each signed in with `wharf login` to an auth file
// of their own; and the commands as each of them, or against no server at all.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN, ADMIN_PASSWORD, apiOk, startBuiltin, type BuiltinServer } from '../../api/lib/builtin.js';
import { isolatedCliEnv, ok, runWharf, type WharfRun } from './isolated-env.js';

export class AdminCast {
  private constructor(readonly server: BuiltinServer, readonly root: string, readonly env: NodeJS.ProcessEnv) {}

  /** Starts the server (`serverEnv` added to its environment) and signs admin and dev in, dev with `role` on acme. */
  static async start(prefix: string, role: 'admin' | 'editor', serverEnv: Record<string, string> = {}): Promise<AdminCast> {
    const server = await startBuiltin(serverEnv);
    const { root, env } = isolatedCliEnv(prefix);
    const cast = new AdminCast(server, root, env);
    try {
      await cast.login('admin', ADMIN_PASSWORD);
      await apiOk(server, ADMIN, 'POST', '/orgs', { name: 'acme' }, 201);
      await apiOk(server, ADMIN, 'POST', '/users', { name: 'dev', password: 'dev-password' }, 201);
      await apiOk(server, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'dev' }, role }, 204);
      await cast.login('dev', 'dev-password');
    } catch (e) {
      await cast.close();
      throw e;
    }
    return cast;
  }

  /** Each one's auth file. */
  auth(name: string): string {
    return join(this.root, `${name}.auth.json`);
  }

  /** `wharf ARGS` in the cast's environment. */
  wharf(args: string[], input?: string): Promise<WharfRun> {
    return runWharf(this.env, args, input);
  }

  /** `wharf admin ARGS` as `who`, against the server. */
  admin(who: string, args: string[], input?: string): Promise<WharfRun> {
    return this.wharf(['admin', ...args, '--registry', this.server.addr, '--authfile', this.auth(who), '--tls-verify=false'], input);
  }

  /** `wharf admin ARGS` against a port where nothing listens, signed in as nobody (usage errors exit before the network). */
  offline(args: string[], input?: string): Promise<WharfRun> {
    return this.wharf(['admin', ...args, '--registry', '127.0.0.1:1', '--authfile', this.auth('nobody')], input);
  }

  async close(): Promise<void> {
    await this.server.stop();
    this.server.cleanup();
    rmSync(this.root, { recursive: true, force: true });
  }

  private async login(user: string, password: string): Promise<void> {
    ok(await this.wharf(['login', this.server.addr, '--username', user, '--password-stdin', '--authfile', this.auth(user), '--tls-verify=false'], `${password}\n`));
  }
}
