// Manifest rules: validate, store, tag, serve, delete.
import { RegistryError } from '../oci/errors.js';
import { digestOf, parseDigest, tryParseDigest } from '../oci/digest.js';
import { assertName, assertTag, isValidTag } from '../oci/names.js';
import { parseManifest } from '../oci/manifest.js';
import type { ManifestRecord, ManifestRef, MetaTx } from '../store/meta/meta-store.js';
import type { RegistryContext } from './context.js';
import { BlobClaim } from './blob-claims.js';
import type { Actor } from './events.js';
import { immutableTagError } from './immutable-tags.js';
import { applicableQuotas } from './quotas.js';
import { EventSubscribers, type RegistryChange } from './webhook-events.js';

export interface PutManifestResult {
  digest: string;
  subject: string | null;
}

export interface ManifestWithBytes {
  record: ManifestRecord;
  bytes: Buffer;
}

/** A reference is a digest when it looks like one (has a colon), else a tag. */
function isDigestReference(reference: string): boolean {
  return reference.includes(':');
}

export class ManifestService {
  constructor(private readonly ctx: RegistryContext) {}

  async put(repository: string, reference: string, bytes: Buffer, contentType: string | undefined, actor: Actor): Promise<PutManifestResult> {
    if (bytes.length > this.ctx.limits.maxManifestBytes) {
      throw new RegistryError('MANIFEST_INVALID', `manifest exceeds ${this.ctx.limits.maxManifestBytes} bytes`, { status: 413 });
    }
    let digest: string;
    let tag: string | null = null;
    if (isDigestReference(reference)) {
      const want = parseDigest(reference);
      digest = digestOf(bytes, want.algorithm);
      if (digest !== reference) throw new RegistryError('DIGEST_INVALID', `manifest digest ${digest} does not match ${reference}`);
    } else {
      assertTag(reference);
      tag = reference;
      digest = digestOf(bytes);
    }
    const parsed = parseManifest(bytes, contentType);
    assertName(repository);
    // Check references before creating anything: a refused manifest leaves no trace.
    const existingId = await this.ctx.meta.repositories.idOf(repository);

    const blobDigests = unique(parsed.blobs.map((d) => d.digest));
    const present = existingId === null ? new Set<string>() : await this.ctx.meta.blobs.existing(existingId, blobDigests);
    const missingBlob = blobDigests.find((d) => !present.has(d));
    if (missingBlob) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `blob ${missingBlob} unknown to repository`, { detail: { digest: missingBlob } });
    const childDigests = unique(parsed.children.map((d) => d.digest));
    const children = existingId === null ? new Set<string>() : await this.ctx.meta.manifests.existing(existingId, childDigests);
    const missingChild = childDigests.find((d) => !children.has(d));
    if (missingChild) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${missingChild} unknown to repository`, { detail: { digest: missingChild } });

    const refs: ManifestRef[] = [
      ...parsed.blobs.map((d, i): ManifestRef => ({ digest: d.digest, kind: i === 0 && parsed.kind === 'image' ? 'config' : 'layer' })),
      ...parsed.children.map((d): ManifestRef => ({ digest: d.digest, kind: 'child' })),
    ];
    if (parsed.subject) refs.push({ digest: parsed.subject.digest, kind: 'subject' });
    const record: ManifestRecord = {
      digest,
      mediaType: parsed.mediaType,
      size: bytes.length,
      artifactType: parsed.artifactType ?? null,
      subject: parsed.subject?.digest ?? null,
      annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
    };
    const quotas = await applicableQuotas(this.ctx.meta, repository);
    // Bytes first, facts second: a crash in between leaves an unreferenced blob, never a dangling record.
    // The claim keeps a collector off the manifest's bytes until they are linked (see gc.ts).
    const claim = await BlobClaim.take(this.ctx.meta, digest);
    let recorded = 0;
    try {
      await this.ctx.blobs.putSmall(digest, bytes);
      await claim.linkWith(async (m) => {
        // The quota's lock before any other (see quotas.ts); a refused manifest's bytes stay until GC.
        await quotas?.lock(m);
        const repoId = existingId ?? (await m.repositories.ensure(repository));
        // Decided here, under the repository's lock, where the tag moves: of two pushes racing to make a
        // protected tag, the second sees the first's tag (the lock comes first: repository, then blob).
        if (tag !== null) {
          const p = (await this.ctx.immutableTags.guard(m, repoId, repository))(tag);
          const current = p === null ? null : await m.tags.resolve(repoId, tag);
          if (p !== null && current !== null && current.digest !== digest) {
            throw immutableTagError(repository, tag, `it points at ${current.digest} and cannot move to ${digest}`, p);
          }
        }
        // Checked again where the manifest is written: a collector may have removed a link since the
        // check above, and a link that exists here keeps its bytes until this manifest is gone.
        const stillLinked = await m.blobs.existing(repoId, blobDigests);
        const gone = blobDigests.find((d) => !stillLinked.has(d));
        if (gone) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `blob ${gone} unknown to repository`, { detail: { digest: gone } });
        const stillThere = await m.manifests.existing(repoId, childDigests);
        const goneChild = childDigests.find((d) => !stillThere.has(d));
        if (goneChild) throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest ${goneChild} unknown to repository`, { detail: { digest: goneChild } });
        // Webhooks: one indexed lookup. The tag's digest before the move is read only when someone listens
        // or a quota counts tags.
        const subscribers = await EventSubscribers.of(m, repository);
        const listening = subscribers.any && subscribers.want(PUSH_EVENTS, repository, tag);
        const current = tag !== null && (quotas || listening) ? await m.tags.resolve(repoId, tag) : null;
        if (quotas) {
          const refusal = await quotas.refusal(m, { blob: { digest, size: bytes.length }, newTag: tag !== null && current === null });
          if (refusal) throw refusal;
        }
        const before = listening ? (current?.digest ?? null) : null;
        if (!(await m.blobs.link(repoId, digest, bytes.length))) {
          throw new RegistryError('MANIFEST_INVALID', `manifest ${digest} was garbage-collected while it was stored; retry`);
        }
        await m.manifests.put(repoId, record, refs);
        if (tag !== null) await m.tags.move(repoId, tag, digest);
        if (listening) recorded = await subscribers.record(m, pushChanges(repository, record, tag, before, actor));
      });
    } finally {
      await claim.release();
    }
    this.ctx.webhooks.recorded(recorded);
    this.ctx.manifestCache.set(digest, bytes);
    this.ctx.events.emitEvent({ type: 'manifest.pushed', repository, digest, tag, mediaType: parsed.mediaType, actor });
    return { digest, subject: record.subject };
  }

  /** The manifest's record (for HEAD), or MANIFEST_UNKNOWN. */
  async resolve(repository: string, reference: string): Promise<ManifestRecord> {
    // The hot path (HEAD/GET by tag): two prepared statements, the repository's id then the tag.
    const repoId = await this.ctx.meta.repositories.idOf(repository);
    let record: ManifestRecord | null = null;
    if (isDigestReference(reference)) {
      parseDigest(reference);
      if (repoId !== null) record = await this.ctx.meta.manifests.get(repoId, reference);
    } else {
      // A tag that could never have been pushed (say `.hidden`) is simply unknown, as the OCI
      // conformance suite expects; only a PUT with it is TAG_INVALID.
      if (repoId !== null && isValidTag(reference)) record = await this.ctx.meta.tags.resolve(repoId, reference);
    }
    if (!record) {
      // Tell an unknown repository apart from an unknown manifest, as Distribution does.
      await this.ctx.existingRepo(repository);
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} unknown to repository`);
    }
    return record;
  }

  async get(repository: string, reference: string): Promise<ManifestWithBytes> {
    const record = await this.resolve(repository, reference);
    let bytes = this.ctx.manifestCache.get(record.digest);
    if (!bytes) {
      bytes = (await this.ctx.blobs.readSmall(record.digest)) ?? undefined;
      if (!bytes) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} content missing`);
      this.ctx.manifestCache.set(record.digest, bytes);
    }
    return { record, bytes };
  }

  /** By digest: removes the manifest and its tags. By tag: removes only the tag. */
  async delete(repository: string, reference: string, actor: Actor): Promise<void> {
    const repoId = await this.ctx.existingRepo(repository);
    if (isDigestReference(reference)) {
      if (!tryParseDigest(reference)) throw new RegistryError('DIGEST_INVALID');
      let recorded = 0;
      const removed = await this.ctx.meta.tx(async (m) => {
        const protects = await this.ctx.immutableTags.guard(m, repoId, repository);
        const tags = await m.tags.pointingAt(repoId, reference);
        for (const tag of tags) {
          const p = protects(tag);
          if (p !== null) throw immutableTagError(repository, tag, `deleting ${reference} would remove it`, p);
        }
        const subscribers = await EventSubscribers.of(m, repository);
        const gone = subscribers.any ? await m.manifests.get(repoId, reference) : null;
        if (!(await removeManifest(m, repoId, reference))) return false;
        recorded = await subscribers.record(m, [{
          type: 'io.wharf.image.deleted', repository, digest: reference, tag: null, tags, previousDigest: null,
          mediaType: gone?.mediaType ?? null, size: gone?.size ?? null, actor,
        }]);
        return true;
      });
      if (!removed) throw new RegistryError('MANIFEST_UNKNOWN');
      this.ctx.webhooks.recorded(recorded);
      this.ctx.events.emitEvent({ type: 'manifest.deleted', repository, digest: reference, actor });
    } else {
      assertTag(reference);
      let recorded = 0;
      const removed = await this.ctx.meta.tx(async (m) => {
        const p = (await this.ctx.immutableTags.guard(m, repoId, repository))(reference);
        if (p !== null && (await m.tags.resolve(repoId, reference)) !== null) throw immutableTagError(repository, reference, 'it cannot be deleted', p);
        const subscribers = await EventSubscribers.of(m, repository);
        const was = subscribers.any ? await m.tags.resolve(repoId, reference) : null;
        if (!(await m.tags.delete(repoId, reference))) return false;
        recorded = await subscribers.record(m, [{
          type: 'io.wharf.tag.deleted', repository, digest: was?.digest ?? null, tag: reference, previousDigest: null,
          mediaType: was?.mediaType ?? null, size: was?.size ?? null, actor,
        }]);
        return true;
      });
      if (!removed) throw new RegistryError('MANIFEST_UNKNOWN', `tag ${reference} unknown`);
      this.ctx.webhooks.recorded(recorded);
      this.ctx.events.emitEvent({ type: 'tag.deleted', repository, tag: reference, actor });
    }
  }
}

/**
 * Inside a unit of work holding the repository's lock: removes the manifest, the tags on it (recorded in
 * history) and the link of its bytes (garbage collection frees them); false when there is no such manifest.
 */
export async function removeManifest(m: MetaTx, repoId: number, digest: string): Promise<boolean> {
  if (!(await m.manifests.delete(repoId, digest))) return false;
  await m.tags.deleteAllOn(repoId, digest);
  await m.blobs.unlink(repoId, digest);
  return true;
}

const PUSH_EVENTS: readonly RegistryChange['type'][] = ['io.wharf.image.pushed', 'io.wharf.tag.moved'];

/** A push's events: the manifest stored (with its tag), and the tag's move when it pointed elsewhere before. */
function pushChanges(repository: string, r: ManifestRecord, tag: string | null, before: string | null, actor: Actor): RegistryChange[] {
  const moved = before !== null && before !== r.digest ? before : null;
  const common = { repository, digest: r.digest, tag, previousDigest: moved, mediaType: r.mediaType, size: r.size, actor };
  const changes: RegistryChange[] = [{ type: 'io.wharf.image.pushed', ...common }];
  if (moved !== null) changes.push({ type: 'io.wharf.tag.moved', ...common });
  return changes;
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
