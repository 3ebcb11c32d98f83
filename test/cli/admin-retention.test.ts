// `wharf admin retention set|show|unset|run` black-box: the real bin/wharf.cjs against a real `wharf serve`
// (auth.mode builtin) on 127.0.0.1, logged in with `wharf login --password-stdin`. Each command in json and
// in text; a dry run lists, the run removes (checked on the server's tag list); then the errors (the
// server's refusal exits 1 with its message, usage errors exit 2 without the network).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN, withHeaders, type BuiltinServer } from '../api/lib/builtin.js';
import { pushImage, tagsOf } from '../api/lib/registry.js';
import { fails, json, ok, type WharfRun } from './lib/isolated-env.js';
import { AdminCast } from './lib/admin-cast.js';
import type { RetentionReport } from '../../src/registry/retention.js';

interface Policy { namespace: string; repository: string | null; keepLast: number | null; match: string | null; keepWithin: string | null; keep: string | null; untaggedOlderThan: string | null }

let cast: AdminCast;
let s: BuiltinServer;

const admin = (who: string, args: string[], input?: string): Promise<WharfRun> => cast.admin(who, args, input);

describe('wharf admin retention', () => {
  before(async () => {
    cast = await AdminCast.start('wharf-admin-retention-', 'editor', { WHARF_RETENTION_INTERVAL: 'off' });
    s = cast.server;
  });

  after(async () => {
    await cast?.close();
  });

  test('set (namespace, repository), show (json and text), run --dry-run, run, unset', async () => {
    const set = json<Policy>(await admin('admin', ['retention', 'set', 'acme', '--keep-last', '2', '--match', 'v.*', '--keep', 'stable', '--untagged-older-than', '30d', '--format', 'json']));
    assert.deepEqual({ ...set, createdAt: undefined, updatedAt: undefined },
      { namespace: 'acme', repository: null, keepLast: 2, match: 'v.*', keepWithin: null, keep: 'stable', untaggedOlderThan: '30d', createdAt: undefined, updatedAt: undefined });
    assert.equal(ok(await admin('admin', ['retention', 'set', 'acme/web', '--keep-within', '12h'])).stdout,
      'Retention policy of acme/web: keep tags pushed within 12h\n');

    const shown = json<{ items: Policy[]; effective: Policy & { setOn: string } }>(await admin('dev', ['retention', 'show', 'acme/app', '--format', 'json']));
    assert.deepEqual(shown.items.map((p) => p.repository), [null]);
    assert.deepEqual([shown.effective.setOn, shown.effective.namespace, shown.effective.keepLast], ['namespace', 'acme', 2]);
    const text = ok(await admin('dev', ['retention', 'show', 'acme'])).stdout.split('\n');
    assert.match(text[0]!, /^SET ON\s+RULES\s+UPDATED$/);
    assert.match(text[1]!, /^acme\s+keep the last 2 tags matching v\.\*; always keep tags matching stable; delete manifests untagged for longer than 30d\s+\d{4}-\d\d-\d\dT[\d:]+Z$/);
    assert.match(text[2]!, /^acme\/web\s+keep tags pushed within 12h\s+\d{4}-/);
    assert.equal(text[3], 'In effect for acme: the policy of namespace acme: keep the last 2 tags matching v.*; always keep tags matching stable; delete manifests untagged for longer than 30d');
    assert.match(ok(await admin('dev', ['retention', 'show', 'acme/web'])).stdout, /\nIn effect for acme\/web: its own policy \(acme\/web\): keep tags pushed within 12h\n$/);
    const all = json<{ items: Policy[]; default: unknown }>(await admin('admin', ['retention', 'show', '--format', 'json']));
    assert.deepEqual([all.items.map((p) => p.repository ?? p.namespace), all.default], [['acme', 'acme/web'], null]);
    assert.match(ok(await admin('admin', ['retention', 'show'])).stdout, /\nNo default in the configuration\n$/);

    const pushed: Record<string, string> = {};
    await withHeaders(ADMIN, async () => {
      for (const tag of ['v1', 'v2', 'v3', 'stable']) pushed[tag] = (await pushImage(s.url, 'acme/app', tag)).digest;
      await pushImage(s.url, 'acme/web', 'x');
    });
    const dryText = ok(await admin('admin', ['retention', 'run', '--dry-run', 'acme'])).stdout.split('\n');
    assert.equal(dryText[0], 'Retention dry run (nothing changed): 1 tag and 0 untagged manifests would go, in 2 repositories with a policy');
    assert.equal(dryText[2], 'acme/app: the policy of namespace acme: keep the last 2 tags matching v.*; always keep tags matching stable; delete manifests untagged for longer than 30d');
    assert.match(dryText[3]!, /^ {2}ACTION\s+WHAT\s+DIGEST\s+WHY$/);
    assert.match(dryText[4]!, new RegExp(`^  remove\\s+tag v1\\s+${pushed.v1}\\s+pushed \\d{4}-`));
    assert.match(dryText[5]!, new RegExp(`^  keep\\s+tag stable\\s+${pushed.stable}\\s+keep$`));
    assert.match(dryText[6]!, /^ {2}keep\s+tag v3\s+\S+\s+keep-last$/);
    assert.equal(dryText[9], 'acme/web: its own policy (acme/web): keep tags pushed within 12h');
    assert.match(dryText[11]!, /^ {2}keep\s+tag x\s+\S+\s+keep-within$/);
    assert.deepEqual(await withHeaders(ADMIN, () => tagsOf(s.url, 'acme/app')), ['stable', 'v1', 'v2', 'v3']);

    const dry = json<RetentionReport>(await admin('admin', ['retention', 'run', '--dry-run', 'acme/app', '--format', 'json']));
    assert.deepEqual([dry.dryRun, dry.repository, dry.repositories[0]!.removedTags.map((t) => t.tag)], [true, 'acme/app', ['v1']]);
    const done = json<RetentionReport>(await admin('admin', ['retention', 'run', 'acme/app', '--format', 'json']));
    assert.deepEqual([done.dryRun, done.tagsRemoved], [false, 1]);
    assert.deepEqual(await withHeaders(ADMIN, () => tagsOf(s.url, 'acme/app')), ['stable', 'v2', 'v3']);
    assert.equal(ok(await admin('admin', ['retention', 'run'])).stdout.split('\n')[0], 'Retention: 0 tags and 0 untagged manifests removed, in 2 repositories with a policy');

    assert.deepEqual(json(await admin('admin', ['retention', 'unset', 'acme/web', '--format', 'json'])), { namespace: 'acme', repository: 'acme/web', removed: true });
    assert.equal(ok(await admin('admin', ['retention', 'unset', 'acme'])).stdout, 'Removed the retention policy of acme\n');
    assert.equal(ok(await admin('admin', ['retention', 'show', 'acme'])).stdout, 'No retention policies\nNo retention policy applies to acme\n');
  });

  test('errors: the server\'s refusal exits 1 with its message; usage errors exit 2 without the network', async () => {
    fails(await admin('dev', ['retention', 'set', 'acme', '--keep-last', '1']), 1, /^wharf: only admins of acme may change its retention policies\n$/);
    fails(await admin('dev', ['retention', 'run', '--dry-run']), 1, /^wharf: only system administrators may do this\n$/);
    fails(await admin('admin', ['retention', 'unset', 'acme']), 1, /^wharf: no retention policy on acme\n$/);
    fails(await admin('admin', ['retention', 'run', 'acme/none']), 1, /^wharf: repository acme\/none not known to registry\n$/);
    const offline = (args: string[], input?: string): Promise<WharfRun> => cast.offline(args, input);
    fails(await offline(['retention', 'set', 'acme']), 2, /^wharf: a retention policy needs at least one rule: --keep-last, --keep-within, --keep or --untagged-older-than\n$/);
    fails(await offline(['retention', 'set', 'acme', '--match', 'v.*']), 2, /^wharf: --match limits --keep-last to the tags it matches: give --keep-last too\n$/);
    fails(await offline(['retention', 'set', 'acme', '--keep-last', 'two']), 2, '--keep-last takes a whole number, got "two"');
    fails(await offline(['retention', 'set', 'acme', '--keep-within', 'a week']), 2, '--keep-within is a duration such as 30d');
    fails(await offline(['retention', 'set', 'acme', '--keep', 'v(']), 2, '--keep is not a valid regular expression');
    fails(await offline(['retention', 'set', '/app', '--keep-last', '1']), 2, 'name a namespace (ORG) or a repository (ORG/REPO)');
    fails(await offline(['retention', 'unset']), 2, /missing required argument/);
    fails(await offline(['retention', 'run', '--dry-run', 'acme', '--format', 'yaml']), 2, '--format takes json or text');
  });
});
