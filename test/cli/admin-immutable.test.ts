// `wharf admin immutable add|remove|list` black-box: the real bin/wharf.cjs against a real `wharf serve`
// (auth.mode builtin) on 127.0.0.1, logged in with `wharf login --password-stdin`. Each command's effect
// is checked on the server (a protected tag refuses a move, a removed pattern lets it move), in json and
// in text; then the errors (the server's refusal exits 1 with its message, usage errors exit 2 offline).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, withHeaders, type BuiltinServer } from '../api/lib/builtin.js';
import { makeImage, pushBlob, pushImage, putManifest } from '../api/lib/registry.js';
import { MT } from '../api/lib/content.js';
import { fails, json, ok, type WharfRun } from './lib/isolated-env.js';
import { AdminCast } from './lib/admin-cast.js';

interface Rule { namespace: string; repository: string | null; pattern: string; createdAt: string }

let cast: AdminCast;
let s: BuiltinServer;

const admin = (who: string, args: string[], input?: string): Promise<WharfRun> => cast.admin(who, args, input);

/** PUTs a fresh image's manifest to repo:tag (as the system administrator); the status. */
async function pushOther(repo: string, tag: string): Promise<number> {
  return withHeaders(ADMIN, async () => {
    const i = makeImage();
    await pushBlob(s.url, repo, i.config);
    await pushBlob(s.url, repo, i.layers[0]!);
    return (await putManifest(s.url, repo, tag, i.manifest, MT.ociManifest)).status;
  });
}

describe('wharf admin immutable', () => {
  before(async () => {
    cast = await AdminCast.start('wharf-admin-immutable-', 'editor');
    s = cast.server;
  });

  after(async () => {
    await cast?.close();
  });

  test('add (namespace and repository), list (json and text), the push refused, remove lifts it', async () => {
    const added = json<Rule & { created: boolean }>(await admin('admin', ['immutable', 'add', 'acme', 'v*', '--format', 'json']));
    assert.deepEqual({ ...added, createdAt: '' }, { namespace: 'acme', repository: null, pattern: 'v*', createdAt: '', created: true });
    assert.match(ok(await admin('admin', ['immutable', 'add', 'acme', 'v*'])).stdout, /^Tags matching v\* were already immutable in acme\n$/);
    assert.match(ok(await admin('admin', ['immutable', 'add', 'acme/app', 'release-*'])).stdout, /^Tags matching release-\* are immutable in acme\/app\n$/);

    const all = json<Rule[]>(await admin('admin', ['immutable', 'list', '--format', 'json']));
    assert.deepEqual(all.map((r) => [r.namespace, r.repository, r.pattern]), [['acme', null, 'v*'], ['acme', 'acme/app', 'release-*']]);
    assert.deepEqual(json<Rule[]>(await admin('dev', ['immutable', 'list', 'acme/other', '--format', 'json'])).map((r) => r.pattern), ['v*']);
    const text = ok(await admin('dev', ['immutable', 'list', 'acme'])).stdout.split('\n');
    assert.match(text[0]!, /^SET ON\s+PATTERN\s+CREATED$/);
    assert.match(text[1]!, /^acme\s+v\*\s+\d{4}-\d\d-\d\dT[\d:]+Z$/);
    assert.match(text[2]!, /^acme\/app\s+release-\*\s+\d{4}-/);

    await withHeaders(ADMIN, () => pushImage(s.url, 'acme/app', 'release-1'));
    assert.equal(await pushOther('acme/app', 'release-1'), 403);
    assert.deepEqual(json(await admin('admin', ['immutable', 'remove', 'acme/app', 'release-*', '--format', 'json'])),
      { namespace: 'acme', repository: 'acme/app', pattern: 'release-*', removed: true });
    assert.equal(await pushOther('acme/app', 'release-1'), 201);
    assert.match(ok(await admin('admin', ['immutable', 'remove', 'acme', 'v*'])).stdout, /^Tags matching v\* are no longer immutable in acme\n$/);
    assert.deepEqual(json(await admin('admin', ['immutable', 'list', '--format', 'json'])), []);
  });

  test('errors: the server\'s refusal exits 1 with its message; usage errors exit 2 without the network', async () => {
    fails(await admin('dev', ['immutable', 'add', 'acme', 'x*']), 1, /^wharf: only admins of acme may change its immutable tags\n$/);
    fails(await admin('dev', ['immutable', 'list']), 1, /^wharf: only system administrators may do this\n$/);
    fails(await admin('admin', ['immutable', 'remove', 'acme', 'nothing-*']), 1, /^wharf: no immutable tag pattern "nothing-\*" on acme\n$/);
    fails(await admin('admin', ['immutable', 'add', 'acme', 'v[0-9]']), 1, /pattern/);
    const offline = (args: string[], input?: string): Promise<WharfRun> => cast.offline(args, input);
    fails(await offline(['immutable', 'add', '/app', 'v*']), 2, 'name a namespace (ORG) or a repository (ORG/REPO)');
    fails(await offline(['immutable', 'add', 'acme']), 2, /missing required argument/);
    fails(await offline(['immutable', 'list', 'acme', '--format', 'yaml']), 2, '--format takes json or text');
  });
});
