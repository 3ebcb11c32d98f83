// storage.s3.redirect: blob GETs answer 307 with a presigned URL into the bucket; skopeo and podman
// follow it and get verified bytes; HEAD stays local; a Range goes along to the store.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { createTestBucket, s3ServerEnv, s3TestEndpoint } from '../helpers/s3.js';
import { ClientEnv } from './lib/containers.js';
import { sampleImage } from './lib/images.js';
import { COPY_TLS_OFF, dockerRef, pushImage } from './lib/ops.js';
import type { Registry } from './lib/registries.js';

const IMG = sampleImage('s3-redirect', { layers: 2 });

describe('blob GETs redirected to presigned S3 URLs', () => {
  let bucket: { name: string; remove(): Promise<void> };
  let server: WharfServer;
  let env: ClientEnv;
  let reg: Registry;
  const requests: { method: string; url: string; status: number }[] = [];
  const redirectsFor = (digest: string): number => requests.filter((r) => r.method === 'GET' && r.url.endsWith(`/blobs/${digest}`) && r.status === 307).length;

  before(async () => {
    bucket = await createTestBucket();
    server = await startWharf({
      env: s3ServerEnv(bucket.name, 'redirect/', { WHARF_STORAGE_S3_REDIRECT: 'true' }),
      onLog: (rec) => { if (rec.msg === 'request') requests.push({ method: String(rec.method), url: String(rec.url), status: Number(rec.status) }); },
    });
    reg = { name: 'wharf', addr: server.addr, url: server.url, stop: () => server.stop() } as Registry;
    env = new ClientEnv([server.addr]);
    await pushImage(env, reg, 'redir/app', 'v1', IMG);
  });
  after(async () => {
    env?.cleanup();
    await server?.stop();
    server?.cleanup();
    await bucket?.remove();
  });

  test('a GET answers 307 to the bucket, which honours Range; HEAD answers here', async () => {
    const layer = IMG.layers[0]!;
    const head = await fetch(`${server.url}/v2/redir/app/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(layer.data.length));
    const get = await fetch(`${server.url}/v2/redir/app/blobs/${layer.digest}`, { redirect: 'manual' });
    await get.arrayBuffer();
    assert.equal(get.status, 307);
    assert.equal(get.headers.get('cache-control'), 'no-store', 'a presigned URL expires: the redirect is not cached');
    const location = get.headers.get('location')!;
    assert.ok(location.startsWith(`${s3TestEndpoint().endpoint}/${bucket.name}/redirect/blobs/sha256/`), location);
    const ranged = await fetch(location, { headers: { range: 'bytes=1-3' } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(layer.data.subarray(1, 4)));
    // An unknown blob is still the registry's 404, not a redirect to a missing object.
    const unknown = await fetch(`${server.url}/v2/redir/app/blobs/sha256:${'0'.repeat(64)}`, { redirect: 'manual' });
    await unknown.arrayBuffer();
    assert.equal(unknown.status, 404);
  });

  test('skopeo copy follows the redirect and gets every blob', async () => {
    const before = IMG.layers.map((l) => redirectsFor(l.digest));
    const out = env.tmp('oci');
    await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, dockerRef(reg, 'redir/app', 'v1'), `oci:${out}:v1`]);
    for (const b of [...IMG.layers, { digest: IMG.configDigest }]) {
      assert.ok(existsSync(join(out, 'blobs', 'sha256', b.digest.slice(7))), `skopeo stored ${b.digest}`);
    }
    IMG.layers.forEach((l, i) => assert.ok(redirectsFor(l.digest) > before[i]!, `layer ${l.digest} was fetched through a 307`));
  });

  test('podman pull follows the redirect', async () => {
    const before = IMG.layers.map((l) => redirectsFor(l.digest));
    const pulled = await env.podman(['pull', '--tls-verify=false', `${reg.addr}/redir/app:v1`]);
    assert.equal(pulled.stdout.trim().split('\n').pop(), IMG.configDigest.slice(7), 'podman pull prints the image ID');
    IMG.layers.forEach((l, i) => assert.ok(redirectsFor(l.digest) > before[i]!, `layer ${l.digest} was fetched through a 307`));
  });
});
