// `wharf serve` with auth.htpasswd.path, black-box over HTTP: every /v2 route asks for Basic
// credentials, /healthz stays open, the file is re-read without a restart, failures are throttled
// with 429 + Retry-After, and a hash kind other than bcrypt stops the server at start naming the line.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWharf, wharfBin, type WharfServer } from '../helpers/server.js';
import { expectError, req, sleep } from './lib/http.js';

const basic = (user: string, password: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('htpasswd authentication', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-htpasswd-api-'));
  const file = join(dir, 'users');
  let s: WharfServer;

  before(async () => {
    execFileSync('htpasswd', ['-Bbc', '-C', '5', file, 'alice', 'first'], { stdio: 'ignore' });
    s = await startWharf({ env: { WHARF_AUTH_HTPASSWD_PATH: file } });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every /v2 route answers 401 with a Basic challenge without credentials; /healthz stays open', async () => {
    for (const [method, path] of [['GET', '/v2/'], ['GET', '/v2/_catalog'], ['GET', '/v2/a/b/tags/list'], ['HEAD', '/v2/a/manifests/latest'], ['POST', '/v2/a/blobs/uploads/'], ['DELETE', '/v2/a/manifests/latest']]) {
      const r = await req(s.url, path!, { method });
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.headers.get('www-authenticate'), 'Basic realm="wharf"');
      if (method !== 'HEAD') expectError(r, 401, 'UNAUTHORIZED');
    }
    assert.equal((await req(s.url, '/healthz')).status, 200);
    assert.equal((await req(s.url, '/v2/', { headers: basic('alice', 'first') })).status, 200);
    expectError(await req(s.url, '/v2/', { headers: basic('alice', 'nope') }), 401, 'UNAUTHORIZED');
    expectError(await req(s.url, '/v2/', { headers: { Authorization: 'Bearer abc' } }), 401, 'UNAUTHORIZED');
  });

  test('the file is re-read when it changes, without a restart', async () => {
    execFileSync('htpasswd', ['-Bb', '-C', '5', file, 'alice', 'second'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-Bb', '-C', '5', file, 'carol', 'third'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while ((await req(s.url, '/v2/', { headers: basic('carol', 'third') })).status !== 200) {
      assert.ok(Date.now() < deadline, 'the new user was not picked up');
      await sleep(100);
    }
    assert.equal((await req(s.url, '/v2/', { headers: basic('alice', 'second') })).status, 200);
    expectError(await req(s.url, '/v2/', { headers: basic('alice', 'first') }), 401, 'UNAUTHORIZED');
  });

  test('failed attempts are throttled: 429 TOOMANYREQUESTS with Retry-After', async () => {
    let throttled = null;
    for (let i = 0; i < 40 && !throttled; i++) {
      const r = await req(s.url, '/v2/', { headers: basic('mallory', `guess-${i}`) });
      if (r.status === 429) throttled = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(throttled, 'no 429 after 40 failures');
    expectError(throttled, 429, 'TOOMANYREQUESTS');
    assert.match(throttled.headers.get('retry-after') ?? '', /^\d+$/);
  });

  test('a hash kind other than bcrypt stops the server at start, naming the line and never the hash', () => {
    const bad = join(dir, 'md5');
    execFileSync('htpasswd', ['-Bbc', bad, 'ok', 'pw'], { stdio: 'ignore' });
    execFileSync('htpasswd', ['-mb', bad, 'old', 'pw'], { stdio: 'ignore' });
    const r = spawnSync(process.execPath, [wharfBin, 'serve', '--addr', '127.0.0.1:0', '--data', join(dir, 'data')], {
      env: { ...process.env, WHARF_AUTH_HTPASSWD_PATH: bad, WHARF_LOG_FORMAT: 'json' }, encoding: 'utf8', timeout: 20_000,
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /:2: user "old"/);
    const md5 = readFileSync(bad, 'utf8').split('\n')[1]!.split(':')[1]!;
    assert.ok(!r.stderr.includes(md5), r.stderr);
    const missing = spawnSync(process.execPath, [wharfBin, 'serve', '--addr', '127.0.0.1:0', '--data', join(dir, 'data')], {
      env: { ...process.env, WHARF_AUTH_MODE: 'htpasswd' }, encoding: 'utf8', timeout: 20_000,
    });
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /auth\.htpasswd\.path/);
  });
});
