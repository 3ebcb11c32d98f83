// What every registry operation needs: the stores, the clock, the limits, the event sink.
import type { BlobStore } from '../store/blobs/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { Clock } from '../config/clock.js';
import { RegistryError } from '../oci/errors.js';
import { assertName } from '../oci/names.js';
import { ManifestCache } from './manifest-cache.js';
import { RegistryEvents } from './events.js';
import { ImmutableTags } from './immutable-tags.js';
import type { RetentionRules } from '../config/retention-rules.js';
import { WebhookEvents } from './webhook-events.js';

export interface RegistryLimits {
  /** Largest manifest accepted, in bytes. */
  maxManifestBytes: number;
  /** How long a tag's earlier digests stay restorable (history.keep); 14 days unless given. */
  historyKeepMs: number;
  /** Immutable tag patterns for every repository (configuration: immutable.patterns). */
  immutableTagPatterns?: readonly string[];
  /** The retention policy of repositories without one of their own or their namespace's (retention.default). */
  retentionDefault?: RetentionRules;
}

export class RegistryContext {
  readonly manifestCache = new ManifestCache(64 << 20);
  readonly events = new RegistryEvents();
  readonly immutableTags: ImmutableTags;
  readonly webhooks: WebhookEvents;

  constructor(readonly blobs: BlobStore, readonly meta: MetaStore, readonly limits: RegistryLimits, readonly clock: Clock) {
    this.immutableTags = new ImmutableTags(limits.immutableTagPatterns);
    this.webhooks = new WebhookEvents(meta, clock);
  }

  /** Id of an existing repository, or NAME_UNKNOWN. */
  async existingRepo(name: string): Promise<number> {
    assertName(name);
    const id = await this.meta.repositories.idOf(name);
    if (id === null) throw new RegistryError('NAME_UNKNOWN', `repository ${name} not known to registry`);
    return id;
  }

  /** Id of a repository to write to, created on first push. */
  async writableRepo(name: string): Promise<number> {
    assertName(name);
    return this.meta.repositories.ensure(name);
  }
}
