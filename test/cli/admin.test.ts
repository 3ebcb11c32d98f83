// `wharf admin ...` black-box: the real bin/wharf.cjs against a real `wharf serve` (auth.mode builtin) on
// 127.0.0.1, logged in with `wharf login --password-stdin` into temporary auth files. Each command runs with
// --format json and its effect is checked on the server (a created user signs in, a robot's printed secret
// logs in, a revoked token stops working, system:image-pusher lets a user push with `wharf copy`), some
// in text; then the errors (the server's refusal exits 1 with its message, usage errors exit 2 offline),
// and no password given on standard input appears in any output.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { wharfBin } from '../helpers/server.js';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { ADMIN_PASSWORD, api, basic, startBuiltin, token, type BuiltinServer } from '../api/lib/builtin.js';
import { fails, isolatedCliEnv, json, ok, runWharf, type WharfRun } from './lib/isolated-env.js';


const pw = (who: string): string => `${who}-Pw-${randomBytes(6).toString('hex')}:x`;
/** Every password this test gives a command on standard input: none may appear in any output. */
const stdinSecrets: string[] = [ADMIN_PASSWORD];
const runs: WharfRun[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let s: BuiltinServer;
let root: string;
let env: NodeJS.ProcessEnv;
let R: string;
const auth = (name: string): string => join(root, `${name}.auth.json`);

/** `wharf ARGS...` in a private environment; `input` goes to its standard input (which is closed either way). */
async function wharf(args: string[], input?: string): Promise<WharfRun> {
  const r = await runWharf(env, args, input);
  runs.push(r);
  return r;
}

/** An admin command as `who` (their auth file), against the test server. */
function admin(who: string, args: string[], input?: string): Promise<WharfRun> {
  return wharf(['admin', ...args, '--registry', R, '--authfile', auth(who), '--tls-verify=false'], input);
}


/** `wharf login` as `user` into their own auth file; the run (not asserted). */
function login(user: string, password: string, file = auth(user)): Promise<WharfRun> {
  stdinSecrets.push(password);
  return wharf(['login', R, '--username', user, '--password-stdin', '--authfile', file, '--tls-verify=false'], `${password}\n`);
}

describe('wharf admin', () => {
  before(async () => {
    s = await startBuiltin();
    R = s.addr;
    ({ root, env } = isolatedCliEnv('wharf-admin-cli-'));
    ok(await login('admin', ADMIN_PASSWORD));
  });

  after(async () => {
    await s?.stop();
    s?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test('user create, list, passwd and delete (json): the user signs in, a new password replaces the old, a deleted user cannot', async () => {
    const bobPw = pw('bob');
    stdinSecrets.push(bobPw);
    const made = json<{ name: string; admin: boolean; createdAt: string }>(await admin('admin', ['user', 'create', 'bob', '--password-stdin', '--format', 'json'], `${bobPw}\n`));
    assert.equal(made.name, 'bob');
    assert.equal(made.admin, false);
    assert.ok(!Number.isNaN(Date.parse(made.createdAt)));
    ok(await login('bob', bobPw));

    const chiefPw = pw('chief');
    stdinSecrets.push(chiefPw);
    assert.equal(json<{ admin: boolean }>(await admin('admin', ['user', 'create', 'chief', '--admin', '--password-stdin', '--format', 'json'], chiefPw)).admin, true);

    const users = json<{ name: string; admin: boolean }[]>(await admin('admin', ['user', 'list', '--format', 'json']));
    assert.deepEqual(users.map((u) => [u.name, u.admin]), [['admin', true], ['bob', false], ['chief', true]]);
    const text = ok(await admin('admin', ['user', 'list'])).stdout.split('\n');
    assert.match(text[0]!, /^NAME\s+ADMIN\s+CREATED$/);
    assert.ok(text.some((l) => /^bob\s+no\s+\d{4}-/.test(l)), text.join('\n'));

    // An administrator sets bob's password; then bob sets his own.
    const bobPw2 = pw('bob2');
    stdinSecrets.push(bobPw2);
    assert.deepEqual(json(await admin('admin', ['user', 'passwd', 'bob', '--password-stdin', '--format', 'json'], bobPw2)), { name: 'bob', passwordChanged: true });
    assert.notEqual((await login('bob', bobPw, auth('bob-old'))).code, 0, 'the old password still works');
    ok(await login('bob', bobPw2));
    const bobPw3 = pw('bob3');
    stdinSecrets.push(bobPw3);
    assert.match(ok(await admin('bob', ['user', 'passwd', 'bob', '--password-stdin'], bobPw3)).stdout, /^Changed the password of bob\n$/);
    ok(await login('bob', bobPw3));

    const gonePw = pw('gone');
    stdinSecrets.push(gonePw);
    ok(await admin('admin', ['user', 'create', 'gone', '--password-stdin'], gonePw));
    ok(await login('gone', gonePw));
    assert.deepEqual(json(await admin('admin', ['user', 'delete', 'gone', '--format', 'json'])), { name: 'gone', deleted: true });
    assert.notEqual((await login('gone', gonePw, auth('gone-again'))).code, 0, 'a deleted user still signs in');
    assert.ok(!json<{ name: string }[]>(await admin('admin', ['user', 'list', '--format', 'json'])).some((u) => u.name === 'gone'));
  });

  test('user create without --password-stdin asks twice on the terminal, without echo', async () => {
    const typed = pw('tty');
    stdinSecrets.push(typed);
    const cmd = [process.execPath, wharfBin, 'admin', 'user', 'create', 'ttyuser', '--registry', R, '--authfile', auth('admin'), '--tls-verify=false']
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // script(1) gives the command a terminal; the test types at its prompts.
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const seen = (text: string): Promise<void> => new Promise((resolve) => {
      const check = (): void => { if (out.includes(text)) { child.stdout.off('data', check); resolve(); } };
      child.stdout.on('data', check);
      check();
    });
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      // prompt.ts writes each prompt just before it turns echo off: type a moment later, as a person would.
      await seen('New password for ttyuser: ');
      await sleep(300);
      child.stdin.write(`${typed}\r`);
      await seen('Repeat it: ');
      await sleep(300);
      child.stdin.write(`${typed}\r`);
      await seen('Created user ttyuser');
      child.stdin.end();
      assert.equal(await closed, 0, out);
    } finally {
      clearTimeout(timer);
    }
    runs.push({ code: 0, stdout: out, stderr: '', args: ['(terminal) admin user create ttyuser'] });
    assert.ok(!out.includes(typed), `the typed password was echoed:\n${out}`);
    ok(await login('ttyuser', typed));
  });

  test('org create, list, visibility and delete (json and text)', async () => {
    const acme = json<{ name: string; visibility: string }>(await admin('admin', ['org', 'create', 'acme', '--format', 'json']));
    assert.deepEqual([acme.name, acme.visibility], ['acme', 'private']);
    assert.match(ok(await admin('admin', ['org', 'create', 'pub', '--public'])).stdout, /^Created organization pub \(public\)\n$/);
    ok(await admin('admin', ['org', 'create', 'temp']));

    const orgs = json<{ name: string; visibility: string }[]>(await admin('admin', ['org', 'list', '--format', 'json']));
    assert.deepEqual(orgs.map((o) => [o.name, o.visibility]), [['acme', 'private'], ['pub', 'public'], ['temp', 'private']]);
    assert.match(ok(await admin('admin', ['org', 'list'])).stdout, /^NAME\s+VISIBILITY\s+CREATED\nacme\s+private\s+\S+\npub\s+public/);

    assert.deepEqual(json(await admin('admin', ['org', 'visibility', 'temp', 'public', '--format', 'json'])), { name: 'temp', visibility: 'public' });
    const shown = JSON.parse((await api(s, basic('admin', ADMIN_PASSWORD), 'GET', '/orgs/temp')).body.toString()) as { visibility: string };
    assert.equal(shown.visibility, 'public');

    assert.deepEqual(json(await admin('admin', ['org', 'delete', 'temp', '--format', 'json'])), { name: 'temp', deleted: true });
    assert.equal((await api(s, basic('admin', ADMIN_PASSWORD), 'GET', '/orgs/temp')).status, 404);
    // The server's refusal, in its own words.
    fails(await admin('admin', ['org', 'create', 'acme']), 1, /^wharf: .*acme.*\n$/);
  });

  test('team create, add, remove and list', async () => {
    assert.deepEqual(json(await admin('admin', ['team', 'create', 'acme', 'devs', '--format', 'json'])), { org: 'acme', name: 'devs', members: [] });
    ok(await admin('admin', ['team', 'create', 'acme', 'ops']));
    assert.deepEqual(json(await admin('admin', ['team', 'add', 'acme', 'devs', 'bob', '--format', 'json'])), { org: 'acme', team: 'devs', user: 'bob', member: true });
    ok(await admin('admin', ['team', 'add', 'acme', 'ops', 'bob']));
    ok(await admin('admin', ['team', 'add', 'acme', 'ops', 'chief']));
    assert.deepEqual(json(await admin('admin', ['team', 'remove', 'acme', 'ops', 'bob', '--format', 'json'])), { org: 'acme', team: 'ops', user: 'bob', member: false });
    const teams = json<{ name: string; members: string[] }[]>(await admin('admin', ['team', 'list', 'acme', '--format', 'json']));
    assert.deepEqual(teams.map((t) => [t.name, t.members]), [['devs', ['bob']], ['ops', ['chief']]]);
    assert.match(ok(await admin('admin', ['team', 'list', 'acme'])).stdout, /^TEAM\s+MEMBERS\ndevs\s+bob\nops\s+chief\n$/);
  });

  test('grant system:image-pusher lets a user push (wharf copy) to that repository only; revoke takes it back; teams and robots by name', async () => {
    const pusherPw = pw('pusher');
    stdinSecrets.push(pusherPw);
    ok(await admin('admin', ['user', 'create', 'pusher', '--password-stdin'], pusherPw));
    ok(await login('pusher', pusherPw));
    const layout = join(root, 'layout');
    writeOciLayout(layout, [{ tag: 'img', image: sampleImage('admin-cli') }]);
    const push = (repo: string): Promise<WharfRun> =>
      wharf(['copy', '--quiet', '--dest-authfile', auth('pusher'), '--dest-tls-verify=false', `oci:${layout}:img`, `docker://${R}/${repo}:v1`]);
    assert.notEqual((await push('acme/app')).code, 0, 'pushed before any grant');

    const g = json(await admin('admin', ['grant', 'system:image-pusher', '--user', 'pusher', '--org', 'acme', '--repo', 'app', '--format', 'json']));
    assert.deepEqual(g, { namespace: 'acme', repository: 'acme/app', principal: { user: 'pusher' }, role: 'editor' });
    ok(await push('acme/app'));
    assert.notEqual((await push('acme/other')).code, 0, 'the grant on acme/app reached acme/other');

    assert.deepEqual(json(await admin('admin', ['revoke', '--user', 'pusher', '--org', 'acme', '--repo', 'acme/app', '--format', 'json'])),
      { namespace: 'acme', repository: 'acme/app', principal: { user: 'pusher' }, revoked: true });
    assert.notEqual((await push('acme/app')).code, 0, 'pushed after the revoke');
    // A second revoke finds nothing: the server says so.
    fails(await admin('admin', ['revoke', '--user', 'pusher', '--org', 'acme', '--repo', 'app']), 1, 'no such grant');

    // A team's role reaches its members (bob is in devs); the OpenShift viewer name maps to viewer.
    assert.match(ok(await admin('admin', ['grant', 'registry-viewer', '--team', 'devs', '--org', 'acme'])).stdout, /^Granted viewer on acme to team devs\n$/);
    const grants = JSON.parse((await api(s, basic('admin', ADMIN_PASSWORD), 'GET', '/namespaces/acme/grants')).body.toString()) as { items: { principal: Record<string, string>; repository: string | null; role: string }[] };
    assert.ok(grants.items.some((x) => x.principal.team === 'devs' && x.repository === null && x.role === 'viewer'), JSON.stringify(grants));
    ok(await admin('admin', ['revoke', '--team', 'devs', '--org', 'acme']));
  });

  test('robot create prints its secret once and it logs in; list; a robot granted a role pushes; delete stops it', async () => {
    const before = Date.now();
    const r = json<{ name: string; secret: string; expiresAt: string | null }>(await admin('admin', ['robot', 'create', 'acme', 'ci', '--expires', '30d', '--format', 'json']));
    assert.equal(r.name, 'acme+ci');
    assert.ok(r.secret.length >= 20);
    const expires = Date.parse(r.expiresAt!);
    assert.ok(Math.abs(expires - (before + 30 * 86_400_000)) < 120_000, `expiresAt ${r.expiresAt}`);
    ok(await wharf(['login', R, '--username', 'acme+ci', '--password-stdin', '--authfile', auth('robot'), '--tls-verify=false'], r.secret));

    const text = ok(await admin('admin', ['robot', 'create', 'acme', 'deploy'])).stdout;
    assert.match(text, /^Created robot acme\+deploy\.\nIts secret is shown only now; store it safely:\n\S{20,}\nLog in with it: wharf login /);

    const list = json<{ name: string; expiresAt: string | null }[]>(await admin('admin', ['robot', 'list', 'acme', '--format', 'json']));
    assert.deepEqual(list.map((x) => x.name).sort(), ['acme+ci', 'acme+deploy']);
    assert.ok(!JSON.stringify(list).includes(r.secret), 'robot list shows a secret');

    ok(await admin('admin', ['grant', 'editor', '--robot', 'ci', '--org', 'acme']));
    const layout = join(root, 'layout');
    ok(await wharf(['copy', '--quiet', '--dest-authfile', auth('robot'), '--dest-tls-verify=false', `oci:${layout}:img`, `docker://${R}/acme/robot-made:v1`]));

    assert.deepEqual(json(await admin('admin', ['robot', 'delete', 'acme', 'acme+ci', '--format', 'json'])), { name: 'acme+ci', deleted: true });
    const again = await wharf(['login', R, '--username', 'acme+ci', '--password-stdin', '--authfile', auth('robot2'), '--tls-verify=false'], r.secret);
    assert.notEqual(again.code, 0, 'a deleted robot still logs in');
    assert.deepEqual(json<{ name: string }[]>(await admin('admin', ['robot', 'list', 'acme', '--format', 'json'])).map((x) => x.name), ['acme+deploy']);
  });

  test('token create prints its secret once and it works as a password; a limited one is refused by the admin API; revoke stops it', async () => {
    const t = json<{ id: number; name: string; actions: string[] | null; expiresAt: string | null; secret: string }>(
      await admin('bob', ['token', 'create', 'laptop', '--expires', '12h', '--format', 'json']));
    assert.equal(t.name, 'laptop');
    assert.equal(t.actions, null);
    assert.ok(Date.parse(t.expiresAt!) > Date.now() + 11 * 3_600_000);
    ok(await wharf(['login', R, '--username', 'bob', '--password-stdin', '--authfile', auth('bob-token'), '--tls-verify=false'], t.secret));
    // With no action limit it opens the admin API too.
    assert.equal(json<unknown[]>(await admin('bob-token', ['token', 'list', '--format', 'json'])).length, 1);

    const limited = json<{ id: number; actions: string[] }>(await admin('bob', ['token', 'create', 'ci-pull', '--actions', 'pull', '--format', 'json']));
    assert.deepEqual(limited.actions, ['pull']);
    const limitedSecret = (limited as unknown as { secret: string }).secret;
    ok(await wharf(['login', R, '--username', 'bob', '--password-stdin', '--authfile', auth('bob-limited'), '--tls-verify=false'], limitedSecret));
    fails(await admin('bob-limited', ['token', 'list']), 1, 'limited to image actions');

    const list = json<{ id: number; name: string; revokedAt: string | null }[]>(await admin('bob', ['token', 'list', '--format', 'json']));
    assert.deepEqual(list.map((x) => x.name).sort(), ['ci-pull', 'laptop']);
    assert.ok(!JSON.stringify(list).includes(t.secret));
    assert.match(ok(await admin('bob', ['token', 'list'])).stdout, /^ID\s+NAME\s+ACTIONS\s+CREATED\s+EXPIRES\s+LAST USED\s+REVOKED\n/);

    assert.deepEqual(json(await admin('bob', ['token', 'revoke', String(t.id), '--format', 'json'])), { id: t.id, revoked: true });
    fails(await admin('bob-token', ['token', 'list']), 1, /authentication to .* failed/);
    assert.notEqual((await wharf(['login', R, '--username', 'bob', '--password-stdin', '--authfile', auth('bob-token2'), '--tls-verify=false'], t.secret)).code, 0);
    const after = json<{ id: number; revokedAt: string | null }[]>(await admin('bob', ['token', 'list', '--format', 'json']));
    assert.ok(after.find((x) => x.id === t.id)!.revokedAt !== null);
  });

  test('repo visibility public|inherit: anonymous pulls follow', async () => {
    const anonymousPull = async (): Promise<boolean> =>
      (await token(s, null, ['repository:acme/app:pull'])).access.some((a) => a.name === 'acme/app' && a.actions.includes('pull'));
    assert.equal(await anonymousPull(), false);
    assert.deepEqual(json(await admin('admin', ['repo', 'visibility', 'acme/app', 'public', '--format', 'json'])), { name: 'acme/app', own: 'public', effective: 'public' });
    assert.equal(await anonymousPull(), true);
    assert.match(ok(await admin('admin', ['repo', 'visibility', 'acme/app', 'inherit'])).stdout, /^Repository acme\/app is private \(as its namespace\)\n$/);
    assert.equal(await anonymousPull(), false);
  });

  test('audit: --actor, --action, --since and -n', async () => {
    const all = json<{ actor: string; action: string; target: string; outcome: string }[]>(await admin('admin', ['audit', '--format', 'json']));
    assert.ok(all.some((e) => e.action === 'user.create' && e.target === 'bob' && e.actor === 'admin'), JSON.stringify(all.slice(0, 5)));
    const one = json<{ action: string; actor: string }[]>(await admin('admin', ['audit', '--actor', 'bob', '--action', 'token.create', '-n', '1', '--format', 'json']));
    assert.equal(one.length, 1);
    assert.deepEqual([one[0]!.actor, one[0]!.action], ['bob', 'token.create']);
    assert.deepEqual(json(await admin('admin', ['audit', '--since', new Date(Date.now() + 3_600_000).toISOString(), '--format', 'json'])), []);
    assert.ok(json<unknown[]>(await admin('admin', ['audit', '--since', '1h', '--format', 'json'])).length > 0);
    assert.match(ok(await admin('admin', ['audit', '-n', '3'])).stdout, /^AT\s+ACTOR\s+ACTION\s+TARGET\s+OUTCOME\s+REMOTE\n(\S+Z\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\n){3}$/);
  });

  test('errors: a non-admin gets the server\'s refusal (exit 1); no login says to log in; usage errors exit 2 without the network', async () => {
    // bob's own login (the latest password he set) is in his auth file: the server refuses him.
    const r = fails(await admin('bob', ['user', 'list']), 1, /^wharf: .+\n$/);
    const serverSays = await serverMessage('bob', '/users');
    assert.ok(r.stderr.includes(serverSays), `${r.stderr} lacks the server's message ${serverSays}`);
    fails(await admin('bob', ['user', 'list', '--format', 'json']), 1, serverSays);

    fails(await admin('nobody', ['user', 'list']), 1, `not logged into ${R}: run \`wharf login ${R}\` first`);
    fails(await admin('admin', ['user', 'delete', 'no-such-user']), 1, /^wharf: .*no-such-user.*\n$/);

    // Usage errors are found before any connection: the registry here does not exist.
    const offline = (args: string[]) => wharf(['admin', ...args, '--registry', '127.0.0.1:1', '--authfile', auth('admin'), '--tls-verify=false']);
    fails(await offline(['grant', 'owner', '--user', 'bob', '--org', 'acme']), 2, 'unknown role "owner"');
    fails(await offline(['grant', 'viewer', '--user', 'bob', '--team', 'devs', '--org', 'acme']), 2, 'exactly one of --user, --team or --robot');
    fails(await offline(['grant', 'viewer', '--user', 'bob']), 2, '--org is required');
    fails(await offline(['org', 'visibility', 'acme', 'secret']), 2, 'public or private');
    fails(await offline(['user', 'list', '--format', 'yaml']), 2, '--format takes json or text');
    fails(await offline(['token', 'create', 't', '--actions', 'pull,fly']), 2, '--actions');
    fails(await offline(['robot', 'create', 'acme', 'x', '--expires', 'soon']), 2, '--expires');
    fails(await offline(['audit', '-n', '0']), 2, '-n takes');
    fails(await offline(['user', 'create', 'eve']), 2, '--password-stdin');
    fails(await offline(['user', 'create', 'eve', '--password-stdin']), 2, 'empty');
    fails(await wharf(['admin', 'user', 'list']), 2, '--registry');
    fails(await wharf(['admin', 'user', 'frob', '--registry', R]), 2, 'unknown command');
    fails(await wharf(['admin', 'team', 'add', 'acme', 'devs', '--registry', R]), 2, 'missing required argument');
    // An unreachable registry one is logged into: exit 1 with a clear message.
    writeFileSync(auth('unreachable'), JSON.stringify({ auths: { '127.0.0.1:1': { auth: Buffer.from('admin:x').toString('base64') } } }));
    fails(await wharf(['admin', 'user', 'list', '--registry', '127.0.0.1:1', '--authfile', auth('unreachable'), '--tls-verify=false']), 1, 'cannot connect to 127.0.0.1:1');
  });

  test('no password given on standard input appears in any output', () => {
    assert.ok(runs.length > 50, `only ${runs.length} runs`);
    for (const r of runs) {
      for (const secret of stdinSecrets) {
        for (const [where, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
          assert.ok(!text.includes(secret), `wharf ${r.args.join(' ')}: a password in ${where}`);
          assert.ok(!text.includes(Buffer.from(secret).toString('base64').slice(0, 16)), `wharf ${r.args.join(' ')}: a base64 password in ${where}`);
        }
      }
    }
  });
});

/** The message the admin API answers `who` (with the password in their auth file) on GET `path`. */
async function serverMessage(who: string, path: string): Promise<string> {
  const file = JSON.parse(readFileSync(auth(who), 'utf8')) as { auths: Record<string, { auth: string }> };
  const res = await api(s, { Authorization: `Basic ${file.auths[R]!.auth}` }, 'GET', path);
  assert.ok(res.status >= 400);
  return (JSON.parse(res.body.toString()) as { errors: { message: string }[] }).errors[0]!.message;
}
