// The cast of the `wharf admin` policy tests: the administrator and dev, a member of organization acme,
// each signed in with `wharf login` to an auth file of their own.
import { ADMIN, ADMIN_PASSWORD, apiOk, type BuiltinServer } from '../../api/lib/builtin.js';
import { ok, runWharf } from './isolated-env.js';

/** Signs admin in, makes acme and dev with `role` on it, and signs dev in (`authFile(name)` is each one's file). */
export async function signInAdminAndDev(s: BuiltinServer, env: NodeJS.ProcessEnv, authFile: (name: string) => string, role: 'admin' | 'editor'): Promise<void> {
  const login = async (user: string, password: string): Promise<void> => {
    ok(await runWharf(env, ['login', s.addr, '--username', user, '--password-stdin', '--authfile', authFile(user), '--tls-verify=false'], `${password}\n`));
  };
  await login('admin', ADMIN_PASSWORD);
  await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'acme' }, 201);
  await apiOk(s, ADMIN, 'POST', '/users', { name: 'dev', password: 'dev-password' }, 201);
  await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'dev' }, role }, 204);
  await login('dev', 'dev-password');
}
