// `wharf admin quota set|show|unset|list` black-box: the real bin/wharf.cjs against a real `wharf serve`
// (auth.mode builtin) on 127.0.0.1, logged in with `wharf login --password-stdin`. Each command's effect
// is checked on the server (a push over the quota refused, an unset quota lifting it), in json and in
// text; then the errors (the server's refusal exits 1 with its message, usage errors exit 2 offline).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, withHeaders, type BuiltinServer } from '../api/lib/builtin.js';
import { makeImage, pushImageParts, startUpload, withDigest } from '../api/lib/registry.js';
import { randomBlob } from '../api/lib/content.js';
import { req } from '../api/lib/http.js';
import { fails, json, ok, type WharfRun } from './lib/isolated-env.js';
import { AdminCast } from './lib/admin-cast.js';

interface Quota { namespace: string; repository: string | null; limits: { bytes: number | null; tags: number | null }; usage: { bytes: number; tags: number } }

let cast: AdminCast;
let s: BuiltinServer;

const admin = (who: string, args: string[], input?: string): Promise<WharfRun> => cast.admin(who, args, input);

/** Uploads a blob of `size` random bytes to repo (as the system administrator); the PUT's status. */
async function upload(repo: string, size: number): Promise<number> {
  return withHeaders(ADMIN, async () => {
    const c = randomBlob(size);
    return (await req(s.url, withDigest(await startUpload(s.url, repo), c.digest), { method: 'PUT', body: c.data })).status;
  });
}

describe('wharf admin quota', () => {
  before(async () => {
    cast = await AdminCast.start('wharf-admin-quota-', 'admin');
    s = cast.server;
  });

  after(async () => {
    await cast?.close();
  });

  test('show before any quota, set (json and text), the push refused, list, unset lifts it', async () => {
    const img = makeImage({ layerSize: 2048 });
    await withHeaders(ADMIN, () => pushImageParts(s.url, 'acme/app', 'v1', img));
    const bytes = img.config.size + img.layers[0]!.size + img.manifest.size;
    // Usage alone where no quota is set, for a member.
    assert.deepEqual(json<Quota>(await admin('dev', ['quota', 'show', 'acme', '--format', 'json'])),
      { namespace: 'acme', repository: null, limits: { bytes: null, tags: null }, usage: { bytes, tags: 1 } });
    let text = ok(await admin('dev', ['quota', 'show', 'acme'])).stdout.split('\n');
    assert.match(text[0]!, /^SET ON\s+STORAGE USED\s+STORAGE LIMIT\s+TAGS USED\s+TAGS LIMIT$/);
    assert.match(text[1]!, /^acme\s+2\.\d KiB\s+-\s+1\s+-$/);

    const set = json<Quota>(await admin('admin', ['quota', 'set', 'acme', '--bytes', '4KiB', '--tags', '4', '--format', 'json']));
    assert.deepEqual(set, { namespace: 'acme', repository: null, limits: { bytes: 4096, tags: 4 }, usage: { bytes, tags: 1 } });
    text = ok(await admin('admin', ['quota', 'set', 'acme/app', '--tags', '1'])).stdout.split('\n');
    assert.equal(text[0], 'Quota of acme/app: no storage limit, 1 tag');
    assert.match(text[2]!, /^acme\/app\s+2\.\d KiB\s+-\s+1 \(100%\)\s+1$/);

    assert.equal(await upload('acme/app', 4096), 403, 'over the namespace\'s 4 KiB');
    assert.equal(await upload('acme/app', 100), 201);
    text = ok(await admin('dev', ['quota', 'show', 'acme'])).stdout.split('\n');
    assert.match(text[1]!, /^acme\s+2\.\d KiB \(\d\d%\)\s+4 KiB\s+1 \(25%\)\s+4$/);

    const all = json<Quota[]>(await admin('admin', ['quota', 'list', '--format', 'json']));
    assert.deepEqual(all.map((q) => [q.repository ?? q.namespace, q.limits.bytes, q.limits.tags]), [['acme', 4096, 4], ['acme/app', null, 1]]);
    text = ok(await admin('admin', ['quota', 'list'])).stdout.trimEnd().split('\n');
    assert.equal(text.length, 3);

    // Set below the usage: allowed, and said.
    text = ok(await admin('admin', ['quota', 'set', 'acme', '--bytes', '1KB'])).stdout.trimEnd().split('\n');
    assert.equal(text[0], 'Quota of acme: 1000 B, no tag limit');
    assert.equal(text[3], 'acme holds more than its quota already: pushes that add to it are refused');
    assert.equal(await upload('acme/app', 10), 403);

    assert.deepEqual(json(await admin('admin', ['quota', 'unset', 'acme', '--format', 'json'])), { namespace: 'acme', repository: null, removed: true });
    assert.match(ok(await admin('admin', ['quota', 'unset', 'acme/app'])).stdout, /^Removed the quota of acme\/app\n$/);
    assert.equal(await upload('acme/app', 8192), 201);
    assert.deepEqual(json(await admin('admin', ['quota', 'list', '--format', 'json'])), []);
  });

  test('errors: the server\'s refusal exits 1 with its message; usage errors exit 2 without the network', async () => {
    fails(await admin('dev', ['quota', 'set', 'acme', '--bytes', '1GiB']), 1, /^wharf: only system administrators may do this\n$/);
    fails(await admin('dev', ['quota', 'list']), 1, /^wharf: only system administrators may do this\n$/);
    fails(await admin('admin', ['quota', 'unset', 'acme']), 1, /^wharf: no quota on acme\n$/);
    fails(await admin('admin', ['quota', 'show', 'nobody']), 1, /^wharf: no namespace "nobody"\n$/);
    const offline = (args: string[], input?: string): Promise<WharfRun> => cast.offline(args, input);
    fails(await offline(['quota', 'set', 'acme']), 2, 'set --bytes, --tags or both');
    fails(await offline(['quota', 'set', 'acme', '--bytes', '10 parsecs']), 2, '--bytes takes a size such as 500MiB or 10GB');
    fails(await offline(['quota', 'set', 'acme', '--tags', '-1']), 2, '--tags takes a whole number');
    fails(await offline(['quota', 'show', 'acme/']), 2, 'name a namespace (ORG) or a repository (ORG/REPO)');
    fails(await offline(['quota', 'show']), 2, /missing required argument/);
    fails(await offline(['quota', 'list', '--format', 'yaml']), 2, '--format takes json or text');
  });
});
