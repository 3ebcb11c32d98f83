// Generates benchmark images as OCI image layouts on disk, streaming: nothing of layer size is ever held in memory.
// Layers are uncompressed tars (application/vnd.oci.image.layer.v1.tar) holding one file of pseudo-random
// (incompressible) bytes, so that the layer digest equals its diff_id and no tool needs to (de)compress anything.
import { createCipheriv, createHash, randomBytes, type Hash } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { MiB } from './util.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Accept header a real client would send for manifests. */
export const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(', ');

const CHUNK = 4 * MiB;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface BlobFile extends Descriptor {
  path: string;
}

export interface OciImage {
  /** The OCI layout directory. */
  dir: string;
  /** The tag recorded in index.json (org.opencontainers.image.ref.name). */
  tag: string;
  manifest: Descriptor;
  manifestJson: string;
  config: Descriptor;
  layers: Descriptor[];
  totalBytes: number;
}

/** An endless, fast, incompressible byte source: AES-256-CTR keystream under a fresh random key. */
class RandomSource {
  private readonly cipher = createCipheriv('aes-256-ctr', randomBytes(32), randomBytes(16));
  private readonly zeros = Buffer.alloc(CHUNK);

  next(len: number): Buffer {
    return this.cipher.update(len === CHUNK ? this.zeros : this.zeros.subarray(0, len));
  }
}

async function writeAll(fh: FileHandle, hash: Hash, buf: Buffer): Promise<void> {
  hash.update(buf);
  let off = 0;
  for (let i = 0; off < buf.length && i < 1_000_000; i++) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
  if (off !== buf.length) throw new Error('short write');
}

/** Writes `size` random bytes to `fh`, feeding them into `hash`. */
async function writeRandom(fh: FileHandle, hash: Hash, size: number): Promise<void> {
  const src = new RandomSource();
  const chunks = Math.ceil(size / CHUNK);
  for (let i = 0; i < chunks; i++) {
    await writeAll(fh, hash, src.next(Math.min(CHUNK, size - i * CHUNK)));
  }
}

function octal(n: number, width: number): string {
  // width includes the trailing NUL.
  const s = n.toString(8);
  if (s.length > width - 1) throw new Error(`tar field overflow: ${n}`);
  return s.padStart(width - 1, '0') + '\0';
}

/** A POSIX ustar header for a regular file. Sizes up to 8 GiB - 1 fit the 11-digit octal field. */
function tarHeader(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(0o644, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum placeholder: 8 spaces
  h.write('0', 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** Streams random bytes of the given size into `path`; returns its sha256 digest. */
export async function writeRandomBlob(path: string, size: number): Promise<BlobFile> {
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  try {
    await writeRandom(fh, hash, size);
  } finally {
    await fh.close();
  }
  return { path, size, digest: `sha256:${hash.digest('hex')}`, mediaType: 'application/octet-stream' };
}

/** Streams an uncompressed tar with one random file of `fileSize` bytes into `path`. */
async function writeRandomTar(path: string, fileName: string, fileSize: number): Promise<Descriptor> {
  const hash = createHash('sha256');
  const fh = await open(path, 'w');
  let size: number;
  try {
    const header = tarHeader(fileName, fileSize, Math.floor(Date.now() / 1000));
    await writeAll(fh, hash, header);
    await writeRandom(fh, hash, fileSize);
    const pad = (512 - (fileSize % 512)) % 512;
    const trailer = Buffer.alloc(pad + 1024); // padding + two zero blocks
    await writeAll(fh, hash, trailer);
    size = header.length + fileSize + trailer.length;
  } finally {
    await fh.close();
  }
  return { mediaType: OCI_LAYER_TAR, digest: `sha256:${hash.digest('hex')}`, size };
}

function blobPath(dir: string, digest: string): string {
  return join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

function writeJsonBlob(dir: string, mediaType: string, json: string): Descriptor {
  const buf = Buffer.from(json);
  const digest = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
  writeFileSync(blobPath(dir, digest), buf);
  return { mediaType, digest, size: buf.length };
}

/**
 * Writes an OCI layout at `dir` holding one image tagged `tag` whose layers are random tars of the
 * given sizes (bytes of file content; each tar is 1.5 KiB larger).
 */
export async function generateImage(dir: string, tag: string, layerSizes: number[]): Promise<OciImage> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const layers: Descriptor[] = [];
  for (const [i, fileSize] of layerSizes.entries()) {
    const tmp = join(dir, 'blobs', 'sha256', `.layer-${i}.tmp`);
    const desc = await writeRandomTar(tmp, `data-${i}.bin`, fileSize);
    renameSync(tmp, blobPath(dir, desc.digest));
    layers.push(desc);
  }
  const configJson = JSON.stringify({
    created: new Date().toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    history: layers.map((_, i) => ({ created_by: `wharf-bench layer ${i}` })),
  });
  const config = writeJsonBlob(dir, OCI_CONFIG, configJson);
  const manifestJson = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers });
  const manifest = writeJsonBlob(dir, OCI_MANIFEST, manifestJson);
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  const totalBytes = config.size + manifest.size + layers.reduce((a, l) => a + l.size, 0);
  return { dir, tag, manifest, manifestJson, config, layers, totalBytes };
}
