// Digest and size verification of blob streams read from (or written to) local transports.
import { Transform, type TransformCallback } from 'node:stream';
import { parseDigest, newHasher, type Algorithm } from '../oci/digest.js';
import { WharfError } from '../oci/errors.js';

export class VerificationError extends WharfError {
  constructor(message: string, readonly expectedDigest: string) {
    super(message);
    this.name = 'VerificationError';
  }
}

/**
 * What a blob must be: `size` bytes (unless -1) hashing to `digest`. The checks of verifyingStream and
 * VerifiedFileWriter, so both fail the same way with the same words. `what` names the content in
 * error messages (e.g. "blob in oci:/tmp/l").
 */
export class ExpectedBlob {
  readonly algorithm: Algorithm;
  private readonly hex: string;

  constructor(readonly digest: string, readonly size: number, readonly what: string) {
    const d = parseDigest(digest);
    this.algorithm = d.algorithm;
    this.hex = d.hex;
  }

  /** Fails as soon as more than `size` bytes have arrived. */
  checkNotLonger(total: number): VerificationError | undefined {
    return this.size >= 0 && total > this.size ? this.error(`size mismatch: more than the expected ${this.size} bytes`) : undefined;
  }

  /** Fails when the complete content has another size. */
  checkSize(total: number): VerificationError | undefined {
    return this.size >= 0 && total !== this.size ? this.error(`size mismatch: expected ${this.size} bytes, got ${total}`) : undefined;
  }

  /** Fails when the content hashes to `hex` instead. */
  checkDigest(hex: string): VerificationError | undefined {
    return hex !== this.hex ? this.error(`digest mismatch: content hashes to ${this.algorithm}:${hex}`) : undefined;
  }

  private error(detail: string): VerificationError {
    return new VerificationError(`${this.what} ${this.digest}: ${detail}`, this.digest);
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
  const expected = new ExpectedBlob(expectedDigest, expectedSize, what);
  const hasher = newHasher(expected.algorithm);
  let bytes = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      bytes += chunk.length;
      const tooLong = expected.checkNotLonger(bytes);
      if (tooLong) return cb(tooLong);
      hasher.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      cb(expected.checkSize(bytes) ?? expected.checkDigest(hasher.digest('hex')));
    },
  });
  Object.defineProperty(t, 'bytes', { get: () => bytes, enumerable: true });
  return t as VerifyingStream;
}
