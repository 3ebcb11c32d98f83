import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANONYMOUS, type Access, type AuthRequest, type ClientCertificate } from '../../src/access/access-controller.js';
import { CertificateAccessController, certificateSubjectName } from '../../src/access/certificate.js';
import { RegistryError } from '../../src/oci/errors.js';

const cert = (c: Partial<ClientCertificate>): ClientCertificate => ({ commonName: null, altNames: [], fingerprint256: 'AA:BB', ...c });
const request = (clientCertificate: ClientCertificate | null): AuthRequest => ({ authorization: undefined, remoteAddress: '127.0.0.1', clientCertificate });
const wanted: Access[] = [
  { type: 'repository', name: 'team/app', action: 'pull' },
  { type: 'repository', name: 'team/app', action: 'push' },
  { type: 'registry', name: 'catalog', action: '*' },
];

test('the identity is the certificate subject CN', async () => {
  const c = new CertificateAccessController();
  assert.deepEqual(await c.authenticate(request(cert({ commonName: 'alice', altNames: ['alice.example'] }))), { kind: 'certificate', name: 'alice', via: 'certificate' });
});

test('without a CN, the first subjectAltName', async () => {
  const c = new CertificateAccessController();
  assert.deepEqual(await c.authenticate(request(cert({ commonName: '', altNames: ['build.example', 'other'] }))), { kind: 'certificate', name: 'build.example', via: 'certificate' });
  assert.equal(certificateSubjectName(cert({ altNames: ['', 'x'] })), 'x');
});

test('no certificate: anonymous', async () => {
  const c = new CertificateAccessController();
  assert.deepEqual(await c.authenticate(request(null)), ANONYMOUS);
});

test('a certificate that names nobody is refused with 401', async () => {
  const c = new CertificateAccessController();
  await assert.rejects(c.authenticate(request(cert({}))), (e: unknown) => e instanceof RegistryError && e.status === 401 && e.code === 'UNAUTHORIZED');
});

test('certified callers may do everything, anonymous ones nothing; no challenge', async () => {
  const c = new CertificateAccessController();
  const granted = await c.authorize({ kind: 'certificate', name: 'alice' }, wanted);
  assert.deepEqual(granted, wanted);
  assert.equal(granted[0], wanted[0], 'the same objects');
  assert.deepEqual(await c.authorize(ANONYMOUS, wanted), []);
  // Another kind of identity (a user from some other controller) is not a certificate.
  assert.deepEqual(await c.authorize({ kind: 'user', name: 'alice' }, wanted), []);
  assert.equal(c.challenge(), null);
  assert.equal(await c.reasksFor(), false);
  assert.equal(c.kind, 'certificate');
  await c.close();
});
