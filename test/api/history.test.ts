// Tag history and restore over HTTP (/api/v1/repositories/…): history after pushes, moves and deletes,
// restoring an earlier digest, undeleting, refusals (manifest gone, older than history.keep, unknown
// repository or tag, bad bodies), and 401/403 in htpasswd mode exactly as /v2 answers them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, parseJson, req, sleep } from './lib/http.js';
import { MT, repoName } from './lib/content.js';
import { getManifest, pushImage, pushManifest } from './lib/registry.js';
import { startWharf, type WharfServer } from '../helpers/server.js';

interface Entry { tag: string; digest: string | null; at: string; restorable: boolean }
interface HistoryBody { repository: string; tag?: string; items: Entry[]; next: string | null }

const json = (body: unknown): { method: string; headers: Record<string, string>; body: string } =>
  ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function digestOf(base: string, repo: string, tag: string, headers: Record<string, string> = {}): Promise<string | null> {
  const r = await req(base, `/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: MT.ociManifest, ...headers } });
  return r.status === 200 ? r.headers.get('docker-content-digest') : null;
}

describe('tag history and restore', () => {
  // A short window: entries older than 2s are no longer restorable.
  const s = useWharf({ env: { WHARF_HISTORY_KEEP: '2s' } });
  const repo = `${repoName('history')}/tags/app`; // a name with a `tags` component stays unambiguous
  let a: string;
  let b: string;
  let c: string;

  before(async () => {
    a = (await pushImage(s.url, repo, 'v1')).digest;
    b = (await pushImage(s.url, repo, 'v1')).digest;
    await pushManifest(s.url, repo, 'latest', (await pushImage(s.url, repo, null)).manifest, MT.ociManifest);
    c = (await digestOf(s.url, repo, 'latest'))!;
    expectStatus(await req(s.url, `/v2/${repo}/manifests/v1`, { method: 'DELETE' }), 202);
  });

  test("a tag's history: newest first, digests or null for a delete, ISO times, restorable", async () => {
    const r = await req(s.url, `/api/v1/repositories/${repo}/history?tag=v1`);
    expectStatus(r, 200);
    const h = parseJson<HistoryBody>(r);
    assert.equal(h.repository, repo);
    assert.equal(h.tag, 'v1');
    assert.deepEqual(h.items.map((e) => e.digest), [null, b, a]);
    assert.deepEqual(h.items.map((e) => e.restorable), [false, true, true]);
    for (const e of h.items) assert.match(e.at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(h.next, null);
  });

  test('/tags/{tag}/history is the tag\'s history; a repository whose own name ends in /tags/X keeps its whole history', async () => {
    const byQuery = parseJson<HistoryBody>(await req(s.url, `/api/v1/repositories/${repo}/history?tag=v1`));
    const byPath = parseJson<HistoryBody>(await req(s.url, `/api/v1/repositories/${repo}/tags/v1/history`));
    assert.deepEqual(byPath, byQuery);
    // `repo` ends in /tags/app: its own whole history, not tag "app" of its parent (which does not exist).
    const whole = parseJson<HistoryBody>(await req(s.url, `/api/v1/repositories/${repo}/history`));
    assert.equal(whole.repository, repo);
    assert.equal(whole.tag, undefined);
    expectError(await req(s.url, `/api/v1/repositories/${repo}/tags/never/history`), 404, 'MANIFEST_UNKNOWN');
  });

  test('the OpenAPI document describes the repository API in every auth mode', async () => {
    const doc = parseJson<{ paths: Record<string, Record<string, unknown>> }>(await req(s.url, '/api/v1/openapi.json'));
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      '/api/v1/repositories/{name}/history', '/api/v1/repositories/{name}/tags/{tag}/history', '/api/v1/repositories/{name}/tags/{tag}/restore',
    ]);
    assert.ok(doc.paths['/api/v1/repositories/{name}/tags/{tag}/restore']!.post);
  });

  test("the repository's history, paged with n and before (the previous page's next)", async () => {
    const all = parseJson<HistoryBody>(await req(s.url, `/api/v1/repositories/${repo}/history`));
    assert.deepEqual(all.items.map((e) => [e.tag, e.digest]), [['v1', null], ['latest', c], ['v1', b], ['v1', a]]);
    const seen: Entry[] = [];
    let path = `/api/v1/repositories/${repo}/history?n=3`;
    for (;;) {
      const page = parseJson<HistoryBody>(await req(s.url, path));
      seen.push(...page.items);
      if (page.next === null) break;
      path = `/api/v1/repositories/${repo}/history?n=3&before=${page.next}`;
    }
    assert.deepEqual(seen, all.items);
    expectError(await req(s.url, `/api/v1/repositories/${repo}/history?n=0`), 400, 'PAGINATION_NUMBER_INVALID');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/history?before=x`), 400, 'INVALID');
  });

  test('undelete points the tag back at its digest before the delete; restore points it at an earlier one', async () => {
    const u = await req(s.url, `/api/v1/repositories/${repo}/tags/v1/restore`, json({ undelete: true }));
    expectStatus(u, 200);
    assert.deepEqual(parseJson(u), { repository: repo, tag: 'v1', digest: b, mediaType: MT.ociManifest });
    assert.equal(await digestOf(s.url, repo, 'v1'), b);
    const r = await req(s.url, `/api/v1/repositories/${repo}/tags/v1/restore`, json({ digest: a }));
    expectStatus(r, 200);
    assert.equal(await digestOf(s.url, repo, 'v1'), a);
    // Restoring is a move: it is recorded.
    const h = parseJson<HistoryBody>(await req(s.url, `/api/v1/repositories/${repo}/history?tag=v1`));
    assert.deepEqual(h.items.slice(0, 2).map((e) => e.digest), [a, b]);
    expectError(await req(s.url, `/api/v1/repositories/${repo}/tags/v1/restore`, json({ undelete: true })), 409, 'CONFLICT');
  });

  test('refused when the manifest is gone, or the tag left it longer ago than history.keep', async () => {
    const gone = (await pushImage(s.url, repo, 'gone')).digest;
    await pushImage(s.url, repo, 'gone');
    expectStatus(await req(s.url, `/v2/${repo}/manifests/${gone}`, { method: 'DELETE' }), 202);
    const r = await req(s.url, `/api/v1/repositories/${repo}/tags/gone/restore`, json({ digest: gone }));
    expectError(r, 410, 'MANIFEST_UNKNOWN');
    const h = parseJson<HistoryBody>(await req(s.url, `/api/v1/repositories/${repo}/history?tag=gone`));
    assert.deepEqual(h.items.map((e) => e.restorable), [true, false]);

    const old = (await pushImage(s.url, repo, 'old')).digest;
    await pushImage(s.url, repo, 'old');
    await sleep(2200);
    expectError(await req(s.url, `/api/v1/repositories/${repo}/tags/old/restore`, json({ digest: old })), 410, 'MANIFEST_UNKNOWN');
    assert.equal((await getManifest(s.url, repo, old)).status, 200, 'the manifest itself is still there');
    const o = parseJson<HistoryBody>(await req(s.url, `/api/v1/repositories/${repo}/history?tag=old`));
    assert.deepEqual(o.items.map((e) => e.restorable), [true, false], 'the current digest stays restorable; the older one not');
  });

  test('404 for an unknown repository, tag or digest; 400 for bad bodies and names; 405 elsewhere', async () => {
    expectError(await req(s.url, '/api/v1/repositories/no/such/repo/history'), 404, 'NAME_UNKNOWN');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/history?tag=never`), 404, 'MANIFEST_UNKNOWN');
    expectError(await req(s.url, '/api/v1/repositories/no/such/repo/tags/v1/restore', json({ undelete: true })), 404, 'NAME_UNKNOWN');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/tags/never/restore`, json({ undelete: true })), 404, 'MANIFEST_UNKNOWN');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/tags/v1/restore`, json({ digest: `sha256:${'0'.repeat(64)}` })), 404, 'MANIFEST_UNKNOWN');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/tags/v1/restore`, json({ digest: a, undelete: true })), 400, 'INVALID');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/tags/v1/restore`, { method: 'POST', body: 'nope' }), 400, 'INVALID');
    expectError(await req(s.url, '/api/v1/repositories/Bad/history'), 400, 'NAME_INVALID');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/elsewhere`), 404, 'NOT_FOUND');
    expectError(await req(s.url, `/api/v1/repositories/${repo}/history`, { method: 'DELETE' }), 405, 'UNSUPPORTED');
    assert.deepEqual(await s.serverErrors(), []);
  });
});

describe('tag history in htpasswd mode', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-history-htpasswd-'));
  const file = join(dir, 'users');
  let s: WharfServer;
  const alice = { Authorization: `Basic ${Buffer.from('alice:pw-a').toString('base64')}` };

  before(async () => {
    execFileSync('htpasswd', ['-Bbc', '-C', '5', file, 'alice', 'pw-a'], { stdio: 'ignore' });
    s = await startWharf({ env: { WHARF_AUTH_HTPASSWD_PATH: file } });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('401 with the Basic challenge without credentials or with wrong ones; allowed with them', async () => {
    for (const [method, path, init] of [
      ['GET', '/api/v1/repositories/team/app/history', {}],
      ['POST', '/api/v1/repositories/team/app/tags/v1/restore', json({ undelete: true })],
    ] as const) {
      const r = await req(s.url, path, { ...init, method });
      expectError(r, 401, 'UNAUTHORIZED');
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="wharf"');
      const wrong = { Authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` };
      expectError(await req(s.url, path, { ...init, method, headers: { ...('headers' in init ? init.headers : {}), ...wrong } }), 401, 'UNAUTHORIZED');
    }
    // Signed in: the repository is unknown, which is the next thing to say.
    expectError(await req(s.url, '/api/v1/repositories/team/app/history', { headers: alice }), 404, 'NAME_UNKNOWN');
  });
});

describe('tag history in builtin mode', () => {
  // 403 DENIED: a signed-in user without the role on the repository, as /v2 refuses them.
  test('403 DENIED for a signed-in user without access; the owner may', async () => {
    const { startBuiltin, ADMIN, apiOk } = await import('./lib/builtin.js');
    const s = await startBuiltin();
    try {
      await apiOk(s, ADMIN, 'POST', '/users', { name: 'bob', password: 'bob-password-1' }, 201);
      const bob = { Authorization: `Basic ${Buffer.from('bob:bob-password-1').toString('base64')}` };
      const admin = ADMIN;
      const pushed = await withAuth(admin, () => pushImage(s.url, 'admin/app', 'v1'));
      const v2 = await req(s.url, '/v2/admin/app/manifests/v1', { headers: bob });
      const api = await req(s.url, '/api/v1/repositories/admin/app/history', { headers: bob });
      assert.equal(api.status, v2.status, 'the same answer as /v2');
      expectError(api, v2.status, v2.status === 403 ? 'DENIED' : 'UNAUTHORIZED');
      expectError(await req(s.url, '/api/v1/repositories/admin/app/tags/v1/restore', { ...json({ undelete: true }), headers: { ...json({}).headers, ...bob } }), v2.status);
      const own = parseJson<HistoryBody>(await req(s.url, '/api/v1/repositories/admin/app/history', { headers: admin }));
      assert.deepEqual(own.items.map((e) => e.digest), [pushed.digest]);
    } finally {
      await s.stop();
      s.cleanup();
    }
  });
});

async function withAuth<T>(headers: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const { withHeaders } = await import('./lib/builtin.js');
  return withHeaders(headers, fn);
}
