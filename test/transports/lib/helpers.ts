// Shared by the local-transport tests: an in-memory source built from the interop fixtures, a minimal
// copier (the real engine lives in src/copy), and readers that pull a whole image out of a source.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after } from 'node:test';
import { parseManifest } from '../../../src/oci/manifest.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes } from '../../../src/transports/types.js';
import { MT, type BuiltImage, type BuiltIndex } from '../../interop/lib/images.js';

/** A fresh temp directory, removed when the test file ends. */
export function tempDir(prefix = 'wharf-transports-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export async function readAll(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An ImageSource over fixture images (an image or an index). */
export class MemorySource implements ImageSource {
  readonly name = 'memory:';
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, ManifestBytes>();
  readonly top: ManifestBytes;

  constructor(what: BuiltImage | BuiltIndex, topOverride?: ManifestBytes) {
    const images = 'images' in what ? what.images : [what];
    for (const im of images) {
      this.blobs.set(im.configDigest, im.config);
      for (const l of im.layers) this.blobs.set(l.digest, l.data);
      this.manifests.set(im.manifestDigest, { bytes: im.manifest, mediaType: MT.ociManifest });
    }
    this.top = topOverride ?? ('images' in what ? { bytes: what.index, mediaType: MT.ociIndex } : { bytes: what.manifest, mediaType: MT.ociManifest });
  }

  async getManifest(instanceDigest?: string): Promise<ManifestBytes> {
    if (instanceDigest === undefined) return this.top;
    const m = this.manifests.get(instanceDigest);
    if (!m) throw new Error(`no manifest ${instanceDigest}`);
    return m;
  }

  async getBlob(blob: BlobInfo): Promise<Readable> {
    const b = this.blobs.get(blob.digest);
    if (!b) throw new Error(`no blob ${blob.digest}`);
    // Small chunks, to exercise streaming.
    const step = b.length > 1024 * 1024 ? 65536 : 100;
    const chunks: Buffer[] = [];
    for (let i = 0; i < b.length; i += step) chunks.push(b.subarray(i, i + step));
    return Readable.from(chunks);
  }

  async close(): Promise<void> { /* nothing */ }
}

/** Copies blobs (config first, then layers), child manifests, then the top-level manifest; commits; closes both. */
export async function copyImage(src: ImageSource, dst: ImageDestination, opts: { commit?: boolean } = {}): Promise<void> {
  try {
    const top = await src.getManifest();
    const parsed = parseManifest(top.bytes, top.mediaType);
    const copyBlobs = async (blobs: BlobInfo[]) => {
      for (const b of blobs) {
        if (await dst.hasBlob(b)) continue;
        await dst.putBlob(b, await src.getBlob(b));
      }
    };
    if (parsed.kind === 'index') {
      for (const c of parsed.children) {
        const child = await src.getManifest(c.digest);
        await copyBlobs(parseManifest(child.bytes, child.mediaType).blobs);
        await dst.putManifest(child, c.digest);
      }
    } else {
      await copyBlobs(parsed.blobs);
    }
    await dst.putManifest(top);
    if (opts.commit !== false) await dst.commit();
  } finally {
    await dst.close();
    await src.close();
  }
}

export interface ReadImage {
  top: ManifestBytes;
  /** Child manifests by digest. */
  children: Map<string, ManifestBytes>;
  /** Every blob (configs and layers) by digest. */
  blobs: Map<string, Buffer>;
}

/** Reads a whole image (or index with all children) from `src`, verifying as it goes; closes `src`. */
export async function readImage(src: ImageSource): Promise<ReadImage> {
  try {
    const top = await src.getManifest();
    const parsed = parseManifest(top.bytes, top.mediaType);
    const out: ReadImage = { top, children: new Map(), blobs: new Map() };
    const readBlobs = async (blobs: BlobInfo[]) => {
      for (const b of blobs) out.blobs.set(b.digest, await readAll(await src.getBlob(b)));
    };
    if (parsed.kind === 'index') {
      for (const c of parsed.children) {
        const child = await src.getManifest(c.digest);
        out.children.set(c.digest, child);
        await readBlobs(parseManifest(child.bytes, child.mediaType).blobs);
      }
    } else {
      await readBlobs(parsed.blobs);
    }
    return out;
  } finally {
    await src.close();
  }
}

/** Every blob and manifest of a fixture image or index, by digest (what a faithful copy must hold). */
export function fixtureContent(what: BuiltImage | BuiltIndex): { top: Buffer; children: Map<string, Buffer>; blobs: Map<string, Buffer> } {
  const images = 'images' in what ? what.images : [what];
  const blobs = new Map<string, Buffer>();
  const children = new Map<string, Buffer>();
  for (const im of images) {
    blobs.set(im.configDigest, im.config);
    for (const l of im.layers) blobs.set(l.digest, l.data);
    if ('images' in what) children.set(im.manifestDigest, im.manifest);
  }
  return { top: 'images' in what ? what.index : what.manifest, children, blobs };
}

/** Asserts `got` holds exactly the fixture's bytes. */
export function sameContent(got: ReadImage, want: ReturnType<typeof fixtureContent>): string | null {
  if (!got.top.bytes.equals(want.top)) return 'top-level manifest bytes differ';
  if (got.children.size !== want.children.size) return `expected ${want.children.size} children, got ${got.children.size}`;
  for (const [d, b] of want.children) if (!got.children.get(d)?.bytes.equals(b)) return `child manifest ${d} differs`;
  if (got.blobs.size !== want.blobs.size) return `expected ${want.blobs.size} blobs, got ${got.blobs.size}`;
  for (const [d, b] of want.blobs) if (!got.blobs.get(d)?.equals(b)) return `blob ${d} differs`;
  return null;
}

/** Rejects with the error `fn` throws (for assert.rejects-like checks on message text). */
export async function errorOf(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}
