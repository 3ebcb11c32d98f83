// Bad input changes nothing: after each rejected request, the catalog, every tag, and the blobs a
// client could read are exactly as before, including for repositories that did not exist yet.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, raw, req, sleep, truncatedRequest } from './lib/http.js';
import { MT, content, desc, encode, ociImage, ociIndex, randomBlob, repoName, unknownDigest } from './lib/content.js';
import { makeImage, pushBlob, pushImage, putManifest, snapshot, startUpload, withDigest, type Image } from './lib/registry.js';

describe('rejected requests change nothing', () => {
  const s = useWharf();
  const app = 'stable/app';
  const other = 'stable/other';
  let v1: Image;
  let v2: Image;
  const extra = randomBlob(256);

  before(async () => {
    v1 = await pushImage(s.url, app, 'v1');
    v2 = await pushImage(s.url, app, 'v2');
    await pushBlob(s.url, app, extra);
    await pushImage(s.url, other, 'latest');
  });

  /** Runs `act` between two snapshots of everything observable and asserts they are equal. */
  const unchanged = async (act: () => Promise<void>, repos: string[] = [], blobs: { repo: string; digest: string }[] = []): Promise<void> => {
    const probes = [
      ...[v1, v2].flatMap((i) => [i.config.digest, i.digest, ...i.layers.map((l) => l.digest)]).map((digest) => ({ repo: app, digest })),
      { repo: app, digest: extra.digest },
      ...blobs,
    ];
    const watched = [app, other, ...repos];
    const before = await snapshot(s.url, watched, probes);
    await act();
    await sleep(50);
    const after = await snapshot(s.url, watched, probes);
    assert.deepEqual(after, before, 'a rejected request changed what clients see');
  };

  test('malformed manifest JSON to an existing tag', async () => {
    await unchanged(async () => {
      expectError(await putManifest(s.url, app, 'v1', content('{"schemaVersion":2,'), MT.ociManifest), 400, 'MANIFEST_INVALID');
    });
  });

  test('a manifest with a missing layer to an existing tag', async () => {
    const img = makeImage();
    await pushBlob(s.url, app, img.config);
    await unchanged(async () => {
      expectError(await putManifest(s.url, app, 'v1', img.manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    }, [], [{ repo: app, digest: img.digest }]);
  });

  test('a manifest with missing blobs to a repository that does not exist yet', async () => {
    const fresh = repoName('fresh');
    const img = makeImage();
    await unchanged(async () => {
      expectError(await putManifest(s.url, fresh, 'latest', img.manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    }, [fresh]);
  });

  test('an index with an unknown child to an existing tag', async () => {
    const idx = encode(ociIndex([desc(MT.ociManifest, v1.manifest), desc(MT.ociManifest, { digest: unknownDigest(), size: 10 })]));
    await unchanged(async () => {
      expectError(await putManifest(s.url, app, 'v2', idx, MT.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
    }, [], [{ repo: app, digest: idx.digest }]);
  });

  test('a by-digest manifest PUT whose digest does not match', async () => {
    const wrong = unknownDigest();
    await unchanged(async () => {
      expectError(await putManifest(s.url, app, wrong, v2.manifest, MT.ociManifest), 400, 'DIGEST_INVALID');
    }, [], [{ repo: app, digest: wrong }]);
  });

  test('an invalid tag', async () => {
    await unchanged(async () => {
      expectError(await putManifest(s.url, app, '-v1', v2.manifest, MT.ociManifest), 400, 'TAG_INVALID');
    });
  });

  test('an oversized manifest', async () => {
    const big = encode(ociImage(desc(MT.ociConfig, v1.config), [desc(MT.ociLayer, v1.layers[0]!)], { annotations: { pad: 'z'.repeat(4 * 1024 * 1024) } }));
    await unchanged(async () => {
      expectError(await putManifest(s.url, app, 'v1', big, MT.ociManifest), 413);
    }, [], [{ repo: app, digest: big.digest }]);
  });

  test('a manifest PUT whose client dies mid-body', async () => {
    const img = await pushImage(s.url, app, null); // a valid manifest, its blobs present
    await unchanged(async () => {
      await truncatedRequest(s.url, `/v2/${app}/manifests/v1`, {
        method: 'PUT', headers: { 'content-type': MT.ociManifest }, declaredLength: img.manifest.size, sent: img.manifest.data.subarray(0, img.manifest.size >> 1),
      });
      await sleep(150);
    });
  });

  test('an invalid repository name', async () => {
    await unchanged(async () => {
      const res = await raw(s.url, `/v2/stable/App/manifests/v1`, { method: 'PUT', body: v1.manifest.data, headers: { 'content-type': MT.ociManifest } });
      expectError(res, 400, 'NAME_INVALID');
    });
  });

  test('a monolithic blob POST with the wrong digest, in an existing repository', async () => {
    const c = randomBlob(100);
    const claimed = unknownDigest();
    await unchanged(async () => {
      const res = await req(s.url, `/v2/${app}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' } });
      expectError(res, 400, 'DIGEST_INVALID');
    }, [], [{ repo: app, digest: claimed }, { repo: app, digest: c.digest }]);
  });

  test('a monolithic blob POST with the wrong digest, to a repository that does not exist yet', async () => {
    const fresh = repoName('fresh');
    const c = randomBlob(100);
    await unchanged(async () => {
      const res = await req(s.url, `/v2/${fresh}/blobs/uploads/?digest=${unknownDigest()}`, { method: 'POST', body: c.data, headers: { 'content-type': 'application/octet-stream' } });
      expectError(res, 400, 'DIGEST_INVALID');
    }, [fresh]);
  });

  test('a blob POST with a malformed digest or mount digest, to a repository that does not exist yet', async () => {
    const fresh = repoName('fresh');
    await unchanged(async () => {
      expectError(await req(s.url, `/v2/${fresh}/blobs/uploads/?digest=sha256:nope`, { method: 'POST', body: 'x' }), 400, 'DIGEST_INVALID');
      const mount = await req(s.url, `/v2/${fresh}/blobs/uploads/?mount=sha256:nope&from=${app}`, { method: 'POST' });
      if (mount.status === 202) await req(s.url, new URL(mount.headers.get('location')!, s.url), { method: 'DELETE' });
      else expectError(mount, 400, 'DIGEST_INVALID');
    }, [fresh]);
  });

  test('closing an upload with the wrong digest', async () => {
    const c = randomBlob(300);
    const upload = await startUpload(s.url, app);
    const claimed = unknownDigest();
    await unchanged(async () => {
      const res = await req(s.url, withDigest(upload, claimed), { method: 'PUT', body: c.data, headers: { 'content-type': 'application/octet-stream' } });
      expectError(res, 400, 'DIGEST_INVALID');
    }, [], [{ repo: app, digest: claimed }, { repo: app, digest: c.digest }]);
  });

  test('an out-of-order chunk', async () => {
    const c = randomBlob(300);
    const upload = await startUpload(s.url, app);
    await unchanged(async () => {
      const res = await req(s.url, upload, { method: 'PATCH', body: c.data.subarray(100), headers: { 'content-type': 'application/octet-stream', 'content-range': '100-299' } });
      expectError(res, 416, 'RANGE_INVALID');
    }, [], [{ repo: app, digest: c.digest }]);
  });

  test('a manifest referencing a blob deleted from the repository', async () => {
    const img = makeImage();
    await pushBlob(s.url, app, img.config);
    await pushBlob(s.url, app, img.layers[0]!);
    expectStatus(await req(s.url, `/v2/${app}/blobs/${img.layers[0]!.digest}`, { method: 'DELETE' }), 202);
    await unchanged(async () => {
      expectError(await putManifest(s.url, app, 'v1', img.manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    }, [], [{ repo: app, digest: img.digest }, { repo: app, digest: img.layers[0]!.digest }]);
  });

  test('deletes of things that do not exist', async () => {
    const fresh = repoName('fresh');
    await unchanged(async () => {
      expectError(await req(s.url, `/v2/${app}/manifests/${unknownDigest()}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      expectError(await req(s.url, `/v2/${app}/manifests/nosuchtag`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      expectError(await req(s.url, `/v2/${app}/blobs/${unknownDigest()}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
      expectError(await req(s.url, `/v2/${app}/blobs/uploads/${'0'.repeat(8)}`, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
      expectError(await req(s.url, `/v2/${fresh}/manifests/latest`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
      expectError(await req(s.url, `/v2/${fresh}/blobs/${extra.digest}`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN', 'BLOB_UNKNOWN');
    }, [fresh]);
  });

  test('reads of a repository that does not exist create nothing', async () => {
    const fresh = repoName('fresh');
    await unchanged(async () => {
      expectError(await req(s.url, `/v2/${fresh}/manifests/latest`), 404, 'NAME_UNKNOWN');
      expectError(await req(s.url, `/v2/${fresh}/manifests/latest`, { method: 'HEAD' }), 404);
      expectError(await req(s.url, `/v2/${fresh}/blobs/${extra.digest}`), 404, 'BLOB_UNKNOWN', 'NAME_UNKNOWN');
      expectError(await req(s.url, `/v2/${fresh}/tags/list`), 404, 'NAME_UNKNOWN');
      const refs = await req(s.url, `/v2/${fresh}/referrers/${v1.digest}`);
      assert.ok(refs.status === 200 || refs.status === 404, `referrers of an unknown repository: ${refs.status}`);
      expectError(await req(s.url, `/v2/${fresh}/blobs/uploads/${'0'.repeat(8)}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    }, [fresh]);
  });

  test('no request in this file was answered with a 5xx (the dropped one aside)', async () => {
    const errors = (await s.serverErrors()).filter((l) => !(l.method === 'PUT' && l.url === `/v2/${app}/manifests/v1`));
    assert.deepEqual(errors, []);
  });
});
