// Retention over real HTTP. In auth.mode builtin: the admin API that sets policies on a namespace or a
// repository (who may, what it answers, bad input, the audit log, the OpenAPI document) and runs them (a
// dry run first, then the run; the removed tags restorable from tag history; garbage collection freeing the
// bytes once history.keep has passed; untagged manifests); new tags pushed while runs go on. On an open
// registry: the scheduled job applying the configuration's default, counted in /metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { getManifest, pushImage, tagsOf } from './lib/registry.js';
import { expectError, expectStatus, parseJson, req, sleep, type Res } from './lib/http.js';
import { ADMIN, api, apiOk, BOSS, EDITOR, seedAcme, startBuiltin, withHeaders, type BuiltinServer } from './lib/builtin.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';
import { startWharf, wharfBin, type WharfServer } from '../helpers/server.js';
import type { GcReport } from '../../src/registry/gc.js';
import type { RetentionReport } from '../../src/registry/retention.js';

interface Policy { namespace: string; repository: string | null; keepLast: number | null; match: string | null; keepWithin: string | null; keep: string | null; untaggedOlderThan: string | null; createdAt: string; updatedAt: string }
interface Effective { setOn: string; namespace: string | null; repository: string | null; keepLast: number | null }
interface HistoryBody { items: { tag: string; digest: string | null; restorable: boolean }[] }

const HISTORY_KEEP = '3s';

const message = (r: Res): string => parseJson<{ errors: { message: string }[] }>(r).errors[0]!.message;
const rules = (p: Policy): unknown => ({ keepLast: p.keepLast, match: p.match, keepWithin: p.keepWithin, keep: p.keep, untaggedOlderThan: p.untaggedOlderThan });

describe('retention over HTTP (builtin)', () => {
  let s: BuiltinServer;
  // npm test's scaled-out pass (WHARF_TEST_META=postgres): the metadata on PostgreSQL.
  let db: TestDatabase | undefined;
  const metaEnv = (): Record<string, string> => (db ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url } : {});
  const as = <T>(fn: () => Promise<T>): Promise<T> => withHeaders(ADMIN, fn);
  const run = async (who: Record<string, string>, body: object): Promise<RetentionReport> => await apiOk(s, who, 'POST', '/retention/run', body, 200) as RetentionReport;
  /** `wharf gc` beside the running server, on its stores. */
  const gc = (...flags: string[]): Promise<GcReport> => new Promise((resolve, reject) => {
    execFile(process.execPath, [wharfBin, 'gc', '--format', 'json', '--data', s.dataDir, ...flags],
      { env: { ...process.env, ...metaEnv(), WHARF_GC_GRACE_PERIOD: '0s', WHARF_HISTORY_KEEP: HISTORY_KEEP }, timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`wharf gc: ${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as GcReport)));
  });

  before(async () => {
    if (process.env.WHARF_TEST_META === 'postgres') db = await createTestDatabase();
    s = await startBuiltin({ ...metaEnv(), WHARF_HISTORY_KEEP: HISTORY_KEEP, WHARF_RETENTION_INTERVAL: 'off' });
    await seedAcme(s);
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
    await db?.drop();
  });

  test('admin API: namespace admins and system admins set policies; members see them and the one in effect; bad input is 400; each change is audited', async () => {
    const made = await apiOk(s, BOSS, 'PUT', '/namespaces/acme/retention', { keepLast: 5, match: 'v.*', untaggedOlderThan: '30d' }, 201) as Policy;
    assert.deepEqual({ ...made, createdAt: '', updatedAt: '' }, {
      namespace: 'acme', repository: null, keepLast: 5, match: 'v.*', keepWithin: null, keep: null, untaggedOlderThan: '30d', createdAt: '', updatedAt: '',
    });
    const replaced = await apiOk(s, BOSS, 'PUT', '/namespaces/acme/retention', { keepWithin: '36h', keep: 'stable', untaggedOlderThan: null }, 200) as Policy;
    assert.deepEqual(rules(replaced), { keepLast: null, match: null, keepWithin: '1d12h', keep: 'stable', untaggedOlderThan: null }, 'a PUT replaces the whole policy');
    assert.equal(replaced.createdAt, made.createdAt);
    await apiOk(s, ADMIN, 'PUT', '/namespaces/acme/retention', { repository: 'acme/web', keepLast: 2 }, 201);

    // Who may: an editor may push but not decide; another namespace's admin neither; unknown namespaces are not found.
    let r = await api(s, EDITOR, 'PUT', '/namespaces/acme/retention', { keepLast: 1 });
    expectError(r, 403, 'DENIED');
    assert.equal(message(r), 'only admins of acme may change its retention policies');
    expectError(await api(s, BOSS, 'PUT', '/namespaces/beta/retention', { keepLast: 1 }), 403, 'DENIED');
    expectError(await api(s, ADMIN, 'PUT', '/namespaces/nobody/retention', { keepLast: 1 }), 404, 'NOT_FOUND');
    // Bad input: 400 INVALID, saying what is wrong; nothing changes.
    for (const [body, said] of [
      [{}, /at least one rule/], [{ match: 'v.*' }, /match limits keepLast/], [{ keepLast: 3, keep: 'v(' }, /keep is not a valid regular expression/],
      [{ keepWithin: 'soon' }, /keepWithin is a duration/], [{ keepLast: 0 }, /keepLast/], [{ keepLast: 1.5 }, /keepLast/],
      [{ keepLast: 1, repository: 'beta/app' }, /not in acme/], [{ keepLast: 1, keepNewest: 3 }, /keepNewest/], [{ untaggedOlderThan: '0s' }, /longer than 0/],
    ] as const) {
      r = await api(s, BOSS, 'PUT', '/namespaces/acme/retention', body);
      expectError(r, 400, 'INVALID');
      assert.match(message(r), said, JSON.stringify(body));
    }
    expectStatus(await req(s.url, '/api/v1/namespaces/acme/retention', { method: 'PUT', headers: { ...BOSS, 'content-type': 'application/json' }, body: '{"keepLast":1,"keepLast":2}' }), 400);

    // Members see the namespace's policies, and the one in effect for the namespace or a repository.
    const list = await apiOk(s, EDITOR, 'GET', '/namespaces/acme/retention', undefined, 200) as { items: Policy[]; effective: Effective };
    assert.deepEqual(list.items.map((p) => [p.repository, p.keepLast, p.keep]), [[null, null, 'stable'], ['acme/web', 2, null]]);
    assert.deepEqual([list.effective.setOn, list.effective.namespace], ['namespace', 'acme']);
    const web = await apiOk(s, EDITOR, 'GET', `/namespaces/acme/retention?${new URLSearchParams({ repository: 'acme/web' })}`, undefined, 200) as { items: Policy[]; effective: Effective };
    assert.deepEqual([web.items.length, web.effective.setOn, web.effective.repository, web.effective.keepLast], [2, 'repository', 'acme/web', 2]);
    const other = await apiOk(s, EDITOR, 'GET', `/namespaces/acme/retention?${new URLSearchParams({ repository: 'acme/other' })}`, undefined, 200) as { items: Policy[]; effective: Effective };
    assert.deepEqual([other.items.length, other.effective.setOn], [1, 'namespace']);
    assert.deepEqual(await apiOk(s, ADMIN, 'GET', '/namespaces/beta/retention', undefined, 200), { items: [], effective: null });
    expectError(await api(s, BOSS, 'GET', '/namespaces/beta/retention'), 403, 'DENIED');
    // Every policy of the registry and the configuration's default: system administrators only.
    const all = await apiOk(s, ADMIN, 'GET', '/retention', undefined, 200) as { items: Policy[]; default: unknown };
    assert.deepEqual([all.items.map((p) => p.repository ?? p.namespace), all.default], [['acme', 'acme/web'], null]);
    expectError(await api(s, BOSS, 'GET', '/retention'), 403, 'DENIED');

    // Removing: a repository's, then the namespace's; a second time there is none.
    expectError(await api(s, EDITOR, 'DELETE', '/namespaces/acme/retention'), 403, 'DENIED');
    await apiOk(s, BOSS, 'DELETE', `/namespaces/acme/retention?${new URLSearchParams({ repository: 'acme/web' })}`, undefined, 204);
    await apiOk(s, BOSS, 'DELETE', '/namespaces/acme/retention', undefined, 204);
    expectError(await api(s, BOSS, 'DELETE', '/namespaces/acme/retention'), 404, 'NOT_FOUND');
    assert.deepEqual((await apiOk(s, ADMIN, 'GET', '/retention', undefined, 200) as { items: Policy[] }).items, []);

    const audit = await apiOk(s, ADMIN, 'GET', '/audit?n=1000', undefined, 200) as { items: { actor: string; action: string; target: string; detail: unknown }[] };
    assert.deepEqual(audit.items.filter((e) => e.action.startsWith('retention.')).reverse().map((e) => [e.actor, e.action, e.target]), [
      ['boss', 'retention.set', 'acme'], ['boss', 'retention.set', 'acme'], ['admin', 'retention.set', 'acme/web'],
      ['boss', 'retention.unset', 'acme/web'], ['boss', 'retention.unset', 'acme'],
    ]);
    const doc = parseJson<{ paths: Record<string, Record<string, unknown>> }>(await req(s.url, '/api/v1/openapi.json'));
    assert.deepEqual(Object.keys(doc.paths['/api/v1/namespaces/{namespace}/retention']!).sort(), ['delete', 'get', 'put']);
    assert.ok(doc.paths['/api/v1/retention']!.get && doc.paths['/api/v1/retention/run']!.post);
  });

  test('a dry run lists what would go; the run removes it; the tags are restorable from history; garbage collection frees the bytes after history.keep', async () => {
    const pushed: Record<string, string> = {};
    for (const tag of ['v1', 'v2', 'v3', 'v4', 'stable']) pushed[tag] = (await as(() => pushImage(s.url, 'acme/app', tag))).digest;
    await as(() => pushImage(s.url, 'acme/lib', 'v1'));
    await apiOk(s, BOSS, 'PUT', '/namespaces/acme/retention', { repository: 'acme/app', keepLast: 2, match: 'v.*', keep: 'stable' }, 201);

    // Who may run: the namespace's admins for it (not an editor, not for everything); system admins anything.
    expectError(await api(s, EDITOR, 'POST', '/retention/run', { namespace: 'acme', dryRun: true }), 403, 'DENIED');
    expectError(await api(s, BOSS, 'POST', '/retention/run', { dryRun: true }), 403, 'DENIED');
    expectError(await api(s, BOSS, 'POST', '/retention/run', { repository: 'beta/app', dryRun: true }), 403, 'DENIED');
    expectError(await api(s, BOSS, 'POST', '/retention/run', { namespace: 'acme', repository: 'beta/app' }), 400, 'INVALID');
    expectError(await api(s, BOSS, 'POST', '/retention/run', { repository: 'acme/none' }), 404, 'NAME_UNKNOWN');
    expectError(await api(s, BOSS, 'POST', '/retention/run', { namespace: 'acme', dry: true }), 400, 'INVALID');

    const dry = await run(BOSS, { namespace: 'acme', dryRun: true });
    assert.deepEqual([dry.dryRun, dry.namespace, dry.repository, dry.tagsRemoved, dry.manifestsRemoved], [true, 'acme', null, 2, 0]);
    assert.deepEqual(dry.repositories.map((x) => x.repository), ['acme/app'], 'acme/lib has no policy');
    const [app] = dry.repositories;
    assert.deepEqual(app!.removedTags.map((x) => [x.tag, x.digest]), [['v2', pushed.v2], ['v1', pushed.v1]]);
    assert.deepEqual(app!.keptTags.map((x) => [x.tag, x.reasons]), [['stable', ['keep']], ['v4', ['keep-last']], ['v3', ['keep-last']]]);
    assert.equal(app!.policy.setOn, 'repository');
    assert.deepEqual(await as(() => tagsOf(s.url, 'acme/app')), ['stable', 'v1', 'v2', 'v3', 'v4'], 'a dry run changes nothing');

    const done = await run(BOSS, { repository: 'acme/app' });
    assert.deepEqual(done.repositories[0]!.removedTags, app!.removedTags, 'the run removes what the dry run listed');
    assert.deepEqual(await as(() => tagsOf(s.url, 'acme/app')), ['stable', 'v3', 'v4']);
    expectError(await as(() => getManifest(s.url, 'acme/app', 'v1')), 404, 'MANIFEST_UNKNOWN');
    const audit = await apiOk(s, ADMIN, 'GET', '/audit?n=1000', undefined, 200) as { items: { actor: string; actorKind: string; action: string; target: string; detail: unknown }[] };
    assert.deepEqual(audit.items.filter((e) => e.action === 'retention.run').map((e) => [e.actor, e.target, e.detail]).reverse(), [
      ['boss', 'acme', { dryRun: true, tagsRemoved: 2, manifestsRemoved: 0 }], ['boss', 'acme/app', { dryRun: false, tagsRemoved: 2, manifestsRemoved: 0 }],
    ]);
    assert.deepEqual(audit.items.filter((e) => e.action === 'tag.delete').map((e) => [e.actor, e.actorKind, e.target]).sort(),
      [['retention', 'system', 'acme/app:v1'], ['retention', 'system', 'acme/app:v2']], 'the registry\'s events name the retention job');

    // Recorded in history: v2 can be undeleted within history.keep, and garbage collection keeps v1's manifest meanwhile.
    const history = parseJson<HistoryBody>(await req(s.url, '/api/v1/repositories/acme/app/history?tag=v1', { headers: ADMIN }));
    assert.deepEqual(history.items.map((e) => [e.digest, e.restorable]), [[null, false], [pushed.v1, true]]);
    expectStatus(await req(s.url, '/api/v1/repositories/acme/app/tags/v2/restore', { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/json' }, body: '{"undelete":true}' }), 200);
    assert.equal((await as(() => getManifest(s.url, 'acme/app', 'v2', 'HEAD'))).headers.get('docker-content-digest'), pushed.v2);
    assert.equal((await gc('--untagged')).manifestsDeleted, 0, 'within history.keep the removed tag\'s manifest stays');
    expectStatus(await as(() => getManifest(s.url, 'acme/app', pushed.v1!, 'HEAD')), 200);
    await sleep(3200);
    const collected = await gc('--untagged');
    assert.equal(collected.manifestsDeleted, 1, 'after history.keep, garbage collection deletes v1\'s manifest');
    assert.ok(collected.blobsDeleted >= 3 && collected.bytesFreed > 0, `its manifest, config and layer bytes are freed: ${JSON.stringify(collected)}`);
    expectError(await as(() => getManifest(s.url, 'acme/app', pushed.v1!, 'HEAD')), 404, 'MANIFEST_UNKNOWN');
    assert.deepEqual(await as(() => tagsOf(s.url, 'acme/app')), ['stable', 'v2', 'v3', 'v4']);
  });

  test('untaggedOlderThan: old untagged manifests go (their bytes free at the next collection); a tagged index\'s children stay', async () => {
    const loose = await as(() => pushImage(s.url, 'beta/app', null));
    const kept = await as(() => pushImage(s.url, 'beta/app', 'v1'));
    await apiOk(s, ADMIN, 'PUT', '/namespaces/beta/retention', { untaggedOlderThan: '1s' }, 201);
    await sleep(1100);
    const done = await run(ADMIN, { namespace: 'beta' });
    assert.deepEqual(done.repositories[0]!.removedManifests.map((x) => x.digest), [loose.digest]);
    assert.deepEqual(done.repositories[0]!.keptTags, [], 'no tag rule: tags are not judged');
    expectError(await as(() => getManifest(s.url, 'beta/app', loose.digest, 'HEAD')), 404, 'MANIFEST_UNKNOWN');
    expectStatus(await as(() => getManifest(s.url, 'beta/app', 'v1', 'HEAD')), 200);
    assert.equal(kept.digest, (await as(() => getManifest(s.url, 'beta/app', 'v1', 'HEAD'))).headers.get('docker-content-digest'));
    const collected = await gc();
    assert.ok(collected.blobsDeleted >= 3, `the manifest, its config and layer: ${JSON.stringify(collected)}`);
  });

  test('new tags pushed while retention runs: none is removed before N newer ones were pushed; keep-last N holds afterwards', async () => {
    const N = 2;
    await apiOk(s, BOSS, 'PUT', '/namespaces/acme/retention', { repository: 'acme/race', keepLast: N }, 201);
    // Every request of this block as the administrator (withHeaders is one patch of fetch for all of them).
    const runs = await as(async () => {
      let pushing = 3;
      const pushers = [0, 1, 2].map(async (p) => {
        try {
          for (let i = 0; i < 12; i++) await pushImage(s.url, 'acme/race', `p${p}-${i}`);
        } finally {
          pushing--;
        }
      });
      let n = 0;
      for (; pushing > 0; n++) await run(ADMIN, { repository: 'acme/race' });
      await Promise.all(pushers);
      return n;
    });
    assert.ok(runs >= 3, `only ${runs} runs raced the pushes`);
    // As tag history recorded it: a tag removed only once N tags pushed after it were there.
    const history = parseJson<{ items: { tag: string; digest: string | null; at: string }[] }>(await req(s.url, '/api/v1/repositories/acme/race/history?n=1000', { headers: ADMIN })).items;
    const made = new Map(history.filter((e) => e.digest !== null).map((e) => [e.tag, Date.parse(e.at)]));
    for (const e of history.filter((x) => x.digest === null)) {
      const newer = [...made].filter(([tag, at]) => tag !== e.tag && at >= made.get(e.tag)! && at <= Date.parse(e.at));
      assert.ok(newer.length >= N, `${e.tag} was removed when only ${newer.map(([t]) => t).join(', ')} had been pushed after it`);
    }
    await run(BOSS, { repository: 'acme/race' });
    const newest = [...made].sort(([ta, a], [tb, b]) => b - a || (ta < tb ? 1 : -1)).slice(0, N).map(([t]) => t);
    assert.deepEqual(await as(() => tagsOf(s.url, 'acme/race')), newest.sort());
  });
});

describe('retention job (open registry, retention.default)', () => {
  let s: WharfServer;

  before(async () => {
    s = await startWharf({ env: { WHARF_RETENTION_INTERVAL: '1s', WHARF_RETENTION_DEFAULT_KEEP_LAST: '1', WHARF_RETENTION_DEFAULT_KEEP: 'keep-.*' } });
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
  });

  test('the job applies the configuration\'s default to every repository every retention.interval; /metrics counts what it removed', async () => {
    for (const tag of ['a', 'keep-b', 'c', 'd']) await pushImage(s.url, 'library/app', tag);
    await pushImage(s.url, 'alpine', 'x');
    await pushImage(s.url, 'alpine', 'y');
    let tags: string[] | null = [];
    for (let waited = 0; waited < 10_000; waited += 200) {
      tags = await tagsOf(s.url, 'library/app');
      if (tags?.length === 2 && (await tagsOf(s.url, 'alpine'))?.length === 1) break;
      await sleep(200);
    }
    assert.deepEqual(tags, ['d', 'keep-b']);
    assert.deepEqual(await tagsOf(s.url, 'alpine'), ['y']);
    const metrics = (await req(s.url, '/metrics')).body.toString();
    assert.match(metrics, /^wharf_retention_removed_total\{kind="tag"\} 3$/m);
    assert.match(metrics, /^wharf_retention_removed_total\{kind="manifest"\} 0$/m);
    assert.match(metrics, /^wharf_job_runs_total\{job="retention",outcome="ran"\} [1-9]/m);
  });
});
