// Any Wharf process sharing the database and the bucket continues any upload: two `wharf serve` on one
// data directory (one SQLite database) and one S3 bucket, a chunked push alternating between them.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { createTestBucket, listKeys, s3ServerEnv, s3TestClient, s3TestEndpoint } from '../helpers/s3.js';
import { S3BlobStore } from '../../src/store/blobs/s3-blob-store.js';
import { expectStatus, req } from '../api/lib/http.js';
import { MT, desc, encode, ociImage, randomBlob, repoName, sha256 } from '../api/lib/content.js';
import { startUpload, withDigest, pushBlob, getManifest } from '../api/lib/registry.js';

const MiB = 1 << 20;

/** The keys under `prefix` once none is left, or after a few seconds (a linked upload's objects go just after the answer). */
async function keysSoon(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  for (let waited = 0; ; waited += 100) {
    const keys = await listKeys(client, bucket, prefix);
    if (keys.length === 0 || waited >= 5000) return keys;
    await sleep(100);
  }
}

describe('two processes, one database, one bucket', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wharf-two-'));
  let bucket: { name: string; remove(): Promise<void> };
  let a: WharfServer;
  let b: WharfServer;

  before(async () => {
    bucket = await createTestBucket();
    a = await startWharf({ dataDir, env: s3ServerEnv(bucket.name) });
    b = await startWharf({ dataDir, env: s3ServerEnv(bucket.name) });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await bucket?.remove();
  });

  test('a chunked push alternating between the two (6 MiB and 1 MiB chunks) makes one blob; both serve it and a manifest over it', async () => {
    const repo = repoName('two/procs');
    const layer = randomBlob(4 * 6 * MiB + 3 * MiB + 12345);
    const servers = [a, b];
    let url = await startUpload(a.url, repo);
    let offset = 0;
    for (let i = 0; offset < layer.size; i++) {
      const n = Math.min(i % 2 === 0 ? 6 * MiB : 1 * MiB, layer.size - offset);
      const via = servers[i % 2]!;
      const res = await req(via.url, url.pathname + url.search, {
        method: 'PATCH', body: layer.data.subarray(offset, offset + n),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + n - 1}` },
      });
      expectStatus(res, 202, `chunk ${i} via ${i % 2 === 0 ? 'a' : 'b'}`);
      assert.equal(res.headers.get('range'), `0-${offset + n - 1}`);
      offset += n;
      url = new URL(res.headers.get('location')!, via.url);
      // The other process sees where the upload stands.
      const status = await req(servers[(i + 1) % 2]!.url, url.pathname + url.search);
      expectStatus(status, 204);
      assert.equal(status.headers.get('range'), `0-${offset - 1}`);
    }
    expectStatus(await req(b.url, withDigest(url, layer.digest).pathname + withDigest(url, layer.digest).search, { method: 'PUT' }), 201, 'commit via b');

    const config = encode({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    await pushBlob(b.url, repo, config);
    const manifest = encode(ociImage(desc(MT.ociConfig, config), [desc(MT.ociLayer, layer)]));
    expectStatus(await req(a.url, `/v2/${repo}/manifests/v1`, { method: 'PUT', body: manifest.data, headers: { 'content-type': MT.ociManifest } }), 201);

    for (const s of servers) {
      const got = await req(s.url, `/v2/${repo}/blobs/${layer.digest}`);
      expectStatus(got, 200);
      assert.equal(sha256(got.body), layer.digest, `${s.url} serves the whole blob`);
      const part = await req(s.url, `/v2/${repo}/blobs/${layer.digest}`, { headers: { range: `bytes=${6 * MiB - 5}-${6 * MiB + 4}` } });
      expectStatus(part, 206);
      assert.ok(part.body.equals(layer.data.subarray(6 * MiB - 5, 6 * MiB + 5)));
      const m = await getManifest(s.url, repo, 'v1');
      expectStatus(m, 200);
      assert.ok(m.body.equals(manifest.data), `${s.url} serves the manifest`);
    }
    const client = s3TestClient();
    try {
      assert.deepEqual(await keysSoon(client, bucket.name, 'uploads/'), [], 'no upload leftovers in the bucket');
      const blobs = await listKeys(client, bucket.name, 'blobs/');
      assert.ok(blobs.includes(`blobs/sha256/${layer.digest.slice(7, 9)}/${layer.digest.slice(7)}`));
    } finally { client.destroy(); }
  });

  // A process that died after its commit made the blob, before the link: the upload record remains and
  // the client's PUT, retried on the other process, commits again (it used to find the upload's objects
  // deleted and answer 404 BLOB_UPLOAD_UNKNOWN, costing the client the whole upload).
  for (const [kind, chunks] of [['a multipart upload', [6 * MiB, 6 * MiB, 1 * MiB + 7]], ['a tail only', [1 * MiB + 3]]] as const) {
    test(`a commit retried after a crash between the commit and the link succeeds on the other process (${kind})`, async () => {
      const repo = repoName('two/retry');
      const layer = randomBlob(chunks.reduce((x, y) => x + y, 0));
      let url = await startUpload(a.url, repo);
      let offset = 0;
      for (const n of chunks) {
        const res = await req(a.url, url.pathname + url.search, {
          method: 'PATCH', body: layer.data.subarray(offset, offset + n),
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + n - 1}` },
        });
        expectStatus(res, 202, `chunk at ${offset}`);
        offset += n;
        url = new URL(res.headers.get('location')!, a.url);
      }
      // The dying process's commit, from the recorded position, by a driver of its own.
      const id = url.pathname.split('/').pop()!;
      const db = new Database(join(dataDir, 'meta.db'), { readonly: true });
      const row = db.prepare('SELECT byte_offset AS offset, driver_state AS driverState FROM uploads WHERE id = ?').get(id) as { offset: number; driverState: string | null };
      db.close();
      assert.equal(row.offset, layer.size);
      const dying = await S3BlobStore.open({ ...s3TestEndpoint(), forcePathStyle: true, bucket: bucket.name });
      try {
        assert.equal(await dying.commitUpload(id, layer.digest, { offset: Number(row.offset), driverState: row.driverState }), layer.size);
      } finally { await dying.close(); }
      expectStatus(await req(a.url, `/v2/${repo}/blobs/${layer.digest}`, { method: 'HEAD' }), 404, 'not linked yet');

      const put = await req(b.url, withDigest(url, layer.digest).pathname + withDigest(url, layer.digest).search, { method: 'PUT' });
      expectStatus(put, 201, 'the retried commit via b');
      for (const s of [a, b]) {
        const got = await req(s.url, `/v2/${repo}/blobs/${layer.digest}`);
        expectStatus(got, 200);
        assert.equal(sha256(got.body), layer.digest, `${s.url} serves the whole blob`);
      }
      expectStatus(await req(a.url, url.pathname + url.search), 404, 'the upload is over');
      const client = s3TestClient();
      try {
        assert.deepEqual(await keysSoon(client, bucket.name, `uploads/${id}/`), [], 'the upload\'s objects are removed once linked');
      } finally { client.destroy(); }
    });
  }
});
