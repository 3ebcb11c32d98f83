// Digest and size verification of blob streams read from (or written to) local transports.
import { Transform, type TransformCallback } from 'node:stream';
import { parseDigest, newHasher } from '../oci/digest.js';

export class VerificationError extends Error {
  constructor(message: string, readonly expectedDigest: string) {
    super(message);
    this.name = 'VerificationError';
  }
}

export interface VerifyingStream extends Transform {
  /** Bytes seen so far. */
  readonly bytes: number;
}

/**
 * A pass-through stream that hashes what flows through it and fails (emits an error instead of
 * ending) when the content does not match `expectedDigest`, or `expectedSize` when it is not -1.
 * A stream longer than `expectedSize` fails as soon as the excess arrives; the digest is checked
 * when the input ends, so a consumer only sees a clean end for verified content.
 * `what` names the content in error messages (e.g. "blob in oci:/tmp/l").
 */
export function verifyingStream(expectedDigest: string, expectedSize: number, what = 'blob'): VerifyingStream {
  const d = parseDigest(expectedDigest);
  const hasher = newHasher(d.algorithm);
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      bytes += chunk.length;
      if (expectedSize >= 0 && bytes > expectedSize) {
        cb(new VerificationError(`${what} ${expectedDigest}: size mismatch: more than the expected ${expectedSize} bytes`, expectedDigest));
        return;
      }
      hasher.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (expectedSize >= 0 && bytes !== expectedSize) {
        cb(new VerificationError(`${what} ${expectedDigest}: size mismatch: expected ${expectedSize} bytes, got ${bytes}`, expectedDigest));
        return;
      }
      const actual = `${d.algorithm}:${hasher.digest('hex')}`;
      if (actual !== d.value) {
        cb(new VerificationError(`${what} ${expectedDigest}: digest mismatch: content hashes to ${actual}`, expectedDigest));
        return;
      }
      cb();
    },
  });
  Object.defineProperty(t, 'bytes', { get: () => bytes, enumerable: true });
  return t as VerifyingStream;
}
