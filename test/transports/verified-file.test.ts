// VerifiedFileWriter (blob files written and checked in one stream), the worker-thread file hasher behind
// it, and storeVerified, which the oci: and dir: destinations use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { digestOf } from '../../src/oci/digest.js';
import { hashFileAsWritten } from '../../src/transports/file-hasher.js';
import { storeVerified } from '../../src/transports/oci-layout.js';
import { VerifiedFileWriter } from '../../src/transports/verified-file-writer.js';
import { VerificationError } from '../../src/transports/verify.js';
import { tempDir } from './lib/helpers.js';

const MiB = 1 << 20;

/** Incompressible bytes, fast: an AES-CTR keystream. */
function randomData(size: number): Buffer {
  return createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16)).update(Buffer.alloc(size));
}

/** `b` in pieces of varying size, the way a socket delivers it. */
function pieces(b: Buffer, extra?: Error): Readable {
  const sizes = [1, 777, 65536, 12345, 300000, 65536 * 3];
  async function* gen(): AsyncGenerator<Buffer> {
    let i = 0;
    for (let off = 0; off < b.length; i++) {
      const n = sizes[i % sizes.length]!;
      yield b.subarray(off, off + n);
      off += n;
    }
    if (extra) throw extra;
  }
  return Readable.from(gen());
}

const small = randomData(100_000); // hashed on the calling thread
const large = randomData(9 * MiB + 123); // hashed by a worker following the file

for (const [label, data] of [['small', small], ['large', large]] as const) {
  test(`VerifiedFileWriter stores ${label} content exactly and reports its size`, async () => {
    const dir = tempDir();
    for (const algorithm of ['sha256', 'sha512'] as const) {
      const path = join(dir, `blob-${algorithm}`);
      const w = new VerifiedFileWriter(path, digestOf(data, algorithm), data.length, 'blob');
      await pipeline(pieces(data), w);
      assert.equal(w.bytes, data.length);
      assert.ok(readFileSync(path).equals(data));
    }
    const unknown = join(dir, 'unknown-size');
    await pipeline(pieces(data), new VerifiedFileWriter(unknown, digestOf(data), -1, 'blob'));
    assert.ok(readFileSync(unknown).equals(data));
  });

  test(`VerifiedFileWriter fails on a ${label} digest mismatch, naming both digests`, async () => {
    const dir = tempDir();
    const bad = Buffer.from(data);
    bad[bad.length >> 1]! ^= 1;
    const d = digestOf(data);
    await assert.rejects(pipeline(pieces(bad), new VerifiedFileWriter(join(dir, 'b'), d, data.length, 'layer in test')), (e: Error) => {
      assert.ok(e instanceof VerificationError, String(e));
      assert.match(e.message, /^layer in test sha256:[0-9a-f]{64}: digest mismatch: content hashes to sha256:[0-9a-f]{64}$/);
      assert.ok(e.message.includes(d) && e.message.includes(digestOf(bad)));
      return true;
    });
  });
}

test('VerifiedFileWriter fails as soon as content is longer than declared, and when it is shorter', async () => {
  const dir = tempDir();
  let pulled = 0;
  // An endless source: the writer must stop it, not wait for an end.
  const endless = new Readable({
    read() {
      pulled += 65536;
      this.push(Buffer.alloc(65536));
    },
  });
  await assert.rejects(pipeline(endless, new VerifiedFileWriter(join(dir, 'long'), digestOf(large), large.length, 'blob')), /size mismatch: more than the expected \d+ bytes/);
  assert.ok(pulled < large.length + 4 * MiB, `read ${pulled} bytes`);
  await assert.rejects(
    pipeline(pieces(large.subarray(0, large.length - 1)), new VerifiedFileWriter(join(dir, 'short'), digestOf(large), large.length, 'blob')),
    new RegExp(`size mismatch: expected ${large.length} bytes, got ${large.length - 1}$`),
  );
});

test('VerifiedFileWriter never overwrites an existing file', async () => {
  const dir = tempDir();
  const path = join(dir, 'taken');
  writeFileSync(path, 'keep me');
  await assert.rejects(pipeline(pieces(small), new VerifiedFileWriter(path, digestOf(small), small.length, 'blob')), { code: 'EEXIST' });
  assert.equal(readFileSync(path, 'utf8'), 'keep me');
});

test('storeVerified: verified content lands under its name; any failure leaves neither it nor a temp file', async () => {
  const dir = tempDir();
  const ok = join(dir, 'ok');
  assert.equal(await storeVerified(pieces(large), digestOf(large), large.length, ok, dir), large.length);
  assert.ok(readFileSync(ok).equals(large));

  const bad = Buffer.from(large);
  bad[0]! ^= 0xff;
  await assert.rejects(storeVerified(pieces(bad), digestOf(large), large.length, join(dir, 'bad'), dir), VerificationError);
  await assert.rejects(storeVerified(pieces(large, new Error('connection reset')), digestOf(large), -1, join(dir, 'cut'), dir), /connection reset/);
  assert.deepEqual(readdirSync(dir).sort(), ['ok']);
});

test('storeVerified: many large blobs at once, each verified on its own', async () => {
  const dir = tempDir();
  const blobs = Array.from({ length: 6 }, (_, i) => randomData(5 * MiB + i * 4099));
  await Promise.all(blobs.map((b, i) => storeVerified(pieces(b), digestOf(b), b.length, join(dir, `b${i}`), dir)));
  blobs.forEach((b, i) => assert.ok(readFileSync(join(dir, `b${i}`)).equals(b)));
  // One bad blob among good ones fails alone.
  const good = randomData(5 * MiB);
  const results = await Promise.allSettled([
    storeVerified(pieces(good), digestOf(good), good.length, join(dir, 'good'), dir),
    storeVerified(pieces(good), digestOf(large), good.length, join(dir, 'wrong'), dir),
  ]);
  assert.equal(results[0].status, 'fulfilled');
  assert.equal(results[1].status, 'rejected');
  assert.ok(existsSync(join(dir, 'good')) && !existsSync(join(dir, 'wrong')));
});

test('hashFileAsWritten reports a file that is shorter than what was written to it', async () => {
  const dir = tempDir();
  const path = join(dir, 'f');
  writeFileSync(path, large.subarray(0, 5 * MiB));
  const h = hashFileAsWritten(path, 'sha256', large.length);
  h.wrote([], 5 * MiB);
  await assert.rejects(h.finish(6 * MiB), /hashing failed: the file is shorter than what was written to it/);
  // A complete file hashes to its digest.
  writeFileSync(path, large);
  const ok = hashFileAsWritten(path, 'sha256', large.length);
  ok.wrote([], large.length);
  assert.equal(`sha256:${await ok.finish(large.length)}`, digestOf(large));
});

test('the hash workers never keep a finished process alive', async () => {
  const dir = tempDir();
  const path = join(dir, 'f');
  writeFileSync(path, large);
  const hasher = fileURLToPath(new URL('../../src/transports/file-hasher.js', import.meta.url));
  // Hash once, abandon a second job half-way, and fall off the end of the script.
  const script = `
    import { hashFileAsWritten } from ${JSON.stringify(hasher)};
    const h = hashFileAsWritten(${JSON.stringify(path)}, 'sha256', ${large.length});
    h.wrote([], ${large.length});
    console.log(await h.finish(${large.length}));
    const g = hashFileAsWritten(${JSON.stringify(path)}, 'sha256', ${large.length});
    g.wrote([], ${MiB});
    g.abort();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  assert.equal(code, 0, 'the process did not exit by itself');
  assert.equal(`sha256:${out.trim()}`, digestOf(large));
});
