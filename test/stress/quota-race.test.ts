// Racing pushes against quotas: two `wharf serve` processes (auth.mode builtin) sharing one database and
// one data directory — SQLite, whose writers are serial anyway, and PostgreSQL, where only the quota's
// advisory lock keeps two processes from deciding on the same usage — and many clients pushing whole
// images into one namespace at once through both. The namespace's usage never exceeds its quota (sampled
// all along), every accepted push is whole (manifest, config and layer served), every refused step is
// 403 DENIED, nothing is 5xx; racing new tags under a tag limit, exactly as many as it allows are made.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN, apiOk, startBuiltin, withHeaders, type BuiltinServer } from '../api/lib/builtin.js';
import { blobStatus, getManifest, makeImage, pushBlob, putManifest, startUpload, withDigest, type Image } from '../api/lib/registry.js';
import { MT, type Content } from '../api/lib/content.js';
import { expectError, expectStatus, parseJson, req } from '../api/lib/http.js';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.js';

interface Quota { usage: { bytes: number; tags: number }; limits: { bytes: number | null; tags: number | null } }

const PUSHES = 24;
const FITS = 9;

for (const driver of ['sqlite', 'postgres'] as const) describe(`racing pushes into one namespace under a quota: two processes on ${driver}`, () => {
  let a: BuiltinServer;
  let b: BuiltinServer;
  let db: TestDatabase | undefined;
  let dataDir: string;
  const fiveHundreds: string[] = [];
  const quota = async (ns: string): Promise<Quota> => await apiOk(a, ADMIN, 'GET', `/namespaces/${ns}/quota`, undefined, 200) as Quota;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wharf-quota-race-'));
    if (driver === 'postgres') db = await createTestDatabase();
    const env: Record<string, string> = db ? { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url } : {};
    // One after the other: the first makes the database and the administrator, the second finds them.
    a = await startBuiltin(env, { dataDir });
    b = await startBuiltin(env, { dataDir });
    for (const s of [a, b]) {
      s.proc.stdout!.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString().matchAll(/"status":(5\d\d)/g)) fiveHundreds.push(m[1]!);
      });
    }
    for (const org of ['race', 'tags']) await apiOk(a, ADMIN, 'POST', '/orgs', { name: org }, 201);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await db?.drop();
  });

  /** One image, step by step through `base`: 'accepted' when every step was, 'refused' at the first 403 (which must be DENIED). */
  async function push(base: string, repo: string, img: Image): Promise<'accepted' | 'refused'> {
    for (const blob of [img.config, img.layers[0]!] as Content[]) {
      const r = await req(base, withDigest(await startUpload(base, repo), blob.digest), { method: 'PUT', body: blob.data });
      if (r.status === 403) { expectError(r, 403, 'DENIED'); return 'refused'; }
      expectStatus(r, 201, `${repo} blob`);
    }
    const m = await putManifest(base, repo, 'v1', img.manifest, MT.ociManifest);
    if (m.status === 403) { expectError(m, 403, 'DENIED'); return 'refused'; }
    expectStatus(m, 201, `${repo} manifest`);
    return 'accepted';
  }

  test(`${PUSHES} images pushed at once through both processes: usage never exceeds the quota, accepted pushes are whole, the others 403`, async () => {
    const images = Array.from({ length: PUSHES }, () => makeImage({ layerSize: 4000 }));
    const imageBytes = images[0]!.config.size + images[0]!.layers[0]!.size + images[0]!.manifest.size;
    const limit = FITS * imageBytes;
    await apiOk(a, ADMIN, 'PUT', '/namespaces/race/quota', { bytes: limit }, 200);

    let racing = true;
    const samples: number[] = [];
    const sampler = (async () => {
      while (racing) samples.push((await quota('race')).usage.bytes);
    })();
    const outcomes = await withHeaders(ADMIN, () => Promise.all(images.map((img, i) => push((i % 2 === 0 ? a : b).url, `race/r${i}`, img))));
    racing = false;
    await sampler;

    const accepted = images.filter((_, i) => outcomes[i] === 'accepted');
    assert.ok(accepted.length >= 1 && accepted.length <= FITS, `${accepted.length} accepted`);
    assert.ok(outcomes.includes('refused'), 'more was pushed than fits');
    const final = (await quota('race')).usage.bytes;
    samples.push(final);
    assert.ok(samples.length > 2, 'usage was sampled during the race');
    for (const u of samples) assert.ok(u <= limit, `usage ${u} exceeds the quota ${limit}`);
    // Whole: each accepted image is served by both processes, manifest, config and layer.
    await withHeaders(ADMIN, async () => {
      for (const [i, img] of images.entries()) {
        if (outcomes[i] !== 'accepted') continue;
        for (const s of [a, b]) {
          const got = await getManifest(s.url, `race/r${i}`, 'v1');
          expectStatus(got, 200);
          assert.ok(got.body.equals(img.manifest.data));
          for (const blob of [img.config, img.layers[0]!]) assert.equal(await blobStatus(s.url, `race/r${i}`, blob.digest), 200);
        }
      }
    });
    assert.deepEqual(fiveHundreds, [], 'no request was answered with a 5xx');
  });

  test('new tags racing under a tag limit: exactly as many as it allows are made', async () => {
    const img = makeImage();
    await withHeaders(ADMIN, async () => {
      for (const repo of ['tags/a', 'tags/b']) {
        await pushBlob(a.url, repo, img.config);
        await pushBlob(a.url, repo, img.layers[0]!);
      }
    });
    await apiOk(a, ADMIN, 'PUT', '/namespaces/tags/quota', { tags: 5 }, 200);
    const results = await withHeaders(ADMIN, () => Promise.all(Array.from({ length: 16 }, (_, i) =>
      putManifest((i % 2 === 0 ? a : b).url, i % 3 === 0 ? 'tags/a' : 'tags/b', `t${i}`, img.manifest, MT.ociManifest))));
    const statuses = results.map((r) => r.status);
    assert.equal(statuses.filter((x) => x === 201).length, 5, statuses.join(' '));
    for (const r of results.filter((x) => x.status !== 201)) {
      expectError(r, 403, 'DENIED');
      assert.match(parseJson<{ errors: { message: string }[] }>(r).errors[0]!.message, /^tag quota of namespace tags exceeded: 5 tags allowed, 5 used, this push needs 1 more$/);
    }
    assert.equal((await quota('tags')).usage.tags, 5);
    assert.deepEqual(fiveHundreds, []);
  });
});
