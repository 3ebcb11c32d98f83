// oci-archive:FILE[:REF] — a tar of an OCI image layout.
//
// Reading extracts the archive (streamed; gzip-compressed archives are accepted) into a private temp
// directory under os.tmpdir() ($TMPDIR) and reads it as an `oci:` layout; close() removes it.
// Writing builds a layout in a temp directory; commit() streams a tar of it to a temp file next to FILE
// and renames it over FILE, so FILE is either the old archive or the complete new one. As with skopeo,
// the new archive holds only the image written (an existing FILE is replaced, not extended).
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseLocalTransport } from './local.js';
import { OciLayout, type Mode } from './oci-layout.js';
import { extractTar, writeTarAtomic, type TarItem } from './tar.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes } from './types.js';

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
