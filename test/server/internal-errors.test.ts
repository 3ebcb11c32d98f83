// An internal error — a store that throws a plain Error — answers 500 with the spec's {"errors":[{"code":
// "UNKNOWN"}]}, never a 404: a 404 tells clients the content does not exist (they stop, or skip a layer),
// a 500 tells them to retry. The app is built in-process (buildApp over a Registry) on real stores, one of
// whose methods is made to throw, and spoken to over real HTTP on 127.0.0.1.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import { Registry } from '../../src/registry/registry.js';
import { FsBlobStore } from '../../src/store/blobs/fs-blob-store.js';
import { systemClock } from '../../src/config/clock.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import type { BlobStore } from '../../src/store/blobs/blob-store.js';
import type { MetaStore } from '../../src/store/meta/meta-store.js';
import { makeImage, pushBlob, pushManifest, type Image } from '../api/lib/registry.js';
import { ALL_MANIFEST_TYPES, MT } from '../api/lib/content.js';
import { req, type Res } from '../api/lib/http.js';

const SECRET_DETAIL = 'disk on fire at /var/lib/wharf/secret-path';
const LIMITS = { maxManifestBytes: 4 << 20 };

let root: string;
const repo = 'team/app';
let image: Image;

/**
 * `target` with `method` replaced by one that throws a plain Error (not a RegistryError); a dotted
 * name (`tags.resolve`) reaches into one of the MetaStore's aggregates.
 */
function throwing<T extends object>(target: T, method: string): T {
  const [head, ...rest] = method.split('.');
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (prop === head && rest.length > 0) return throwing(v as object, rest.join('.'));
      if (prop === method) return async () => { throw new Error(SECRET_DETAIL); };
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

interface Running { url: string; app: FastifyInstance; registry: Registry }

async function serve(wrapBlobs: (b: BlobStore) => BlobStore = (b) => b, wrapMeta: (m: MetaStore) => MetaStore = (m) => m): Promise<Running> {
  const blobs = await FsBlobStore.open({ root, fsync: false });
  const meta = new SqliteMetaStore({ path: join(root, 'meta.db'), durable: false, clock: systemClock });
  const registry = new Registry(wrapBlobs(blobs), wrapMeta(meta), LIMITS, systemClock);
  const app = buildApp(registry, { logger: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const a = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${a.port}`, app, registry };
}

async function stop(r: Running): Promise<void> {
  await r.app.close();
  await r.registry.close();
}

function assertUnknown500(res: Res, what: string): void {
  assert.notEqual(res.status, 404, `${what}: an internal error answered 404, which stops clients from retrying`);
  assert.equal(res.status, 500, `${what}: HTTP ${res.status} ${res.body.toString()}`);
  if (res.method === 'HEAD') return;
  const body = JSON.parse(res.body.toString()) as { errors?: { code?: string; message?: string }[] };
  assert.equal(body.errors?.[0]?.code, 'UNKNOWN', `${what}: ${res.body.toString()}`);
  assert.ok(!res.body.toString().includes(SECRET_DETAIL), `${what}: the internal error's text reached the client`);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'wharf-internal-errors-'));
  // The content, pushed through a healthy app over the same data directory.
  const healthy = await serve();
  try {
    image = makeImage({ layers: 1 });
    await pushBlob(healthy.url, repo, image.config);
    for (const l of image.layers) await pushBlob(healthy.url, repo, l);
    await pushManifest(healthy.url, repo, 'v1', image.manifest, MT.ociManifest);
  } finally {
    await stop(healthy);
  }
});

after(() => { if (root) rmSync(root, { recursive: true, force: true }); });

const manifestHeaders = { accept: ALL_MANIFEST_TYPES };

describe('a store that throws answers 500 UNKNOWN', () => {
  test('the healthy app serves the content (the control)', async () => {
    const r = await serve();
    try {
      assert.equal((await req(r.url, `/v2/${repo}/manifests/v1`, { headers: manifestHeaders })).status, 200);
      assert.equal((await req(r.url, `/v2/${repo}/blobs/${image.layers[0]!.digest}`)).status, 200);
      assert.equal((await req(r.url, `/v2/${repo}/tags/list`)).status, 200);
    } finally {
      await stop(r);
    }
  });

  for (const method of ['tags.resolve', 'manifests.get']) {
    test(`MetaStore.${method} throws: HEAD and GET of a manifest by tag and by digest`, async () => {
      const r = await serve(undefined, (m) => throwing(m, method));
      try {
        for (const ref of method === 'tags.resolve' ? ['v1'] : [image.digest]) {
          for (const verb of ['HEAD', 'GET']) {
            assertUnknown500(await req(r.url, `/v2/${repo}/manifests/${ref}`, { method: verb, headers: manifestHeaders }), `${verb} manifest ${ref}`);
          }
        }
      } finally {
        await stop(r);
      }
    });
  }

  test('BlobStore.readSmall throws: GET of a manifest', async () => {
    const r = await serve((b) => throwing(b, 'readSmall'));
    try {
      assertUnknown500(await req(r.url, `/v2/${repo}/manifests/v1`, { headers: manifestHeaders }), 'GET manifest');
      assertUnknown500(await req(r.url, `/v2/${repo}/manifests/${image.digest}`, { headers: manifestHeaders }), 'GET manifest by digest');
    } finally {
      await stop(r);
    }
  });

  for (const [store, method] of [['meta', 'blobs.get'], ['meta', 'repositories.idOf']] as const) {
    test(`MetaStore.${method} throws: HEAD and GET of a blob`, async () => {
      const r = await serve(undefined, (m) => throwing(m, method));
      try {
        for (const verb of ['HEAD', 'GET']) {
          assertUnknown500(await req(r.url, `/v2/${repo}/blobs/${image.layers[0]!.digest}`, { method: verb }), `${verb} blob (${store})`);
        }
      } finally {
        await stop(r);
      }
    });
  }

  for (const method of ['tags.list', 'repositories.idOf', 'repositories.hasHeldManifests']) {
    test(`MetaStore.${method} throws: the tags list`, async () => {
      const r = await serve(undefined, (m) => throwing(m, method));
      try {
        assertUnknown500(await req(r.url, `/v2/${repo}/tags/list`), 'GET tags/list');
      } finally {
        await stop(r);
      }
    });
  }

  // Last: it damages the data directory. The store's own mapping of file errors is under test here: only
  // a missing file may read as "not found".
  test('a manifest file the store cannot read (EISDIR, not ENOENT): GET answers 500', async () => {
    const hex = image.digest.slice('sha256:'.length);
    const file = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
    rmSync(file);
    mkdirSync(file);
    const r = await serve();
    try {
      assertUnknown500(await req(r.url, `/v2/${repo}/manifests/v1`, { headers: manifestHeaders }), 'GET manifest');
    } finally {
      await stop(r);
    }
  });
});

describe('GET /readyz', () => {
  test('200 when the database and the blob store answer', async () => {
    const r = await serve();
    try {
      const res = await req(r.url, '/readyz');
      assert.equal(res.status, 200);
      assert.deepEqual(JSON.parse(res.body.toString()), { status: 'ready', checks: { database: 'ok', storage: 'ok' } });
      assert.equal((await req(r.url, '/healthz')).status, 200);
    } finally {
      await stop(r);
    }
  });

  test('503 naming the failing store, without its error text; /healthz stays 200', async () => {
    for (const [wrapBlobs, wrapMeta, failing] of [
      [(b: BlobStore) => throwing(b, 'stat'), undefined, 'storage'],
      [undefined, (m: MetaStore) => throwing(m, 'leases.get'), 'database'],
    ] as const) {
      const r = await serve(wrapBlobs, wrapMeta);
      try {
        const res = await req(r.url, '/readyz');
        assert.equal(res.status, 503, failing);
        const body = JSON.parse(res.body.toString()) as { status: string; checks: Record<string, string> };
        assert.equal(body.status, 'unready');
        assert.equal(body.checks[failing], 'failing');
        assert.ok(!res.body.toString().includes(SECRET_DETAIL), 'the error text reached the client');
        assert.equal((await req(r.url, '/healthz')).status, 200);
      } finally {
        await stop(r);
      }
    }
  });

  test('a store that does not answer makes the process unready within the bound, not the probe hang', async () => {
    const hanging = (b: BlobStore): BlobStore => new Proxy(b, {
      get(t, prop, receiver) {
        const v = Reflect.get(t, prop, receiver) as unknown;
        if (prop === 'stat') return () => new Promise(() => undefined);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const r = await serve(hanging);
    try {
      const t0 = Date.now();
      const res = await req(r.url, '/readyz');
      assert.equal(res.status, 503);
      assert.ok(Date.now() - t0 < 5000, `answered after ${Date.now() - t0} ms`);
    } finally {
      await stop(r);
    }
  });
});
