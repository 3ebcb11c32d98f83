// docker-archive:FILE[:NAME[:TAG]|:@N] — the `docker save` / `podman save` format: a tar with
// manifest.json ([{"Config":"<hex>.json","RepoTags":["name:tag"],"Layers":["<hex>.tar" | "<id>/layer.tar"]}]),
// the image config, the layers as UNCOMPRESSED tars, and the legacy `repositories` file and
// `<id>/{VERSION,json,layer.tar}` directories.
//
// Reading: the archive is indexed in place (tar headers only; a gzip-compressed archive is first
// decompressed to a temp file). The image is chosen by NAME:TAG among RepoTags, by @N, or is the only one.
// It is presented as a Docker schema 2 manifest generated from the config: config as
// application/vnd.docker.container.image.v1+json, each layer as application/vnd.docker.image.rootfs.diff.tar
// with its diff_id (from the config's rootfs.diff_ids) as digest and its uncompressed size. Layers stored
// compressed in the archive (some tools do that) are decompressed on the fly. Every blob is verified.
//
// Writing: single images only (supportsManifestType is true only for Docker schema 2; putManifest also
// takes an OCI image manifest, never an index). putBlob stores each blob in a temp directory
// ($TMPDIR), decompressing gzip'd blobs on the fly (the compressed stream is verified against the blob
// digest; the stored tar is named by its sha256, its diff_id). putManifest must come after every putBlob
// of the image (the copy engine's order: blobs, then the manifest): it reads the staged config and checks
// that the layers' diff_ids match rootfs.diff_ids. The config need not be put before the layers.
// commit() streams the archive to a temp file next to FILE and renames it over FILE (an existing FILE is
// replaced: an archive holds one image, tagged NAME:TAG when given).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { Readable, Transform, Writable, pipeline as pipelineCb, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError, WharfError } from '../oci/errors.js';
import { digestOf, parseDigest } from '../oci/digest.js';
import { MediaTypes, isIndexMediaType } from '../oci/media-types.js';
import { parseManifest } from '../oci/manifest.js';
import { normalizeDockerRef, parseLocalTransport } from './local.js';
import { MAX_MANIFEST_SIZE, type Mode } from './oci-layout.js';
import { autoDecompress, detectCompression, type Compression } from './compression.js';
import { safeTarPath, writeTarAtomic, type TarItem } from './tar.js';
import { tempPath } from '../files/atomic-file.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes } from './types.js';
import { VerificationError, verifyingStream } from './verify.js';

export const DOCKER_LAYER_TAR = 'application/vnd.docker.image.rootfs.diff.tar';

/** An entry of an archive's manifest.json. */
export interface DockerArchiveItem {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  [extra: string]: unknown;
}

export class DockerArchiveError extends WharfError {
  constructor(message: string) {
    super(message);
    this.name = 'DockerArchiveError';
  }
}

// ---------------------------------------------------------------------------------------------
// Tar index: where each member's data is in the file
// ---------------------------------------------------------------------------------------------

interface TarMember {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '5' directory, ... */
  type: string;
  offset: number;
  size: number;
  linkname: string;
}

function cstring(buf: Buffer, start: number, len: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul >= 0 && nul < start + len ? nul : start + len);
}

function tarNumber(buf: Buffer, start: number, len: number): number {
  if (buf[start]! & 0x80) {
    // GNU base-256 (sizes of 8 GiB and more)
    let n = buf[start]! & 0x7f;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + buf[i]!;
    return n;
  }
  const s = cstring(buf, start, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(data.toString('latin1', off, sp), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = data.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

/** Reads the headers of the tar in `fh` (of `fileSize` bytes): members by normalized path. */
async function indexTar(fh: FileHandle, fileSize: number, where: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const header = Buffer.alloc(512);
  let pos = 0;
  let pax: Record<string, string> = {};
  let gnuName: string | undefined;
  let gnuLink: string | undefined;
  const readData = async (offset: number, size: number): Promise<Buffer> => {
    if (size > 1024 * 1024) throw new DockerArchiveError(`${where}: tar metadata entry too large`);
    const b = Buffer.alloc(size);
    const { bytesRead } = await fh.read(b, 0, size, offset);
    if (bytesRead < size) throw new DockerArchiveError(`${where}: truncated tar archive`);
    return b;
  };
  while (pos + 512 <= fileSize) {
    const { bytesRead } = await fh.read(header, 0, 512, pos);
    if (bytesRead < 512) throw new DockerArchiveError(`${where}: truncated tar archive`);
    if (header.every((b) => b === 0)) break;
    let sum = 0;
    let signed = 0;
    for (let i = 0; i < 512; i++) {
      const b = i >= 148 && i < 156 ? 0x20 : header[i]!;
      sum += b;
      signed += b > 127 ? b - 256 : b;
    }
    const stored = tarNumber(header, 148, 8);
    if (sum !== stored && signed !== stored) throw new DockerArchiveError(`${where}: not a tar archive (bad header checksum at offset ${pos})`);
    const typeflag = header[156] === 0 ? '0' : String.fromCharCode(header[156]!);
    let name = cstring(header, 0, 100);
    if (header.toString('latin1', 257, 263) === 'ustar\0') {
      const prefix = cstring(header, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const dataOffset = pos + 512;
    let size = tarNumber(header, 124, 12);
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      const data = await readData(dataOffset, size);
      if (typeflag === 'x') pax = { ...pax, ...parsePax(data) };
      else if (typeflag === 'L') gnuName = cstring(data, 0, data.length);
      else if (typeflag === 'K') gnuLink = cstring(data, 0, data.length);
    } else {
      if (pax.size !== undefined) size = Number(pax.size);
      const m: TarMember = {
        name: pax.path ?? gnuName ?? name,
        type: typeflag,
        offset: dataOffset,
        size: typeflag === '0' || typeflag === '7' ? size : 0,
        linkname: pax.linkpath ?? gnuLink ?? cstring(header, 157, 100),
      };
      if (m.offset + m.size > fileSize) throw new DockerArchiveError(`${where}: truncated tar archive (member ${m.name})`);
      const key = safeTarPath(m.name);
      if (key !== null) members.set(key, m);
      pax = {};
      gnuName = undefined;
      gnuLink = undefined;
    }
    pos = dataOffset + Math.ceil(size / 512) * 512;
  }
  return members;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

interface LayerSource {
  member: TarMember;
  compression: Compression;
  /** Uncompressed size. */
  size: number;
}

class ArchiveReader {
  private constructor(readonly file: string, private readonly fh: FileHandle, private readonly members: Map<string, TarMember>, readonly where: string) {}

  static async open(file: string, where: string): Promise<ArchiveReader> {
    const fh = await open(file, 'r');
    try {
      const size = (await fh.stat()).size;
      return new ArchiveReader(file, fh, await indexTar(fh, size, where), where);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** The regular file `name` refers to, following symlinks and hard links within the archive. */
  resolve(name: string): TarMember {
    let key = safeTarPath(name);
    for (let hops = 0; hops < 32 && key !== null; hops++) {
      const m = this.members.get(key);
      if (!m) break;
      if (m.type === '0' || m.type === '7') return m;
      if (m.type === '2') key = safeTarPath(m.linkname.startsWith('/') ? m.linkname.slice(1) : posix.join(posix.dirname(key), m.linkname));
      else if (m.type === '1') key = safeTarPath(m.linkname);
      else throw new DockerArchiveError(`${this.where}: ${name} is not a file in the archive`);
    }
    throw new DockerArchiveError(`${this.where}: ${name} not found in the archive`);
  }

  async readSmall(name: string): Promise<Buffer> {
    const m = this.resolve(name);
    if (m.size > MAX_MANIFEST_SIZE) throw new DockerArchiveError(`${this.where}: ${name} is too large (${m.size} bytes)`);
    const b = Buffer.alloc(m.size);
    const { bytesRead } = await this.fh.read(b, 0, m.size, m.offset);
    if (bytesRead < m.size) throw new DockerArchiveError(`${this.where}: truncated archive`);
    return b;
  }

  async head(m: TarMember, n = 6): Promise<Buffer> {
    const b = Buffer.alloc(Math.min(n, m.size));
    const { bytesRead } = await this.fh.read(b, 0, b.length, m.offset);
    return b.subarray(0, bytesRead);
  }

  stream(m: TarMember): Readable {
    if (m.size === 0) return Readable.from([]);
    return createReadStream(this.file, { start: m.offset, end: m.offset + m.size - 1 });
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

/** Counts and hashes what flows through. */
class Measure extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    cb(null, chunk);
  }
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

interface StagedBlob {
  /** sha256 of the stored (uncompressed) content. */
  diffId: string;
  size: number;
  path: string;
}

/**
 * IDs for the legacy `<id>/` directories: the layers' ChainIDs, unique per position so that "parent"
 * links cannot loop. (Any unique IDs do: loaders that use manifest.json ignore them, and legacy loaders
 * allocate their own. skopeo's IDs differ.)
 */
function legacyLayerIds(diffIds: string[]): string[] {
  const ids: string[] = [];
  let chain = '';
  for (const d of diffIds) {
    chain = chain === '' ? d : digestOf(`${chain} ${d}`);
    ids.push(parseDigest(chain).hex);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------
// The transport
// ---------------------------------------------------------------------------------------------

/** An image in a docker-archive file, open for reading or writing (the other mode's methods throw). */
export class DockerArchive implements ImageSource, ImageDestination {
  /** Every blob read or written here is checked against its digest. */
  readonly verifiesBlobs = true;
  readonly file: string;
  // read mode
  private reader?: ArchiveReader;
  private decompressedCopy?: string;
  private manifest?: Buffer;
  private configBytes?: Buffer;
  private configDigest?: string;
  private readonly layers = new Map<string, LayerSource>();
  // write mode
  private workDir?: string;
  private readonly staged = new Map<string, StagedBlob>();
  private pending?: { configBytes: Buffer; layers: StagedBlob[] };
  private committed = false;
  private closed = false;

  private constructor(file: string, readonly name: string, readonly mode: Mode, readonly ref?: string, readonly index?: number) {
    this.file = resolve(file);
  }

  /**
   * Opens FILE. `ref` is a normalized `registry/repository:tag` (see normalizeDockerRef) or undefined;
   * `index` (reading only) picks the N-th image of manifest.json.
   */
  static async open(file: string, sel: { ref?: string; index?: number }, opts: { mode: Mode; name?: string; tmpDir?: string }): Promise<DockerArchive> {
    const ref = sel.ref !== undefined ? normalizeDockerRef(sel.ref) : undefined;
    const name = opts.name ?? `docker-archive:${file}${ref !== undefined ? `:${ref}` : sel.index !== undefined ? `:@${sel.index}` : ''}`;
    const a = new DockerArchive(file, name, opts.mode, ref, sel.index);
    try {
      if (opts.mode === 'read') await a.initRead(opts.tmpDir ?? tmpdir());
      else {
        if (sel.index !== undefined) throw new DockerArchiveError(`${name}: @N selects an image to read; a destination takes NAME:TAG`);
        a.workDir = await mkdtemp(join(opts.tmpDir ?? tmpdir(), 'wharf-docker-archive-'));
      }
    } catch (e) {
      await a.close();
      throw e;
    }
    return a;
  }

  private async initRead(tmp: string): Promise<void> {
    const st = await stat(this.file);
    if (!st.isFile()) throw new DockerArchiveError(`${this.name}: ${this.file} is not a file`);
    // A compressed archive (docker save | gzip) is decompressed to a temp file first: layers need random access.
    let tarFile = this.file;
    const fh = await open(this.file, 'r');
    let head: Buffer;
    try {
      head = Buffer.alloc(6);
      const { bytesRead } = await fh.read(head, 0, 6, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
    if (detectCompression(head) !== 'none') {
      this.decompressedCopy = join(await mkdtemp(join(tmp, 'wharf-docker-archive-')), 'archive.tar');
      await pipeline(autoDecompress(createReadStream(this.file), `archive ${this.file}`), createWriteStream(this.decompressedCopy));
      tarFile = this.decompressedCopy;
    }
    this.reader = await ArchiveReader.open(tarFile, this.name);

    let items: DockerArchiveItem[];
    try {
      items = JSON.parse((await this.reader.readSmall('manifest.json')).toString('utf8')) as DockerArchiveItem[];
    } catch (e) {
      if (e instanceof SyntaxError) throw new DockerArchiveError(`${this.name}: manifest.json is not valid JSON`);
      throw e;
    }
    if (!Array.isArray(items)) throw new DockerArchiveError(`${this.name}: manifest.json must be an array`);
    let item: DockerArchiveItem | undefined;
    if (this.ref !== undefined) {
      item = items.find((it) => (it.RepoTags ?? []).some((t) => {
        try {
          return normalizeDockerRef(t) === this.ref;
        } catch {
          return false;
        }
      }));
      if (!item) throw new RegistryError('MANIFEST_UNKNOWN', `${this.name}: no image tagged ${this.ref} in the archive (tags: ${items.flatMap((it) => it.RepoTags ?? []).join(', ') || 'none'})`);
    } else if (this.index !== undefined) {
      item = items[this.index];
      if (!item) throw new RegistryError('MANIFEST_UNKNOWN', `${this.name}: the archive holds ${items.length} image(s); @${this.index} is out of range`);
    } else {
      if (items.length !== 1) throw new DockerArchiveError(`${this.name}: the archive holds ${items.length} images; choose one with :NAME:TAG or :@N`);
      item = items[0]!;
    }
    if (typeof item.Config !== 'string' || !Array.isArray(item.Layers)) throw new DockerArchiveError(`${this.name}: invalid manifest.json entry`);

    this.configBytes = await this.reader.readSmall(item.Config);
    this.configDigest = digestOf(this.configBytes);
    let diffIds: unknown;
    try {
      diffIds = (JSON.parse(this.configBytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
    } catch {
      throw new DockerArchiveError(`${this.name}: config ${item.Config} is not valid JSON`);
    }
    if (!Array.isArray(diffIds) || !diffIds.every((d) => typeof d === 'string')) throw new DockerArchiveError(`${this.name}: config has no rootfs.diff_ids`);
    if (diffIds.length !== item.Layers.length) {
      throw new DockerArchiveError(`${this.name}: inconsistent image: manifest.json lists ${item.Layers.length} layers, the config ${diffIds.length} diff_ids`);
    }
    const descriptors: { mediaType: string; size: number; digest: string }[] = [];
    for (const [i, path] of item.Layers.entries()) {
      const diffId = diffIds[i] as string;
      parseDigest(diffId);
      let src = this.layers.get(diffId);
      if (!src) {
        const member = this.reader.resolve(path);
        const compression = detectCompression(await this.reader.head(member));
        let size = member.size;
        if (compression !== 'none') {
          // Rare (docker save writes plain tars): measure the uncompressed layer once.
          const m = new Measure();
          await pipeline(autoDecompress(this.reader.stream(member), `layer ${path}`), m, new NullSink());
          const got = `sha256:${m.hash.digest('hex')}`;
          if (got !== diffId) throw new VerificationError(`${this.name}: layer ${path} decompresses to ${got}, the config says ${diffId}`, diffId);
          size = m.bytes;
        }
        src = { member, compression, size };
        this.layers.set(diffId, src);
      }
      descriptors.push({ mediaType: DOCKER_LAYER_TAR, size: src.size, digest: diffId });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifest,
      config: { mediaType: MediaTypes.dockerConfig, size: this.configBytes.length, digest: this.configDigest },
      layers: descriptors,
    };
    this.manifest = Buffer.from(JSON.stringify(manifest));
  }

  private need(mode: Mode): void {
    if (this.closed) throw new Error(`${this.name}: already closed`);
    if (this.mode !== mode) throw new Error(`${this.name}: opened for ${this.mode === 'read' ? 'reading' : 'writing'}, cannot ${mode === 'read' ? 'read' : 'write'}`);
  }

  // --- ImageSource -------------------------------------------------------------------------------

  /** The generated Docker schema 2 manifest (there are no child manifests). */
  async getManifest(instanceDigest?: string): Promise<ManifestBytes> {
    this.need('read');
    const bytes = this.manifest!;
    if (instanceDigest !== undefined && instanceDigest !== digestOf(bytes, parseDigest(instanceDigest).algorithm)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `${this.name}: no manifest ${instanceDigest} (an archive holds a single image)`);
    }
    return { bytes, mediaType: MediaTypes.dockerManifest };
  }

  async getBlob(blob: BlobInfo): Promise<Readable> {
    this.need('read');
    if (blob.digest === this.configDigest) {
      if (blob.size >= 0 && blob.size !== this.configBytes!.length) {
        throw new VerificationError(`${this.name}: blob ${blob.digest}: size mismatch: expected ${blob.size} bytes, the config has ${this.configBytes!.length}`, blob.digest);
      }
      return Readable.from([this.configBytes!]);
    }
    const src = this.layers.get(blob.digest);
    if (!src) throw new RegistryError('BLOB_UNKNOWN', `${this.name}: blob ${blob.digest} is not in the archive`);
    const raw = this.reader!.stream(src.member);
    const body = src.compression === 'none' ? raw : autoDecompress(raw, `${this.name}: layer ${blob.digest}`);
    const v = verifyingStream(blob.digest, blob.size >= 0 ? blob.size : src.size, `${this.name}: blob`);
    pipelineCb(body, v, () => { /* reported through v */ });
    return v;
  }

  // --- ImageDestination --------------------------------------------------------------------------

  /** Docker schema 2 image manifests only (no indexes; an OCI manifest is converted by the copier). */
  supportsManifestType(mediaType: string): boolean {
    return mediaType === MediaTypes.dockerManifest;
  }

  async hasBlob(blob: BlobInfo): Promise<boolean> {
    this.need('write');
    return this.staged.has(blob.digest);
  }

  /** Stages a blob, decompressing it when compressed (the compressed bytes are verified against blob.digest). */
  async putBlob(blob: BlobInfo, body: Readable): Promise<void> {
    this.need('write');
    parseDigest(blob.digest);
    const tmp = tempPath(this.workDir!);
    const v = verifyingStream(blob.digest, blob.size, `${this.name}: blob`);
    const m = new Measure();
    try {
      const feeding = pipeline(body, v);
      const storing = pipeline(autoDecompress(v, `${this.name}: blob ${blob.digest}`), m, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
      await Promise.all([feeding, storing]);
      const diffId = `sha256:${m.hash.digest('hex')}`;
      const path = join(this.workDir!, parseDigest(diffId).hex);
      await rename(tmp, path);
      this.staged.set(blob.digest, { diffId, size: m.bytes, path });
    } catch (e) {
      body.destroy();
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async putManifest(manifest: ManifestBytes, instanceDigest?: string): Promise<void> {
    this.need('write');
    if (instanceDigest !== undefined || isIndexMediaType(manifest.mediaType)) {
      throw new DockerArchiveError(`${this.name}: docker-archive holds a single image, not an index (copy one platform)`);
    }
    const parsed = parseManifest(manifest.bytes, manifest.mediaType);
    if (parsed.kind !== 'image') throw new DockerArchiveError(`${this.name}: docker-archive holds a single image, not an index`);
    const doc = JSON.parse(manifest.bytes.toString('utf8')) as { config: { digest: string; mediaType: string }; layers?: { digest: string; mediaType: string }[] };
    if (doc.config.mediaType !== MediaTypes.dockerConfig && doc.config.mediaType !== MediaTypes.ociConfig) {
      throw new DockerArchiveError(`${this.name}: config type ${doc.config.mediaType} is not a container image config; docker-archive cannot hold it`);
    }
    const config = this.staged.get(doc.config.digest);
    if (!config) throw new DockerArchiveError(`${this.name}: the config ${doc.config.digest} was not written before the manifest`);
    const st = await stat(config.path);
    if (st.size > MAX_MANIFEST_SIZE) throw new DockerArchiveError(`${this.name}: config too large`);
    const handle = await open(config.path, 'r');
    let configBytes: Buffer;
    try {
      configBytes = await handle.readFile();
    } finally {
      await handle.close();
    }
    let diffIds: unknown;
    try {
      diffIds = (JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
    } catch {
      throw new DockerArchiveError(`${this.name}: config ${doc.config.digest} is not valid JSON`);
    }
    const layers = doc.layers ?? [];
    if (!Array.isArray(diffIds) || diffIds.length !== layers.length) {
      throw new DockerArchiveError(`${this.name}: the config's rootfs.diff_ids (${Array.isArray(diffIds) ? diffIds.length : 'missing'}) do not match the manifest's ${layers.length} layers`);
    }
    const staged: StagedBlob[] = [];
    for (const [i, l] of layers.entries()) {
      const s = this.staged.get(l.digest);
      if (!s) throw new DockerArchiveError(`${this.name}: layer ${l.digest} was not written before the manifest`);
      if (s.diffId !== diffIds[i]) {
        throw new VerificationError(`${this.name}: layer ${i} (${l.digest}) uncompressed is ${s.diffId}, but the config's diff_id is ${String(diffIds[i])}`, l.digest);
      }
      staged.push(s);
    }
    this.pending = { configBytes, layers: staged };
  }

  /** Writes the archive: config, layers, legacy metadata, manifest.json, repositories; temp file + rename. */
  async commit(): Promise<void> {
    this.need('write');
    if (!this.pending) throw new Error(`${this.name}: nothing to commit (no manifest was written)`);
    if (this.committed) return;
    const { configBytes, layers } = this.pending;
    const configName = `${digestOf(configBytes).slice('sha256:'.length)}.json`;
    const diffIds = layers.map((l) => l.diffId);
    const layerFile = (d: string) => `${parseDigest(d).hex}.tar`;
    const repoTags = this.ref !== undefined ? [this.ref] : [];
    const items: TarItem[] = [{ name: configName, type: 'data', data: configBytes }];
    const seen = new Set<string>();
    for (const l of layers) {
      if (seen.has(l.diffId)) continue;
      seen.add(l.diffId);
      items.push({ name: layerFile(l.diffId), type: 'file', path: l.path, size: l.size });
    }
    // Legacy (pre-1.10) metadata in skopeo's shape: <id>/VERSION, <id>/json, <id>/layer.tar -> ../<diff_id>.tar.
    const ids = legacyLayerIds(diffIds);
    const config = JSON.parse(configBytes.toString('utf8')) as Record<string, unknown>;
    for (const [i, id] of ids.entries()) {
      if (seen.has(`legacy:${id}`)) continue;
      seen.add(`legacy:${id}`);
      const layerConfig: Record<string, unknown> = { id };
      if (i > 0) layerConfig.parent = ids[i - 1];
      if (i === ids.length - 1) {
        for (const attr of ['architecture', 'config', 'container', 'container_config', 'created', 'docker_version', 'os']) layerConfig[attr] = config[attr] ?? null;
      }
      const sorted = Object.fromEntries(Object.keys(layerConfig).sort().map((k) => [k, layerConfig[k]]));
      items.push(
        { name: `${id}/`, type: 'directory' },
        { name: `${id}/VERSION`, type: 'data', data: Buffer.from('1.0') },
        { name: `${id}/json`, type: 'data', data: Buffer.from(JSON.stringify(sorted)) },
        { name: `${id}/layer.tar`, type: 'symlink', target: `../${layerFile(diffIds[i]!)}` },
      );
    }
    const manifestJson: DockerArchiveItem[] = [{ Config: configName, RepoTags: repoTags, Layers: diffIds.map(layerFile) }];
    items.push({ name: 'manifest.json', type: 'data', data: Buffer.from(JSON.stringify(manifestJson)) });
    const repositories: Record<string, Record<string, string>> = {};
    const top = ids[ids.length - 1];
    if (top !== undefined) {
      for (const t of repoTags) {
        const colon = t.lastIndexOf(':');
        (repositories[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = top;
      }
    }
    items.push({ name: 'repositories', type: 'data', data: Buffer.from(JSON.stringify(repositories)) });
    await writeTarAtomic(this.file, items);
    this.committed = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reader?.close();
    if (this.decompressedCopy) await rm(dirname(this.decompressedCopy), { recursive: true, force: true });
    if (this.workDir) await rm(this.workDir, { recursive: true, force: true });
  }
}

/** A writable that discards everything (for measuring). */
class NullSink extends Writable {
  override _write(_chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    cb();
  }
}

/** `docker-archive:` source; `spec` is the text after the prefix, e.g. `/tmp/a.tar:app:1` or `/tmp/a.tar:@0`. */
export async function openDockerArchiveSource(spec: string): Promise<ImageSource> {
  const { path, ref, index } = parseLocalTransport(spec, 'docker-archive');
  return DockerArchive.open(path, { ref, index }, { mode: 'read', name: `docker-archive:${spec}` });
}

/** `docker-archive:` destination; `spec` is the text after the prefix, e.g. `/tmp/a.tar:app:1`. */
export async function openDockerArchiveDestination(spec: string): Promise<ImageDestination> {
  const { path, ref, index } = parseLocalTransport(spec, 'docker-archive');
  return DockerArchive.open(path, { ref, index }, { mode: 'write', name: `docker-archive:${spec}` });
}
