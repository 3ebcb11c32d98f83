// Manifests: PUT by tag and by digest for every supported type (OCI image, OCI index, Docker schema2,
// Docker manifest list, OCI artifact), media type resolution, exact bytes on GET/HEAD, every PUT
// error, and DELETE by digest and by tag.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, probeConnection, req, type Res } from './lib/http.js';
import {
  EMPTY_JSON, MT, artifact, content, desc, dockerImage, dockerList, encode, ociImage, ociIndex, randomBlob, repoName,
  unknownDigest, type Content, type Descriptor, type Doc,
} from './lib/content.js';
import { getManifest, makeImage, pushBlob, pushImage, pushManifest, putManifest, tagsOf } from './lib/registry.js';

describe('manifests', () => {
  const s = useWharf();

  /** GET and HEAD of repo:ref serve exactly `m` as `mediaType`, with the right digest. */
  const expectServed = async (repo: string, ref: string, m: Content, mediaType: string): Promise<void> => {
    const get = await getManifest(s.url, repo, ref);
    expectStatus(get, 200, `GET ${repo}:${ref}`);
    assert.ok(get.body.equals(m.data), `GET ${repo}:${ref} bytes differ from the pushed bytes:\n got ${JSON.stringify(get.body.toString())}\nwant ${JSON.stringify(m.data.toString())}`);
    assert.equal(get.headers.get('content-type'), mediaType, `GET ${repo}:${ref} Content-Type`);
    assert.equal(get.headers.get('docker-content-digest'), m.digest, `GET ${repo}:${ref} Docker-Content-Digest`);
    assert.equal(get.headers.get('content-length'), String(m.size), `GET ${repo}:${ref} Content-Length`);
    const head = await getManifest(s.url, repo, ref, 'HEAD');
    expectStatus(head, 200, `HEAD ${repo}:${ref}`);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers.get('content-type'), mediaType, `HEAD ${repo}:${ref} Content-Type`);
    assert.equal(head.headers.get('docker-content-digest'), m.digest, `HEAD ${repo}:${ref} Docker-Content-Digest`);
    assert.equal(head.headers.get('content-length'), String(m.size), `HEAD ${repo}:${ref} Content-Length`);
  };

  /** A 201 for a manifest: Docker-Content-Digest is the digest of the bytes, Location is pullable. */
  const expectCreated = async (res: Res, repo: string, m: Content): Promise<void> => {
    expectStatus(res, 201);
    assert.equal(res.headers.get('docker-content-digest'), m.digest);
    const loc = res.headers.get('location');
    assert.ok(loc, 'a 201 must carry Location');
    const pulled = await req(s.url, loc, { headers: { accept: '*/*' } });
    expectStatus(pulled, 200, `Location ${loc} must be pullable`);
    assert.ok(pulled.body.equals(m.data), `Location ${loc} serves other bytes`);
    assert.ok(new URL(loc, s.url).pathname.startsWith(`/v2/${repo}/manifests/`), `Location ${loc} is not a manifest URL of ${repo}`);
  };

  /** Pushes config + layer blobs of the given media types, returns their descriptors. */
  const pushParts = async (repo: string, configType: string, layerType: string): Promise<{ config: Descriptor; layers: Descriptor[] }> => {
    const config = content(JSON.stringify({ architecture: 'arm64', os: 'linux', n: Math.random() }));
    const layer = randomBlob(128);
    await pushBlob(s.url, repo, config);
    await pushBlob(s.url, repo, layer);
    return { config: desc(configType, config), layers: [desc(layerType, layer)] };
  };

  describe('OCI image manifest', () => {
    test('PUT by tag answers 201 with Location and Docker-Content-Digest; GET/HEAD by tag and digest serve it', async () => {
      const repo = repoName('m-oci');
      const img = makeImage({ layers: 2 });
      await pushBlob(s.url, repo, img.config);
      for (const l of img.layers) await pushBlob(s.url, repo, l);
      const res = await putManifest(s.url, repo, 'v1', img.manifest, MT.ociManifest);
      await expectCreated(res, repo, img.manifest);
      assert.equal(res.headers.get('oci-subject'), null, 'no OCI-Subject without a subject');
      await expectServed(repo, 'v1', img.manifest, MT.ociManifest);
      await expectServed(repo, img.digest, img.manifest, MT.ociManifest);
      assert.deepEqual(await tagsOf(s.url, repo), ['v1']);
    });

    test('PUT by digest answers 201 with a by-digest Location and creates no tag', async () => {
      const repo = repoName('m-bydigest');
      await pushImage(s.url, repo, 'keep');
      const img = makeImage();
      await pushBlob(s.url, repo, img.config);
      await pushBlob(s.url, repo, img.layers[0]!);
      const res = await putManifest(s.url, repo, img.digest, img.manifest, MT.ociManifest);
      await expectCreated(res, repo, img.manifest);
      assert.equal(new URL(res.headers.get('location')!, s.url).pathname, `/v2/${repo}/manifests/${img.digest}`);
      await expectServed(repo, img.digest, img.manifest, MT.ociManifest);
      assert.deepEqual(await tagsOf(s.url, repo), ['keep']);
    });

    test('the exact bytes come back: odd whitespace, CRLF, tabs, unicode', async () => {
      const repo = repoName('m-bytes');
      const img = makeImage({ style: 'odd', extra: { annotations: { note: 'h\u00e9llo \u2603 \u2028 "quoted" \\ back', 'org.example.empty': '' } } });
      await pushBlob(s.url, repo, img.config);
      await pushBlob(s.url, repo, img.layers[0]!);
      await pushManifest(s.url, repo, 'odd', img.manifest, MT.ociManifest);
      await expectServed(repo, 'odd', img.manifest, MT.ociManifest);
      await expectServed(repo, img.digest, img.manifest, MT.ociManifest);
    });

    test('the same manifest under two tags: both serve it; a tag moves to a new manifest', async () => {
      const repo = repoName('m-tags');
      const a = await pushImage(s.url, repo, 'one');
      await pushManifest(s.url, repo, 'two', a.manifest, MT.ociManifest);
      await expectServed(repo, 'one', a.manifest, MT.ociManifest);
      await expectServed(repo, 'two', a.manifest, MT.ociManifest);
      const b = await pushImage(s.url, repo, 'two');
      await expectServed(repo, 'two', b.manifest, MT.ociManifest);
      await expectServed(repo, 'one', a.manifest, MT.ociManifest);
      await expectServed(repo, a.digest, a.manifest, MT.ociManifest);
    });

    test('a 128-character tag (the longest allowed) is accepted', async () => {
      const repo = repoName('m-longtag');
      const tag = `T${'a'.repeat(125)}._`;
      assert.equal(tag.length, 128);
      const img = await pushImage(s.url, repo, tag);
      await expectServed(repo, tag, img.manifest, MT.ociManifest);
    });

    test('a 4 MiB manifest is accepted and served back whole', async () => {
      const repo = repoName('m-4mib');
      const img = makeImage();
      await pushBlob(s.url, repo, img.config);
      await pushBlob(s.url, repo, img.layers[0]!);
      const doc = ociImage(desc(MT.ociConfig, img.config), [desc(MT.ociLayer, img.layers[0]!)], { annotations: { pad: '' } });
      const pad = 4 * 1024 * 1024 - encode(doc).size;
      const m = encode(ociImage(desc(MT.ociConfig, img.config), [desc(MT.ociLayer, img.layers[0]!)], { annotations: { pad: 'x'.repeat(pad) } }));
      assert.equal(m.size, 4 * 1024 * 1024);
      await expectCreated(await putManifest(s.url, repo, 'big', m, MT.ociManifest), repo, m);
      await expectServed(repo, 'big', m, MT.ociManifest);
    });
  });

  describe('OCI index', () => {
    test('an index over manifests in the repository is accepted and served as an index', async () => {
      const repo = repoName('m-index');
      const amd = await pushImage(s.url, repo, null);
      const arm = await pushImage(s.url, repo, null);
      const idx = encode(ociIndex([
        desc(MT.ociManifest, amd.manifest, { platform: { architecture: 'amd64', os: 'linux' } }),
        desc(MT.ociManifest, arm.manifest, { platform: { architecture: 'arm64', os: 'linux' } }),
      ], { annotations: { 'org.opencontainers.image.ref.name': 'multi' } }), 'pretty');
      await expectCreated(await putManifest(s.url, repo, 'multi', idx, MT.ociIndex), repo, idx);
      await expectServed(repo, 'multi', idx, MT.ociIndex);
      await expectServed(repo, idx.digest, idx, MT.ociIndex);
    });

    test('an index whose child is missing is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('m-index-missing');
      const present = await pushImage(s.url, repo, null);
      const idx = encode(ociIndex([desc(MT.ociManifest, present.manifest), desc(MT.ociManifest, { digest: unknownDigest(), size: 500 })]));
      expectError(await putManifest(s.url, repo, 'broken', idx, MT.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
      expectError(await getManifest(s.url, repo, 'broken'), 404, 'MANIFEST_UNKNOWN');
      expectError(await getManifest(s.url, repo, idx.digest), 404, 'MANIFEST_UNKNOWN');
    });

    test('an index whose child lives only in another repository is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const [repo, other] = [repoName('m-index-here'), repoName('m-index-there')];
      await pushImage(s.url, repo, 'base');
      const elsewhere = await pushImage(s.url, other, 'x');
      const idx = encode(ociIndex([desc(MT.ociManifest, elsewhere.manifest)]));
      expectError(await putManifest(s.url, repo, 'foreign', idx, MT.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(await tagsOf(s.url, repo), ['base']);
    });

    test('a child given as a blob (not a manifest) does not satisfy an index', async () => {
      const repo = repoName('m-index-blobchild');
      const img = makeImage();
      await pushBlob(s.url, repo, img.config);
      await pushBlob(s.url, repo, img.layers[0]!);
      await pushBlob(s.url, repo, img.manifest); // the manifest's bytes pushed as a blob, never as a manifest
      const idx = encode(ociIndex([desc(MT.ociManifest, img.manifest)]));
      expectError(await putManifest(s.url, repo, 'x', idx, MT.ociIndex), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    test('an index with no mediaType takes its type from Content-Type', async () => {
      const repo = repoName('m-index-ct');
      const child = await pushImage(s.url, repo, null);
      const doc: Doc = ociIndex([desc(MT.ociManifest, child.manifest)]);
      delete doc.mediaType;
      const idx = encode(doc);
      await expectCreated(await putManifest(s.url, repo, 'ct', idx, MT.ociIndex), repo, idx);
      await expectServed(repo, 'ct', idx, MT.ociIndex);
    });
  });

  describe('Docker manifests', () => {
    test('a Docker schema2 manifest is accepted and served with its media type', async () => {
      const repo = repoName('m-docker');
      const { config, layers } = await pushParts(repo, MT.dockerConfig, MT.dockerLayer);
      const m = encode(dockerImage(config, layers), 'pretty');
      await expectCreated(await putManifest(s.url, repo, 'latest', m, MT.dockerManifest), repo, m);
      await expectServed(repo, 'latest', m, MT.dockerManifest);
      await expectServed(repo, m.digest, m, MT.dockerManifest);
    });

    test('a Docker schema2 manifest with a missing layer is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('m-docker-missing');
      const { config, layers } = await pushParts(repo, MT.dockerConfig, MT.dockerLayer);
      const m = encode(dockerImage(config, [...layers, desc(MT.dockerLayer, randomBlob(64))]));
      expectError(await putManifest(s.url, repo, 'latest', m, MT.dockerManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
      expectError(await getManifest(s.url, repo, 'latest'), 404, 'MANIFEST_UNKNOWN');
    });

    test('a Docker manifest list is accepted and served with its media type', async () => {
      const repo = repoName('m-dlist');
      const children: Descriptor[] = [];
      for (const architecture of ['amd64', 'arm64']) {
        const { config, layers } = await pushParts(repo, MT.dockerConfig, MT.dockerLayer);
        const m = await pushManifest(s.url, repo, `only-${architecture}`, dockerImage(config, layers), MT.dockerManifest);
        children.push(desc(MT.dockerManifest, m, { platform: { architecture, os: 'linux' } }));
      }
      const list = encode(dockerList(children), 'pretty');
      await expectCreated(await putManifest(s.url, repo, 'latest', list, MT.dockerList), repo, list);
      await expectServed(repo, 'latest', list, MT.dockerList);
    });

    test('a Docker manifest list with a missing child is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('m-dlist-missing');
      const list = encode(dockerList([desc(MT.dockerManifest, { digest: unknownDigest(), size: 700 }, { platform: { architecture: 'amd64', os: 'linux' } })]));
      await pushImage(s.url, repo, 'base');
      expectError(await putManifest(s.url, repo, 'latest', list, MT.dockerList), 400, 'MANIFEST_BLOB_UNKNOWN');
    });
  });

  describe('artifacts (OCI 1.1)', () => {
    test('an artifact with artifactType and the empty config is accepted', async () => {
      const repo = repoName('m-artifact');
      assert.equal(EMPTY_JSON.digest, 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
      assert.equal(EMPTY_JSON.size, 2);
      await pushBlob(s.url, repo, EMPTY_JSON);
      const sbom = content(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'x' }));
      await pushBlob(s.url, repo, sbom);
      const m = encode(artifact('application/vnd.example.sbom.v1', [desc('application/spdx+json', sbom)], { annotations: { 'org.example.kind': 'sbom' } }));
      await expectCreated(await putManifest(s.url, repo, 'sbom', m, MT.ociManifest), repo, m);
      await expectServed(repo, 'sbom', m, MT.ociManifest);
    });

    test('an artifact whose only layer is the empty descriptor is accepted', async () => {
      const repo = repoName('m-artifact-empty');
      await pushBlob(s.url, repo, EMPTY_JSON);
      const m = encode(artifact('application/vnd.example.marker', [desc(MT.ociEmpty, EMPTY_JSON)]));
      await expectCreated(await putManifest(s.url, repo, m.digest, m, MT.ociManifest), repo, m);
      await expectServed(repo, m.digest, m, MT.ociManifest);
    });

    test('an artifact whose empty config blob was never pushed is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('m-artifact-noconfig');
      const layer = randomBlob(40);
      await pushBlob(s.url, repo, layer);
      const m = encode(artifact('application/vnd.example.thing', [desc('application/octet-stream', layer)]));
      expectError(await putManifest(s.url, repo, 'x', m, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    });
  });

  describe('media type resolution', () => {
    test('a manifest without mediaType takes it from Content-Type', async () => {
      const repo = repoName('m-ct');
      const img = makeImage();
      await pushBlob(s.url, repo, img.config);
      await pushBlob(s.url, repo, img.layers[0]!);
      const doc = JSON.parse(img.manifest.data.toString()) as Doc;
      delete doc.mediaType;
      const m = encode(doc);
      await expectCreated(await putManifest(s.url, repo, 'ct', m, MT.ociManifest), repo, m);
      await expectServed(repo, 'ct', m, MT.ociManifest);
    });

    test('Content-Type parameters are ignored', async () => {
      const repo = repoName('m-ct-params');
      const img = makeImage();
      await pushBlob(s.url, repo, img.config);
      await pushBlob(s.url, repo, img.layers[0]!);
      const doc = JSON.parse(img.manifest.data.toString()) as Doc;
      delete doc.mediaType;
      const m = encode(doc);
      expectStatus(await putManifest(s.url, repo, 'p', m, `${MT.ociManifest}; charset=utf-8`), 201);
      await expectServed(repo, 'p', m, MT.ociManifest);
    });

    test("the body's mediaType is used when no Content-Type is sent", async () => {
      const repo = repoName('m-body-type');
      const { config, layers } = await pushParts(repo, MT.dockerConfig, MT.dockerLayer);
      const m = encode(dockerImage(config, layers));
      await expectCreated(await putManifest(s.url, repo, 'nt', m, null), repo, m);
      await expectServed(repo, 'nt', m, MT.dockerManifest);
    });

    test('OCI-Subject answers a manifest that has a subject', async () => {
      const repo = repoName('m-subject');
      const base = await pushImage(s.url, repo, 'base');
      await pushBlob(s.url, repo, EMPTY_JSON);
      const m = encode(artifact('application/vnd.example.sig', [desc(MT.ociEmpty, EMPTY_JSON)], { subject: desc(MT.ociManifest, base.manifest) }));
      const res = await putManifest(s.url, repo, m.digest, m, MT.ociManifest);
      await expectCreated(res, repo, m);
      assert.equal(res.headers.get('oci-subject'), base.digest);
    });
  });

  describe('PUT errors', () => {
    const invalidBodies: [string, string][] = [
      ['truncated JSON', '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"'],
      ['not JSON at all', 'this is not a manifest'],
      ['an empty body', ''],
      ['a JSON array', '[]'],
      ['a JSON string', '"manifest"'],
      ['schemaVersion 1', JSON.stringify({ schemaVersion: 1, mediaType: MT.ociManifest, config: desc(MT.ociConfig, EMPTY_JSON), layers: [] })],
      ['config with a malformed digest', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: 'sha256:nope', size: 2 }, layers: [] })],
      ['a layer with a negative size', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: desc(MT.ociConfig, EMPTY_JSON), layers: [{ mediaType: MT.ociLayer, digest: EMPTY_JSON.digest, size: -1 }] })],
      ['an index without manifests', JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex })],
    ];
    for (const [what, text] of invalidBodies) {
      test(`${what} is 400 MANIFEST_INVALID and stores nothing`, async () => {
        const repo = repoName('m-invalid');
        await pushImage(s.url, repo, 'keep');
        await pushBlob(s.url, repo, EMPTY_JSON);
        const ct = text.includes(MT.ociIndex) ? MT.ociIndex : MT.ociManifest;
        expectError(await putManifest(s.url, repo, 'bad', content(text), ct), 400, 'MANIFEST_INVALID');
        expectError(await getManifest(s.url, repo, 'bad'), 404, 'MANIFEST_UNKNOWN');
        assert.deepEqual(await tagsOf(s.url, repo), ['keep']);
      });
    }

    test('a missing layer is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('m-nolayer');
      const img = makeImage({ layers: 2 });
      await pushBlob(s.url, repo, img.config);
      await pushBlob(s.url, repo, img.layers[0]!);
      expectError(await putManifest(s.url, repo, 'v1', img.manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
      expectError(await getManifest(s.url, repo, img.digest), 404, 'MANIFEST_UNKNOWN', 'NAME_UNKNOWN');
    });

    test('a missing config is 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const repo = repoName('m-noconfig');
      const img = makeImage();
      await pushBlob(s.url, repo, img.layers[0]!);
      expectError(await putManifest(s.url, repo, 'v1', img.manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    test('blobs that live only in another repository are 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const [repo, other] = [repoName('m-foreign'), repoName('m-foreign-src')];
      const img = makeImage();
      await pushBlob(s.url, other, img.config);
      await pushBlob(s.url, other, img.layers[0]!);
      await pushBlob(s.url, repo, randomBlob(8));
      expectError(await putManifest(s.url, repo, 'v1', img.manifest, MT.ociManifest), 400, 'MANIFEST_BLOB_UNKNOWN');
    });

    test('a by-digest PUT whose digest does not match the body is 400 DIGEST_INVALID', async () => {
      const repo = repoName('m-digest');
      const img = await pushImage(s.url, repo, null);
      const other = unknownDigest();
      expectError(await putManifest(s.url, repo, other, img.manifest, MT.ociManifest), 400, 'DIGEST_INVALID');
      expectError(await getManifest(s.url, repo, other), 404, 'MANIFEST_UNKNOWN');
      // A body differing by a single trailing newline has a different digest too.
      const plusNewline = content(Buffer.concat([img.manifest.data, Buffer.from('\n')]));
      expectError(await putManifest(s.url, repo, img.digest, plusNewline, MT.ociManifest), 400, 'DIGEST_INVALID');
      expectError(await getManifest(s.url, repo, plusNewline.digest), 404, 'MANIFEST_UNKNOWN');
    });

    test('a PUT by a malformed digest is 400 DIGEST_INVALID', async () => {
      const repo = repoName('m-digest-bad');
      const img = await pushImage(s.url, repo, null);
      expectError(await putManifest(s.url, repo, 'sha256:1234', img.manifest, MT.ociManifest), 400, 'DIGEST_INVALID');
    });

    for (const framing of ['content-length', 'chunked'] as const) {
      test(`a manifest over 4 MiB is 413 (${framing === 'chunked' ? 'streamed without Content-Length' : 'with Content-Length'}); the connection stays usable or is closed`, async () => {
        const repo = repoName('m-413');
        const img = await pushImage(s.url, repo, 'keep');
        const m = encode(ociImage(desc(MT.ociConfig, img.config), [desc(MT.ociLayer, img.layers[0]!)], { annotations: { pad: 'x'.repeat(6 * 1024 * 1024) } }));
        const probe = await probeConnection(s.url, 'PUT', `/v2/${repo}/manifests/huge`, { 'content-type': MT.ociManifest }, m.data, framing);
        assert.equal(probe.status, 413, `PUT of ${m.size} bytes: ${probe.response}`);
        const body = probe.response.slice(probe.response.indexOf('\r\n\r\n') + 4);
        assert.match(body, /"errors"\s*:\s*\[/, `413 without a spec error body: ${probe.response}`);
        // HTTP/1.1: a connection the server keeps open must go on serving requests.
        assert.notEqual(probe.after, 'hung', `after the 413 the server kept the connection open but did not answer the next request on it:\n${probe.response}`);
        expectError(await getManifest(s.url, repo, 'huge'), 404, 'MANIFEST_UNKNOWN');
        assert.deepEqual(await tagsOf(s.url, repo), ['keep']);
      });
    }

    const badTags = ['-lead', '.lead', 'a'.repeat(129), 'a+b', 'a%20b', 'tag@x', 'caf%C3%A9'];
    for (const tag of badTags) {
      test(`PUT with the invalid tag ${tag.length > 20 ? `${tag.slice(0, 10)}...(${tag.length})` : tag} is 400 TAG_INVALID`, async () => {
        const repo = repoName('m-badtag');
        const img = await pushImage(s.url, repo, 'keep');
        expectError(await putManifest(s.url, repo, tag, img.manifest, MT.ociManifest), 400, 'TAG_INVALID');
        assert.deepEqual(await tagsOf(s.url, repo), ['keep']);
      });
    }
  });

  describe('GET errors', () => {
    test('an unknown tag or digest is 404 MANIFEST_UNKNOWN (GET and HEAD)', async () => {
      const repo = repoName('m-unknown');
      await pushImage(s.url, repo, 'keep');
      for (const ref of ['nope', unknownDigest()]) {
        expectError(await getManifest(s.url, repo, ref), 404, 'MANIFEST_UNKNOWN');
        expectError(await getManifest(s.url, repo, ref, 'HEAD'), 404);
      }
    });

    test('an unknown repository is 404 NAME_UNKNOWN (GET and HEAD)', async () => {
      const repo = repoName('m-norepo');
      for (const ref of ['latest', unknownDigest()]) {
        expectError(await getManifest(s.url, repo, ref), 404, 'NAME_UNKNOWN');
        expectError(await getManifest(s.url, repo, ref, 'HEAD'), 404);
      }
    });

    test('a malformed digest reference is rejected (400 DIGEST_INVALID or 404), never 500', async () => {
      const repo = repoName('m-badref');
      await pushImage(s.url, repo, 'keep');
      for (const ref of ['sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`]) {
        const res = await getManifest(s.url, repo, ref);
        if (res.status === 404) expectError(res, 404, 'MANIFEST_UNKNOWN');
        else expectError(res, 400, 'DIGEST_INVALID');
      }
    });

    test('a manifest of one repository is not readable from another', async () => {
      const [a, b] = [repoName('m-iso-a'), repoName('m-iso-b')];
      const img = await pushImage(s.url, a, 'v1');
      await pushImage(s.url, b, 'other');
      expectError(await getManifest(s.url, b, img.digest), 404, 'MANIFEST_UNKNOWN');
      expectError(await getManifest(s.url, b, 'v1'), 404, 'MANIFEST_UNKNOWN');
    });
  });

  describe('DELETE', () => {
    test('DELETE by digest answers 202 and removes the manifest and all its tags; other tags stay', async () => {
      const repo = repoName('m-del-digest');
      const a = await pushImage(s.url, repo, 'a1');
      await pushManifest(s.url, repo, 'a2', a.manifest, MT.ociManifest);
      const b = await pushImage(s.url, repo, 'b1');
      expectStatus(await req(s.url, `/v2/${repo}/manifests/${a.digest}`, { method: 'DELETE' }), 202);
      for (const ref of [a.digest, 'a1', 'a2']) {
        expectError(await getManifest(s.url, repo, ref), 404, 'MANIFEST_UNKNOWN');
        expectError(await getManifest(s.url, repo, ref, 'HEAD'), 404);
      }
      await expectServed(repo, 'b1', b.manifest, MT.ociManifest);
      assert.deepEqual(await tagsOf(s.url, repo), ['b1']);
      expectError(await req(s.url, `/v2/${repo}/manifests/${a.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    test('after DELETE by digest its bytes are neither readable as a blob of that repository nor mountable from it', async () => {
      const repo = repoName('m-del-blob');
      const a = await pushImage(s.url, repo, 'v1');
      const blobPath = `/v2/${repo}/blobs/${a.digest}`;
      const mountInto = (dst: string, digest: string) => req(s.url, `/v2/${dst}/blobs/uploads/?mount=${digest}&from=${repo}`, { method: 'POST' });
      // Before: a manifest is also a blob of its repository (as in Distribution), and mountable from it.
      expectStatus(await req(s.url, blobPath), 200, 'GET manifest as blob before DELETE');
      expectStatus(await mountInto(repoName('m-del-blob-before'), a.digest), 201, 'mount of the manifest before DELETE');
      expectStatus(await req(s.url, `/v2/${repo}/manifests/${a.digest}`, { method: 'DELETE' }), 202);
      expectError(await req(s.url, blobPath), 404, 'BLOB_UNKNOWN');
      expectError(await req(s.url, blobPath, { method: 'HEAD' }), 404);
      const mount = await mountInto(repoName('m-del-blob-after'), a.digest);
      expectStatus(mount, 202, 'a mount of a deleted manifest must start an upload, not link it');
      await req(s.url, mount.headers.get('location')!, { method: 'DELETE' });
      // The image's layers stay in the repository: only the manifest went.
      expectStatus(await mountInto(repoName('m-del-blob-layer'), a.layers[0]!.digest), 201, 'mount of a layer after DELETE');
    });

    test('DELETE by tag answers 202 and removes only that tag', async () => {
      const repo = repoName('m-del-tag');
      const a = await pushImage(s.url, repo, 't1');
      await pushManifest(s.url, repo, 't2', a.manifest, MT.ociManifest);
      expectStatus(await req(s.url, `/v2/${repo}/manifests/t1`, { method: 'DELETE' }), 202);
      expectError(await getManifest(s.url, repo, 't1'), 404, 'MANIFEST_UNKNOWN');
      await expectServed(repo, a.digest, a.manifest, MT.ociManifest);
      await expectServed(repo, 't2', a.manifest, MT.ociManifest);
      assert.deepEqual(await tagsOf(s.url, repo), ['t2']);
      expectError(await req(s.url, `/v2/${repo}/manifests/t1`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    });

    test('a deleted manifest can be pushed again', async () => {
      const repo = repoName('m-del-again');
      const a = await pushImage(s.url, repo, 'v');
      expectStatus(await req(s.url, `/v2/${repo}/manifests/${a.digest}`, { method: 'DELETE' }), 202);
      await expectCreated(await putManifest(s.url, repo, 'v', a.manifest, MT.ociManifest), repo, a.manifest);
      await expectServed(repo, 'v', a.manifest, MT.ociManifest);
    });

    test('DELETE of unknown manifests, tags and repositories is 404; a malformed digest is 400', async () => {
      const repo = repoName('m-del-unknown');
      await pushImage(s.url, repo, 'keep');
      expectError(await req(s.url, `/v2/${repo}/manifests/${unknownDigest()}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      expectError(await req(s.url, `/v2/${repo}/manifests/nosuchtag`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
      expectError(await req(s.url, `/v2/${repoName('m-del-ghost')}/manifests/latest`, { method: 'DELETE' }), 404, 'NAME_UNKNOWN');
      expectError(await req(s.url, `/v2/${repo}/manifests/sha256:xyz`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
      assert.deepEqual(await tagsOf(s.url, repo), ['keep']);
    });
  });

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
