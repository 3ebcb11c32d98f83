// `wharf import-distribution` as shipped, over a synthetic Distribution tree: the configuration file
// decides where it imports to, the text and JSON reports, and the exit status (1 when something was
// skipped for a problem, 0 once nothing is left but what was reported).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImportReport } from '../../src/migrate/import-report.js';
import { DistributionTree, sha256 } from '../migrate/distribution-tree.js';
import { runWharf } from './lib/isolated-env.js';

const cleanups: (() => void)[] = [];
after(() => { for (const c of cleanups) c(); });

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
});
