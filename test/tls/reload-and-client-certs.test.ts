// Certificates reloaded without a restart (files replaced by rename, a broken pair ignored), and
// client certificates: tls.clientAuth require and verify-if-given, and the verified certificate as
// the access layer sees it (clientCertificateOf) on real TLS sockets.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { startWharf } from '../helpers/server.js';
import { clientCertificateOf, parseSubjectAltName, presentedUnverifiedCertificate } from '../../src/server/client-certificate.js';
import { fileFingerprint, generateCerts, H2Client, h1Request, handshake, servedFingerprint } from './lib/tls.js';

const dirs: string[] = [];
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const certs = (o: Parameters<typeof generateCerts>[0] = {}) => { const c = generateCerts(o); dirs.push(c.dir); return c; };

/** Polls (bounded) until `fn` returns true. */
async function eventually(fn: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`not within ${ms} ms: ${what}`);
}

test('replaced certificate files are served without a restart; a broken pair keeps the old one', async () => {
  const a = certs();
  const b = certs();
  // Wharf reads its own copies in a directory the test replaces files in, the way editors and cert-manager do.
  const live = certs(); // a directory to hold the live files
  const cert = join(live.dir, 'live.crt');
  const key = join(live.dir, 'live.key');
  copyFileSync(a.cert, cert);
  copyFileSync(a.key, key);
  const logs: Record<string, unknown>[] = [];
  const w = await startWharf({ tls: { cert, key }, onLog: (r) => logs.push(r) });
  try {
    assert.equal(await servedFingerprint(w.addr, a.ca), fileFingerprint(a.cert));
    // Replace by rename: write new files aside, then move them over the old ones.
    copyFileSync(b.key, `${key}.tmp`);
    renameSync(`${key}.tmp`, key);
    copyFileSync(b.cert, `${cert}.tmp`);
    renameSync(`${cert}.tmp`, cert);
    await eventually(async () => (await servedFingerprint(w.addr, b.ca)) === fileFingerprint(b.cert), 'the new certificate is served');
    const r = await h1Request(`${w.url}/v2/`, {}, { ca: b.ca });
    assert.equal(r.status, 200, 'trusted through the new CA');
    await assert.rejects(h1Request(`${w.url}/v2/`, {}, { ca: a.ca }), /unable to verify|self[- ]signed|certificate/i, 'the old CA no longer fits');

    // A key that does not match the certificate: logged, the running pair stays.
    writeFileSync(key, readFileSync(a.key));
    await eventually(async () => logs.some((l) => l.msg === 'tls certificate reload failed; keeping the previous one'), 'the failed reload is logged');
    assert.equal(await servedFingerprint(w.addr, b.ca), fileFingerprint(b.cert));
    assert.equal((await h1Request(`${w.url}/v2/`, {}, { ca: b.ca })).status, 200, 'still serving');
    assert.ok(!JSON.stringify(logs).includes('PRIVATE KEY'), 'no key material in the logs');
  } finally {
    await w.stop();
    w.cleanup();
  }
});

describe('client certificates', () => {
  const pki = certs({ client: 'alice' });
  const stranger = certs({ client: 'mallory' });
  const trusted = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };
  const untrusted = { ca: pki.ca, cert: stranger.clientCert, key: stranger.clientKey };

  test('require: no certificate or an unknown one is refused, a certificate from the client CA gets in (h2 and HTTP/1.1)', async () => {
    const w = await startWharf({ tls: { cert: pki.cert, key: pki.key, clientCA: pki.ca, clientAuth: 'require' } });
    try {
      assert.equal((await h1Request(`${w.url}/v2/`, {}, trusted)).status, 200);
      const h2 = new H2Client(w.url, trusted);
      assert.equal((await h2.request('/v2/')).status, 200);
      await h2.close();
      // TLS 1.3 finishes the client's side of the handshake before the server checks; the refusal arrives on first use.
      await assert.rejects(h1Request(`${w.url}/v2/`, {}, { ca: pki.ca }), /certificate required|alert|ECONNRESET|socket hang up/i);
      await assert.rejects(h1Request(`${w.url}/v2/`, {}, untrusted), /unknown ca|alert|ECONNRESET|socket hang up/i);
      await assert.rejects(new H2Client(w.url, { ca: pki.ca }).request('/v2/'), /certificate required|alert|ECONNRESET|closed|GOAWAY/i);
    } finally {
      await w.stop();
      w.cleanup();
    }
  });

  test('clientAuth defaults to require', async () => {
    const w = await startWharf({ tls: { cert: pki.cert, key: pki.key, clientCA: pki.ca } });
    try {
      await assert.rejects(h1Request(`${w.url}/v2/`, {}, { ca: pki.ca }), /certificate required|alert|ECONNRESET|socket hang up/i);
      assert.equal((await h1Request(`${w.url}/v2/`, {}, trusted)).status, 200);
    } finally {
      await w.stop();
      w.cleanup();
    }
  });

  test('verify-if-given: without a certificate in, with a good one in, with an unknown one 403 DENIED as JSON', async () => {
    const w = await startWharf({ tls: { cert: pki.cert, key: pki.key, clientCA: pki.ca, clientAuth: 'verify-if-given' } });
    try {
      assert.equal((await h1Request(`${w.url}/v2/`, {}, { ca: pki.ca })).status, 200);
      assert.equal((await h1Request(`${w.url}/v2/`, {}, trusted)).status, 200);
      for (const res of [await h1Request(`${w.url}/v2/`, {}, untrusted), await new H2Client(w.url, untrusted).request('/v2/_catalog')]) {
        assert.equal(res.status, 403, res.body.toString());
        const e = (res.json() as { errors: { code: string; message: string }[] }).errors[0]!;
        assert.equal(e.code, 'DENIED');
        assert.match(e.message, /client certificate/);
      }
    } finally {
      await w.stop();
      w.cleanup();
    }
  });

  test('auth.mode certificate: the certificate is the identity; without one, 401 on every /v2 route (no Basic challenge)', async () => {
    const logs: Record<string, unknown>[] = [];
    const w = await startWharf({
      tls: { cert: pki.cert, key: pki.key, clientCA: pki.ca, clientAuth: 'verify-if-given' },
      env: { WHARF_AUTH_MODE: 'certificate' },
      onLog: (rec) => logs.push(rec),
    });
    try {
      for (const path of ['/v2/', '/v2/_catalog', '/v2/a/tags/list']) {
        const anon = await h1Request(`${w.url}${path}`, {}, { ca: pki.ca });
        assert.equal(anon.status, 401, path);
        assert.equal(anon.headers['www-authenticate'], undefined, 'no credentials to ask for, so no challenge');
        assert.equal((anon.json() as { errors: { code: string }[] }).errors[0]!.code, 'UNAUTHORIZED');
      }
      assert.equal((await h1Request(`${w.url}/v2/`, {}, trusted)).status, 200);
      const h2 = new H2Client(w.url, trusted);
      assert.equal((await h2.request('/v2/_catalog')).status, 200);
      await h2.close();
    } finally {
      await w.stop();
      w.cleanup();
    }
  });

  test('auth.mode certificate without tls.clientCA stops the server at start (exit 2)', async () => {
    await assert.rejects(startWharf({ tls: { cert: pki.cert, key: pki.key }, env: { WHARF_AUTH_MODE: 'certificate' } }), /exited with 2[\s\S]*tls\.clientCA/);
  });

  test('clientCertificateOf: CN, subjectAltNames and fingerprint of a verified certificate; null otherwise', async () => {
    const seen: { cert: ReturnType<typeof clientCertificateOf>; unverified: string | null }[] = [];
    const server = createServer({ cert: readFileSync(pki.cert), key: readFileSync(pki.key), ca: readFileSync(pki.ca), requestCert: true, rejectUnauthorized: false }, (s: TLSSocket) => {
      seen.push({ cert: clientCertificateOf(s), unverified: presentedUnverifiedCertificate(s) });
      s.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const addr = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const connectAs = async (o: { cert?: string; key?: string }): Promise<void> => {
        const s = await handshake(addr, { ca: readFileSync(pki.ca), ...(o.cert ? { cert: readFileSync(o.cert), key: readFileSync(o.key!) } : {}) });
        await once(s, 'close');
      };
      await connectAs({ cert: pki.clientCert, key: pki.clientKey });
      await connectAs({});
      await connectAs({ cert: stranger.clientCert, key: stranger.clientKey });
      assert.deepEqual(seen[0]!.cert, { commonName: 'alice', altNames: [], fingerprint256: fileFingerprint(pki.clientCert) });
      assert.equal(seen[0]!.unverified, null);
      assert.equal(seen[1]!.cert, null, 'no certificate');
      assert.equal(seen[1]!.unverified, null);
      assert.equal(seen[2]!.cert, null, 'not verified: no identity');
      assert.match(seen[2]!.unverified ?? '', /.+/);
    } finally {
      server.close();
    }
    assert.equal(clientCertificateOf(undefined), null, 'plain HTTP');
  });

  test('subjectAltName parsing follows Node\'s format, quoted values included', () => {
    assert.deepEqual(parseSubjectAltName('DNS:a.example, IP Address:10.0.0.1, email:x@y.example, URI:spiffe://t/w'), ['a.example', '10.0.0.1', 'x@y.example', 'spiffe://t/w']);
    assert.deepEqual(parseSubjectAltName('DNS:"a, b", DNS:c'), ['a, b', 'c']);
    assert.deepEqual(parseSubjectAltName(''), []);
  });
});
