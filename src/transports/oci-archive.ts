// oci-archive:FILE[:REF] — a tar of an OCI image layout.
//
// Reading extracts the archive (streamed; gzip-compressed archives are accepted) into a private temp
// directory under os.tmpdir() ($TMPDIR) and reads it as an `oci:` layout; close() removes it.
// Writing builds a layout in a temp directory; commit() streams a tar of it to a temp file next to FILE
// and renames it over FILE, so FILE is either the old archive or the complete new one. As with skopeo,
// the new archive holds only the image written (an existing FILE is replaced, not extended).
//
// This module also exports the tar helpers docker-archive uses.
import { mkdtemp, readdir, rename, rm, stat, mkdir } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, posix } from 'node:path';
import { PassThrough, pipeline as pipelineCb, type Duplex, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { parseLocalTransport } from './local.js';
import { OciLayout, fsyncDir, tempPath, type Mode } from './oci-layout.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes } from './types.js';

// ---------------------------------------------------------------------------------------------
// Tar helpers
// ---------------------------------------------------------------------------------------------

/** Something to put in a tar: a directory, a file on disk (streamed), small in-memory data, or a symlink. */
export type TarItem =
  | { name: string; type: 'directory' }
  | { name: string; type: 'file'; path: string; size: number }
  | { name: string; type: 'data'; data: Buffer }
  | { name: string; type: 'symlink'; target: string };

/** A fixed mtime, so the same content always makes the same archive. */
const TAR_MTIME = new Date(0);

async function addTarItem(pack: tar.Pack, item: TarItem): Promise<void> {
  const base = { name: item.name, mtime: TAR_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  switch (item.type) {
    case 'directory':
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: 'directory', mode: 0o755 }, (e) => (e ? rej(e) : res())));
      return;
    case 'symlink':
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: 'symlink', linkname: item.target, mode: 0o777 }, (e) => (e ? rej(e) : res())));
      return;
    case 'data':
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: 'file', mode: 0o644, size: item.data.length }, item.data, (e) => (e ? rej(e) : res())));
      return;
    case 'file': {
      const entry = pack.entry({ ...base, type: 'file', mode: 0o644, size: item.size });
      await pipeline(createReadStream(item.path), entry);
      return;
    }
  }
}

/**
 * Streams a tar of `items` (in order) to a temp file next to `dest`, fsyncs it and renames it to `dest`.
 * On failure the temp file is removed and `dest` is untouched.
 */
export async function writeTarAtomic(dest: string, items: Iterable<TarItem> | AsyncIterable<TarItem>): Promise<void> {
  const dir = dirname(resolve(dest));
  await mkdir(dir, { recursive: true });
  const tmp = tempPath(dir);
  const pack = tar.pack();
  // flush: fsync before close; the pipeline ends once the file is closed.
  const out = pipeline(pack, createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true }));
  out.catch(() => { /* awaited below */ });
  try {
    for await (const item of items) await addTarItem(pack, item);
    pack.finalize();
    await out;
    await rename(tmp, dest);
    await fsyncDir(dir);
  } catch (e) {
    pack.destroy(e as Error);
    await out.catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  }
}

/** A tar member name made safe: no leading './' or '/', no '..' components; null for the archive root. */
export function safeTarPath(name: string): string | null {
  const norm = posix.normalize(name.replace(/^(\.\/)+/, ''));
  const clean = norm.replace(/\/+$/, '');
  if (clean === '.' || clean === '') return null;
  if (clean.startsWith('/') || clean === '..' || clean.startsWith('../')) throw new Error(`unsafe path in archive: ${JSON.stringify(name)}`);
  return clean;
}

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

/**
 * Extracts regular files and directories of the (possibly gzip'd) tar at `file` into `dir`, streaming.
 * Links and special files are skipped (an OCI layout has none); unsafe paths are an error.
 */
export async function extractTar(file: string, dir: string): Promise<void> {
  const ex = tar.extract();
  const feeding = pipeline(autoDecompress(createReadStream(file), `archive ${file}`), ex);
  feeding.catch(() => { /* awaited below */ });
  try {
    for await (const entry of ex) {
      const rel = safeTarPath(entry.header.name);
      const type = entry.header.type ?? 'file';
      if (rel !== null && type === 'directory') {
        await mkdir(join(dir, rel), { recursive: true });
        entry.resume();
      } else if (rel !== null && (type === 'file' || type === 'contiguous-file')) {
        const target = join(dir, rel);
        await mkdir(dirname(target), { recursive: true });
        await pipeline(entry, createWriteStream(target, { flags: 'w', mode: 0o644 }));
      } else {
        entry.resume();
      }
    }
    await feeding;
  } catch (e) {
    ex.destroy(e as Error);
    await feeding.catch(() => undefined);
    throw new Error(`reading archive ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The items of an OCI layout directory for a tar: oci-layout, index.json, then blobs (sorted). */
async function* layoutItems(dir: string): AsyncGenerator<TarItem> {
  for (const name of ['oci-layout', 'index.json']) {
    const path = join(dir, name);
    yield { name, type: 'file', path, size: (await stat(path)).size };
  }
  yield { name: 'blobs/', type: 'directory' };
  for (const alg of (await readdir(join(dir, 'blobs'))).sort()) {
    if (alg.startsWith('.')) continue;
    yield { name: `blobs/${alg}/`, type: 'directory' };
    for (const hex of (await readdir(join(dir, 'blobs', alg))).sort()) {
      if (hex.startsWith('.')) continue;
      const path = join(dir, 'blobs', alg, hex);
      const st = await stat(path);
      if (st.isFile()) yield { name: `blobs/${alg}/${hex}`, type: 'file', path, size: st.size };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The transport
// ---------------------------------------------------------------------------------------------

/** An image in an OCI archive, open for reading or writing (the other mode's methods throw). */
export class OciArchive implements ImageSource, ImageDestination {
  /** Every blob read or written here is checked against its digest. */
  readonly verifiesBlobs = true;
  readonly file: string;

  private constructor(
    file: string,
    readonly name: string,
    readonly mode: Mode,
    private readonly workDir: string,
    private readonly layout: OciLayout,
  ) {
    this.file = resolve(file);
  }

  static async open(file: string, ref: string | undefined, opts: { mode: Mode; name?: string; tmpDir?: string }): Promise<OciArchive> {
    const name = opts.name ?? `oci-archive:${file}${ref !== undefined ? `:${ref}` : ''}`;
    const workDir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'wharf-oci-archive-'));
    try {
      if (opts.mode === 'read') {
        const st = await stat(file);
        if (!st.isFile()) throw new Error(`${name}: ${file} is not a file`);
        await extractTar(file, workDir);
      }
      const layout = await OciLayout.open(workDir, ref, { mode: opts.mode, name });
      return new OciArchive(file, name, opts.mode, workDir, layout);
    } catch (e) {
      await rm(workDir, { recursive: true, force: true });
      throw e;
    }
  }

  getManifest(instanceDigest?: string): Promise<ManifestBytes> {
    return this.layout.getManifest(instanceDigest);
  }

  getBlob(blob: BlobInfo): Promise<Readable> {
    return this.layout.getBlob(blob);
  }

  supportsManifestType(mediaType: string): boolean {
    return this.layout.supportsManifestType(mediaType);
  }

  hasBlob(blob: BlobInfo): Promise<boolean> {
    return this.layout.hasBlob(blob);
  }

  putBlob(blob: BlobInfo, body: Readable): Promise<void> {
    return this.layout.putBlob(blob, body);
  }

  putManifest(manifest: ManifestBytes, instanceDigest?: string): Promise<void> {
    return this.layout.putManifest(manifest, instanceDigest);
  }

  /** Completes the layout, then writes the archive (temp file + rename). */
  async commit(): Promise<void> {
    await this.layout.commit();
    await writeTarAtomic(this.file, layoutItems(this.workDir));
  }

  /** Removes the temp directory; without commit() the archive file is untouched. */
  async close(): Promise<void> {
    await this.layout.close();
    await rm(this.workDir, { recursive: true, force: true });
  }
}

/** `oci-archive:` source; `spec` is the text after the prefix, e.g. `/tmp/a.tar:tag`. */
export async function openOciArchiveSource(spec: string): Promise<ImageSource> {
  const { path, ref } = parseLocalTransport(spec, 'oci-archive');
  return OciArchive.open(path, ref, { mode: 'read', name: `oci-archive:${spec}` });
}

/** `oci-archive:` destination; `spec` is the text after the prefix, e.g. `/tmp/a.tar:tag`. */
export async function openOciArchiveDestination(spec: string): Promise<ImageDestination> {
  const { path, ref } = parseLocalTransport(spec, 'oci-archive');
  return OciArchive.open(path, ref, { mode: 'write', name: `oci-archive:${spec}` });
}
