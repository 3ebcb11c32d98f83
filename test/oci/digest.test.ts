import { test } from 'node:test';
import assert from 'node:assert/strict';
import { digestOf, isDigest, parseDigest, tryParseDigest } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';

const hello = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';

test('digestOf computes sha256 and sha512', () => {
  assert.equal(digestOf('hello'), hello);
  assert.match(digestOf('hello', 'sha512'), /^sha512:[a-f0-9]{128}$/);
});

test('parseDigest accepts well-formed sha256 and sha512', () => {
  assert.deepEqual(parseDigest(hello), { algorithm: 'sha256', hex: hello.slice(7), value: hello });
  assert.ok(isDigest(digestOf('x', 'sha512')));
});

test('malformed or unsupported digests are DIGEST_INVALID', () => {
  for (const bad of ['', 'sha256', 'sha256:', 'sha256:abc', `sha256:${'A'.repeat(64)}`, `md5:${'a'.repeat(32)}`, `sha256:${'a'.repeat(63)}g`, `${hello}x`, '../../etc/passwd']) {
    assert.equal(tryParseDigest(bad), null, bad);
    assert.throws(() => parseDigest(bad), (e: unknown) => e instanceof RegistryError && e.code === 'DIGEST_INVALID' && e.status === 400);
  }
});
