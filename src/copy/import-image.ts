// `wharf import`: a root filesystem tarball becomes a single-layer image (like `podman import`).
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { newHasher } from '../oci/digest.js';
import { MediaTypes } from '../oci/media-types.js';
import { autoDecompress } from '../transports/compression.js';
import type { BlobInfo, ImageSource, ManifestBytes } from '../transports/types.js';
import { applyChanges } from './dockerfile-changes.js';
import { hostPlatform, type Platform } from '../oci/platform.js';

function hashing(onDone: (digest: string, size: number) => void): Transform {
  const h = newHasher();
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _e, cb) { h.update(chunk); size += chunk.length; cb(null, chunk); },
    flush(cb) { onDone(`sha256:${h.digest('hex')}`, size); cb(); },
  });
}

/** An image held in a temp directory: config and manifest in memory, the layer on disk. */
class ImportedImage implements ImageSource {
  readonly name: string;
  constructor(name: string, private readonly manifest: ManifestBytes, private readonly blobs: Map<string, Buffer | string>, private readonly dir: string) {
    this.name = name;
  }

  async getManifest(): Promise<ManifestBytes> {
    return this.manifest;
  }

  async getBlob(blob: BlobInfo): Promise<Readable> {
    const b = this.blobs.get(blob.digest);
    if (b === undefined) throw new Error(`blob ${blob.digest} is not part of the imported image`);
    return typeof b === 'string' ? createReadStream(b) : Readable.from([b]);
  }

  async close(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface ImportOptions {
  changes?: string[];
  platform?: Partial<Platform>;
  /** Fixed creation time (for reproducible images); default now. */
  created?: Date;
  message?: string;
}

export async function importTarball(tarball: string, opts: ImportOptions = {}): Promise<ImageSource> {
  if (!(await stat(tarball).catch(() => null))?.isFile()) throw new Error(`${tarball}: no such file`);
  const dir = await mkdtemp(join(tmpdir(), 'wharf-import-'));
  try {
    const layerPath = join(dir, 'layer.tar.gz');
    let diffId = '';
    let layer = { digest: '', size: 0 };
    // One pass: decompress whatever came in, hash the tar (diff_id), gzip it, hash what is stored.
    await pipeline(
      autoDecompress(createReadStream(tarball), tarball),
      hashing((d) => { diffId = d; }),
      createGzip({ level: 6 }),
      hashing((digest, size) => { layer = { digest, size }; }),
      createWriteStream(layerPath),
    );
    const platform = hostPlatform(opts.platform);
    const created = (opts.created ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const config = {
      created,
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: applyChanges({}, opts.changes ?? []),
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: `wharf import ${tarball}`, ...(opts.message ? { comment: opts.message } : {}) }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDigest = `sha256:${newHasher().update(configBytes).digest('hex')}`;
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: configBytes.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer.digest, size: layer.size }],
    }));
    return new ImportedImage(`import:${tarball}`, { bytes: manifest, mediaType: MediaTypes.ociManifest }, new Map<string, Buffer | string>([[configDigest, configBytes], [layer.digest, layerPath]]), dir);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

