// auth.mode builtin over real HTTP: the role × action matrix. Every caller gets its bearer token from
// /token for exactly the scope the request needs (as docker, skopeo and podman do), then makes the
// request; the table says the status each caller must get, on a private repository (acme/app, in the
// private organization acme) and a public one (pub/app, in the public organization pub). The same table
// is in the README.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pushImage, type Image } from './lib/registry.js';
import { req } from './lib/http.js';
import { ADMIN, apiOk, basic, bearer, startBuiltin, token, withHeaders, type BuiltinServer } from './lib/builtin.js';

const P = 'acme/app';
const Q = 'pub/app';

type Caller = 'anonymous' | 'outsider' | 'viewer' | 'editor' | 'team member' | 'org admin' | 'robot' | 'pull-only token' | 'revoked token' | 'expired token' | 'system admin';
type Column = 'pull' | 'tags' | 'referrers' | 'push' | 'delete' | 'mount in' | 'mount out' | 'mount own' | 'admin API';

// pull/tags/referrers/push/delete on P and on Q (`P|Q`); mount in: into P from Q; mount out: into Q
// from P; mount own: from P into the caller's own namespace (201 mounted, 202 a plain upload instead).
// delete asks for a tag that does not exist: 404 means the caller got past the access check.
// admin API: GET /api/v1/orgs/acme/robots with the caller's credentials (organization admins only; an
// organization one may not see is not found).
const MATRIX: Record<Caller, Record<Column, string>> = {
  'anonymous':       { pull: '401|200', tags: '401|200', referrers: '401|200', push: '401|401', delete: '401|401', 'mount in': '401', 'mount out': '401', 'mount own': '401', 'admin API': '401' },
  'outsider':        { pull: '403|200', tags: '403|200', referrers: '403|200', push: '403|403', delete: '403|403', 'mount in': '403', 'mount out': '403', 'mount own': '202', 'admin API': '404' },
  'viewer':          { pull: '200|200', tags: '200|200', referrers: '200|200', push: '403|403', delete: '403|403', 'mount in': '403', 'mount out': '403', 'mount own': '201', 'admin API': '403' },
  'editor':          { pull: '200|200', tags: '200|200', referrers: '200|200', push: '202|403', delete: '403|403', 'mount in': '201', 'mount out': '403', 'mount own': '201', 'admin API': '403' },
  'team member':     { pull: '200|200', tags: '200|200', referrers: '200|200', push: '202|403', delete: '403|403', 'mount in': '201', 'mount out': '403', 'mount own': '201', 'admin API': '403' },
  'org admin':       { pull: '200|200', tags: '200|200', referrers: '200|200', push: '202|403', delete: '404|403', 'mount in': '201', 'mount out': '403', 'mount own': '201', 'admin API': '200' },
  'robot':           { pull: '200|200', tags: '200|200', referrers: '200|200', push: '202|403', delete: '403|403', 'mount in': '201', 'mount out': '403', 'mount own': '-', 'admin API': '403' },
  'pull-only token': { pull: '200|200', tags: '200|200', referrers: '200|200', push: '403|403', delete: '403|403', 'mount in': '403', 'mount out': '403', 'mount own': '403', 'admin API': '403' },
  'revoked token':   { pull: '401|401', tags: '401|401', referrers: '401|401', push: '401|401', delete: '401|401', 'mount in': '401', 'mount out': '401', 'mount own': '401', 'admin API': '401' },
  'expired token':   { pull: '401|401', tags: '401|401', referrers: '401|401', push: '401|401', delete: '401|401', 'mount in': '401', 'mount out': '401', 'mount own': '401', 'admin API': '401' },
  'system admin':    { pull: '200|200', tags: '200|200', referrers: '200|200', push: '202|202', delete: '404|404', 'mount in': '201', 'mount out': '201', 'mount own': '201', 'admin API': '200' },
};

/** Which repositories each caller's catalog shows (of P, Q). */
const CATALOG: Record<Caller, string[]> = {
  'anonymous': [Q], 'outsider': [Q], 'viewer': [P, Q], 'editor': [P, Q], 'team member': [P, Q], 'org admin': [P, Q],
  'robot': [P, Q], 'pull-only token': [P, Q], 'revoked token': [], 'expired token': [], 'system admin': [P, Q],
};

describe('builtin roles: the role × action matrix', () => {
  let s: BuiltinServer;
  let img: Image;
  const creds = new Map<Caller, Record<string, string> | null>();
  /** The caller's personal namespace, for `mount own`. */
  const home: Partial<Record<Caller, string>> = {};

  before(async () => {
    s = await startBuiltin();
    await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'acme', visibility: 'private' }, 201);
    await apiOk(s, ADMIN, 'POST', '/orgs', { name: 'pub', visibility: 'public' }, 201);
    for (const u of ['outsider', 'viewer', 'editor', 'member', 'boss']) await apiOk(s, ADMIN, 'POST', '/users', { name: u, password: `${u}-password` }, 201);
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'viewer' }, role: 'viewer' }, 204);
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'editor' }, role: 'editor' }, 204);
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { user: 'boss' }, role: 'admin' }, 204);
    await apiOk(s, ADMIN, 'POST', '/orgs/acme/teams', { name: 'devs' }, 201);
    await apiOk(s, ADMIN, 'PUT', '/orgs/acme/teams/devs/members/member', undefined, 204);
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { team: 'devs' }, role: 'editor' }, 204);
    const robot = await apiOk(s, ADMIN, 'POST', '/orgs/acme/robots', { name: 'ci' }, 201) as { name: string; secret: string };
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/grants', { principal: { robot: 'acme+ci' }, role: 'editor' }, 204);
    const editor = basic('editor', 'editor-password');
    const pullOnly = await apiOk(s, editor, 'POST', '/tokens', { name: 'ci pulls', actions: ['pull'] }, 201) as { secret: string };
    const revoked = await apiOk(s, editor, 'POST', '/tokens', { name: 'gone' }, 201) as { id: number; secret: string };
    await apiOk(s, editor, 'DELETE', `/tokens/${revoked.id}`, undefined, 204);
    const expired = await apiOk(s, editor, 'POST', '/tokens', { name: 'short', expiresAt: new Date(Date.now() + 1500).toISOString() }, 201) as { secret: string };

    img = await withHeaders(ADMIN, async () => {
      const i = await pushImage(s.url, P, 'v1');
      await pushImage(s.url, Q, 'v1');
      return i;
    });

    creds.set('anonymous', null);
    creds.set('outsider', basic('outsider', 'outsider-password'));
    creds.set('viewer', basic('viewer', 'viewer-password'));
    creds.set('editor', editor);
    creds.set('team member', basic('member', 'member-password'));
    creds.set('org admin', basic('boss', 'boss-password'));
    creds.set('robot', basic(robot.name, robot.secret));
    creds.set('pull-only token', basic('editor', pullOnly.secret));
    creds.set('revoked token', basic('editor', revoked.secret));
    creds.set('expired token', basic('editor', expired.secret));
    // Until the short token has expired.
    const listed = await apiOk(s, editor, 'GET', '/tokens', undefined, 200) as { items: { name: string; expiresAt: string }[] };
    const expiresAt = Date.parse(listed.items.find((t) => t.name === 'short')!.expiresAt);
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now() + 100)));
    creds.set('system admin', ADMIN);
    Object.assign(home, { outsider: 'outsider', viewer: 'viewer', editor: 'editor', 'team member': 'member', 'org admin': 'boss', 'pull-only token': 'editor', 'system admin': 'admin' });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  /** Gets a token the way clients do; a refused sign-in leaves the caller with its credentials' 401. */
  const tokenFor = async (caller: Caller, scopes: string[]): Promise<{ headers: Record<string, string> } | { refused: number }> => {
    const auth = creds.get(caller)!;
    const q = new URLSearchParams({ service: 'wharf' });
    for (const sc of scopes) q.append('scope', sc);
    const r = await req(s.url, `/token?${q}`, { headers: auth ?? {} });
    if (r.status !== 200) return { refused: r.status };
    return { headers: bearer((JSON.parse(r.body.toString()) as { token: string }).token) };
  };

  const attempt = async (caller: Caller, column: Column, repo: string): Promise<number> => {
    if (column === 'admin API') return (await req(s.url, '/api/v1/orgs/acme/robots', { headers: creds.get(caller) ?? {} })).status;
    const scopes: Record<Column, string[]> = {
      pull: [`repository:${repo}:pull`], tags: [`repository:${repo}:pull`], referrers: [`repository:${repo}:pull`],
      push: [`repository:${repo}:pull,push`], delete: [`repository:${repo}:delete`],
      'mount in': [`repository:${P}:pull,push`, `repository:${Q}:pull`], 'mount out': [`repository:${Q}:pull,push`, `repository:${P}:pull`],
      'mount own': [`repository:${home[caller] ?? 'nobody'}/own:pull,push`, `repository:${P}:pull`],
      'admin API': [],
    };
    const t = await tokenFor(caller, scopes[column]);
    if ('refused' in t) return t.refused;
    const layer = img.layers[0]!.digest;
    const paths: Record<Column, [string, string]> = {
      pull: ['GET', `/v2/${repo}/manifests/v1`],
      tags: ['GET', `/v2/${repo}/tags/list`],
      referrers: ['GET', `/v2/${repo}/referrers/${img.digest}`],
      push: ['POST', `/v2/${repo}/blobs/uploads/`],
      delete: ['DELETE', `/v2/${repo}/manifests/no-such-tag`],
      'mount in': ['POST', `/v2/${P}/blobs/uploads/?mount=${layer}&from=${Q}`],
      'mount out': ['POST', `/v2/${Q}/blobs/uploads/?mount=${layer}&from=${P}`],
      'mount own': ['POST', `/v2/${home[caller] ?? 'nobody'}/own/blobs/uploads/?mount=${layer}&from=${P}`],
      'admin API': ['GET', '/api/v1/orgs/acme/robots'],
    };
    const [method, path] = paths[column];
    return (await req(s.url, path, { method, headers: t.headers })).status;
  };

  for (const caller of Object.keys(MATRIX) as Caller[]) {
    test(`${caller}: every column as the table says`, async () => {
      const got: Record<string, string> = {};
      for (const column of Object.keys(MATRIX[caller]) as Column[]) {
        const want = MATRIX[caller][column];
        if (want === '-') { got[column] = '-'; continue; }
        if (want.includes('|')) got[column] = `${await attempt(caller, column, P)}|${await attempt(caller, column, Q)}`;
        else got[column] = String(await attempt(caller, column, P));
      }
      assert.deepEqual(got, MATRIX[caller]);
    });
  }

  // The mount source for `mount in` is public, so the layer of P must first be in Q for it to mount.
  before(async () => {
    await withHeaders(ADMIN, async () => {
      const r = await req(s.url, `/v2/${Q}/blobs/uploads/?mount=${img.layers[0]!.digest}&from=${P}`, { method: 'POST' });
      assert.equal(r.status, 201);
    });
  });

  test('the README shows this very table', () => {
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf('| caller | pull P\\|Q');
    assert.ok(start >= 0, 'the matrix is in the README');
    const rows = readme.slice(start).split('\n').slice(2).filter((l) => l.startsWith('| ')).slice(0, Object.keys(MATRIX).length);
    const columns = ['pull', 'tags', 'referrers', 'push', 'delete', 'mount in', 'mount out', 'mount own', 'admin API'] as Column[];
    const cells = (line: string): string[] => line.split(/(?<!\\)\|/).slice(2, -1).map((c) => c.trim().replace(/\\\|/g, '|').replace('—', '-'));
    (Object.keys(MATRIX) as Caller[]).forEach((caller, i) => {
      assert.deepEqual(cells(rows[i]!), columns.map((c) => MATRIX[caller][c]), `README row ${i + 1} is ${caller}`);
    });
  });

  test('the catalog shows each caller only what it may pull', async () => {
    for (const caller of Object.keys(CATALOG) as Caller[]) {
      const t = await tokenFor(caller, ['registry:catalog:*']);
      if ('refused' in t) {
        assert.deepEqual(CATALOG[caller], [], `${caller} was refused a token (${t.refused})`);
        continue;
      }
      const r = await req(s.url, '/v2/_catalog', { headers: t.headers });
      assert.equal(r.status, 200, caller);
      const repos = (JSON.parse(r.body.toString()) as { repositories: string[] }).repositories.filter((n) => n === P || n === Q);
      assert.deepEqual(repos, CATALOG[caller], caller);
    }
  });

  test('a token grants exactly the allowed part of the scope, never an error for asking too much', async () => {
    const t = await token(s, creds.get('viewer')!, [`repository:${P}:pull,push,delete`, `repository:${Q}:*`, 'repository:other/x:push']);
    assert.deepEqual(t.access, [{ type: 'repository', name: P, actions: ['pull'] }, { type: 'repository', name: Q, actions: ['pull'] }]);
    const anon = await token(s, null, [`repository:${P}:pull`, `repository:${Q}:pull,push`]);
    assert.deepEqual(anon.access, [{ type: 'repository', name: Q, actions: ['pull'] }]);
    const admin = await token(s, ADMIN, [`repository:${P}:*`]);
    assert.deepEqual(admin.access, [{ type: 'repository', name: P, actions: ['pull', 'push', 'delete'] }]);
  });

  test('a too-narrow token is asked to come back (401 insufficient_scope); a refused one is not', async () => {
    const narrow = await token(s, creds.get('editor')!, [`repository:${P}:pull`]);
    const r = await req(s.url, `/v2/${P}/blobs/uploads/`, { method: 'POST', headers: bearer(narrow.token) });
    assert.equal(r.status, 401);
    const challenge = r.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token",service="wharf",scope="repository:acme\/app:pull,push",error="insufficient_scope"$/);
    const viewer = await token(s, creds.get('viewer')!, [`repository:${P}:pull`]);
    assert.equal((await req(s.url, `/v2/${P}/blobs/uploads/`, { method: 'POST', headers: bearer(viewer.token) })).status, 403);
  });
});
