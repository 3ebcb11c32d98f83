// Tag history and restore (a time machine, as Quay has): every move and delete of a tag is recorded
// (`tags.move`, `tags.delete`); within `history.keep` a tag can be pointed back at a digest it had, as
// long as the repository still holds that manifest. Garbage collection keeps such manifests (gc-plan.ts).
// An entry is restorable while the tag pointed at its digest within the window: the entry was made
// within it, or the tag left the digest within it (or has not left it yet).
import { immutableTagError } from './immutable-tags.js';
import { RegistryError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import { assertTag } from '../oci/names.js';
import { repositoryLock, type HistoryPage, type MetaTx, type TagHistoryEntry } from '../store/meta/meta-store.js';
import type { RegistryContext } from './context.js';
import type { Actor } from './events.js';
import { applicableQuotas } from './quotas.js';
import { recordEvents } from './webhook-events.js';

/** history.keep's default: 14 days. */
export const DEFAULT_HISTORY_KEEP_MS = 14 * 24 * 3_600_000;

export interface HistoryItem {
  tag: string;
  digest: string | null;
  at: number;
  seq: number;
  restorable: boolean;
}

export type RestoreTarget = { digest: string } | { undelete: true };

export class TagHistoryService {
  constructor(private readonly ctx: RegistryContext) {}

  private get since(): number {
    return this.ctx.clock.now() - this.ctx.limits.historyKeepMs;
  }

  private restorable(e: TagHistoryEntry, since: number): boolean {
    return e.digest !== null && e.manifestKept && (e.at >= since || e.until === null || e.until >= since);
  }

  /** One tag's history (newest first); NAME_UNKNOWN / MANIFEST_UNKNOWN (a tag that never existed). */
  async ofTag(repository: string, tag: string, page: HistoryPage): Promise<HistoryItem[]> {
    assertTag(tag);
    const repoId = await this.ctx.existingRepo(repository);
    const entries = await this.ctx.meta.tags.history(repoId, tag, page);
    if (entries.length === 0 && page.before === undefined) throw new RegistryError('MANIFEST_UNKNOWN', `tag ${tag} has no history in ${repository}`);
    const since = this.since;
    return entries.map((e) => this.item(e, since));
  }

  /** Every tag's history in the repository (newest first). */
  async ofRepository(repository: string, page: HistoryPage): Promise<HistoryItem[]> {
    const repoId = await this.ctx.existingRepo(repository);
    const since = this.since;
    return (await this.ctx.meta.tags.history(repoId, null, page)).map((e) => this.item(e, since));
  }

  private item(e: TagHistoryEntry, since: number): HistoryItem {
    return { tag: e.tag, digest: e.digest, at: e.at, seq: e.seq, restorable: this.restorable(e, since) };
  }

  /**
   * Points the tag back at a digest it had (or, undeleting, at the one it had before its last delete).
   * A tag move: recorded in history, announced as `manifest.pushed` with the tag.
   */
  async restore(repository: string, tag: string, target: RestoreTarget, actor: Actor): Promise<{ digest: string; mediaType: string }> {
    assertTag(tag);
    if ('digest' in target) parseDigest(target.digest);
    const repoId = await this.ctx.existingRepo(repository);
    const quotas = await applicableQuotas(this.ctx.meta, repository);
    let recorded = 0;
    const restored = await this.ctx.meta.tx(async (m) => {
      // The quota's lock first (see quotas.ts): bringing a deleted tag back makes a tag.
      await quotas?.lock(m);
      // Decided and moved under the repository's lock: a collection cannot remove the manifest in between.
      await m.lock(repositoryLock(repoId));
      const entry = await this.chosen(m, repoId, tag, target);
      if (!entry.manifestKept) throw gone(`manifest ${entry.digest} is no longer in ${repository}: it cannot be restored`);
      if (!this.restorable(entry, this.since)) {
        throw gone(`tag ${tag} left ${entry.digest} longer ago than history.keep (${Math.round(this.ctx.limits.historyKeepMs / 1000)}s): it cannot be restored`);
      }
      const manifest = await m.manifests.get(repoId, entry.digest!);
      if (!manifest) throw gone(`manifest ${entry.digest} is no longer in ${repository}: it cannot be restored`);
      // A restore is a move: an immutable tag stays where it is (an undelete makes it anew, which is allowed).
      const current = await m.tags.resolve(repoId, tag);
      if (current !== null && current.digest !== manifest.digest) {
        const p = (await this.ctx.immutableTags.guard(m, repoId, repository))(tag);
        if (p !== null) throw immutableTagError(repository, tag, `it points at ${current.digest} and cannot be restored to ${manifest.digest}`, p);
      }
      const refusal = current === null ? await quotas?.refusal(m, { newTag: true }) : null;
      if (refusal) throw refusal;
      await m.tags.move(repoId, tag, manifest.digest);
      // For webhooks a restore is a tag move (an undelete too: from no digest), announced in this unit of work.
      if (current === null || current.digest !== manifest.digest) {
        recorded = await recordEvents(m, [{
          type: 'io.wharf.tag.moved', repository, digest: manifest.digest, tag, previousDigest: current?.digest ?? null,
          mediaType: manifest.mediaType, size: manifest.size, actor,
        }]);
      }
      return manifest;
    });
    this.ctx.webhooks.recorded(recorded);
    this.ctx.events.emitEvent({ type: 'manifest.pushed', repository, digest: restored.digest, tag, mediaType: restored.mediaType, actor });
    return { digest: restored.digest, mediaType: restored.mediaType };
  }

  private async chosen(m: MetaTx, repoId: number, tag: string, target: RestoreTarget): Promise<TagHistoryEntry> {
    const entries = await m.tags.history(repoId, tag, {});
    if (entries.length === 0) throw new RegistryError('MANIFEST_UNKNOWN', `tag ${tag} has no history`);
    if ('digest' in target) {
      const found = entries.find((e) => e.digest === target.digest);
      if (!found) throw new RegistryError('MANIFEST_UNKNOWN', `tag ${tag} never pointed at ${target.digest}`);
      return found;
    }
    // Only a deleted tag is undeleted: its latest entry is the delete, the one before it the digest it had.
    if (entries[0]!.digest !== null) throw new RegistryError('CONFLICT', `tag ${tag} is not deleted (it points at ${entries[0]!.digest})`);
    const before = entries[1];
    if (!before || before.digest === null) throw new RegistryError('MANIFEST_UNKNOWN', `tag ${tag} has no earlier digest to point back at`);
    return before;
  }
}

/** What history names but can no longer bring back: 410 Gone, in the registry's error shape. */
function gone(message: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', message, { status: 410 });
}
