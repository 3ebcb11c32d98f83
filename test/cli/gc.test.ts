// `wharf gc` and `wharf fsck` against the data directory of a running `wharf serve`, and the gc job.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { startWharf, wharfBin, type WharfServer } from '../helpers/server.js';
import { pushBlob, pushImage, sha256 } from '../helpers/push.js';
import type { GcReport } from '../../src/registry/gc.js';
import type { FsckReport } from '../../src/registry/fsck.js';

const GRACE_ENV = { WHARF_GC_GRACE_PERIOD: '1s' };

function wharf(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [wharfBin, ...args], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

const blobFile = (dataDir: string, digest: string): string => join(dataDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function withServer(env: Record<string, string>, fn: (s: WharfServer) => Promise<void>, onLog?: (rec: Record<string, unknown>) => void): Promise<void> {
  const srv = await startWharf({ env, onLog });
  try {
    await fn(srv);
  } finally {
    await srv.stop();
    srv.cleanup();
  }
}

describe('wharf gc', () => {
  test('--dry-run --format json reports and changes nothing; a real run collects and records its report, beside a running server', async () => {
    await withServer({}, async (srv) => {
      const layer = Buffer.from('the layer of v1');
      const manifest = await pushImage(srv.url, 'team/app', 'v1', layer);
      const stray = await pushBlob(srv.url, 'team/app', Buffer.from('a layer no manifest uses'));
      const orphan = Buffer.from('left by another tool');
      const orphanDigest = sha256(orphan);
      mkdirSync(dirname(blobFile(srv.dataDir, orphanDigest)), { recursive: true });
      writeFileSync(blobFile(srv.dataDir, orphanDigest), orphan);
      await sleep(1500);

      const dry = await wharf(['gc', '--dry-run', '--format', 'json', '--data', srv.dataDir], GRACE_ENV);
      assert.equal(dry.code, 0, dry.stderr);
      const report = JSON.parse(dry.stdout) as GcReport;
      assert.equal(report.dryRun, true);
      assert.equal(report.linksRemoved, 1);
      assert.equal(report.blobsDeleted, 1);
      assert.equal(report.orphanObjects.count, 1);
      assert.deepEqual(report.orphanObjects.examples, [orphanDigest]);
      assert.equal(report.bytesFreed, 'a layer no manifest uses'.length + orphan.length);
      assert.equal(typeof report.durationMs, 'number');
      assert.ok(existsSync(blobFile(srv.dataDir, stray)) && existsSync(blobFile(srv.dataDir, orphanDigest)), 'a dry run deletes nothing');

      const text = await wharf(['gc', '--dry-run', '--data', srv.dataDir], GRACE_ENV);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /dry run/);
      assert.match(text.stdout, /blobs deleted: +1/);

      const real = await wharf(['gc', '--format', 'json', '--data', srv.dataDir], GRACE_ENV);
      assert.equal(real.code, 0, real.stderr);
      assert.equal((JSON.parse(real.stdout) as GcReport).blobsDeleted, 1);
      assert.equal(existsSync(blobFile(srv.dataDir, stray)), false);
      assert.equal(existsSync(blobFile(srv.dataDir, orphanDigest)), false);
      const pulled = await fetch(`${srv.url}/v2/team/app/blobs/${sha256(layer)}`);
      assert.equal(pulled.status, 200);
      assert.equal(await pulled.text(), layer.toString());
      assert.equal((await fetch(`${srv.url}/v2/team/app/manifests/v1`)).status, 200);
      assert.ok(manifest);

      const db = new Database(join(srv.dataDir, 'meta.db'), { readonly: true });
      try {
        const runs = db.prepare('SELECT dry_run, report FROM gc_runs').all() as { dry_run: number; report: string }[];
        assert.equal(runs.length, 1, 'the real run is recorded, the dry runs are not');
        assert.equal((JSON.parse(runs[0]!.report) as GcReport).blobsDeleted, 1);
      } finally {
        db.close();
      }
    });
  });

  test('the gc job runs on its interval and logs its report as one line', async () => {
    const reports: GcReport[] = [];
    await withServer({ ...GRACE_ENV, WHARF_GC_INTERVAL: '1s' }, async (srv) => {
      const stray = await pushBlob(srv.url, 'team/app', Buffer.from('collected by the job'));
      for (let i = 0; i < 100 && existsSync(blobFile(srv.dataDir, stray)); i++) await sleep(100);
      assert.equal(existsSync(blobFile(srv.dataDir, stray)), false);
      for (let i = 0; i < 50 && !reports.some((r) => r.blobsDeleted === 1); i++) await sleep(100);
    }, (rec) => { if (rec.msg === 'garbage collected') reports.push(rec.report as GcReport); });
    assert.ok(reports.some((r) => r.blobsDeleted === 1 && r.linksRemoved === 1), JSON.stringify(reports));
  });
});

describe('wharf fsck', () => {
  test('names the repository, manifest and digest of a missing blob; --verify-digests catches a corrupted one', async () => {
    await withServer({}, async (srv) => {
      const layer = Buffer.from('the layer, whole');
      const manifest = await pushImage(srv.url, 'team/app', 'v1', layer);
      const ok = await wharf(['fsck', '--data', srv.dataDir]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, /^ok: 1 repositories, 1 manifests, 3 blobs checked/m);

      const layerFile = blobFile(srv.dataDir, sha256(layer));
      const original = readFileSync(layerFile);
      writeFileSync(layerFile, Buffer.from('the layer, WHOLE'));
      const sizeOnly = await wharf(['fsck', '--data', srv.dataDir]);
      assert.equal(sizeOnly.code, 0, 'same size: only --verify-digests sees it');
      const verified = await wharf(['fsck', '--verify-digests', '--format', 'json', '--data', srv.dataDir]);
      assert.equal(verified.code, 1);
      const report = JSON.parse(verified.stdout) as FsckReport;
      assert.deepEqual(report.problems.map((p) => [p.problem, p.repository, p.manifest, p.kind, p.digest]), [['digest', 'team/app', manifest, 'layer', sha256(layer)]]);

      writeFileSync(layerFile, original);
      rmSync(layerFile);
      const missing = await wharf(['fsck', '--data', srv.dataDir]);
      assert.equal(missing.code, 1);
      assert.match(missing.stdout, new RegExp(`MISSING  team/app  manifest ${manifest}  layer ${sha256(layer)}`));
    });
  });
});
