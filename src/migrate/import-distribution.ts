// Imports a Distribution (registry:2) storage tree into Wharf's stores through the registry's own rules:
// blobs go through BlobService (a verified, streamed upload, or a mount when another repository already
// holds the bytes), manifests and tags through ManifestService.put (validation, blob and child checks,
// bytes first then facts, subjects recorded so referrers appear). Nothing here writes the stores directly.
//
// Per repository: its blob links, then its manifests (children before the indexes that list them), then
// its tags. Every step first asks Wharf what it already has, so a run that was interrupted is finished by
// running again. Damage in Distribution (corrupt or missing bytes, dangling tags) is reported and
// skipped; anything else (Wharf's stores failing) stops the import.
import { Transform, type Readable } from 'node:stream';
import { ANONYMOUS } from '../access/access-controller.js';
import { parseDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { parseManifest } from '../oci/manifest.js';
import { MediaTypes } from '../oci/media-types.js';
import { isValidName } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import type { DistributionLayout } from './distribution-layout.js';
import { TooLargeError } from './distribution-storage.js';
import { emptyReport, type ImportProblem, type ImportReport } from './import-report.js';

/** Events go to no listener in an offline import; the registry's calls still want an actor. */
const ACTOR = ANONYMOUS;

/** How many examples of links without bytes the report keeps. */
const EXAMPLES = 20;

export interface ImportProgress {
  repository: string;
  /** 1-based position of the repository, of `total`. */
  index: number;
  total: number;
  /** `done` once per repository; the others at most every `progressEveryMs`. */
  phase: 'blobs' | 'manifests' | 'tags' | 'done';
  blobsDone: number;
  blobsTotal: number;
  /** Bytes copied so far by the whole run. */
  bytes: number;
  /** The whole run's report so far. */
  report: ImportReport;
}

export interface ImportOptions {
  onProgress?: (p: ImportProgress) => void;
  progressEveryMs?: number;
  /** Blobs copied at once within a repository. */
  concurrency?: number;
}

export async function importDistribution(layout: DistributionLayout, registry: Registry, opts: ImportOptions = {}): Promise<ImportReport> {
  return new DistributionImport(layout, registry, opts).run();
}

class DistributionImport {
  private readonly report: ImportReport;
  private readonly meta;
  private readonly clock;
  private lastProgress = -Infinity;
  private current: Omit<ImportProgress, 'bytes' | 'report'> | null = null;

  constructor(private readonly layout: DistributionLayout, private readonly registry: Registry, private readonly opts: ImportOptions) {
    this.report = emptyReport(layout.storage.location);
    this.meta = registry.ctx.meta;
    this.clock = registry.ctx.clock;
  }

  async run(): Promise<ImportReport> {
    const started = this.clock.now();
    const names: string[] = [];
    for await (const name of this.layout.repositories()) names.push(name);
    for (const [i, name] of names.entries()) {
      this.report.repositories++;
      this.current = { repository: name, index: i + 1, total: names.length, phase: 'blobs', blobsDone: 0, blobsTotal: 0 };
      await this.importRepository(name);
      this.current.phase = 'done';
      this.progress(true);
    }
    this.report.durationMs = this.clock.now() - started;
    return this.report;
  }

  private problem(p: ImportProblem): void {
    this.report.problems.push(p);
  }

  private progress(force = false): void {
    if (!this.opts.onProgress || !this.current) return;
    const now = this.clock.now();
    if (!force && now - this.lastProgress < (this.opts.progressEveryMs ?? 2000)) return;
    this.lastProgress = now;
    this.opts.onProgress({ ...this.current, bytes: this.report.blobs.bytes, report: this.report });
  }

  private async importRepository(name: string): Promise<void> {
    if (!isValidName(name)) {
      this.problem({ repository: name, kind: 'repository-invalid', detail: `${JSON.stringify(name.slice(0, 300))} is not a valid repository name` });
      return;
    }
    await this.importBlobs(name);
    const manifests = await this.importManifests(name);
    await this.importTags(name, manifests);
  }

  /** Valid digests of the links; the invalid ones are problems. */
  private digestsOf(name: string, links: Awaited<ReturnType<DistributionLayout['revisions']>>): string[] {
    const out: string[] = [];
    for (const l of links) {
      if (l.digest !== undefined) out.push(l.digest);
      else this.problem({ repository: name, kind: 'link-invalid', detail: l.problem });
    }
    return out;
  }

  private async importBlobs(name: string): Promise<void> {
    const digests = this.digestsOf(name, await this.layout.layerLinks(name));
    const repoId = await this.meta.repositories.idOf(name);
    const linked = repoId === null ? new Set<string>() : await this.meta.blobs.existing(repoId, digests);
    this.report.blobs.skipped += linked.size;
    const todo = digests.filter((d) => !linked.has(d));
    const cur = this.current!;
    cur.blobsTotal = digests.length;
    cur.blobsDone = linked.size;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < todo.length) {
        const digest = todo[next++]!;
        await this.importBlob(name, digest);
        cur.blobsDone++;
        this.progress();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 4, todo.length) }, worker));
  }

  private async importBlob(name: string, digest: string): Promise<void> {
    const d = parseDigest(digest);
    const size = await this.layout.blobSize(d);
    if (size === null) {
      const l = this.report.linksWithoutBlob;
      if (l.count++ < EXAMPLES) l.examples.push(`${name}@${digest}`);
      return;
    }
    // Bytes another repository already holds are linked, not copied again.
    if (await this.registry.blobs.mount(name, digest, null, ACTOR, async () => true)) {
      this.report.blobs.skipped++;
      return;
    }
    const source = await this.layout.openBlob(d);
    let readFailure: Error | null = null;
    const counted = this.counting(source, (e) => { readFailure = e; });
    try {
      await this.registry.blobs.putMonolithic(name, digest, counted, size, ACTOR);
    } catch (e) {
      counted.destroy();
      // The bytes do not hash to the digest (DIGEST_INVALID), are shorter than their file said
      // (SIZE_INVALID), or Distribution's file could not be read: damage in the source, not fatal.
      const corrupt = e instanceof RegistryError && (e.code === 'DIGEST_INVALID' || e.code === 'SIZE_INVALID');
      if (!corrupt && readFailure === null) throw e;
      this.report.blobs.bytes -= counted.bytesCounted;
      const detail = readFailure !== null ? `could not be read: ${(readFailure as Error).message}` : (e as Error).message;
      this.problem({ repository: name, kind: 'blob-corrupt', digest, detail });
      return;
    }
    this.report.blobs.imported++;
  }

  /** The source's bytes, counted into the report as they pass; `onError` learns of a failing read. */
  private counting(source: Readable, onError: (e: Error) => void): Transform & { bytesCounted: number } {
    const report = this.report;
    const t = new Transform({
      transform: (chunk: Buffer, _enc, cb) => {
        t.bytesCounted += chunk.length;
        report.blobs.bytes += chunk.length;
        this.progress();
        cb(null, chunk);
      },
    }) as Transform & { bytesCounted: number };
    t.bytesCounted = 0;
    source.once('error', (e) => { onError(e); t.destroy(e); });
    t.once('close', () => source.destroy());
    source.pipe(t);
    return t;
  }

  /** Imports the revisions Wharf does not hold yet; returns them all and those the repository holds afterwards. */
  private async importManifests(name: string): Promise<{ revisions: Set<string>; held: Set<string> }> {
    this.current!.phase = 'manifests';
    const digests = this.digestsOf(name, await this.layout.revisions(name));
    const repoId = await this.meta.repositories.idOf(name);
    const held = repoId === null ? new Set<string>() : await this.meta.manifests.existing(repoId, digests);
    this.report.manifests.skipped += held.size;
    // An index can only be stored once its children are: read each pending manifest's children first.
    const pending = new Map<string, string[]>();
    for (const digest of digests) {
      if (held.has(digest)) continue;
      const bytes = await this.readManifest(name, digest);
      if (bytes === null) continue;
      try {
        pending.set(digest, parseManifest(bytes, contentTypeOf(bytes)).children.map((c) => c.digest));
      } catch (e) {
        if (!(e instanceof RegistryError)) throw e;
        this.problem({ repository: name, kind: 'manifest-refused', digest, detail: e.message });
      }
    }
    while (pending.size > 0) {
      let ready = [...pending].filter(([, children]) => children.every((c) => !pending.has(c)));
      // Content addressing makes a cycle impossible; should one appear, storing reports it.
      if (ready.length === 0) ready = [...pending];
      for (const [digest] of ready) {
        pending.delete(digest);
        const bytes = await this.readManifest(name, digest);
        if (bytes === null) continue;
        try {
          await this.registry.manifests.put(name, digest, bytes, contentTypeOf(bytes), ACTOR);
          held.add(digest);
          this.report.manifests.imported++;
        } catch (e) {
          if (!(e instanceof RegistryError)) throw e;
          this.problem({ repository: name, kind: 'manifest-refused', digest, detail: e.message });
        }
        this.progress();
      }
    }
    return { revisions: new Set(digests), held };
  }

  /** The revision's bytes from Distribution, or null (a problem) when they are gone or too large. */
  private async readManifest(name: string, digest: string): Promise<Buffer | null> {
    try {
      const bytes = await this.layout.readSmallBlob(parseDigest(digest), this.registry.ctx.limits.maxManifestBytes);
      if (bytes === null) this.problem({ repository: name, kind: 'manifest-missing', digest, detail: 'the manifest is linked but Distribution holds no bytes for it' });
      return bytes;
    } catch (e) {
      if (!(e instanceof TooLargeError)) throw e;
      this.problem({ repository: name, kind: 'manifest-refused', digest, detail: `larger than manifests.maxSize: ${e.message}` });
      return null;
    }
  }

  private async importTags(name: string, { revisions, held }: { revisions: Set<string>; held: Set<string> }): Promise<void> {
    this.current!.phase = 'tags';
    const repoId = await this.meta.repositories.idOf(name);
    for (const { tag, link } of await this.layout.tags(name)) {
      if (link.digest === undefined) {
        this.problem({ repository: name, kind: 'link-invalid', tag, detail: link.problem });
        continue;
      }
      const digest = link.digest;
      if (!held.has(digest)) {
        const why = revisions.has(digest) ? 'was not imported (see its problem)' : 'is not a manifest of the repository in Distribution (no revision link)';
        this.problem({ repository: name, kind: 'tag-dangling', tag, digest, detail: `the tag points at ${digest}, which ${why}` });
        continue;
      }
      const current = repoId === null ? null : await this.meta.tags.resolve(repoId, tag);
      if (current?.digest === digest) {
        this.report.tags.skipped++;
        continue;
      }
      try {
        // Moved through the registry's own PUT of the manifest by tag: the same rules as a push.
        const m = await this.registry.manifests.get(name, digest);
        const put = await this.registry.manifests.put(name, tag, m.bytes, m.record.mediaType, ACTOR);
        if (put.digest !== digest) throw new RegistryError('DIGEST_INVALID', `the manifest's bytes hash to ${put.digest}`);
        this.report.tags.imported++;
      } catch (e) {
        if (!(e instanceof RegistryError)) throw e;
        this.problem({ repository: name, kind: 'tag-refused', tag, digest, detail: e.message });
      }
    }
  }
}

/**
 * The type to store a manifest as. Distribution took OCI manifests and indexes without `mediaType`
 * (optional in OCI 1.0) and told them apart by `manifests`; with a `mediaType`, the body decides.
 */
function contentTypeOf(bytes: Buffer): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined; // parseManifest says what is wrong
  }
  if (typeof doc !== 'object' || doc === null || 'mediaType' in doc) return undefined;
  return 'manifests' in doc ? MediaTypes.ociIndex : MediaTypes.ociManifest;
}
