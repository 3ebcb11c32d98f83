// The registry: its rules as plain async functions over the stores (no HTTP in here).
import type { BlobStore } from '../store/blobs/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';
import type { Clock } from '../config/clock.js';
import { RegistryContext, type RegistryLimits } from './context.js';
import { BlobService } from './blobs.js';
import { ManifestService } from './manifests.js';
import { ListingService } from './listing.js';
import { checkReadiness, type Readiness } from './readiness.js';

export class Registry {
  readonly ctx: RegistryContext;
  readonly blobs: BlobService;
  readonly manifests: ManifestService;
  readonly listing: ListingService;

  constructor(blobStore: BlobStore, meta: MetaStore, limits: RegistryLimits, clock: Clock) {
    this.ctx = new RegistryContext(blobStore, meta, limits, clock);
    this.blobs = new BlobService(this.ctx);
    this.manifests = new ManifestService(this.ctx);
    this.listing = new ListingService(this.ctx);
  }

  /** Whether the database and the blob store answer (GET /readyz). */
  readiness(): Promise<Readiness> {
    return checkReadiness(this.ctx.meta, this.ctx.blobs);
  }

  get events() {
    return this.ctx.events;
  }

  async close(): Promise<void> {
    await this.blobs.drain();
    await this.ctx.blobs.close();
    await this.ctx.meta.close();
  }
}
