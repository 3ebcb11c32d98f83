// Real clients against Wharf over TLS: skopeo copy/inspect and podman push/pull trusting the development
// CA through --cert-dir and through /etc/containers/certs.d (a private copy bind-mounted in the tool's
// mount namespace; the host's is never written), an unknown CA refused by default, --tls-verify=false
// accepted; wharf copy/inspect the same way; and skopeo presenting a client certificate.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { Cli, withHistory } from '../client-cli/lib/cli.js';
import { generateCerts, type GeneratedCerts } from './lib/tls.js';

const IMG = sampleImage('tls-real-clients');
let certs: GeneratedCerts;
let wharf: WharfServer;
let cli: Cli;
let layout: string;
/** A directory with just the CA (what --cert-dir wants). */
let caDir: string;
/** A private /etc/containers with certs.d/127.0.0.1:PORT/ca.crt. */
let etc: string;

before(async () => {
  certs = generateCerts({ hosts: ['localhost'], ips: ['127.0.0.1'], client: 'alice' });
  wharf = await startWharf({ tls: { cert: certs.cert, key: certs.key } });
  cli = new Cli();
  layout = cli.tmp('layout');
  writeOciLayout(layout, [{ tag: 'img', image: IMG }]);
  caDir = cli.tmp('ca');
  copyFileSync(certs.ca, join(caDir, 'ca.crt'));
  etc = cli.tmp('etc-containers');
  execFileSync('cp', ['-a', '/etc/containers/.', etc], { timeout: 30_000 });
  mkdirSync(join(etc, 'certs.d', wharf.addr), { recursive: true });
  copyFileSync(certs.ca, join(etc, 'certs.d', wharf.addr, 'ca.crt'));
});

after(async () => {
  cli?.cleanup();
  await wharf?.stop();
  wharf?.cleanup();
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

const ref = (repo: string, tag: string): string => `docker://${wharf.addr}/${repo}:${tag}`;
const digestOf = (stdout: string): string => (JSON.parse(stdout) as { Digest: string }).Digest;

describe('skopeo', () => {
  test('copy and inspect trusting the CA through --dest-cert-dir/--cert-dir', () => withHistory(cli, async () => {
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:img`, ref('tls/skopeo', '1')]);
    const i = await cli.skopeo(['inspect', '--cert-dir', caDir, ref('tls/skopeo', '1')]);
    assert.equal(digestOf(i.stdout), IMG.manifestDigest);
    const back = cli.path('back');
    await cli.skopeo(['copy', '--quiet', '--src-cert-dir', caDir, ref('tls/skopeo', '1'), `oci:${back}:img`]);
  }));

  test('trusting the CA through /etc/containers/certs.d', () => withHistory(cli, async () => {
    await cli.skopeo(['copy', '--quiet', `oci:${layout}:img`, ref('tls/certsd', '1')], { etcContainers: etc });
    const i = await cli.skopeo(['inspect', ref('tls/certsd', '1')], { etcContainers: etc });
    assert.equal(digestOf(i.stdout), IMG.manifestDigest);
  }));

  test('an unknown CA is refused by default; --tls-verify=false goes through', () => withHistory(cli, async () => {
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:img`, ref('tls/verify', '1')]);
    const refused = await cli.skopeo(['inspect', ref('tls/verify', '1')], { allowFail: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /x509|certificate/i);
    const other = generateCerts();
    const otherDir = cli.tmp('other-ca');
    copyFileSync(other.ca, join(otherDir, 'ca.crt'));
    rmSync(other.dir, { recursive: true, force: true });
    const wrongCa = await cli.skopeo(['inspect', '--cert-dir', otherDir, ref('tls/verify', '1')], { allowFail: true });
    assert.notEqual(wrongCa.code, 0, 'another CA is not this one');
    assert.match(wrongCa.stderr, /x509|certificate/i);
    const i = await cli.skopeo(['inspect', '--tls-verify=false', ref('tls/verify', '1')]);
    assert.equal(digestOf(i.stdout), IMG.manifestDigest);
  }));
});

describe('podman', () => {
  test('pull and push trusting the CA through --cert-dir', () => withHistory(cli, async () => {
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:img`, ref('tls/podman', '1')]);
    await cli.podman(['pull', '--quiet', '--cert-dir', caDir, `${wharf.addr}/tls/podman:1`]);
    await cli.podman(['tag', `${wharf.addr}/tls/podman:1`, `${wharf.addr}/tls/podman-pushed:2`]);
    await cli.podman(['push', '--quiet', '--cert-dir', caDir, `${wharf.addr}/tls/podman-pushed:2`]);
    const i = await cli.skopeo(['inspect', '--cert-dir', caDir, ref('tls/podman-pushed', '2')]);
    assert.equal((JSON.parse(i.stdout) as { Layers: string[] }).Layers.length, IMG.layers.length);
  }));

  test('pull trusting the CA through /etc/containers/certs.d; refused without it; --tls-verify=false', () => withHistory(cli, async () => {
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:img`, ref('tls/podman-certsd', '1')]);
    await cli.podman(['pull', '--quiet', `${wharf.addr}/tls/podman-certsd:1`], { etcContainers: etc });
    await cli.podman(['rmi', '--all', '--force']);
    const refused = await cli.podman(['pull', '--quiet', `${wharf.addr}/tls/podman-certsd:1`], { allowFail: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /x509|certificate/i);
    await cli.podman(['pull', '--quiet', '--tls-verify=false', `${wharf.addr}/tls/podman-certsd:1`]);
  }));
});

describe('wharf copy and inspect', () => {
  test('--dest-cert-dir/--cert-dir, refusal without, --tls-verify=false', () => withHistory(cli, async () => {
    await cli.wharf(['copy', '--quiet', '--dest-cert-dir', caDir, `oci:${layout}:img`, ref('tls/wharf', '1')]);
    const i = await cli.wharf(['inspect', '--cert-dir', caDir, ref('tls/wharf', '1')]);
    assert.equal(digestOf(i.stdout), IMG.manifestDigest);
    const refused = await cli.wharfFails(['inspect', ref('tls/wharf', '1')]);
    assert.match(refused.stderr, /certificate|TLS|x509/i);
    const insecure = await cli.wharf(['inspect', '--tls-verify=false', ref('tls/wharf', '1')]);
    assert.equal(digestOf(insecure.stdout), IMG.manifestDigest);
    const back = cli.path('back');
    await cli.wharf(['copy', '--quiet', '--src-tls-verify=false', ref('tls/wharf', '1'), `oci:${back}:img`]);
  }));
});

describe('client certificates with real clients', () => {
  let strict: WharfServer;
  let clientDir: string;
  before(async () => {
    strict = await startWharf({ tls: { cert: certs.cert, key: certs.key, clientCA: certs.ca, clientAuth: 'require' } });
    clientDir = cli.tmp('client');
    copyFileSync(certs.ca, join(clientDir, 'ca.crt'));
    copyFileSync(certs.clientCert, join(clientDir, 'client.cert'));
    copyFileSync(certs.clientKey, join(clientDir, 'client.key'));
  });
  after(async () => { await strict?.stop(); strict?.cleanup(); });

  test('skopeo and wharf present client.cert/client.key from the cert dir; without them they are refused', () => withHistory(cli, async () => {
    const r = `docker://${strict.addr}/tls/mtls:1`;
    await cli.skopeo(['copy', '--quiet', '--dest-cert-dir', clientDir, `oci:${layout}:img`, r]);
    assert.equal(digestOf((await cli.skopeo(['inspect', '--cert-dir', clientDir, r])).stdout), IMG.manifestDigest);
    assert.equal(digestOf((await cli.wharf(['inspect', '--cert-dir', clientDir, r])).stdout), IMG.manifestDigest);
    const refused = await cli.skopeo(['inspect', '--cert-dir', caDir, r], { allowFail: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /certificate|tls|EOF|reset/i);
    await cli.wharfFails(['inspect', '--cert-dir', caDir, r]);
  }));
});
