// The access seam: every /v2 route declares what it needs, one pre-handler asks the AccessController,
// and refusals are 401 (with the controller's challenge) or 403. A scripted controller stands in for
// htpasswd/tokens/roles so that each route's declared needs are visible.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ANONYMOUS, scopeOf, type Access, type AccessController, type Identity } from '../../src/access/access-controller.js';
import { RegistryError } from '../../src/oci/errors.js';
import { buildApp } from '../../src/server/app.js';
import { Registry } from '../../src/registry/registry.js';
import { FsBlobStore } from '../../src/store/blobs/fs-blob-store.js';
import { systemClock } from '../../src/config/clock.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { req, expectError, expectStatus, parseJson } from '../api/lib/http.js';
import type { RegistryEvent } from '../../src/registry/events.js';
import { pushImage, pushBlob, startUpload } from '../api/lib/registry.js';
import { randomBlob } from '../api/lib/content.js';

/** `Authorization: Test <user>`; grants come from a table of user → scopes. */
class ScriptedController implements AccessController {
  readonly kind = 'scripted';
  async reasksFor(): Promise<boolean> { return false; }
  readonly requiresIdentity = true;
  readonly asked: string[][] = [];
  constructor(private readonly grants: Record<string, string[]>) {}
  async authenticate(r: { authorization: string | undefined }): Promise<Identity> {
    if (r.authorization === undefined) return ANONYMOUS;
    const m = /^Test (\w+)$/.exec(r.authorization);
    if (!m || !(m[1]! in this.grants)) throw new RegistryError('UNAUTHORIZED', 'bad credentials', { headers: { 'WWW-Authenticate': this.challenge() } });
    return { kind: 'user', name: m[1]! };
  }
  async authorize(id: Identity, wanted: readonly Access[]): Promise<Access[]> {
    this.asked.push(wanted.map(scopeOf));
    const mine = this.grants[id.name] ?? [];
    return wanted.filter((a) => mine.includes(scopeOf(a)) || mine.includes('*'));
  }
  challenge(): string {
    return 'Test realm="seam"';
  }
  async close(): Promise<void> {}
}

describe('access seam', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-seam-'));
  const controller = new ScriptedController({
    admin: ['*'],
    reader: ['repository:team/app:pull', 'registry:catalog:*'],
    pusher: ['repository:team/new:pull', 'repository:team/new:push'],
  });
  let app: FastifyInstance;
  let registry: Registry;
  let base = '';
  const as = (user: string): Record<string, string> => ({ Authorization: `Test ${user}` });
  /** Runs `fn` with every fetch it makes (the shared push helpers') signed in as `user`. */
  const asUser = async <T>(user: string, fn: () => Promise<T>): Promise<T> => {
    const orig = globalThis.fetch;
    globalThis.fetch = (input, init) => orig(input, { ...init, headers: { ...(init?.headers as Record<string, string> | undefined), ...as(user) } });
    try {
      return await fn();
    } finally {
      globalThis.fetch = orig;
    }
  };

  before(async () => {
    const blobs = await FsBlobStore.open({ root: dir, fsync: false });
    registry = new Registry(blobs, new SqliteMetaStore({ path: join(dir, 'meta.db'), durable: false, clock: systemClock }), { maxManifestBytes: 4 << 20 }, systemClock);
    app = buildApp(registry, { logger: false, accessController: controller });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    // Fill the registry as admin through the API itself.
    await asUser('admin', async () => {
      await pushImage(base, 'team/app', 'v1');
      await pushImage(base, 'team/secret', 'v1');
      await pushImage(base, 'other/thing', 'v1');
    });
  });
  after(async () => {
    await app.close();
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('anonymous: 401 with the controller challenge on every /v2 route; /healthz stays open', async () => {
    for (const [method, path] of [['GET', '/v2/'], ['GET', '/v2/_catalog'], ['HEAD', '/v2/team/app/manifests/v1'], ['GET', '/v2/team/app/tags/list'], ['POST', '/v2/team/app/blobs/uploads/']] as const) {
      const r = await req(base, path, { method });
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.headers.get('www-authenticate'), 'Test realm="seam"', `${method} ${path}`);
      if (method !== 'HEAD') expectError(r, 401, 'UNAUTHORIZED');
    }
    assert.equal((await req(base, '/healthz')).status, 200);
  });

  test('bad credentials: the controller’s 401', async () => {
    const r = await req(base, '/v2/', { headers: as('nobody') });
    expectError(r, 401, 'UNAUTHORIZED');
    assert.equal(r.headers.get('www-authenticate'), 'Test realm="seam"');
  });

  test('each route declares what it needs', async () => {
    const cases: [string, string, string[]][] = [
      ['GET', '/v2/team/app/manifests/v1', ['repository:team/app:pull']],
      ['HEAD', '/v2/team/app/manifests/v1', ['repository:team/app:pull']],
      ['GET', '/v2/team/app/tags/list', ['repository:team/app:pull']],
      ['GET', `/v2/team/app/referrers/${randomBlob(1).digest}`, ['repository:team/app:pull']],
      ['HEAD', `/v2/team/app/blobs/${randomBlob(1).digest}`, ['repository:team/app:pull']],
      ['PUT', '/v2/team/app/manifests/v2', ['repository:team/app:pull', 'repository:team/app:push']],
      ['POST', '/v2/team/app/blobs/uploads/', ['repository:team/app:pull', 'repository:team/app:push']],
      ['DELETE', '/v2/team/app/manifests/v1', ['repository:team/app:delete']],
      ['DELETE', `/v2/team/app/blobs/${randomBlob(1).digest}`, ['repository:team/app:delete']],
      ['GET', '/v2/_catalog', ['registry:catalog:*']],
    ];
    for (const [method, path, needs] of cases) {
      const before = controller.asked.length;
      await req(base, path, { method, headers: as('reader') });
      assert.deepEqual(controller.asked[before], needs, `${method} ${path}`);
    }
  });

  test('authenticated but not allowed: 403 DENIED, and nothing changes', async () => {
    const r = await req(base, '/v2/team/app/manifests/v1', { method: 'DELETE', headers: as('reader') });
    expectError(r, 403, 'DENIED');
    assert.equal((await req(base, '/v2/team/app/manifests/v1', { method: 'HEAD', headers: as('reader') })).status, 200);
    expectError(await req(base, '/v2/team/secret/manifests/v1', { headers: as('reader') }), 403, 'DENIED');
  });

  test('the catalog lists only what the caller may pull, and pages stay whole', async () => {
    const all = parseJson<{ repositories: string[] }>(await req(base, '/v2/_catalog', { headers: as('admin') })).repositories;
    assert.deepEqual(all, ['other/thing', 'team/app', 'team/secret']);
    const mine = parseJson<{ repositories: string[] }>(await req(base, '/v2/_catalog', { headers: as('reader') })).repositories;
    assert.deepEqual(mine, ['team/app']);
    const first = await req(base, '/v2/_catalog?n=1', { headers: as('reader') });
    assert.deepEqual(parseJson<{ repositories: string[] }>(first).repositories, ['team/app']);
  });

  test('a mount needs pull on its source: without it, a plain upload (202) and no link', async () => {
    const blob = randomBlob(64);
    await asUser('admin', () => pushBlob(base, 'team/secret', blob));
    const denied = await req(base, `/v2/team/new/blobs/uploads/?mount=${blob.digest}&from=team/secret`, { method: 'POST', headers: as('pusher') });
    assert.equal(denied.status, 202);
    const noFrom = await req(base, `/v2/team/new/blobs/uploads/?mount=${blob.digest}`, { method: 'POST', headers: as('pusher') });
    assert.equal(noFrom.status, 202, 'a mount without from takes only from repositories the caller may read');
    assert.equal((await req(base, `/v2/team/new/blobs/${blob.digest}`, { method: 'HEAD', headers: as('pusher') })).status, 404);
    const allowed = await req(base, `/v2/team/app2/blobs/uploads/?mount=${blob.digest}&from=team/secret`, { method: 'POST', headers: as('admin') });
    assert.equal(allowed.status, 201);
  });

  test('Expect: 100-continue is answered only once the request is allowed', async () => {
    const ask = (headers: string): Promise<string> => new Promise((resolve, reject) => {
      const s = connect((app.server.address() as { port: number }).port, '127.0.0.1');
      let got = '';
      s.on('data', (b) => { got += b.toString('latin1'); if (/\r\n\r\n/.test(got)) { s.destroy(); resolve(got.split('\r\n')[0]!); } });
      s.on('error', reject);
      s.setTimeout(5000, () => { s.destroy(); reject(new Error(`no answer: ${got}`)); });
      s.write(`PATCH /v2/team/app/blobs/uploads/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\nExpect: 100-continue\r\n${headers}\r\n`);
    });
    assert.match(await ask(''), /^HTTP\/1\.1 401/);
    assert.match(await ask('Authorization: Test reader\r\n'), /^HTTP\/1\.1 403/);
    assert.match(await ask('Authorization: Test admin\r\n'), /^HTTP\/1\.1 100/);
    const bad = await new Promise<string>((resolve) => {
      const s = connect((app.server.address() as { port: number }).port, '127.0.0.1');
      let got = '';
      s.on('data', (b) => { got += b.toString('latin1'); if (/\r\n\r\n/.test(got)) { s.destroy(); resolve(got.split('\r\n')[0]!); } });
      s.write('PATCH /v2/Bad_Name/blobs/uploads/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\nAuthorization: Test admin\r\n\r\n');
    });
    assert.match(bad, /^HTTP\/1\.1 400/, 'an invalid name is refused before the body');
  });

  test('the acting identity reaches the registry and its events', async () => {
    const seen: RegistryEvent[] = [];
    const listener = (e: RegistryEvent): void => { seen.push(e); };
    registry.events.on('event', listener);
    try {
      await asUser('pusher', () => pushImage(base, 'team/new', 'v9'));
      expectStatus(await req(base, '/v2/team/app/manifests/v1', { method: 'DELETE', headers: as('admin') }), 202);
    } finally {
      registry.events.off('event', listener);
    }
    const pushed = seen.filter((e) => e.type === 'manifest.pushed');
    assert.equal(pushed.length, 1);
    // The identity, with the request that carried it (what webhook events name).
    const { request: pushRequest, ...pusher } = pushed[0]!.actor;
    assert.deepEqual(pusher, { kind: 'user', name: 'pusher' });
    assert.equal(pushRequest?.method, 'PUT');
    assert.ok(seen.filter((e) => e.type === 'blob.pushed').every((e) => e.actor.name === 'pusher'));
    const { request: deleteRequest, ...deleter } = seen.find((e) => e.type === 'tag.deleted')!.actor;
    assert.deepEqual(deleter, { kind: 'user', name: 'admin' });
    assert.equal(deleteRequest?.method, 'DELETE');
  });

  test('uploads started by one caller need push to continue', async () => {
    const up = await asUser('admin', () => startUpload(base, 'team/app'));
    expectError(await req(base, up.toString(), { method: 'PATCH', headers: as('reader'), body: 'abc' }), 403, 'DENIED');
  });
});
