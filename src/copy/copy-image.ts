// The copy engine: any ImageSource to any ImageDestination. Parallel blobs (bounded), skip what exists,
// mount across repositories of one registry, verify every digest, optional manifest conversion.
import { pipeline } from 'node:stream/promises';
import { PassThrough, Transform } from 'node:stream';
import { digestOf } from '../oci/digest.js';
import { parseManifest, type Descriptor } from '../oci/manifest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import type { BlobInfo, ImageDestination, ImageSource, ManifestBytes } from '../transports/types.js';
import { verifyingStream } from '../transports/verify.js';
import { convertImageManifest, convertIndex, formatOf, type ManifestFormat } from './convert.js';
import { choosePlatform, hostPlatform, type Platform } from '../oci/platform.js';
import { WharfError } from '../oci/errors.js';

/** Blobs below this size are copied before the big ones (see copyBlobs). */
const SMALL_BLOB = 1 << 20;

export type MultiArch = 'system' | 'all' | 'index-only';

export type CopyEvent =
  | { type: 'manifest'; digest: string; mediaType: string }
  | { type: 'blob-start'; digest: string; size: number }
  | { type: 'blob-progress'; digest: string; bytes: number }
  | { type: 'blob-done'; digest: string; size: number; how: 'copied' | 'skipped' | 'mounted' };

export interface CopyOptions {
  multiArch?: MultiArch;
  platform?: Partial<Platform>;
  format?: ManifestFormat;
  /** Fail rather than change a manifest digest. */
  preserveDigests?: boolean;
  parallel?: number;
  retryTimes?: number;
  onEvent?: (e: CopyEvent) => void;
  /** Where the source lives when it is a registry (enables cross-repository mounts). */
  sourceRepository?: { registry: string; repository: string };
}

export interface CopyResult {
  /** Digest of the top-level manifest written. */
  digest: string;
  mediaType: string;
  copied: number;
  skipped: number;
  mounted: number;
  bytes: number;
}

export class CopyError extends WharfError {}

export async function copyImage(src: ImageSource, dest: ImageDestination, opts: CopyOptions = {}): Promise<CopyResult> {
  const engine = new CopyEngine(src, dest, opts);
  const result = await engine.run();
  await dest.commit();
  return result;
}

class CopyEngine {
  private readonly stats = { copied: 0, skipped: 0, mounted: 0, bytes: 0 };
  /** Blobs already handled in this copy (shared layers of several platforms). */
  private readonly done = new Map<string, Promise<void>>();

  constructor(private readonly src: ImageSource, private readonly dest: ImageDestination, private readonly opts: CopyOptions) {}

  async run(): Promise<CopyResult> {
    const top = await this.src.getManifest();
    let written: ManifestBytes;
    if (isIndexMediaType(top.mediaType)) {
      const mode = this.opts.multiArch ?? 'system';
      if (mode === 'system') {
        const parsed = parseManifest(top.bytes, top.mediaType);
        const want = hostPlatform(this.opts.platform);
        const child = choosePlatform(parsed.children, want);
        if (!child) {
          throw new CopyError(`no image for ${want.os}/${want.architecture}${want.variant ? `/${want.variant}` : ''} in ${this.src.name}: use --all, or --override-os/--override-arch`);
        }
        const m = await this.src.getManifest(child.digest);
        written = await this.copyImageManifest(m, undefined);
      } else {
        written = await this.copyIndex(top, mode === 'all');
      }
    } else {
      written = await this.copyImageManifest(top, undefined);
    }
    return { digest: digestOf(written.bytes), mediaType: written.mediaType, ...this.stats };
  }

  private checkDestinationType(mediaType: string): void {
    if (this.dest.supportsManifestType && !this.dest.supportsManifestType(mediaType)) {
      throw new CopyError(`${this.dest.name} cannot store ${mediaType}${isIndexMediaType(mediaType) ? ' (a multi-platform index): copy one platform, without --all' : ''}`);
    }
  }

  /** The format to write: --format, else the other one when the destination cannot store this one (as skopeo does). */
  private targetFormat(mediaType: string): ManifestFormat | null {
    const current = formatOf(mediaType);
    if (this.opts.format) return this.opts.format === current ? null : this.opts.format;
    if (current && this.dest.supportsManifestType && !this.dest.supportsManifestType(mediaType)) return current === 'oci' ? 'v2s2' : 'oci';
    return null;
  }

  private converted(m: ManifestBytes, convert: (to: ManifestFormat) => ManifestBytes): ManifestBytes {
    const to = this.targetFormat(m.mediaType);
    if (!to) return m;
    if (this.opts.preserveDigests) throw new CopyError(`writing ${m.mediaType} as ${to} to ${this.dest.name} would change its digest, and --preserve-digests forbids it`);
    return convert(to);
  }

  private async copyIndex(index: ManifestBytes, withChildren: boolean): Promise<ManifestBytes> {
    const parsed = parseManifest(index.bytes, index.mediaType);
    const newChildren = new Map<string, { digest: string; size: number; mediaType: string }>();
    if (withChildren) {
      // Every child is fetched (and so verified against its digest) before anything is written: a bad
      // child must not leave the others' blobs at the destination.
      const manifests: ManifestBytes[] = [];
      for (const child of parsed.children) manifests.push(await this.src.getManifest(child.digest));
      for (const [i, child] of parsed.children.entries()) {
        const m = manifests[i]!;
        const out = await this.copyImageManifest(m, child);
        newChildren.set(child.digest, { digest: digestOf(out.bytes), size: out.bytes.length, mediaType: out.mediaType });
      }
    }
    const out = this.converted(index, (to) => convertIndex(index.bytes, to, newChildren));
    this.checkDestinationType(out.mediaType);
    await this.dest.putManifest(out);
    this.opts.onEvent?.({ type: 'manifest', digest: digestOf(out.bytes), mediaType: out.mediaType });
    return out;
  }

  /** Copies an image's blobs then its manifest; `asChild` when it is an entry of an index being copied. */
  private async copyImageManifest(m: ManifestBytes, asChild: Descriptor | undefined): Promise<ManifestBytes> {
    if (isIndexMediaType(m.mediaType)) throw new CopyError('nested indexes are not supported');
    const parsed = parseManifest(m.bytes, m.mediaType);
    const out = this.converted(m, (to) => convertImageManifest(m.bytes, to));
    this.checkDestinationType(out.mediaType);
    await this.copyBlobs(parsed.blobs);
    const digest = digestOf(out.bytes);
    await this.dest.putManifest(out, asChild ? digest : undefined);
    this.opts.onEvent?.({ type: 'manifest', digest, mediaType: out.mediaType });
    return out;
  }

  private async copyBlobs(blobs: Descriptor[]): Promise<void> {
    const limit = Math.max(1, this.opts.parallel ?? 6);
    // Config and layers together: destinations need only that the manifest comes after every blob.
    // Small blobs (the config) first: they take a moment, and one left for last would end the copy with
    // an fsync queued behind the big ones'. Then the largest first, so the copy does not end with one big
    // layer crawling alone (longest-processing-time-first scheduling).
    const small = (d: Descriptor): boolean => d.size < SMALL_BLOB;
    const queue = [...blobs.filter(small), ...blobs.filter((d) => !small(d)).sort((a, b) => b.size - a.size)];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < queue.length) await this.copyBlobOnce(queue[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(limit, queue.length) }, worker));
  }

  private copyBlobOnce(d: Descriptor): Promise<void> {
    let p = this.done.get(d.digest);
    if (!p) {
      p = this.copyBlob({ digest: d.digest, size: d.size, mediaType: d.mediaType });
      this.done.set(d.digest, p);
    }
    return p;
  }

  private async copyBlob(blob: BlobInfo): Promise<void> {
    const emit = this.opts.onEvent;
    emit?.({ type: 'blob-start', digest: blob.digest, size: blob.size });
    if (await this.dest.hasBlob(blob)) {
      this.stats.skipped++;
      emit?.({ type: 'blob-done', digest: blob.digest, size: blob.size, how: 'skipped' });
      return;
    }
    const from = this.opts.sourceRepository;
    if (from && this.dest.tryMount && (await this.dest.tryMount(blob, from))) {
      this.stats.mounted++;
      emit?.({ type: 'blob-done', digest: blob.digest, size: blob.size, how: 'mounted' });
      return;
    }
    const attempts = Math.max(1, (this.opts.retryTimes ?? 2) + 1);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.streamBlob(blob);
        break;
      } catch (e) {
        if (attempt >= attempts || e instanceof CopyError) throw e;
        await new Promise((r) => setTimeout(r, 500 * attempt));
      }
    }
    this.stats.copied++;
    this.stats.bytes += blob.size;
    emit?.({ type: 'blob-done', digest: blob.digest, size: blob.size, how: 'copied' });
  }

  private async streamBlob(blob: BlobInfo): Promise<void> {
    const body = await this.src.getBlob(blob);
    const emit = this.opts.onEvent;
    // Source -> [verify digest] -> [progress] -> destination, with backpressure throughout. Hashing
    // here only when neither side checks the digest itself: every byte is verified exactly once.
    const stages: NodeJS.ReadWriteStream[] = [];
    if (!this.src.verifiesBlobs && !this.dest.verifiesBlobs) stages.push(verifyingStream(blob.digest, blob.size));
    if (emit) {
      stages.push(new Transform({
        transform(chunk: Buffer, _enc, cb) {
          emit({ type: 'blob-progress', digest: blob.digest, bytes: chunk.length });
          cb(null, chunk);
        },
      }));
    }
    // Every stream hop costs a pause/resume round per chunk: without stages the body goes straight to the destination.
    const tail = stages.length > 0 ? new PassThrough({ highWaterMark: 1 << 20 }) : body;
    const flowing = stages.length > 0 ? pipeline([body, ...stages, tail]) : Promise.resolve();
    // A destination that verifies whole blobs may resume a dropped upload from the source at an offset.
    const src = this.src;
    const resume = this.dest.verifiesBlobs && src.getBlobFrom ? (offset: number) => src.getBlobFrom!(blob, offset) : undefined;
    const stored = this.dest.putBlob(blob, tail, { resume }).catch((e: unknown) => {
      tail.destroy(e as Error); // stop reading the source too
      throw e;
    });
    if (resume) {
      // After a resume the first stream is abandoned; the verified upload is what counts.
      flowing.catch(() => undefined);
      await stored;
    } else {
      await Promise.all([stored, flowing]);
    }
  }
}
