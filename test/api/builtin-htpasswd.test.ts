// auth.mode builtin with an htpasswd file beside the accounts: the file's users sign in with the file's
// passwords, belong to no organization until granted a role, own their personal namespace, and those
// that auth.htpasswd.admins names are system administrators. A password changed in the file is the
// only one that works, without a restart.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectError, req, sleep } from './lib/http.js';
import { ADMIN, api, apiOk, basic, startBuiltin, token, type BuiltinServer } from './lib/builtin.js';

describe('builtin auth with an htpasswd file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-builtin-htpasswd-'));
  const file = join(dir, 'users');
  let s: BuiltinServer;

  before(async () => {
    execFileSync('htpasswd', ['-Bbc', '-C', '5', file, 'hank', 'hank-file-pw'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-Bb', '-C', '5', file, 'root2', 'root2-file-pw'], { stdio: 'ignore' });
    s = await startBuiltin({ WHARF_AUTH_HTPASSWD_PATH: file, WHARF_AUTH_HTPASSWD_ADMINS: 'root2' });
    await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'acme' }, 201);
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a file user signs in, owns their namespace and is a member of no organization', async () => {
    const hank = basic('hank', 'hank-file-pw');
    const t = await token(s, hank, ['repository:hank/app:pull,push', 'repository:acme/app:pull,push']);
    assert.deepEqual(t.access, [{ type: 'repository', name: 'hank/app', actions: ['pull', 'push'] }]);
    expectError(await req(s.url, '/token?service=wharf', { headers: basic('hank', 'wrong-pw-1') }), 401, 'UNAUTHORIZED');
    assert.deepEqual(await apiOk(s, hank, 'GET', '/me', undefined, 200), { name: 'hank', kind: 'user', admin: false });
    expectError(await api(s, hank, 'GET', '/users'), 403, 'DENIED');
  });

  test('roles can be granted to a file user; its password cannot be set here', async () => {
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'hank' }, role: 'editor' }, 204);
    const t = await token(s, basic('hank', 'hank-file-pw'), ['repository:acme/app:pull,push']);
    assert.deepEqual(t.access, [{ type: 'repository', name: 'acme/app', actions: ['pull', 'push'] }]);
    expectError(await api(s, ADMIN, 'PUT', '/users/hank/password', { password: 'a-db-password' }), 400, 'INVALID');
  });

  test('auth.htpasswd.admins makes a file user a system administrator', async () => {
    const users = await apiOk(s, basic('root2', 'root2-file-pw'), 'GET', '/users', undefined, 200) as { items: { name: string; admin: boolean }[] };
    assert.deepEqual(users.items.map((u) => [u.name, u.admin]), [['admin', true], ['hank', false], ['root2', true]]);
  });

  test('a password changed in the file replaces the old one without a restart', async () => {
    execFileSync('htpasswd', ['-Bb', '-C', '5', file, 'hank', 'hank-new-pw'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while ((await req(s.url, '/v2/', { headers: basic('hank', 'hank-new-pw') })).status !== 200) {
      assert.ok(Date.now() < deadline, 'the new password was not picked up');
      await sleep(100);
    }
    expectError(await req(s.url, '/v2/', { headers: basic('hank', 'hank-file-pw') }), 401, 'UNAUTHORIZED');
  });
});
