// `wharf auth kube-secret`: the real bin/wharf.cjs prints a Kubernetes Secret of type
// kubernetes.io/dockerconfigjson (YAML, or JSON with --format json) that decodes back to the login stored
// in auth.json, in the shape `kubectl create secret docker-registry` makes; it needs no network.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_PASSWORD, startBuiltin, type BuiltinServer } from '../api/lib/builtin.js';
import { isolatedCliEnv, ok, runWharf, type WharfRun } from './lib/isolated-env.js';


let root: string;
let env: NodeJS.ProcessEnv;
/** test/cli/fixtures in the source tree (this file runs from dist/test/cli). */
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'cli', 'fixtures');

function wharf(args: string[], input?: string, extraEnv: Record<string, string> = {}): Promise<WharfRun> {
  return runWharf({ ...env, ...extraEnv }, args, input);
}


interface DockerConfig { auths: Record<string, { username: string; password: string; auth: string }> }

function decode(b64: string): DockerConfig {
  assert.match(b64, /^[A-Za-z0-9+/]+=*$/);
  return JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as DockerConfig;
}

/** The one entry, checked against the credentials, with `auth` as kubectl makes it (base64 of user:password). */
function assertEntry(cfg: DockerConfig, registry: string, username: string, password: string): void {
  assert.deepEqual(Object.keys(cfg.auths), [registry]);
  const e = cfg.auths[registry]!;
  assert.deepEqual(Object.keys(e), ['username', 'password', 'auth']);
  assert.equal(e.username, username);
  assert.equal(e.password, password);
  assert.equal(Buffer.from(e.auth, 'base64').toString('utf8'), `${username}:${password}`);
}

describe('wharf auth kube-secret', () => {
  before(() => {
    ({ root, env } = isolatedCliEnv('wharf-kube-secret-'));
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  describe('after wharf login to a real registry', () => {
    let s: BuiltinServer;
    const file = (): string => join(root, 'login.auth.json');

    before(async () => {
      s = await startBuiltin();
      ok(await wharf(['login', s.addr, '--username', 'admin', '--password-stdin', '--authfile', file(), '--tls-verify=false'], ADMIN_PASSWORD));
    });

    after(async () => {
      await s?.stop();
      s?.cleanup();
    });

    test('YAML (default): the Secret kubectl would make, named after the registry, decoding to the stored login', async () => {
      const r = ok(await wharf(['auth', 'kube-secret', s.addr, '--authfile', file()]));
      const name = `wharf-${s.addr.replace(/[^a-z0-9]+/g, '-')}`;
      const m = /^apiVersion: v1\ndata:\n {2}\.dockerconfigjson: (\S+)\nkind: Secret\nmetadata:\n {2}creationTimestamp: null\n {2}name: (\S+)\ntype: kubernetes\.io\/dockerconfigjson\n$/.exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.equal(m[2], name);
      assertEntry(decode(m[1]!), s.addr, 'admin', ADMIN_PASSWORD);
      assert.equal(r.stderr, '');
    });

    test('--format json with --name and --namespace (and a URL-shaped registry argument)', async () => {
      const r = ok(await wharf(['auth', 'kube-secret', `https://${s.addr}/v2/`, '--authfile', file(), '--format', 'json', '--name', 'pull-secret', '--namespace', 'prod']));
      const secret = JSON.parse(r.stdout) as { kind: string; apiVersion: string; type: string; metadata: Record<string, unknown>; data: Record<string, string> };
      assert.equal(secret.kind, 'Secret');
      assert.equal(secret.apiVersion, 'v1');
      assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
      assert.deepEqual(secret.metadata, { name: 'pull-secret', namespace: 'prod', creationTimestamp: null });
      assert.deepEqual(Object.keys(secret.data), ['.dockerconfigjson']);
      assertEntry(decode(secret.data['.dockerconfigjson']!), s.addr, 'admin', ADMIN_PASSWORD);
    });
  });

  test('offline, from REGISTRY_AUTH_FILE: a password with ":" and non-ASCII characters survives', async () => {
    const registry = 'Registry.Example.com:5000';
    const password = 'p@ss:wörd/ä+=';
    const file = join(root, 'hand.auth.json');
    writeFileSync(file, JSON.stringify({ auths: { [registry]: { auth: Buffer.from(`robot+ci:${password}`).toString('base64') } } }));
    const r = ok(await wharf(['auth', 'kube-secret', registry, '--format', 'json'], undefined, { REGISTRY_AUTH_FILE: file }));
    const secret = JSON.parse(r.stdout) as { metadata: { name: string }; data: Record<string, string> };
    assert.equal(secret.metadata.name, 'wharf-registry-example-com-5000');
    assertEntry(decode(secret.data['.dockerconfigjson']!), registry, 'robot+ci', password);
  });

  test('byte for byte what kubectl create secret docker-registry --dry-run=client prints (YAML and JSON)', async () => {
    // fixtures/kube-secret.{yaml,json}: printed by kubectl v1.32.4 for these inputs (JSON with --namespace prod):
    //   kubectl create secret docker-registry pull-secret --docker-server=127.0.0.1:5000 --docker-username=deployer \
    //     '--docker-password=kube<secret>&:pw' --dry-run=client -o yaml|json
    const registry = '127.0.0.1:5000';
    // Characters Go's JSON encoder escapes (<, >, &) and a colon.
    const password = 'kube<secret>&:pw';
    const file = join(root, 'kubectl.auth.json');
    writeFileSync(file, JSON.stringify({ auths: { [registry]: { auth: Buffer.from(`deployer:${password}`).toString('base64') } } }));
    for (const [format, extra] of [['yaml', []], ['json', ['--namespace', 'prod']]] as const) {
      const want = readFileSync(join(fixtures, `kube-secret.${format}`), 'utf8');
      const ours = ok(await wharf(['auth', 'kube-secret', registry, '--authfile', file, '--name', 'pull-secret', '--format', format, ...extra]));
      assert.equal(ours.stdout, want);
    }
  });

  test('errors: no stored login exits 1 saying to log in; a bad --name, --namespace or --format exits 2', async () => {
    const none = await wharf(['auth', 'kube-secret', 'nowhere.example:5000']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /not logged into nowhere\.example:5000: run `wharf login nowhere\.example:5000` first/);
    assert.equal(none.stdout, '');
    for (const args of [['--name', 'Bad_Name'], ['--namespace', 'a.b'], ['--format', 'toml']]) {
      const r = await wharf(['auth', 'kube-secret', 'nowhere.example:5000', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
    assert.equal((await wharf(['auth', 'kube-secret'])).code, 2);
  });
});
