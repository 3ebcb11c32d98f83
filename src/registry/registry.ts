// The registry: its rules as plain async functions over the stores (no HTTP in here).
import type { BlobStore } from '../store/blobs/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { Clock } from '../config/clock.js';
import { RegistryContext, type RegistryLimits } from './context.js';
import { BlobService } from './blobs.js';
import { ManifestService } from './manifests.js';
import { ListingService } from './listing.js';
import { DEFAULT_HISTORY_KEEP_MS, TagHistoryService } from './tag-history.js';
import { checkReadiness, type Readiness } from './readiness.js';
import { RetentionService } from './retention.js';

export class Registry {
  readonly ctx: RegistryContext;
  readonly blobs: BlobService;
  readonly manifests: ManifestService;
  readonly listing: ListingService;
  readonly history: TagHistoryService;
  readonly retention: RetentionService;

  constructor(blobStore: BlobStore, meta: MetaStore, limits: Partial<RegistryLimits> & Pick<RegistryLimits, 'maxManifestBytes'>, clock: Clock) {
    this.ctx = new RegistryContext(blobStore, meta, { historyKeepMs: DEFAULT_HISTORY_KEEP_MS, ...limits }, clock);
    this.blobs = new BlobService(this.ctx);
    this.manifests = new ManifestService(this.ctx);
    this.listing = new ListingService(this.ctx);
    this.history = new TagHistoryService(this.ctx);
    this.retention = new RetentionService(this.ctx);
  }

  /** Whether the database and the blob store answer (GET /readyz). */
  readiness(): Promise<Readiness> {
    return checkReadiness(this.ctx.meta, this.ctx.blobs);
  }

  get events() {
    return this.ctx.events;
  }

  /** Webhook events: pulls, and the nudge after a commit that recorded deliveries. */
  get webhooks() {
    return this.ctx.webhooks;
  }

  async close(): Promise<void> {
    await this.blobs.drain();
    await this.ctx.webhooks.flush();
    await this.ctx.blobs.close();
    await this.ctx.meta.close();
  }
}
