// docker-credential-<name> helpers: a fake helper (a node script on PATH) keeps its secrets in a JSON file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CredentialHelperError,
  credentialHelperErase,
  credentialHelperGet,
  credentialHelperList,
  credentialHelperStore,
} from '../../src/client/cred-helpers.js';
import { removeAllCredentials, removeCredentials, resolveCredentials, storeCredentials } from '../../src/client/auth-file.js';

const root = mkdtempSync(join(tmpdir(), 'wharf-credhelper-'));
const binDir = join(root, 'bin');
const stateFile = join(root, 'state.json');
const logFile = join(root, 'calls.log');
let env: NodeJS.ProcessEnv;

// Implements the helper protocol: get/erase read a server URL on stdin, store reads {"ServerURL","Username","Secret"},
// list prints {url: username}. Each call is logged as "action input".
const HELPER = `#!/usr/bin/env node
const fs = require('fs');
const [action] = process.argv.slice(2);
const stateFile = process.env.HELPER_STATE;
const state = fs.existsSync(stateFile) ? JSON.parse(fs.readFileSync(stateFile, 'utf8')) : {};
const input = fs.readFileSync(0, 'utf8');
fs.appendFileSync(process.env.HELPER_LOG, action + ' ' + input.replace(/\\n/g, ' ') + '\\n');
const notFound = () => { process.stdout.write('credentials not found in native keychain\\n'); process.exit(1); };
switch (action) {
  case 'get': {
    const c = state[input.trim()];
    if (!c) notFound();
    process.stdout.write(JSON.stringify({ ServerURL: input.trim(), Username: c.Username, Secret: c.Secret }));
    break;
  }
  case 'store': {
    const c = JSON.parse(input);
    state[c.ServerURL] = { Username: c.Username, Secret: c.Secret };
    fs.writeFileSync(stateFile, JSON.stringify(state));
    break;
  }
  case 'erase': {
    if (!state[input.trim()]) notFound();
    delete state[input.trim()];
    fs.writeFileSync(stateFile, JSON.stringify(state));
    break;
  }
  case 'list': {
    const out = {};
    for (const [k, v] of Object.entries(state)) out[k] = v.Username;
    process.stdout.write(JSON.stringify(out));
    break;
  }
  default:
    process.stderr.write('unknown action ' + action + '\\n');
    process.exit(2);
}
`;

function setState(state: Record<string, { Username: string; Secret: string }>): void {
  writeFileSync(stateFile, JSON.stringify(state));
}
function getState(): Record<string, { Username: string; Secret: string }> {
  return existsSync(stateFile) ? JSON.parse(readFileSync(stateFile, 'utf8')) : {};
}
function calls(): string[] {
  return existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean) : [];
}
let n = 0;
function authPath(): string {
  return join(root, `auth-${++n}.json`);
}

before(() => {
  mkdirSync(binDir);
  writeFileSync(join(binDir, 'docker-credential-test'), HELPER);
  chmodSync(join(binDir, 'docker-credential-test'), 0o755);
  writeFileSync(join(binDir, 'docker-credential-slow'), '#!/bin/sh\nexec sleep 30\n');
  chmodSync(join(binDir, 'docker-credential-slow'), 0o755);
  writeFileSync(join(binDir, 'docker-credential-broken'), '#!/bin/sh\necho "backend exploded" >&2\nexit 3\n');
  chmodSync(join(binDir, 'docker-credential-broken'), 0o755);
  env = { ...process.env, PATH: `${binDir}:${process.env.PATH}`, HELPER_STATE: stateFile, HELPER_LOG: logFile };
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('credential helper protocol', () => {
  test('get / store / list / erase', async () => {
    setState({});
    assert.equal(await credentialHelperGet('test', 'reg.example:5000', { env }), null);
    await credentialHelperStore('test', 'reg.example:5000', 'alice', 's3cret', { env });
    assert.deepEqual(getState(), { 'reg.example:5000': { Username: 'alice', Secret: 's3cret' } });
    assert.deepEqual(await credentialHelperGet('test', 'reg.example:5000', { env }), { username: 'alice', password: 's3cret' });
    assert.deepEqual(await credentialHelperList('test', { env }), { 'reg.example:5000': 'alice' });
    assert.equal(await credentialHelperErase('test', 'reg.example:5000', { env }), true);
    assert.equal(await credentialHelperErase('test', 'reg.example:5000', { env }), false);
  });

  test('Username "<token>" is an identity token', async () => {
    setState({ 'tok.example': { Username: '<token>', Secret: 'refresh' } });
    assert.deepEqual(await credentialHelperGet('test', 'tok.example', { env }), { identityToken: 'refresh' });
  });

  test('missing, failing and hanging helpers are clear errors', async () => {
    await assert.rejects(credentialHelperGet('absent', 'x', { env }),
      (e: unknown) => e instanceof CredentialHelperError && /docker-credential-absent not found in PATH/.test(e.message));
    await assert.rejects(credentialHelperGet('broken', 'x', { env }), /exit 3.*backend exploded/);
    const t0 = Date.now();
    await assert.rejects(credentialHelperGet('slow', 'x', { env, timeoutMs: 300 }), /timed out after 300 ms/);
    assert.ok(Date.now() - t0 < 5000);
    await assert.rejects(credentialHelperGet('../evil', 'x', { env }), /invalid credential helper name/);
  });
});

describe('helpers configured in auth files', () => {
  test('credHelpers[registry] is used instead of auths, with the host as server URL', async () => {
    setState({ 'reg.example:5000': { Username: 'helper-user', Secret: 'helper-pw' } });
    rmSync(logFile, { force: true });
    const f = authPath();
    writeFileSync(f, JSON.stringify({
      auths: { 'reg.example:5000': { auth: Buffer.from('file:pw').toString('base64') } },
      credHelpers: { 'reg.example:5000': 'test' },
    }));
    assert.deepEqual(await resolveCredentials('reg.example:5000', 'ns/repo', { authFile: f, env }),
      { username: 'helper-user', password: 'helper-pw' });
    assert.deepEqual(calls(), ['get reg.example:5000']);
  });

  test('a helper that has nothing makes the lookup go on to the next file', async () => {
    setState({});
    const e = { ...env, HOME: join(root, `home-${++n}`), XDG_RUNTIME_DIR: join(root, `run-${n}`) };
    mkdirSync(join(e.XDG_RUNTIME_DIR, 'containers'), { recursive: true });
    mkdirSync(join(e.HOME, '.docker'), { recursive: true });
    writeFileSync(join(e.XDG_RUNTIME_DIR, 'containers', 'auth.json'), JSON.stringify({ credHelpers: { 'r.example': 'test' } }));
    writeFileSync(join(e.HOME, '.docker', 'config.json'),
      JSON.stringify({ auths: { 'r.example': { auth: Buffer.from('docker:pw').toString('base64') } } }));
    assert.deepEqual(await resolveCredentials('r.example', undefined, { env: e }), { username: 'docker', password: 'pw' });
  });

  test('credsStore is the default helper; Docker Hub is asked for by its legacy URL', async () => {
    setState({
      'store.example': { Username: 'from-store', Secret: 'x' },
      'https://index.docker.io/v1/': { Username: 'hub-user', Secret: 'y' },
    });
    const f = authPath();
    writeFileSync(f, JSON.stringify({
      auths: { 'store.example': {}, 'inline.example': { auth: Buffer.from('inline:pw').toString('base64') } },
      credsStore: 'test',
    }));
    assert.deepEqual(await resolveCredentials('store.example', undefined, { authFile: f, env }), { username: 'from-store', password: 'x' });
    assert.deepEqual(await resolveCredentials('inline.example', undefined, { authFile: f, env }), { username: 'inline', password: 'pw' });
    assert.deepEqual(await resolveCredentials('docker.io', 'library/alpine', { authFile: f, env }), { username: 'hub-user', password: 'y' });
    assert.equal(await resolveCredentials('none.example', undefined, { authFile: f, env }), null);
  });

  test('storeCredentials / removeCredentials go to the helper named in credHelpers', async () => {
    setState({});
    const f = authPath();
    const original = { auths: {}, credHelpers: { 'reg.example:5000': 'test' } };
    writeFileSync(f, JSON.stringify(original));
    const where = await storeCredentials('reg.example:5000', { username: 'bob', password: 'pw' }, { authFile: f, env });
    assert.equal(where, 'credential helper: test');
    assert.deepEqual(getState(), { 'reg.example:5000': { Username: 'bob', Secret: 'pw' } });
    assert.deepEqual(JSON.parse(readFileSync(f, 'utf8')), original, 'the auth file is untouched');
    await assert.rejects(storeCredentials('reg.example:5000/ns', { username: 'b', password: 'p' }, { authFile: f, env }),
      /namespaced key is not supported for credential helper test/);
    // Other registries still go to the file.
    await storeCredentials('other.example', { username: 'o', password: 'p' }, { authFile: f, env });
    assert.ok(JSON.parse(readFileSync(f, 'utf8')).auths['other.example']);
    assert.equal(await removeCredentials('reg.example:5000', { authFile: f, env }), true);
    assert.deepEqual(getState(), {});
    assert.equal(await removeCredentials('reg.example:5000', { authFile: f, env }), false);
  });

  test('removeAllCredentials erases helper-held credentials and keeps the credHelpers configuration', async () => {
    setState({ 'a.example': { Username: 'a', Secret: '1' }, 'unrelated.example': { Username: 'u', Secret: '2' } });
    const f = authPath();
    writeFileSync(f, JSON.stringify({
      auths: { 'x.example': { auth: Buffer.from('x:y').toString('base64') } },
      credHelpers: { 'a.example': 'test', 'b.example': 'test' },
    }));
    await removeAllCredentials({ authFile: f, env });
    assert.deepEqual(getState(), { 'unrelated.example': { Username: 'u', Secret: '2' } });
    assert.deepEqual(JSON.parse(readFileSync(f, 'utf8')), { auths: {}, credHelpers: { 'a.example': 'test', 'b.example': 'test' } });
  });
});
