import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReference, parseReference, ReferenceError, referenceTarget } from '../../src/oci/reference.js';

const dg = `sha256:${'a'.repeat(64)}`;

test('Docker Hub names are normalised as the containers tools do', () => {
  assert.deepEqual(parseReference('alpine'), { registry: 'docker.io', repository: 'library/alpine', tag: undefined, digest: undefined });
  assert.equal(formatReference(parseReference('alpine:3.20')), 'docker.io/library/alpine:3.20');
  assert.equal(formatReference(parseReference('index.docker.io/user/app')), 'docker.io/user/app');
  assert.equal(parseReference('user/app').registry, 'docker.io');
});

test('registries with ports, IPv6 and localhost; tags and digests', () => {
  assert.deepEqual(parseReference(`127.0.0.1:5000/team/app:1.0@${dg}`), { registry: '127.0.0.1:5000', repository: 'team/app', tag: '1.0', digest: dg });
  assert.equal(parseReference('[::1]:5000/app').registry, '[::1]:5000');
  assert.equal(parseReference('localhost/app').registry, 'localhost');
  assert.equal(referenceTarget(parseReference('localhost:5000/app')), 'latest');
  assert.equal(referenceTarget(parseReference(`localhost:5000/app@${dg}`)), dg);
});

test('bad references are refused with a message that says what is wrong', () => {
  assert.throws(() => parseReference('registry.example.com/'), (e: unknown) => e instanceof ReferenceError && /full image name/.test(e.message));
  assert.throws(() => parseReference('registry.example.com'), (e: unknown) => e instanceof ReferenceError && /full image name/.test(e.message));
  for (const bad of ['', 'app:', 'app@sha256:xyz', 'r.io/App', 'r.io/a//b', `r.io/a:${'t'.repeat(200)}`]) {
    assert.throws(() => parseReference(bad), ReferenceError, bad);
  }
});
