// oci:PATH[:REF] — an OCI image layout directory: `oci-layout`, `index.json`, `blobs/<alg>/<hex>`.
//
// Several images share one layout; index.json has one descriptor per image, named by its
// `org.opencontainers.image.ref.name` annotation. Reading without REF requires exactly one image.
// Writing adds (or replaces, in place) the entry for REF and keeps the others; without REF it appends an
// unnamed entry, as skopeo does.
//
// Crash safety of writes: every blob (layers, configs, child manifests and the top-level manifest) is
// streamed to a temp file inside the layout, hashed on the way, verified, fsync'd and renamed into
// place; index.json is replaced last, by temp file + rename. An interrupted copy therefore leaves the old
// index.json valid (possibly with unreferenced blobs next to it, which are harmless and never deleted:
// another image may share them). Two concurrent writers to one layout are not serialized: index.json is
// re-read at commit to narrow the window, but the last commit wins.
//
// This module also exports the small read helpers the other local transports share.
import { mkdir, open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { RegistryError, WharfError } from '../oci/errors.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { MediaTypes } from '../oci/media-types.js';
import type { Descriptor } from '../oci/manifest.js';
import { sniffMediaType } from './docker.js';
import { parseLocalTransport } from './local.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes } from './types.js';
import { VerificationError, verifyingStream } from './verify.js';
import { VerifiedFileWriter } from './verified-file-writer.js';
import { fsyncDir, replaceFileAtomically, writeFileAtomic } from '../files/atomic-file.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
export const OCI_LAYOUT_VERSION = '1.0.0';
/** Manifests and configs are read into memory; anything larger than this is refused (as containers/image does). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;
/** Blob reads and writes in 1 MiB pieces: far fewer system calls than the 16/64 KiB defaults. */
const IO_CHUNK = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Shared file helpers
// ---------------------------------------------------------------------------------------------

/**
 * Streams `body` (with backpressure) to `path` atomically, verifying on the way that it hashes to
 * `digest` and, unless `size` is -1, has `size` bytes: temp file in `tmpDir`, fsync, rename. On any
 * failure the temp file is removed and `path` is untouched. Returns the number of bytes stored.
 */
export async function storeVerified(body: Readable, digest: string, size: number, path: string, tmpDir: string, what = 'blob'): Promise<number> {
  let bytes = 0;
  try {
    // The pipeline ends once the file is verified, fsync'd and closed; the caller fsyncs the directories.
    await replaceFileAtomically(path, async (tmp) => {
      const file = new VerifiedFileWriter(tmp, digest, size, what);
      await pipelineAsync(body, file);
      bytes = file.bytes;
    }, { tmpDir, fsync: false });
    return bytes;
  } catch (e) {
    body.destroy();
    throw e;
  }
}

function isNotFound(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/** Opens a file for reading; a missing file becomes BLOB_UNKNOWN (or MANIFEST_UNKNOWN) naming `what`. */
async function openExisting(path: string, what: string, code: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' = 'BLOB_UNKNOWN'): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (e) {
    if (isNotFound(e)) throw new RegistryError(code, `${what} not found: ${path} does not exist`);
    throw e;
  }
}

/**
 * A stream of the file at `path` that fails unless the content hashes to `digest` (and has `size`
 * bytes, unless -1). A size visible in the file system that differs fails before any byte is read.
 */
export async function openVerified(path: string, digest: string, size: number, what: string): Promise<Readable> {
  parseDigest(digest);
  const fh = await openExisting(path, `${what} ${digest}`);
  let actual: number;
  try {
    actual = (await fh.stat()).size;
    if (size >= 0 && actual !== size) {
      throw new VerificationError(`${what} ${digest}: size mismatch: expected ${size} bytes, ${path} has ${actual}`, digest);
    }
  } catch (e) {
    await fh.close();
    throw e;
  }
  const v = verifyingStream(digest, size >= 0 ? size : actual, what);
  // Errors of either side surface on `v`; destroying `v` closes the file.
  pipeline(fh.createReadStream({ highWaterMark: IO_CHUNK }), v, () => { /* reported through v */ });
  return v;
}

/** Reads a small file (a manifest or config) and verifies its digest and size (unless -1). */
export async function readVerified(path: string, digest: string, size: number, what: string, code: 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' = 'BLOB_UNKNOWN'): Promise<Buffer> {
  const d = parseDigest(digest);
  const fh = await openExisting(path, `${what} ${digest}`, code);
  let bytes: Buffer;
  try {
    const actual = (await fh.stat()).size;
    if (size >= 0 && actual !== size) throw new VerificationError(`${what} ${digest}: size mismatch: expected ${size} bytes, ${path} has ${actual}`, digest);
    if (actual > MAX_MANIFEST_SIZE) throw new Error(`${what} ${digest}: ${path} is too large (${actual} bytes, limit ${MAX_MANIFEST_SIZE})`);
    bytes = await fh.readFile();
  } finally {
    await fh.close();
  }
  const got = digestOf(bytes, d.algorithm);
  if (got !== d.value) throw new VerificationError(`${what} ${digest}: digest mismatch: ${path} hashes to ${got}`, digest);
  return bytes;
}

/** The media type of manifest bytes: the body's `mediaType`, else `fallback`, else guessed from its shape. */
export function manifestMediaType(bytes: Buffer, fallback?: string): string {
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof doc.mediaType === 'string' && doc.mediaType !== '') return doc.mediaType;
  } catch {
    /* not JSON: fall through */
  }
  return fallback ?? sniffMediaType(bytes);
}

/** Whether a path exists (any type). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// The layout
// ---------------------------------------------------------------------------------------------

export interface OciIndexFile {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  [extra: string]: unknown;
}

export type Mode = 'read' | 'write';

export interface OciLayoutOptions {
  mode: Mode;
  /** The full transport string for messages; default `oci:PATH[:REF]`. */
  name?: string;
}

export class OciLayoutError extends WharfError {
  constructor(message: string) {
    super(message);
    this.name = 'OciLayoutError';
  }
}

/** Parses index.json content, checking its shape (descriptors are validated as manifests' are). */
function parseIndexFile(bytes: Buffer, where: string): OciIndexFile {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new OciLayoutError(`${where}: index.json is not valid JSON`);
  }
  const d = doc as Partial<OciIndexFile> | null;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new OciLayoutError(`${where}: index.json must be a JSON object`);
  if (d.schemaVersion !== 2) throw new OciLayoutError(`${where}: index.json schemaVersion must be 2`);
  if (d.manifests === undefined || d.manifests === null) d.manifests = [];
  if (!Array.isArray(d.manifests)) throw new OciLayoutError(`${where}: index.json manifests must be an array`);
  for (const [i, m] of d.manifests.entries()) {
    if (typeof m !== 'object' || m === null || typeof m.mediaType !== 'string' || typeof m.digest !== 'string' || typeof m.size !== 'number') {
      throw new OciLayoutError(`${where}: index.json manifests[${i}] is not a descriptor`);
    }
    parseDigest(m.digest);
  }
  return d as OciIndexFile;
}

function refName(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}

/** Manifest types an OCI layout takes (as skopeo: Docker manifests are converted to OCI by the copier). */
const LAYOUT_MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaTypes.ociManifest, MediaTypes.ociIndex]);

/**
 * One image (REF) in an OCI image layout, open for reading or for writing. Both interfaces are
 * implemented; the methods of the other mode throw.
 */
export class OciLayout implements ImageSource, ImageDestination {
  /** Every blob read or written here is checked against its digest. */
  readonly verifiesBlobs = true;
  readonly name: string;
  readonly path: string;
  /** The top-level descriptor of the image being read (read mode). */
  private top?: Descriptor;
  /** The top-level index's children, for media types and sizes of child manifests (read mode). */
  private children = new Map<string, Descriptor>();
  /** The top-level manifest written by putManifest (write mode). */
  private pendingTop?: Descriptor;
  private committed = false;
  private closed = false;

  private constructor(path: string, readonly ref: string | undefined, readonly mode: Mode, name: string) {
    this.path = resolve(path);
    this.name = name;
  }

  /** Opens REF (or the only image when REF is undefined) of the layout at `path`. */
  static async open(path: string, ref: string | undefined, opts: OciLayoutOptions): Promise<OciLayout> {
    const layout = new OciLayout(path, ref, opts.mode, opts.name ?? `oci:${path}${ref !== undefined ? `:${ref}` : ''}`);
    if (opts.mode === 'read') await layout.initRead();
    else await layout.initWrite();
    return layout;
  }

  /** index.json of the layout at `path` (throws when it is not a layout). */
  static async readIndex(path: string): Promise<OciIndexFile> {
    const where = resolve(path);
    let bytes: Buffer;
    try {
      bytes = await readFile(join(where, 'index.json'));
    } catch (e) {
      if (isNotFound(e)) throw new OciLayoutError(`${where} is not an OCI image layout: index.json not found`);
      throw e;
    }
    return parseIndexFile(bytes, where);
  }

  /** The path of a blob in this layout. */
  blobPath(digest: string | Digest): string {
    const d = typeof digest === 'string' ? parseDigest(digest) : digest;
    return join(this.path, 'blobs', d.algorithm, d.hex);
  }

  private async checkLayoutFile(): Promise<boolean> {
    let text: string;
    try {
      text = await readFile(join(this.path, 'oci-layout'), 'utf8');
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    let version: unknown;
    try {
      version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      throw new OciLayoutError(`${this.path}: oci-layout is not valid JSON`);
    }
    if (version !== OCI_LAYOUT_VERSION) throw new OciLayoutError(`${this.path}: unsupported image layout version ${JSON.stringify(version)} (expected ${OCI_LAYOUT_VERSION})`);
    return true;
  }

  private async initRead(): Promise<void> {
    const index = await OciLayout.readIndex(this.path);
    await this.checkLayoutFile();
    let top: Descriptor | undefined;
    if (this.ref !== undefined) {
      top = index.manifests.find((m) => refName(m) === this.ref);
      if (!top) {
        const names = index.manifests.map(refName).filter((n) => n !== undefined);
        throw new RegistryError('MANIFEST_UNKNOWN', `${this.name}: no image named "${this.ref}" in ${this.path}/index.json${names.length ? ` (it has: ${names.join(', ')})` : ''}`);
      }
    } else {
      if (index.manifests.length !== 1) {
        throw new OciLayoutError(`${this.name}: ${index.manifests.length === 0 ? 'the layout holds no image' : `the layout holds ${index.manifests.length} images; name one (oci:PATH:REF)`}`);
      }
      top = index.manifests[0]!;
    }
    this.top = top;
  }

  private async initWrite(): Promise<void> {
    try {
      const st = await stat(this.path);
      if (!st.isDirectory()) throw new OciLayoutError(`${this.name}: ${this.path} exists and is not a directory`);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    await mkdir(join(this.path, 'blobs'), { recursive: true });
    // Fail now, not after copying gigabytes, when the directory holds something else.
    await this.checkLayoutFile();
    if (await exists(join(this.path, 'index.json'))) await OciLayout.readIndex(this.path);
  }

  private need(mode: Mode): void {
    if (this.closed) throw new Error(`${this.name}: already closed`);
    if (this.mode !== mode) throw new Error(`${this.name}: opened for ${this.mode === 'read' ? 'reading' : 'writing'}, cannot ${mode === 'read' ? 'read' : 'write'}`);
  }

  // --- ImageSource -------------------------------------------------------------------------------

  /** The descriptor of the image being read (from index.json). */
  get descriptor(): Descriptor {
    this.need('read');
    return this.top!;
  }

  async getManifest(instanceDigest?: string): Promise<ManifestBytes> {
    this.need('read');
    if (instanceDigest === undefined || instanceDigest === this.top!.digest) {
      const top = this.top!;
      const bytes = await readVerified(this.blobPath(top.digest), top.digest, top.size, `${this.name}: manifest`, 'MANIFEST_UNKNOWN');
      const mediaType = manifestMediaType(bytes, top.mediaType);
      if (mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList) this.rememberChildren(bytes);
      return { bytes, mediaType };
    }
    if (this.children.size === 0) await this.getManifest();
    const child = this.children.get(instanceDigest);
    const bytes = await readVerified(this.blobPath(instanceDigest), instanceDigest, child?.size ?? -1, `${this.name}: manifest`, 'MANIFEST_UNKNOWN');
    return { bytes, mediaType: manifestMediaType(bytes, child?.mediaType) };
  }

  private rememberChildren(indexBytes: Buffer): void {
    try {
      const doc = JSON.parse(indexBytes.toString('utf8')) as { manifests?: Descriptor[] };
      for (const m of doc.manifests ?? []) if (typeof m?.digest === 'string') this.children.set(m.digest, m);
    } catch {
      /* the copier will report an unparsable index */
    }
  }

  async getBlob(blob: BlobInfo): Promise<Readable> {
    this.need('read');
    return openVerified(this.blobPath(blob.digest), blob.digest, blob.size, `${this.name}: blob`);
  }

  async getBlobFrom(blob: BlobInfo, offset: number): Promise<Readable> {
    this.need('read');
    const fh = await open(this.blobPath(blob.digest), 'r');
    return fh.createReadStream({ start: offset, highWaterMark: IO_CHUNK });
  }

  // --- ImageDestination --------------------------------------------------------------------------

  supportsManifestType(mediaType: string): boolean {
    return LAYOUT_MANIFEST_TYPES.has(mediaType);
  }

  async hasBlob(blob: BlobInfo): Promise<boolean> {
    this.need('write');
    try {
      const st = await stat(this.blobPath(blob.digest));
      return st.isFile() && (blob.size < 0 || st.size === blob.size);
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  async putBlob(blob: BlobInfo, body: Readable): Promise<void> {
    this.need('write');
    const d = parseDigest(blob.digest);
    await mkdir(join(this.path, 'blobs', d.algorithm), { recursive: true });
    await storeVerified(body, blob.digest, blob.size, this.blobPath(d), this.path, `${this.name}: blob`);
  }

  async putManifest(manifest: ManifestBytes, instanceDigest?: string): Promise<void> {
    this.need('write');
    const algorithm = instanceDigest !== undefined ? parseDigest(instanceDigest).algorithm : 'sha256';
    const digest = digestOf(manifest.bytes, algorithm);
    if (instanceDigest !== undefined && digest !== instanceDigest) {
      throw new VerificationError(`${this.name}: manifest ${instanceDigest}: digest mismatch: content hashes to ${digest}`, instanceDigest);
    }
    await mkdir(join(this.path, 'blobs', algorithm), { recursive: true });
    await writeFileAtomic(this.blobPath(digest), manifest.bytes, { tmpDir: this.path });
    if (instanceDigest === undefined) {
      const desc: Descriptor = { mediaType: manifest.mediaType, digest, size: manifest.bytes.length };
      if (this.ref !== undefined) desc.annotations = { [REF_NAME_ANNOTATION]: this.ref };
      this.pendingTop = desc;
    }
  }

  /** Makes the image visible: writes oci-layout if missing, then replaces index.json (atomically). */
  async commit(): Promise<void> {
    this.need('write');
    if (!this.pendingTop) throw new Error(`${this.name}: nothing to commit (no top-level manifest was written)`);
    if (this.committed) return;
    for (const alg of ['sha256', 'sha512']) {
      if (await exists(join(this.path, 'blobs', alg))) await fsyncDir(join(this.path, 'blobs', alg));
    }
    if (!(await this.checkLayoutFile())) {
      await writeFileAtomic(join(this.path, 'oci-layout'), JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }));
    }
    const index: OciIndexFile = (await exists(join(this.path, 'index.json')))
      ? await OciLayout.readIndex(this.path)
      : { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
    const desc = this.pendingTop;
    const name = refName(desc);
    const at = name !== undefined
      ? index.manifests.findIndex((m) => refName(m) === name)
      : index.manifests.findIndex((m) => refName(m) === undefined && m.digest === desc.digest);
    if (at >= 0) index.manifests[at] = desc;
    else index.manifests.push(desc);
    await writeFileAtomic(join(this.path, 'index.json'), JSON.stringify(index));
    await fsyncDir(this.path);
    this.committed = true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** `oci:` source; `spec` is the text after `oci:`, e.g. `/tmp/l:tag`. */
export async function openOciSource(spec: string): Promise<ImageSource> {
  const { path, ref } = parseLocalTransport(spec, 'oci');
  return OciLayout.open(path, ref, { mode: 'read', name: `oci:${spec}` });
}

/** `oci:` destination; `spec` is the text after `oci:`, e.g. `/tmp/l:tag`. */
export async function openOciDestination(spec: string): Promise<ImageDestination> {
  const { path, ref } = parseLocalTransport(spec, 'oci');
  return OciLayout.open(path, ref, { mode: 'write', name: `oci:${spec}` });
}
