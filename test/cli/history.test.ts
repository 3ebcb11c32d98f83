// `wharf history` and `wharf restore` black-box: the real bin/wharf.cjs against a real `wharf serve` on
// 127.0.0.1, open (no login needed) and with htpasswd (the login `wharf login` stored; 401 without it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { pushImage } from '../api/lib/registry.js';
import { req } from '../api/lib/http.js';
import { withHeaders } from '../api/lib/builtin.js';
import { isolatedCliEnv, ok, runWharf, type WharfRun } from './lib/isolated-env.js';

interface Entry { tag: string; digest: string | null; at: string; restorable: boolean }


async function tagDigest(url: string, repo: string, tag: string, headers: Record<string, string> = {}): Promise<string | null> {
  const r = await req(url, `/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json', ...headers } });
  return r.headers.get('docker-content-digest');
}

describe('wharf history / restore against an open registry', () => {
  let s: WharfServer;
  let env: NodeJS.ProcessEnv;
  let root: string;
  let a: string;
  let b: string;
  const wharf = (args: string[]): Promise<WharfRun> => runWharf(env, [...args, '--tls-verify=false']);

  before(async () => {
    s = await startWharf();
    ({ root, env } = isolatedCliEnv('wharf-history-cli-'));
    a = (await pushImage(s.url, 'team/app', 'v1')).digest;
    b = (await pushImage(s.url, 'team/app', 'v1')).digest;
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  test('history of a tag (HOST/REPO:TAG) and of a repository (--registry), as JSON and as a table', async () => {
    const h = JSON.parse(ok(await wharf(['history', `${s.addr}/team/app:v1`, '--format', 'json'])).stdout) as { tag: string; items: Entry[] };
    assert.equal(h.tag, 'v1');
    assert.deepEqual(h.items.map((e) => e.digest), [b, a]);
    assert.ok(h.items.every((e) => e.restorable));
    const text = ok(await wharf(['history', 'team/app', '--registry', s.addr])).stdout.split('\n');
    assert.match(text[0]!, /^TAG\s+DIGEST\s+AT\s+RESTORABLE$/);
    assert.match(text[1]!, new RegExp(`^v1\\s+${b}\\s+\\S+Z\\s+yes$`));
  });

  test('restore to an earlier digest, then undelete after a delete', async () => {
    const r = ok(await wharf(['restore', `${s.addr}/team/app:v1`, a]));
    assert.equal(r.stdout, `team/app:v1 now points at ${a}\n`);
    assert.equal(await tagDigest(s.url, 'team/app', 'v1'), a);
    assert.equal((await req(s.url, '/v2/team/app/manifests/v1', { method: 'DELETE' })).status, 202);
    const u = JSON.parse(ok(await wharf(['restore', 'team/app:v1', '--undelete', '--registry', s.addr, '--format', 'json'])).stdout) as { digest: string };
    assert.equal(u.digest, a);
    assert.equal(await tagDigest(s.url, 'team/app', 'v1'), a);
  });

  test('usage errors exit 2 offline; the server\'s refusals exit 1 with its message', async () => {
    for (const args of [['restore', `${s.addr}/team/app:v1`], ['restore', `${s.addr}/team/app:v1`, a, '--undelete'], ['restore', `${s.addr}/team/app`, a], ['history', 'team/app'], ['restore', `${s.addr}/team/app:v1`, 'nope']]) {
      const r = await wharf(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
    const r = await wharf(['restore', `${s.addr}/team/app:v1`, `sha256:${'0'.repeat(64)}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /never pointed at/);
    const unknown = await wharf(['history', `${s.addr}/no/such:v1`]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /not known/);
  });
});

describe('wharf history / restore with htpasswd', () => {
  let s: WharfServer;
  let env: NodeJS.ProcessEnv;
  let root: string;
  const alice = { Authorization: `Basic ${Buffer.from('alice:pw-alice').toString('base64')}` };
  const wharf = (args: string[], input?: string): Promise<WharfRun> => runWharf(env, [...args, '--tls-verify=false'], input);

  before(async () => {
    ({ root, env } = isolatedCliEnv('wharf-history-cli-htpasswd-'));
    const file = join(root, 'users');
    execFileSync('htpasswd', ['-Bbc', '-C', '5', file, 'alice', 'pw-alice'], { stdio: 'ignore' });
    s = await startWharf({ env: { WHARF_AUTH_HTPASSWD_PATH: file } });
  });
  after(async () => {
    await s?.stop();
    s?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  test('without a login: refused (exit 1, says to log in); after `wharf login`: history and restore work', async () => {
    const a = await withHeaders(alice, async () => (await pushImage(s.url, 'team/app', 'v1')).digest);
    await withHeaders(alice, () => pushImage(s.url, 'team/app', 'v1'));
    const refused = await wharf(['history', `${s.addr}/team/app:v1`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /wharf login/);
    ok(await wharf(['login', s.addr, '--username', 'alice', '--password-stdin'], 'pw-alice\n'));
    const h = JSON.parse(ok(await wharf(['history', `${s.addr}/team/app:v1`, '--format', 'json'])).stdout) as { items: Entry[] };
    assert.equal(h.items.length, 2);
    ok(await wharf(['restore', `${s.addr}/team/app:v1`, a]));
    assert.equal(await tagDigest(s.url, 'team/app', 'v1', alice), a);
  });
});
