// wharf import-distribution against the real thing: Debian's docker-registry (Distribution 2.8) filled by
// skopeo with the suite's images (an OCI image under two tags, a two-platform index, a Docker schema 2
// image, a 12 MiB layer) and a referrer with a subject pushed over HTTP; then its storage imported into a
// fresh Wharf data directory by the shipped CLI, and Wharf must serve what Distribution served: the
// catalog, every tag list, every manifest byte for byte under the same digest, every blob hashing to its
// digest, the referrer through the referrers API. Once straight through, once killed midway and run again;
// and once from a bucket on Ceph RGW that Distribution's s3 driver filled (`--from s3://…`).
import { before, after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startDistribution, type DistributionOptions, type DistributionServer } from '../helpers/distribution.js';
import { createTestBucket, listKeys, s3TestClient, s3TestEndpoint } from '../helpers/s3.js';
import { startWharf, wharfBin } from '../helpers/server.js';
import { pushBlob, putManifest } from '../helpers/push.js';
import type { ImportReport } from '../../src/migrate/import-report.js';
import { ALL_MANIFEST_TYPES } from './lib/http.js';
import { MT, buildImage, pseudoRandom, sampleImage, sampleIndex, writeOciLayout } from './lib/images.js';
import { COPY_TLS_OFF, dockerRef, inspectRaw, pushImage, pushIndex } from './lib/ops.js';
import type { Registry } from './lib/registries.js';
import { withClientEnv } from './lib/suite.js';
import { runWharf } from '../cli/lib/isolated-env.js';

const IMG = sampleImage('import-oci');
const IDX = sampleIndex('import-idx');
const DOCKER = sampleImage('import-docker', { layers: 1 });
/** Second in catalog order: a kill once the first repository is done lands while it is copied. */
const BIG = buildImage({
  layers: [[{ path: 'big/' }, { path: 'big/random.bin', content: pseudoRandom(12 * 1024 * 1024 + 5, 7) }]],
  labels: { 'org.wharf.test': 'import-big' },
});
const REPOS = { big: 'interop/import/e-big', oci: 'interop/import/oci', multi: 'interop/import/multi', docker: 'interop/import/deep/docker' };

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Snapshot {
  catalog: string[];
  tags: Record<string, string[]>;
  /** repository -> reference (tag or digest) -> digest of the bytes served, and their sha256. */
  manifests: Record<string, Record<string, { digest: string | null; bytes: string }>>;
  /** repository -> blob digests its manifests need. */
  blobs: Record<string, string[]>;
}

async function get(url: string, accept?: string): Promise<{ status: number; body: Buffer; digest: string | null }> {
  const res = await fetch(url, { headers: accept ? { Accept: accept } : {}, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), digest: res.headers.get('docker-content-digest') };
}

/** What a registry serves: catalog, tags, every manifest reachable from a tag (children too), the blobs they need. */
async function snapshot(base: string): Promise<Snapshot> {
  const catalog = (JSON.parse((await get(`${base}/v2/_catalog`)).body.toString()) as { repositories: string[] }).repositories;
  const snap: Snapshot = { catalog, tags: {}, manifests: {}, blobs: {} };
  for (const repo of catalog) {
    const tags = ((JSON.parse((await get(`${base}/v2/${repo}/tags/list`)).body.toString()) as { tags: string[] | null }).tags ?? []).sort();
    snap.tags[repo] = tags;
    const manifests: Snapshot['manifests'][string] = {};
    const blobs = new Set<string>();
    const visit = async (ref: string): Promise<void> => {
      if (manifests[ref]) return;
      const r = await get(`${base}/v2/${repo}/manifests/${ref}`, ALL_MANIFEST_TYPES);
      assert.equal(r.status, 200, `${base} ${repo}:${ref}`);
      manifests[ref] = { digest: r.digest, bytes: sha256(r.body) };
      const doc = JSON.parse(r.body.toString()) as { manifests?: { digest: string }[]; config?: { digest: string }; layers?: { digest: string }[] };
      for (const child of doc.manifests ?? []) await visit(child.digest);
      if (doc.config) blobs.add(doc.config.digest);
      for (const l of doc.layers ?? []) blobs.add(l.digest);
    };
    for (const tag of tags) await visit(tag);
    snap.manifests[repo] = manifests;
    snap.blobs[repo] = [...blobs].sort();
  }
  return snap;
}

function runImport(
  args: string[], onLine?: (line: string, kill: () => void) => void, env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [wharfBin, 'import-distribution', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), 120_000);
    proc.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    createInterface({ input: proc.stderr }).on('line', (line) => {
      stderr += `${line}\n`;
      onLine?.(line, () => proc.kill('SIGKILL'));
    });
    proc.once('error', reject);
    proc.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

interface Filled { truth: Snapshot; referrer: { subject: string; digest: string; bytes: Buffer } }

/** Starts docker-registry (with `opts`), fills it with skopeo and a referrer, notes what it serves, stops it keeping its data. */
async function fillDistribution(opts: DistributionOptions = {}): Promise<DistributionServer & Filled> {
  const dist = await startDistribution(opts);
  try {
    const reg: Registry = { name: 'distribution', addr: dist.addr, url: dist.url, stop: async () => undefined };
    await withClientEnv([dist.addr], async (env) => {
      await pushImage(env, reg, REPOS.big, 'v1', BIG);
      await pushImage(env, reg, REPOS.oci, 'v1', IMG);
      await pushImage(env, reg, REPOS.oci, 'latest', IMG);
      await pushIndex(env, reg, REPOS.multi, 'multi', IDX);
      const layout = env.tmp('layout');
      writeOciLayout(layout, [{ tag: 'src', image: DOCKER }]);
      await env.skopeo(['copy', '--quiet', '--format', 'v2s2', ...COPY_TLS_OFF, `oci:${layout}:src`, dockerRef(reg, REPOS.docker, 'v1')]);
      const docker = JSON.parse((await inspectRaw(env, dockerRef(reg, REPOS.docker, 'v1'))).toString()) as { mediaType: string };
      assert.equal(docker.mediaType, MT.dockerManifest);
    });
    // A signature-like artifact whose subject is the OCI image: Distribution 2.8 stores it as a plain manifest.
    const empty = Buffer.from('{}');
    const emptyDigest = await pushBlob(dist.url, REPOS.oci, empty);
    const bytes = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: empty.length },
      layers: [],
      subject: { mediaType: MT.ociManifest, digest: IMG.manifestDigest, size: IMG.manifest.length },
    }));
    const put = await putManifest(dist.url, REPOS.oci, sha256(bytes), bytes);
    assert.equal(put.status, 201, await put.text());
    const filled = { referrer: { subject: IMG.manifestDigest, digest: sha256(bytes), bytes }, truth: await snapshot(dist.url) };
    assert.deepEqual(filled.truth.catalog, Object.values(REPOS).sort());
    await dist.stop({ keepData: true });
    return { ...dist, ...filled };
  } catch (e) {
    await dist.stop();
    throw e;
  }
}

let dist: DistributionServer | null = null;
let storageRoot = '';
let truth: Snapshot;
let referrer: Filled['referrer'];
const dataDirs: string[] = [];

before(async () => {
  const filled = await fillDistribution();
  dist = filled;
  ({ truth, referrer } = filled);
  storageRoot = join(dist.dataDir, 'storage');
});

after(() => {
  if (dist) rmSync(dist.dataDir, { recursive: true, force: true });
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

function freshDataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'wharf-import-'));
  dataDirs.push(d);
  return d;
}

/** Starts Wharf on the data directory and checks it serves exactly what Distribution did. */
async function assertWharfServesTruth(dataDir: string, expected: Filled = { truth, referrer }): Promise<void> {
  const { truth, referrer } = expected;
  const wharf = await startWharf({ dataDir });
  try {
    const got = await snapshot(wharf.url);
    assert.deepEqual(got, truth, 'Wharf serves what Distribution served');
    for (const [repo, blobs] of Object.entries(got.blobs)) {
      for (const digest of blobs) {
        const b = await get(`${wharf.url}/v2/${repo}/blobs/${digest}`);
        assert.equal(b.status, 200, `${repo}@${digest}`);
        assert.equal(sha256(b.body), digest, `${repo}@${digest} pulls with the right digest`);
      }
    }
    const byDigest = await get(`${wharf.url}/v2/${REPOS.oci}/manifests/${referrer.digest}`, ALL_MANIFEST_TYPES);
    assert.ok(byDigest.body.equals(referrer.bytes), 'the referrer, byte for byte');
    const referrers = JSON.parse((await get(`${wharf.url}/v2/${REPOS.oci}/referrers/${referrer.subject}`)).body.toString()) as { manifests: { digest: string; artifactType: string }[] };
    assert.deepEqual(referrers.manifests.map((m) => [m.digest, m.artifactType]), [[referrer.digest, 'application/vnd.example.signature']]);
    await withClientEnv([wharf.addr], async (env) => {
      const reg: Registry = { name: 'wharf', addr: wharf.addr, url: wharf.url, stop: async () => undefined };
      assert.ok((await inspectRaw(env, dockerRef(reg, REPOS.multi, 'multi'))).equals(IDX.index), 'skopeo reads the index from Wharf');
    });
  } finally {
    await wharf.stop();
  }
  const fsck = await runWharf(process.env, ['fsck', '--verify-digests', '--data', dataDir]);
  assert.equal(fsck.code, 0, `wharf fsck after the import:\n${fsck.stdout}${fsck.stderr}`);
}

describe('wharf import-distribution from docker-registry', () => {
  test('imports every repository, tag, manifest, blob and referrer; Wharf then serves exactly what Distribution did', { timeout: 180_000 }, async () => {
    const dataDir = freshDataDir();
    const r = await runImport(['--from', storageRoot, '--data', dataDir, '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as ImportReport;
    assert.deepEqual(report.problems, []);
    assert.equal(report.repositories, 4);
    // v1 and latest of the OCI image, the index, the Docker image, the big one.
    assert.deepEqual(report.tags, { imported: 5, skipped: 0 });
    // The OCI image and its referrer, the index and its two children, the Docker image, the big one.
    assert.deepEqual(report.manifests, { imported: 7, skipped: 0 });
    assert.ok(report.blobs.bytes > 12 * 1024 * 1024);
    for (const repo of Object.values(REPOS)) assert.match(r.stderr, new RegExp(`\\] ${repo}: `), 'a progress line per repository');
    await assertWharfServesTruth(dataDir);
  });

  test('killed midway (SIGKILL), then run again: the second run skips what arrived and the import is complete', { timeout: 180_000 }, async () => {
    const dataDir = freshDataDir();
    let killed = false;
    const first = await runImport(['--from', storageRoot, '--data', dataDir], (line, kill) => {
      // The first repository is done; the next one holds the 12 MiB layer.
      if (!killed && /^\[1\/4\] \S+: \d+ tag/.test(line)) { killed = true; kill(); }
    });
    assert.equal(first.signal, 'SIGKILL', `the first run was killed, not finished:\n${first.stderr}`);
    const second = await runImport(['--from', storageRoot, '--data', dataDir, '--format', 'json']);
    assert.equal(second.code, 0, second.stderr);
    const report = JSON.parse(second.stdout) as ImportReport;
    assert.deepEqual(report.problems, []);
    assert.ok(report.tags.skipped > 0 && report.manifests.skipped > 0 && report.blobs.skipped > 0, `the first repository is skipped: ${second.stdout}`);
    assert.ok(report.tags.imported > 0 && report.manifests.imported > 0 && report.blobs.imported > 0, `the rest is imported: ${second.stdout}`);
    assert.equal(report.manifests.imported + report.manifests.skipped, 7);
    assert.equal(report.tags.imported + report.tags.skipped, 5);
    await assertWharfServesTruth(dataDir);
    const third = await runImport(['--from', storageRoot, '--data', dataDir, '--format', 'json']);
    const again = JSON.parse(third.stdout) as ImportReport;
    assert.deepEqual([again.tags.imported, again.manifests.imported, again.blobs.imported], [0, 0, 0], 'nothing left to import');
  });

  test('exit 2 and a clear message when --from is not a Distribution storage root, or a URL other than s3://', async () => {
    const r = await runImport(['--from', freshDataDir(), '--data', freshDataDir()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a Distribution storage root/);
    const gs = await runImport(['--from', 'gs://bucket/prefix', '--data', freshDataDir()]);
    assert.equal(gs.code, 2);
    assert.match(gs.stderr, /only a directory or s3:\/\/BUCKET\[\/PREFIX\] is supported/);
  });
});

describe('wharf import-distribution from docker-registry on S3 (Ceph RGW)', () => {
  let s3dist: (DistributionServer & Filled) | null = null;
  let bucket: { name: string; remove(): Promise<void> } | null = null;
  const client = s3TestClient();
  /** Distribution's rootdirectory; its s3 driver writes keys without the leading `/`. */
  const rootdirectory = '/distribution/root';

  before(async () => {
    const e = s3TestEndpoint();
    bucket = await createTestBucket(client);
    // Go's SDK in docker-registry cannot apply AWS_CA_BUNDLE to Distribution's transport (it panics at start-up); the endpoint is plain HTTP.
    const env = { ...process.env };
    delete env.AWS_CA_BUNDLE;
    s3dist = await fillDistribution({
      env,
      storage: [
        '  s3:',
        `    accesskey: ${e.accessKeyId}`,
        `    secretkey: ${e.secretAccessKey}`,
        `    region: ${e.region}`,
        `    regionendpoint: ${e.endpoint}`,
        `    bucket: ${bucket.name}`,
        '    forcepathstyle: true',
        `    secure: ${e.endpoint.startsWith('https:')}`,
        '    v4auth: true',
        `    rootdirectory: ${rootdirectory}`,
        '  redirect:',
        '    disable: true',
      ],
    });
  });

  after(async () => {
    if (s3dist) rmSync(s3dist.dataDir, { recursive: true, force: true });
    await bucket?.remove();
    client.destroy();
  });

  test('--from s3://bucket/prefix --from-endpoint … --from-path-style: every tag pulled from Wharf has the digest it had on Distribution', { timeout: 180_000 }, async () => {
    const e = s3TestEndpoint();
    const keys = await listKeys(client, bucket!.name, 'distribution/root/docker/registry/v2/repositories/');
    assert.ok(keys.length > 0, 'Distribution wrote its tree into the bucket, under its rootdirectory');
    const dataDir = freshDataDir();
    const env: NodeJS.ProcessEnv = { ...process.env, AWS_ACCESS_KEY_ID: e.accessKeyId, AWS_SECRET_ACCESS_KEY: e.secretAccessKey, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    delete env.AWS_PROFILE;
    const r = await runImport([
      '--from', `s3://${bucket!.name}${rootdirectory}`, '--from-endpoint', e.endpoint, '--from-region', e.region, '--from-path-style',
      '--data', dataDir, '--format', 'json',
    ], undefined, env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes(e.secretAccessKey) && !r.stdout.includes(e.secretAccessKey), 'the secret is never printed');
    const report = JSON.parse(r.stdout) as ImportReport;
    assert.equal(report.from, `s3://${bucket!.name}/distribution/root/docker/registry/v2`);
    assert.deepEqual(report.problems, []);
    assert.equal(report.repositories, 4);
    assert.deepEqual(report.tags, { imported: 5, skipped: 0 });
    assert.deepEqual(report.manifests, { imported: 7, skipped: 0 });
    assert.ok(report.blobs.bytes > 12 * 1024 * 1024, 'the 12 MiB layer came through');
    // Every tag Distribution served, pulled from Wharf, with the digest it had there (and all the rest).
    await assertWharfServesTruth(dataDir, s3dist!);
    for (const [repo, tags] of Object.entries(s3dist!.truth.tags)) {
      for (const tag of tags) assert.ok(s3dist!.truth.manifests[repo]![tag]!.digest, `${repo}:${tag} had a digest on Distribution`);
    }
  });
});
