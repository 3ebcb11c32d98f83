// `wharf import-distribution` as shipped, over a synthetic Distribution tree: the configuration file
// decides where it imports to, the text and JSON reports, and the exit status (1 when something was
// skipped for a problem, 0 once nothing is left but what was reported).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImportReport } from '../../src/migrate/import-report.js';
import { s3SourceConnection } from '../../src/cli/commands/import-distribution.js';
import { loadConfig } from '../../src/config/config.js';
import { DistributionTree, sha256 } from '../migrate/distribution-tree.js';
import { S3_ROOT, uploadTree } from '../migrate/distribution-sources.js';
import { createTestBucket, listKeys, s3ServerEnv, s3TestClient, s3TestEndpoint } from '../helpers/s3.js';
import { runWharf } from './lib/isolated-env.js';

const cleanups: (() => void | Promise<void>)[] = [];
after(async () => { for (const c of cleanups.reverse()) await c(); });

/** This process's environment without AWS credentials or profile (the tests say where keys come from). */
function envWithoutAws(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) delete env[k];
  return { ...env, ...extra };
}

/** A bucket holding the tree under S3_ROOT, as Distribution's s3 driver with rootdirectory /distribution/root would. */
async function treeInBucket(t: DistributionTree): Promise<string> {
  const client = s3TestClient();
  const bucket = await createTestBucket(client);
  cleanups.push(async () => { await bucket.remove(); client.destroy(); });
  await uploadTree(client, t, bucket.name, S3_ROOT);
  return bucket.name;
}

describe('wharf import-distribution', () => {
  test('--config names the target; a corrupt layer and a dangling tag make exit 1 with the problems listed; the rest is imported', async () => {
    const t = new DistributionTree();
    cleanups.push(() => t.cleanup());
    const ok = t.image('team/app', 'ok', { tag: 'v1' });
    const bad = t.image('team/app', 'bad', { tag: 'v2' });
    t.blob('tampered', bad.layers[1]!.digest);
    t.tag('team/app', 'ghost', sha256('nothing'));
    const dir = mkdtempSync(join(tmpdir(), 'wharf-import-cli-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = join(dir, 'data');
    const config = join(dir, 'wharf.yaml');
    writeFileSync(config, `data: ${dataDir}\nstorage:\n  fsync: false\n`);

    const text = await runWharf(process.env, ['import-distribution', '--from', t.root, '--config', config]);
    assert.equal(text.code, 1, text.stderr);
    assert.ok(existsSync(join(dataDir, 'meta.db')), 'imported where the configuration says');
    assert.match(text.stderr, /^\[1\/1\] team\/app: 1 tag\(s\), 1 manifest\(s\), 5 blob\(s\) .*4 PROBLEM\(S\)$/m);
    assert.match(text.stdout, new RegExp(`BLOB-CORRUPT  team/app  ${bad.layers[1]!.digest}: .*does not match`));
    assert.match(text.stdout, /TAG-DANGLING {2}team\/app {2}tag ghost sha256:/);
    assert.match(text.stdout, /TAG-DANGLING {2}team\/app {2}tag v2 /);
    assert.match(text.stdout, /MANIFEST-REFUSED {2}team\/app/);
    assert.match(text.stdout, /4 problem\(s\): those items were skipped, everything else is imported/);

    const json = await runWharf(process.env, ['import-distribution', '--from', t.v2, '--config', config, '--format', 'json']);
    assert.equal(json.code, 1, 'still exit 1: the damage is still there');
    const report = JSON.parse(json.stdout) as ImportReport;
    assert.deepEqual(report.tags, { imported: 0, skipped: 1 });
    assert.deepEqual(report.manifests, { imported: 0, skipped: 1 });
    assert.equal(report.problems.length, 4);
    assert.ok(ok.digest);
  });

  test('a clean tree imports with exit 0 and "ok"', async () => {
    const t = new DistributionTree();
    cleanups.push(() => t.cleanup());
    t.image('app', 'clean', { tag: 'latest' });
    const dataDir = mkdtempSync(join(tmpdir(), 'wharf-import-cli-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const r = await runWharf(process.env, ['import-distribution', '--from', t.root, '--data', dataDir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tags: +1 imported, 0 skipped/);
    assert.match(r.stdout, /^ok: everything imported$/m);
  });

  test('--from s3://BUCKET/PREFIX with --from-endpoint and --from-path-style: keys from AWS_* in the environment, never printed', async () => {
    const t = new DistributionTree();
    cleanups.push(() => t.cleanup());
    const img = t.image('team/app', 'from-s3', { tag: 'v1' });
    t.tag('team/app', 'latest', img.digest);
    const bucket = await treeInBucket(t);
    const e = s3TestEndpoint();
    const dataDir = mkdtempSync(join(tmpdir(), 'wharf-import-cli-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const source = ['--from', `s3://${bucket}/${S3_ROOT}`, '--from-endpoint', e.endpoint, '--from-region', e.region, '--from-path-style'];

    const noKeys = await runWharf(envWithoutAws({ HOME: dataDir }), ['import-distribution', ...source, '--data', dataDir]);
    assert.equal(noKeys.code, 2, 'without credentials the bucket cannot be read');
    assert.match(noKeys.stderr, /credentials from the environment/);
    assert.match(noKeys.stderr, /no credentials for the source bucket: set AWS_ACCESS_KEY_ID/);

    const env = envWithoutAws({ AWS_ACCESS_KEY_ID: e.accessKeyId, AWS_SECRET_ACCESS_KEY: e.secretAccessKey });
    const r = await runWharf(env, ['import-distribution', ...source, '--data', dataDir, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`importing from s3://${bucket}/${S3_ROOT}/docker/registry/v2 into `));
    assert.ok(!r.stderr.includes(e.secretAccessKey) && !r.stdout.includes(e.secretAccessKey), 'the secret is never printed');
    const report = JSON.parse(r.stdout) as ImportReport;
    assert.equal(report.from, `s3://${bucket}/${S3_ROOT}/docker/registry/v2`);
    assert.deepEqual(report.problems, []);
    assert.deepEqual(report.tags, { imported: 2, skipped: 0 });
    assert.deepEqual(report.blobs, { imported: 3, skipped: 0, bytes: img.config.data.length + img.layers.reduce((n, l) => n + l.data.length, 0) });

    // The docker/registry/v2 level as the prefix: the same tree, everything already there.
    const v2 = ['--from', `s3://${bucket}/${S3_ROOT}/docker/registry/v2`, ...source.slice(2)];
    const again = await runWharf(env, ['import-distribution', ...v2, '--data', dataDir, '--format', 'json']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((JSON.parse(again.stdout) as ImportReport).tags, { imported: 0, skipped: 2 });
  });

  test('--from s3:// into an S3 destination on the same endpoint: the destination\'s keys serve, no AWS_* needed', async () => {
    const t = new DistributionTree();
    cleanups.push(() => t.cleanup());
    t.image('app', 'same-endpoint', { tag: 'v1' });
    const source = await treeInBucket(t);
    const client = s3TestClient();
    const dest = await createTestBucket(client);
    cleanups.push(async () => { await dest.remove(); client.destroy(); });
    const dataDir = mkdtempSync(join(tmpdir(), 'wharf-import-cli-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const e = s3TestEndpoint();
    const r = await runWharf(envWithoutAws({ ...s3ServerEnv(dest.name, 'wharf'), HOME: dataDir }), [
      'import-distribution', '--from', `s3://${source}/${S3_ROOT}`, '--from-endpoint', `${e.endpoint}/`, '--from-path-style', '--data', dataDir,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /credentials from the destination's storage\.s3 keys/);
    assert.ok(!r.stderr.includes(e.secretAccessKey) && !r.stdout.includes(e.secretAccessKey), 'the secret is never printed');
    assert.match(r.stdout, /^ok: everything imported$/m);
    assert.ok((await listKeys(client, dest.name, 'wharf/')).length >= 3, 'the blobs went to the destination bucket');
  });

  test('source credentials: the destination\'s keys only on its endpoint and when the environment names none', () => {
    const dest = loadConfig({ env: { WHARF_DATA: '/nonexistent', ...s3ServerEnv('b') } });
    const e = s3TestEndpoint();
    const flags = { fromEndpoint: e.endpoint, fromPathStyle: true };
    assert.equal(s3SourceConnection(flags, dest, {}).accessKeyId, e.accessKeyId);
    assert.equal(s3SourceConnection(flags, dest, { AWS_PROFILE: 'other' }).accessKeyId, undefined);
    assert.equal(s3SourceConnection(flags, dest, { AWS_ACCESS_KEY_ID: 'x' }).accessKeyId, undefined);
    assert.equal(s3SourceConnection({ ...flags, fromEndpoint: 'http://elsewhere:7480' }, dest, {}).accessKeyId, undefined);
    const fs = loadConfig({ env: { WHARF_DATA: '/nonexistent' } });
    assert.deepEqual(s3SourceConnection(flags, fs, {}), { endpoint: e.endpoint, region: undefined, forcePathStyle: true });
  });

  test('exit 2 with a clear message: another URL scheme, a malformed s3 URL, --from-* with a directory, an absent bucket', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'wharf-import-cli-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const env = envWithoutAws();
    const gs = await runWharf(env, ['import-distribution', '--from', 'gs://bucket/prefix', '--data', dataDir]);
    assert.equal(gs.code, 2);
    assert.match(gs.stderr, /--from gs:\/\/bucket\/prefix: only a directory or s3:\/\/BUCKET\[\/PREFIX\] is supported/);
    const bad = await runWharf(env, ['import-distribution', '--from', 's3:///prefix', '--data', dataDir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not an s3:\/\/BUCKET\[\/PREFIX\] URL/);
    const flagged = await runWharf(env, ['import-distribution', '--from', dataDir, '--from-path-style', '--data', dataDir]);
    assert.equal(flagged.code, 2);
    assert.match(flagged.stderr, /go with --from s3:\/\//);
    const e = s3TestEndpoint();
    const absent = await runWharf({ ...env, AWS_ACCESS_KEY_ID: e.accessKeyId, AWS_SECRET_ACCESS_KEY: e.secretAccessKey }, [
      'import-distribution', '--from', 's3://wharf-test-no-such-bucket/x', '--from-endpoint', e.endpoint, '--from-path-style', '--data', dataDir,
    ]);
    assert.equal(absent.code, 2);
    assert.match(absent.stderr, /no such bucket wharf-test-no-such-bucket/);
    const help = await runWharf(env, ['import-distribution', '--help']);
    for (const flag of ['--from-endpoint', '--from-region', '--from-path-style', 'AWS_ACCESS_KEY_ID', 'AWS_PROFILE']) assert.ok(help.stdout.includes(flag), `help names ${flag}`);
  });
});
