// verifyingStream and the local transports' name parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf } from '../../src/oci/digest.js';
import { verifyingStream, VerificationError } from '../../src/transports/verify.js';
import { parseLocalTransport, LocalSpecError, isValidOciRefName } from '../../src/transports/local.js';
import { readAll } from './lib/helpers.js';

const DATA = Buffer.from('hello, wharf\n'.repeat(1000));
const D = digestOf(DATA);

function chunked(b: Buffer): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < b.length; i += 777) parts.push(b.subarray(i, i + 777));
  return Readable.from(parts);
}

test('verifyingStream passes matching content through unchanged', async () => {
  const v = verifyingStream(D, DATA.length);
  const [out] = await Promise.all([readAll(v), pipeline(chunked(DATA), v)]);
  assert.ok(out.equals(DATA));
  assert.equal(v.bytes, DATA.length);
  const u = verifyingStream(D, -1);
  const [out2] = await Promise.all([readAll(u), pipeline(chunked(DATA), u)]);
  assert.ok(out2.equals(DATA));
});

test('verifyingStream fails on a digest mismatch', async () => {
  const bad = Buffer.from(DATA);
  bad[5] ^= 1;
  const v = verifyingStream(D, DATA.length);
  await assert.rejects(Promise.all([readAll(v), pipeline(chunked(bad), v)]), (e: Error) => {
    assert.ok(e instanceof VerificationError);
    assert.match(e.message, /digest mismatch/);
    assert.ok(e.message.includes(D));
    return true;
  });
});

test('verifyingStream fails on a size mismatch, too long as soon as it is too long', async () => {
  const v = verifyingStream(D, DATA.length - 1);
  await assert.rejects(Promise.all([readAll(v), pipeline(chunked(DATA), v)]), /size mismatch: more than the expected/);
  const w = verifyingStream(D, DATA.length + 1);
  await assert.rejects(Promise.all([readAll(w), pipeline(chunked(DATA), w)]), /size mismatch: expected \d+ bytes, got \d+/);
});

test('verifyingStream supports sha512 and rejects malformed digests', async () => {
  const d512 = digestOf(DATA, 'sha512');
  const v = verifyingStream(d512, DATA.length);
  const [out] = await Promise.all([readAll(v), pipeline(chunked(DATA), v)]);
  assert.ok(out.equals(DATA));
  assert.throws(() => verifyingStream('sha256:1234', 1), /invalid digest/);
  assert.throws(() => verifyingStream('md5:d41d8cd98f00b204e9800998ecf8427e', 1), /invalid digest/);
});

test('parseLocalTransport: oci and oci-archive split at the first colon, as skopeo', () => {
  assert.deepEqual(parseLocalTransport('/tmp/l'), { path: '/tmp/l' });
  assert.deepEqual(parseLocalTransport('/tmp/l:tag'), { path: '/tmp/l', ref: 'tag' });
  assert.deepEqual(parseLocalTransport('/tmp/l:'), { path: '/tmp/l' });
  assert.deepEqual(parseLocalTransport('rel/dir:v1.2-3'), { path: 'rel/dir', ref: 'v1.2-3' });
  assert.deepEqual(parseLocalTransport('/tmp/l:docker.io/library/alpine:3.20'), { path: '/tmp/l', ref: 'docker.io/library/alpine:3.20' });
  assert.deepEqual(parseLocalTransport('/tmp/a.tar:x', 'oci-archive'), { path: '/tmp/a.tar', ref: 'x' });
  assert.throws(() => parseLocalTransport(':tag'), LocalSpecError);
  assert.throws(() => parseLocalTransport('/tmp/l:bad tag'), /invalid reference/);
  assert.throws(() => parseLocalTransport('/tmp/l:-x'), /invalid reference/);
  assert.ok(isValidOciRefName('a--b'));
  assert.ok(!isValidOciRefName('a/'));
});

test('parseLocalTransport: dir takes the whole text as the path', () => {
  assert.deepEqual(parseLocalTransport('/tmp/with:colon', 'dir'), { path: '/tmp/with:colon' });
  assert.throws(() => parseLocalTransport('', 'dir'), LocalSpecError);
});

test('parseLocalTransport: docker-archive normalizes references and takes @N', () => {
  assert.deepEqual(parseLocalTransport('/tmp/a.tar', 'docker-archive'), { path: '/tmp/a.tar' });
  assert.deepEqual(parseLocalTransport('/tmp/a.tar:busybox', 'docker-archive'), { path: '/tmp/a.tar', ref: 'docker.io/library/busybox:latest' });
  assert.deepEqual(parseLocalTransport('/tmp/a.tar:quay.io/x/y:1.0', 'docker-archive'), { path: '/tmp/a.tar', ref: 'quay.io/x/y:1.0' });
  assert.deepEqual(parseLocalTransport('/tmp/a.tar:localhost:5000/app:v2', 'docker-archive'), { path: '/tmp/a.tar', ref: 'localhost:5000/app:v2' });
  assert.deepEqual(parseLocalTransport('/tmp/a.tar:@0', 'docker-archive'), { path: '/tmp/a.tar', index: 0 });
  assert.deepEqual(parseLocalTransport('/tmp/a.tar:@12', 'docker-archive'), { path: '/tmp/a.tar', index: 12 });
  assert.throws(() => parseLocalTransport('/tmp/a.tar:@x', 'docker-archive'), /invalid image index/);
  assert.throws(() => parseLocalTransport('/tmp/a.tar:@01', 'docker-archive'), /invalid image index/);
  assert.throws(() => parseLocalTransport(`/tmp/a.tar:app@sha256:${'a'.repeat(64)}`, 'docker-archive'), /has a digest/);
  assert.throws(() => parseLocalTransport('/tmp/a.tar:UPPER', 'docker-archive'), LocalSpecError);
});
