// containers-certs.d(5): *.crt CAs, NAME.cert + NAME.key client pairs, --cert-dir, and a live TLS handshake
// (127.0.0.1 only) using the loaded material.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpPools } from '../../src/client/http-transport.js';
import { findCertDir, loadTlsSettings, tlsConnectOptions, type TlsSettings } from '../../src/client/tls-settings.js';

const root = mkdtempSync(join(tmpdir(), 'wharf-tls-'));
const gen = join(root, 'gen');
let n = 0;
function dir(name = 'd'): string {
  const p = join(root, `${name}-${++n}`);
  mkdirSync(p, { recursive: true });
  return p;
}

/** A self-signed certificate and key (PEM) for `cn`, valid for 127.0.0.1. */
function selfSigned(name: string, cn: string): { cert: string; key: string } {
  const cert = join(gen, `${name}.pem`);
  const key = join(gen, `${name}-key.pem`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', `/CN=${cn}`, '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', cert,
  ], { stdio: 'pipe' });
  return { cert, key };
}

let server: { cert: string; key: string };
let client: { cert: string; key: string };
let other: { cert: string; key: string };
let https: Server;
let port: number;

before(async () => {
  mkdirSync(gen);
  server = selfSigned('server', '127.0.0.1');
  client = selfSigned('client', 'wharf-client');
  other = selfSigned('other', 'other');
  // Requests a client certificate and reports who presented one; does not require it.
  https = createServer({
    cert: readFileSync(server.cert),
    key: readFileSync(server.key),
    ca: [readFileSync(client.cert)],
    requestCert: true,
    rejectUnauthorized: false,
  }, (req, res) => {
    const sock = req.socket as TLSSocket;
    const peer = sock.getPeerCertificate();
    res.end(JSON.stringify({ authorized: sock.authorized, cn: peer && peer.subject ? peer.subject.CN : null }));
  });
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  port = (https.address() as AddressInfo).port;
});
after(async () => {
  https.closeAllConnections();
  await new Promise<void>((resolve) => https.close(() => resolve()));
  rmSync(root, { recursive: true, force: true });
});

/** A certs.d root with a host:port directory holding the given files (name → source path). */
function certsD(host: string, files: Record<string, string>): { root: string; hostDir: string } {
  const r = dir('certs.d');
  const hostDir = join(r, host);
  mkdirSync(hostDir);
  for (const [name, src] of Object.entries(files)) copyFileSync(src, join(hostDir, name));
  return { root: r, hostDir };
}

async function get(settings: TlsSettings): Promise<{ authorized: boolean; cn: string | null }> {
  // The registry client's own connection pools, so the handshake tested is the one it makes.
  const pools = new HttpPools(tlsConnectOptions(settings));
  try {
    const res = await pools.request(`https://127.0.0.1:${port}/`, { method: 'GET' });
    return (await res.body.json()) as { authorized: boolean; cn: string | null };
  } finally {
    pools.close();
  }
}

describe('loadTlsSettings', () => {
  test('*.crt are CAs and NAME.cert/NAME.key a client pair, from <root>/<host:port>', async () => {
    const host = `127.0.0.1:${port}`;
    const { root: r, hostDir } = certsD(host, { 'ca.crt': server.cert, 'client.cert': client.cert, 'client.key': client.key });
    const s = await loadTlsSettings(host, { certsDRoots: [join(root, 'absent'), r] });
    assert.equal(s.verify, true);
    assert.equal(s.certDir, hostDir);
    assert.deepEqual(s.ca, [readFileSync(server.cert)]);
    assert.deepEqual(s.cert, readFileSync(client.cert));
    assert.deepEqual(s.key, readFileSync(client.key));
    // The settings work for a real handshake: the server is verified, the client certificate is presented.
    assert.deepEqual(await get(s), { authorized: true, cn: 'wharf-client' });
  });

  test('no directory: system CAs only, and a self-signed server is rejected', async () => {
    const s = await loadTlsSettings(`127.0.0.1:${port}`, { certsDRoots: [join(root, 'absent')] });
    assert.deepEqual(s, { verify: true, ca: [] });
    await assert.rejects(get(s), (e: Error & { code?: string; cause?: { code?: string } }) =>
      /self[- ]signed|DEPTH_ZERO|unable to verify/i.test(`${e.code ?? ''} ${e.cause?.code ?? ''} ${e.message}`));
  });

  test('tlsVerify false turns verification off but still loads the material', async () => {
    const host = `127.0.0.1:${port}`;
    const { root: r } = certsD(host, { 'client.cert': client.cert, 'client.key': client.key });
    const s = await loadTlsSettings(host, { certsDRoots: [r], tlsVerify: false });
    assert.equal(s.verify, false);
    assert.deepEqual(s.ca, []);
    assert.ok(s.cert && s.key);
    assert.deepEqual(await get(s), { authorized: true, cn: 'wharf-client' });
  });

  test('--cert-dir is used as is, instead of the certs.d roots', async () => {
    const d = dir('certdir');
    copyFileSync(server.cert, join(d, 'registry.crt'));
    copyFileSync(other.cert, join(d, 'another.crt'));
    const { root: r } = certsD('reg.example:5000', { 'ignored.crt': client.cert });
    const s = await loadTlsSettings('reg.example:5000', { certDir: d, certsDRoots: [r] });
    assert.equal(s.certDir, d);
    assert.deepEqual(s.ca, [readFileSync(other.cert), readFileSync(server.cert)], 'all *.crt, in name order');
    assert.equal(s.cert, undefined);
    assert.deepEqual(await loadTlsSettings('x', { certDir: join(root, 'missing') }), { verify: true, ca: [], certDir: join(root, 'missing') });
  });

  test('the first root that has a host directory wins', async () => {
    const a = certsD('reg.example', {});
    const b = certsD('reg.example', { 'ca.crt': server.cert });
    const s = await loadTlsSettings('reg.example', { certsDRoots: [a.root, b.root] });
    assert.equal(s.certDir, a.hostDir);
    assert.deepEqual(s.ca, []);
    assert.equal(await findCertDir('reg.example', [join(root, 'absent'), b.root]), b.hostDir);
    assert.equal(await findCertDir('../etc', [b.root]), null);
  });

  test('unpaired .key or .cert and mismatched pairs are errors', async () => {
    const lonelyKey = certsD('k.example', { 'ca.crt': server.cert, 'client.key': client.key });
    await assert.rejects(loadTlsSettings('k.example', { certsDRoots: [lonelyKey.root] }),
      /missing client certificate client\.cert for key client\.key/);
    const lonelyCert = certsD('c.example', { 'client.cert': client.cert });
    await assert.rejects(loadTlsSettings('c.example', { certsDRoots: [lonelyCert.root] }),
      /missing key client\.key for client certificate client\.cert.*extension \.crt/);
    const mismatched = certsD('m.example', { 'client.cert': client.cert, 'client.key': other.key });
    await assert.rejects(loadTlsSettings('m.example', { certsDRoots: [mismatched.root] }), /does not match/);
    const garbage = certsD('g.example', { 'client.cert': client.cert });
    writeFileSync(join(garbage.hostDir, 'client.key'), 'not a key');
    await assert.rejects(loadTlsSettings('g.example', { certsDRoots: [garbage.root] }), /not a valid private key/);
  });
});

describe('tlsConnectOptions', () => {
  test('custom CAs are added to the bundled roots, not substituted for them', async () => {
    const { rootCertificates } = await import('node:tls');
    const ca = readFileSync(server.cert);
    const o = tlsConnectOptions({ verify: true, ca: [ca] });
    assert.equal(o.rejectUnauthorized, true);
    assert.equal(o.ca!.length, rootCertificates.length + 1);
    assert.equal(o.ca![o.ca!.length - 1], ca);
    assert.deepEqual(tlsConnectOptions({ verify: false, ca: [] }), { rejectUnauthorized: false });
  });
});
