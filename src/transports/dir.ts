// dir:PATH — skopeo's directory layout: `manifest.json` (the top-level manifest's exact bytes), one file
// per blob named by the digest's hex (sha256; other algorithms as `<alg>-<hex>`), child manifests of an
// index as `<hex>.manifest.json`, and `version` ("Directory Transport Version: 1.1\n").
//
// A directory holds one image. Writing into a directory that already holds one replaces it, but unlike
// skopeo (which empties the directory first) the old image stays readable until commit: new files go to
// temp files + rename, manifest.json is replaced last, and only then are the old image's leftover files
// (blobs, child manifests, signatures no longer referenced) removed. A non-empty directory without a
// `version` file is refused rather than overwritten.
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { RegistryError, WharfError } from '../oci/errors.js';
import { digestOf, parseDigest, type Digest } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import { parseLocalTransport } from './local.js';
import {
  MAX_MANIFEST_SIZE, exists, manifestMediaType, openVerified, readVerified, storeVerified, type Mode,
} from './oci-layout.js';
import { fsyncDir, writeFileAtomic } from '../files/atomic-file.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes } from './types.js';
import { VerificationError } from './verify.js';

export const DIR_VERSION = 'Directory Transport Version: 1.1\n';
const ACCEPTED_VERSIONS = new Set(['Directory Transport Version: 1.0\n', DIR_VERSION]);

/** Names this transport owns in a directory (removed when a new image replaces the old one). */
const OWNED_NAME = /^(?:[a-f0-9]{64}|[a-f0-9]{128}|sha256-[a-f0-9]{64}|sha512-[a-f0-9]{128})(?:\.manifest\.json)?$|^signature-[0-9]+$/;

export class DirError extends WharfError {
  constructor(message: string) {
    super(message);
    this.name = 'DirError';
  }
}

/** A blob's file name: the hex for sha256 (as skopeo writes it), `<alg>-<hex>` otherwise. */
export function dirBlobName(digest: string | Digest): string {
  const d = typeof digest === 'string' ? parseDigest(digest) : digest;
  return d.algorithm === 'sha256' ? d.hex : `${d.algorithm}-${d.hex}`;
}

/** The image in a `dir:` directory, open for reading or for writing (the other mode's methods throw). */
export class DirImage implements ImageSource, ImageDestination {
  /** Every blob read or written here is checked against its digest. */
  readonly verifiesBlobs = true;
  readonly name: string;
  readonly path: string;
  private topBytes?: Buffer;
  private pendingTop?: ManifestBytes;
  /** Files the image being written consists of (kept by the post-commit cleanup). */
  private readonly keep = new Set<string>();
  private readonly written: Buffer[] = [];
  private committed = false;
  private closed = false;

  private constructor(path: string, readonly mode: Mode, name: string) {
    this.path = resolve(path);
    this.name = name;
  }

  static async open(path: string, opts: { mode: Mode; name?: string }): Promise<DirImage> {
    const d = new DirImage(path, opts.mode, opts.name ?? `dir:${path}`);
    if (opts.mode === 'read') await d.initRead();
    else await d.initWrite();
    return d;
  }

  private async initRead(): Promise<void> {
    if (!(await exists(join(this.path, 'manifest.json')))) {
      throw new RegistryError('MANIFEST_UNKNOWN', `${this.name}: not an image directory: ${this.path}/manifest.json not found`);
    }
  }

  private async initWrite(): Promise<void> {
    let entries: string[] = [];
    try {
      const st = await stat(this.path);
      if (!st.isDirectory()) throw new DirError(`${this.name}: ${this.path} exists and is not a directory`);
      entries = await readdir(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (entries.length > 0) {
      let version: string | undefined;
      try {
        version = await readFile(join(this.path, 'version'), 'utf8');
      } catch {
        version = undefined;
      }
      if (version === undefined || !ACCEPTED_VERSIONS.has(version)) {
        throw new DirError(`${this.name}: ${this.path} is not empty and does not hold a dir: image (no valid version file); refusing to overwrite it`);
      }
    }
    await mkdir(this.path, { recursive: true });
  }

  private need(mode: Mode): void {
    if (this.closed) throw new Error(`${this.name}: already closed`);
    if (this.mode !== mode) throw new Error(`${this.name}: opened for ${this.mode === 'read' ? 'reading' : 'writing'}, cannot ${mode === 'read' ? 'read' : 'write'}`);
  }

  /** Candidate paths of a blob (or, with suffix, a child manifest): skopeo's name first. */
  private candidates(d: Digest, suffix = ''): string[] {
    const names = [dirBlobName(d) + suffix];
    if (d.algorithm !== 'sha256') names.push(d.hex + suffix);
    return names.map((n) => join(this.path, n));
  }

  private async firstExisting(paths: string[]): Promise<string> {
    for (const p of paths) if (await exists(p)) return p;
    return paths[0]!;
  }

  // --- ImageSource -------------------------------------------------------------------------------

  async getManifest(instanceDigest?: string): Promise<ManifestBytes> {
    this.need('read');
    if (!this.topBytes) {
      const path = join(this.path, 'manifest.json');
      const st = await stat(path);
      if (st.size > MAX_MANIFEST_SIZE) throw new DirError(`${this.name}: ${path} is too large (${st.size} bytes)`);
      this.topBytes = await readFile(path);
    }
    if (instanceDigest === undefined) return { bytes: this.topBytes, mediaType: manifestMediaType(this.topBytes) };
    const d = parseDigest(instanceDigest);
    if (digestOf(this.topBytes, d.algorithm) === d.value) return { bytes: this.topBytes, mediaType: manifestMediaType(this.topBytes) };
    const path = await this.firstExisting(this.candidates(d, '.manifest.json'));
    const bytes = await readVerified(path, instanceDigest, -1, `${this.name}: manifest`, 'MANIFEST_UNKNOWN');
    return { bytes, mediaType: manifestMediaType(bytes) };
  }

  async getBlob(blob: BlobInfo): Promise<Readable> {
    this.need('read');
    const path = await this.firstExisting(this.candidates(parseDigest(blob.digest)));
    return openVerified(path, blob.digest, blob.size, `${this.name}: blob`);
  }

  // --- ImageDestination --------------------------------------------------------------------------

  /** dir: stores any manifest type as is. */
  supportsManifestType(_mediaType: string): boolean {
    return true;
  }

  async hasBlob(blob: BlobInfo): Promise<boolean> {
    this.need('write');
    const name = dirBlobName(blob.digest);
    try {
      const st = await stat(join(this.path, name));
      const ok = st.isFile() && (blob.size < 0 || st.size === blob.size);
      if (ok) this.keep.add(name);
      return ok;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async putBlob(blob: BlobInfo, body: Readable): Promise<void> {
    this.need('write');
    const name = dirBlobName(blob.digest);
    await storeVerified(body, blob.digest, blob.size, join(this.path, name), this.path, `${this.name}: blob`);
    this.keep.add(name);
  }

  async putManifest(manifest: ManifestBytes, instanceDigest?: string): Promise<void> {
    this.need('write');
    if (instanceDigest === undefined) {
      this.pendingTop = manifest;
      this.written.push(manifest.bytes);
      return;
    }
    const d = parseDigest(instanceDigest);
    const actual = digestOf(manifest.bytes, d.algorithm);
    if (actual !== d.value) throw new VerificationError(`${this.name}: manifest ${instanceDigest}: digest mismatch: content hashes to ${actual}`, instanceDigest);
    const name = `${dirBlobName(d)}.manifest.json`;
    await writeFileAtomic(join(this.path, name), manifest.bytes);
    this.keep.add(name);
    this.written.push(manifest.bytes);
  }

  /** Writes version and then manifest.json (atomically), then removes what is left of a previous image. */
  async commit(): Promise<void> {
    this.need('write');
    if (!this.pendingTop) throw new Error(`${this.name}: nothing to commit (no top-level manifest was written)`);
    if (this.committed) return;
    await fsyncDir(this.path);
    await writeFileAtomic(join(this.path, 'version'), DIR_VERSION);
    await writeFileAtomic(join(this.path, 'manifest.json'), this.pendingTop.bytes);
    await fsyncDir(this.path);
    this.committed = true;
    // Everything the manifests written reference stays, even if the copier neither put nor checked it.
    for (const bytes of this.written) {
      try {
        const m = parseManifest(bytes, undefined);
        for (const b of m.blobs) this.keep.add(dirBlobName(b.digest));
        for (const c of m.children) this.keep.add(`${dirBlobName(c.digest)}.manifest.json`);
      } catch {
        /* not a manifest we understand: keep only what was put */
      }
    }
    for (const entry of await readdir(this.path)) {
      if (OWNED_NAME.test(entry) && !this.keep.has(entry)) await rm(join(this.path, entry), { force: true });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** `dir:` source; `spec` is the text after `dir:` (the whole path). */
export async function openDirSource(spec: string): Promise<ImageSource> {
  const { path } = parseLocalTransport(spec, 'dir');
  return DirImage.open(path, { mode: 'read', name: `dir:${spec}` });
}

/** `dir:` destination; `spec` is the text after `dir:` (the whole path). */
export async function openDirDestination(spec: string): Promise<ImageDestination> {
  const { path } = parseLocalTransport(spec, 'dir');
  return DirImage.open(path, { mode: 'write', name: `dir:${spec}` });
}
