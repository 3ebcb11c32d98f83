// `wharf certs generate` (the bundled CLI): a CA, a server certificate for every name asked for, an
// optional client certificate, keys readable by their owner only, and the lines that make
// podman/skopeo trust the CA. Checked with openssl and with Node's X.509 and TLS.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { generateCerts, handshake } from './lib/tls.js';
import { wharfBin } from '../helpers/server.js';

const made: string[] = [];
after(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });

function openssl(args: string[]): { code: number; out: string } {
  const r = spawnSync('openssl', args, { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? 1, out: `${r.stdout}${r.stderr}` };
}

test('a CA and a server certificate that openssl verifies, with every name', () => {
  const c = generateCerts({ hosts: ['registry.test', 'localhost'], ips: ['127.0.0.1', '::1'], days: 30 });
  made.push(c.dir);
  const v = openssl(['verify', '-CAfile', c.ca, c.cert]);
  assert.equal(v.code, 0, v.out);
  assert.match(v.out, /server\.crt: OK/);
  // The server certificate is not a CA and verifies only for server use.
  assert.equal(openssl(['verify', '-CAfile', c.ca, '-purpose', 'sslserver', c.cert]).code, 0);
  assert.notEqual(openssl(['verify', '-CAfile', c.ca, '-purpose', 'sslclient', c.cert]).code, 0, 'serverAuth only');

  const ca = new X509Certificate(readFileSync(c.ca));
  const leaf = new X509Certificate(readFileSync(c.cert));
  assert.equal(ca.ca, true);
  assert.equal(leaf.ca, false);
  assert.ok(leaf.checkIssued(ca));
  assert.ok(leaf.verify(ca.publicKey));
  assert.equal(ca.publicKey.asymmetricKeyType, 'ec');
  assert.equal(leaf.checkHost('registry.test'), 'registry.test');
  assert.equal(leaf.checkHost('localhost'), 'localhost');
  assert.equal(leaf.checkHost('other.test'), undefined);
  assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(leaf.checkIP('::1'), '::1');
  assert.equal(leaf.checkIP('10.0.0.1'), undefined);
  assert.ok(leaf.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'serverAuth EKU');
  const days = (Date.parse(leaf.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 29 && days <= 30.01, `valid for --days 30, got ${days}`);
  const text = execFileSync('openssl', ['x509', '-in', c.ca, '-noout', '-text'], { encoding: 'utf8' });
  assert.match(text, /CA:TRUE/);
  assert.match(text, /Certificate Sign/);

  // Keys match their certificates and are 0600.
  assert.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(c.key))));
  assert.ok(ca.checkPrivateKey(createPrivateKey(readFileSync(c.caKey))));
  for (const k of [c.key, c.caKey]) assert.equal(statSync(k).mode & 0o777, 0o600, k);
  assert.equal(statSync(c.ca).mode & 0o077, 0o044, 'certificates are readable by all');

  // The lines that make podman/skopeo trust it, for every name, and how to serve with it.
  for (const hp of ['registry.test:5000', 'localhost:5000', '127.0.0.1:5000', '[::1]:5000']) {
    assert.ok(c.stdout.includes(`mkdir -p /etc/containers/certs.d/${hp} && cp ${c.ca} /etc/containers/certs.d/${hp}/ca.crt`), `${hp}\n${c.stdout}`);
  }
  assert.ok(c.stdout.includes(`WHARF_TLS_CERT=${c.cert}`));
  assert.ok(c.stdout.includes(`WHARF_TLS_KEY=${c.key}`));
});

test('a TLS handshake with Node trusts the chain for the names, and only with the CA', async () => {
  const c = generateCerts({ hosts: ['localhost'], ips: ['127.0.0.1'] });
  made.push(c.dir);
  const server = createServer({ cert: readFileSync(c.cert), key: readFileSync(c.key) }, (s: TLSSocket) => s.end('hi'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const ok = await handshake(addr, { ca: readFileSync(c.ca) });
    assert.equal(ok.authorized, true);
    ok.destroy();
    const byName = await handshake(addr, { ca: readFileSync(c.ca), servername: 'localhost' });
    byName.destroy();
    await assert.rejects(handshake(addr, {}), /self[- ]signed|unable to (get|verify)/i, 'refused without the CA');
    const other = generateCerts();
    made.push(other.dir);
    await assert.rejects(handshake(addr, { ca: readFileSync(other.ca) }), /unable to (get|verify)|self[- ]signed/i, 'refused with another CA');
  } finally {
    server.close();
  }
});

test('--client writes a client certificate (clientAuth) signed by the same CA', () => {
  const c = generateCerts({ client: 'alice' });
  made.push(c.dir);
  assert.equal(openssl(['verify', '-CAfile', c.ca, '-purpose', 'sslclient', c.clientCert]).code, 0);
  assert.notEqual(openssl(['verify', '-CAfile', c.ca, '-purpose', 'sslserver', c.clientCert]).code, 0, 'clientAuth only');
  const cert = new X509Certificate(readFileSync(c.clientCert));
  assert.match(cert.subject, /CN=alice/);
  assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(c.clientKey))));
  assert.equal(statSync(c.clientKey).mode & 0o777, 0o600);
});

test('each run makes a new CA', () => {
  const a = generateCerts();
  const b = generateCerts();
  made.push(a.dir, b.dir);
  assert.notEqual(new X509Certificate(readFileSync(a.ca)).fingerprint256, new X509Certificate(readFileSync(b.ca)).fingerprint256);
  assert.notEqual(new X509Certificate(readFileSync(a.ca)).subject, new X509Certificate(readFileSync(b.ca)).subject);
});

test('bad arguments fail with a message', () => {
  const run = (args: string[]) => spawnSync(process.execPath, [wharfBin, 'certs', 'generate', ...args], { encoding: 'utf8', timeout: 60_000 });
  const noOut = run(['--host', 'x']);
  assert.notEqual(noOut.status, 0);
  assert.match(noOut.stderr, /--out/);
  const badIp = run(['--ip', 'not-an-ip', '--out', '/tmp/wharf-never-written']);
  assert.notEqual(badIp.status, 0);
  assert.match(badIp.stderr, /not an IP address/);
  const noNames = run(['--out', '/tmp/wharf-never-written']);
  assert.notEqual(noNames.status, 0);
  assert.match(noNames.stderr, /--host or --ip/);
});
