// Compression, its one home: recognising gzip/zstd/bzip2/xz by their magic bytes and decompressing
// streams on the fly.
import { PassThrough, pipeline as pipelineCb, type Duplex, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { createGunzip } from 'node:zlib';

export type Compression = 'gzip' | 'zstd' | 'bzip2' | 'xz' | 'none';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** The compression of data starting with `head` (at least 6 bytes unless the data is shorter). */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  return 'none';
}

/** A decompressor for `c`, or an error when this Node.js cannot decompress it. */
export function decompressorFor(c: Compression, what: string): Duplex {
  switch (c) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return createGunzip();
    case 'zstd': {
      const create = (zlib as unknown as Record<string, unknown>).createZstdDecompress;
      if (typeof create === 'function') return (create as () => Duplex)();
      throw new Error(`${what} is zstd-compressed, which this Node.js version cannot decompress`);
    }
    default:
      throw new Error(`${what} is ${c}-compressed, which is not supported`);
  }
}

/**
 * `stream` decompressed according to its first bytes (gzip, and zstd where Node.js supports it), or as
 * is when uncompressed. Errors of `stream` surface on the result. `onDetect` learns the compression.
 */
export function autoDecompress(stream: Readable, what: string, onDetect?: (c: Compression) => void): Readable {
  const out = new PassThrough();
  const head: Buffer[] = [];
  let headLen = 0;
  let decided = false;
  const decide = (ended: boolean) => {
    decided = true;
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.pause();
    const first = Buffer.concat(head);
    const c = detectCompression(first);
    let target: Duplex;
    try {
      target = decompressorFor(c, what);
    } catch (e) {
      stream.destroy();
      out.destroy(e as Error);
      return;
    }
    onDetect?.(c);
    if (ended) {
      target.end(first);
      pipelineCb(target, out, (e) => { if (e) out.destroy(e); });
    } else {
      if (first.length) target.write(first);
      pipelineCb(stream, target, out, (e) => { if (e) out.destroy(e); });
    }
  };
  const onData = (chunk: Buffer) => {
    head.push(chunk);
    headLen += chunk.length;
    if (headLen >= 6) decide(false);
  };
  const onEnd = () => { if (!decided) decide(true); };
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', (e) => { if (!decided) out.destroy(e); });
  return out;
}
