// GET /v2/<name>/referrers/<digest>: an OCI index of the manifests whose subject is <digest>, with
// artifactType and annotations in each descriptor, ?artifactType= filtering, and the edge cases.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useWharf } from './lib/server.js';
import { expectError, expectStatus, parseJson, req, type Res } from './lib/http.js';
import { EMPTY_JSON, MT, artifact, content, desc, encode, ociImage, ociIndex, randomBlob, repoName, unknownDigest, type Content, type Descriptor } from './lib/content.js';
import { pushBlob, pushImage, pushManifest, putManifest, type Image } from './lib/registry.js';

interface Index {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

describe('referrers', () => {
  const s = useWharf();
  const repo = repoName('refs');
  const SBOM = 'application/vnd.example.sbom.v1';
  const SIG = 'application/vnd.example.signature.v1';
  const SIG_CONFIG = 'application/vnd.example.sig.config.v1+json';
  let subject: Image;
  let sbom: Content; // artifact with artifactType and annotations
  let sig: Content; // image manifest without artifactType: reported with its config media type
  let idxWithType: Content; // index with artifactType
  let idxNoType: Content; // index without artifactType: reported without one
  const expected = new Map<string, Descriptor>();

  before(async () => {
    subject = await pushImage(s.url, repo, 'app');
    const subj = desc(MT.ociManifest, subject.manifest);
    await pushBlob(s.url, repo, EMPTY_JSON);

    const sbomLayer = content(JSON.stringify({ spdxVersion: 'SPDX-2.3' }));
    await pushBlob(s.url, repo, sbomLayer);
    const sbomAnn = { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z', 'org.example.sbom.format': 'spdx' };
    sbom = encode(artifact(SBOM, [desc('application/spdx+json', sbomLayer)], { subject: subj, annotations: sbomAnn }));
    const res = await putManifest(s.url, repo, sbom.digest, sbom, MT.ociManifest);
    expectStatus(res, 201);
    assert.equal(res.headers.get('oci-subject'), subject.digest, 'OCI-Subject on a manifest with a subject');
    expected.set(sbom.digest, { mediaType: MT.ociManifest, digest: sbom.digest, size: sbom.size, artifactType: SBOM, annotations: sbomAnn });

    const sigConfig = content(JSON.stringify({ sig: 'config' }));
    const sigLayer = randomBlob(64);
    await pushBlob(s.url, repo, sigConfig);
    await pushBlob(s.url, repo, sigLayer);
    sig = encode(ociImage(desc(SIG_CONFIG, sigConfig), [desc(SIG, sigLayer)], { subject: subj }), 'pretty');
    await pushManifest(s.url, repo, 'sig', sig, MT.ociManifest); // tagged referrers count too
    expected.set(sig.digest, { mediaType: MT.ociManifest, digest: sig.digest, size: sig.size, artifactType: SIG_CONFIG });

    const child = await pushImage(s.url, repo, null);
    idxWithType = encode(ociIndex([desc(MT.ociManifest, child.manifest)], { subject: subj, artifactType: 'application/vnd.example.bundle', annotations: { k: 'v' } }));
    await pushManifest(s.url, repo, idxWithType.digest, idxWithType, MT.ociIndex);
    expected.set(idxWithType.digest, { mediaType: MT.ociIndex, digest: idxWithType.digest, size: idxWithType.size, artifactType: 'application/vnd.example.bundle', annotations: { k: 'v' } });

    idxNoType = encode(ociIndex([desc(MT.ociManifest, child.manifest)], { subject: subj }));
    await pushManifest(s.url, repo, idxNoType.digest, idxNoType, MT.ociIndex);
    expected.set(idxNoType.digest, { mediaType: MT.ociIndex, digest: idxNoType.digest, size: idxNoType.size });
  });

  const referrers = (digest: string, query = '', r = repo): Promise<Res> => req(s.url, `/v2/${r}/referrers/${digest}${query}`);

  /** Checks the response is an OCI index and returns its descriptors keyed by digest. */
  const indexOf = (res: Res): Map<string, Descriptor> => {
    expectStatus(res, 200);
    // The exact header (no parameters) is checked on its own below; here only the media type.
    assert.equal(res.headers.get('content-type')?.split(';')[0]!.trim(), MT.ociIndex);
    const idx = parseJson<Index>(res);
    assert.equal(idx.schemaVersion, 2);
    assert.equal(idx.mediaType, MT.ociIndex);
    assert.ok(Array.isArray(idx.manifests), 'manifests must be an array');
    const byDigest = new Map(idx.manifests.map((d) => [d.digest, d]));
    assert.equal(byDigest.size, idx.manifests.length, 'no duplicate descriptors');
    return byDigest;
  };

  /** The descriptor as the spec wants it: these fields, with these values (extra fields ignored). */
  const expectDescriptor = (got: Descriptor | undefined, want: Descriptor): void => {
    assert.ok(got, `referrer ${want.digest} missing`);
    assert.equal(got.mediaType, want.mediaType, `${want.digest} mediaType`);
    assert.equal(got.size, want.size, `${want.digest} size`);
    assert.equal(got.artifactType, want.artifactType, `${want.digest} artifactType`);
    assert.deepEqual(got.annotations, want.annotations, `${want.digest} annotations`);
  };

  test('lists every manifest and index whose subject is the digest, with artifactType and annotations', async () => {
    const got = indexOf(await referrers(subject.digest));
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort());
    for (const want of expected.values()) expectDescriptor(got.get(want.digest), want);
  });

  test('Content-Type is exactly application/vnd.oci.image.index.v1+json (as the OCI conformance suite requires)', async () => {
    for (const res of [await referrers(subject.digest), await referrers(unknownDigest()), await referrers(subject.digest, `?artifactType=${encodeURIComponent(SBOM)}`)]) {
      expectStatus(res, 200);
      assert.equal(res.headers.get('content-type'), MT.ociIndex, `${res.url}`);
    }
  });

  test('an image manifest without artifactType is reported with its config media type', async () => {
    expectDescriptor(indexOf(await referrers(subject.digest)).get(sig.digest), expected.get(sig.digest)!);
  });

  test('an index without artifactType is reported without one', async () => {
    const d = indexOf(await referrers(subject.digest)).get(idxNoType.digest);
    assert.ok(d);
    assert.equal('artifactType' in d, false, 'artifactType must be omitted');
  });

  test('?artifactType= filters and says so with OCI-Filters-Applied: artifactType', async () => {
    const res = await referrers(subject.digest, `?artifactType=${encodeURIComponent(SBOM)}`);
    const got = indexOf(res);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
    assert.deepEqual([...got.keys()], [sbom.digest]);
    expectDescriptor(got.get(sbom.digest), expected.get(sbom.digest)!);
  });

  test('filtering on the config media type finds the image without artifactType', async () => {
    const res = await referrers(subject.digest, `?artifactType=${encodeURIComponent(SIG_CONFIG)}`);
    assert.deepEqual([...indexOf(res).keys()], [sig.digest]);
  });

  test('a filter nothing matches gives an empty index, still with OCI-Filters-Applied', async () => {
    const res = await referrers(subject.digest, '?artifactType=application%2Fvnd.example.none');
    assert.equal(indexOf(res).size, 0);
    assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
  });

  test('without a filter there is no OCI-Filters-Applied header', async () => {
    assert.equal((await referrers(subject.digest)).headers.get('oci-filters-applied'), null);
  });

  test('an unknown digest gives 200 with an empty manifests list', async () => {
    assert.equal(indexOf(await referrers(unknownDigest())).size, 0);
  });

  test('a manifest with no referrers gives 200 with an empty manifests list', async () => {
    assert.equal(indexOf(await referrers(sbom.digest)).size, 0);
  });

  test('a referrer may be pushed before its subject exists, and is listed', async () => {
    const r = repoName('refs-early');
    await pushBlob(s.url, r, EMPTY_JSON);
    const missing = randomBlob(100);
    const early = encode(artifact(SIG, [desc(MT.ociEmpty, EMPTY_JSON)], { subject: desc(MT.ociManifest, missing) }));
    const res = await putManifest(s.url, r, early.digest, early, MT.ociManifest);
    expectStatus(res, 201);
    assert.equal(res.headers.get('oci-subject'), missing.digest);
    assert.deepEqual([...indexOf(await referrers(missing.digest, '', r)).keys()], [early.digest]);
  });

  test('referrers are per repository', async () => {
    const other = repoName('refs-other');
    await pushImage(s.url, other, 'x');
    assert.equal(indexOf(await referrers(subject.digest, '', other)).size, 0);
  });

  test('a deleted referrer is no longer listed', async () => {
    const r = repoName('refs-del');
    const subj = await pushImage(s.url, r, 'app');
    await pushBlob(s.url, r, EMPTY_JSON);
    const a = encode(artifact(SBOM, [desc(MT.ociEmpty, EMPTY_JSON)], { subject: desc(MT.ociManifest, subj.manifest), annotations: { n: 'a' } }));
    const b = encode(artifact(SBOM, [desc(MT.ociEmpty, EMPTY_JSON)], { subject: desc(MT.ociManifest, subj.manifest), annotations: { n: 'b' } }));
    await pushManifest(s.url, r, a.digest, a, MT.ociManifest);
    await pushManifest(s.url, r, b.digest, b, MT.ociManifest);
    assert.deepEqual([...indexOf(await referrers(subj.digest, '', r)).keys()].sort(), [a.digest, b.digest].sort());
    expectStatus(await req(s.url, `/v2/${r}/manifests/${a.digest}`, { method: 'DELETE' }), 202);
    assert.deepEqual([...indexOf(await referrers(subj.digest, '', r)).keys()], [b.digest]);
  });

  test('a malformed digest is 400', async () => {
    for (const d of ['sha256:abc', 'latest', `sha256:${'A'.repeat(64)}`]) {
      expectError(await referrers(d), 400, 'DIGEST_INVALID');
    }
  });

  test('no request in this file was answered with a 5xx', async () => {
    assert.deepEqual(await s.serverErrors(), []);
  });
});
