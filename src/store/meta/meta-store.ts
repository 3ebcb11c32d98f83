// The metadata store contract, split per aggregate, with one unit of work (`tx`).
// One implementation in portable SQL (sql-meta-store.ts) over SQLite (embedded default) or PostgreSQL.
//
// Keys: a repository is named only where a name comes in from outside (`repositories.idOf`,
// `repositories.ensure`, the catalog); every other method takes the repository's id.
// Time: implementations stamp rows with their injected Clock, never with the wall clock.
import type { UploadPosition } from '../blobs/blob-store.js';
import type { AuditStore, GrantStore, OrgStore, SigningKeyStore, TokenStore, UserStore, VisibilityStore } from './account-store.js';
import type { RetentionRules } from '../../config/retention-rules.js';

export type { UploadPosition };

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  subject: string | null;
  /** JSON-encoded annotations, or null. */
  annotations: string | null;
}

/** A stored manifest: its record and when it was first stored in the repository. */
export interface StoredManifest extends ManifestRecord {
  createdAt: number;
}

export interface ManifestRef {
  digest: string;
  kind: 'config' | 'layer' | 'child' | 'subject';
}

export interface UploadRecord extends UploadPosition {
  id: string;
  repoId: number;
  /** Digest algorithm the bytes are hashed with as they arrive. */
  algorithm: string;
  createdAt: number;
  updatedAt: number;
}

export interface BlobLink {
  size: number;
  /** When the blob was first linked to the repository, or last confirmed by a client (`touch`). */
  linkedAt: number;
}

export interface Page {
  n?: number;
  last?: string;
}

/** One move (digest) or delete (null) of a tag, as `tag_history` records it. */
export interface TagHistoryEntry {
  tag: string;
  /** The digest the tag was pointed at, or null when it was deleted. */
  digest: string | null;
  at: number;
  /** Order within the repository (a cursor: `before`). */
  seq: number;
  /** When the tag next moved or was deleted; null while this is the tag's latest entry. */
  until: number | null;
  /** Whether the repository still holds the manifest (false for a delete). */
  manifestKept: boolean;
}

export interface HistoryPage {
  n?: number;
  /** Only entries older than this `seq`. */
  before?: number;
}

export interface Lease {
  holder: string;
  expiresAt: number;
}

export interface RepositoryStore {
  idOf(name: string): Promise<number | null>;
  /** Id of the repository, created on first use. */
  ensure(name: string): Promise<number>;
  /** Names of repositories that hold or have held a manifest, in lexical order (uploads alone do not make one visible). */
  list(page: Page): Promise<string[]>;
  hasHeldManifests(repoId: number): Promise<boolean>;
}

export interface BlobLinkStore {
  /**
   * Records the blob and makes it readable in the repository (idempotent: the first link's time stays).
   * False, linking nothing, while a collector is deleting the digest's bytes: treat the blob as absent.
   */
  link(repoId: number, digest: string, size: number): Promise<boolean>;
  get(repoId: number, digest: string): Promise<BlobLink | null>;
  /** Size of the blob when some repository holds it. */
  sizeAnywhere(digest: string): Promise<number | null>;
  /** Names of repositories that hold the blob, in lexical order, at most `limit`. */
  holders(digest: string, limit: number): Promise<string[]>;
  unlink(repoId: number, digest: string): Promise<boolean>;
  /**
   * Sets the link's time to now: a client asked for the blob (a push's HEAD), so the grace period starts
   * again. False when there is no such link (a collector removed it since it was read).
   */
  touch(repoId: number, digest: string): Promise<boolean>;
  /** Which of these digests are linked to the repository. */
  existing(repoId: number, digests: string[]): Promise<Set<string>>;
}

export interface ManifestStore {
  /** Stores the manifest and its references (idempotent). The bytes' blob link is the caller's (`blobs.link`). */
  put(repoId: number, m: ManifestRecord, refs: ManifestRef[]): Promise<void>;
  get(repoId: number, digest: string): Promise<StoredManifest | null>;
  /** Which of these digests are manifests in the repository. */
  existing(repoId: number, digests: string[]): Promise<Set<string>>;
  /** Removes the manifest and its references (not its tags: see `tags.deleteAllOn`). */
  delete(repoId: number, digest: string): Promise<boolean>;
  referrers(repoId: number, subject: string, artifactType?: string): Promise<StoredManifest[]>;
}

export interface TagStore {
  /** The manifest the tag points at. */
  resolve(repoId: number, tag: string): Promise<StoredManifest | null>;
  /** Points the tag at the digest, recording the move in the tag's history when it changes. */
  move(repoId: number, tag: string, digest: string): Promise<void>;
  delete(repoId: number, tag: string): Promise<boolean>;
  /** Names of the tags pointing at the digest, in lexical order. */
  pointingAt(repoId: number, digest: string): Promise<string[]>;
  /** Removes every tag on the manifest, recording each removal in history. */
  deleteAllOn(repoId: number, digest: string): Promise<void>;
  list(repoId: number, page: Page): Promise<string[]>;
  /** The history of one tag, or (tag null) of every tag of the repository, newest first. */
  history(repoId: number, tag: string | null, page: HistoryPage): Promise<TagHistoryEntry[]>;
  /** Digests some tag pointed at at or after `since` (a history entry then, or one not left before then). */
  recentlyTagged(repoId: number, since: number): Promise<string[]>;
}

export interface UploadStore {
  create(id: string, repoId: number, algorithm: string, at: UploadPosition): Promise<void>;
  get(id: string): Promise<UploadRecord | null>;
  /**
   * Moves the upload from `from` to `to` (and marks it active), only if it is still at `from.offset`.
   * False when another writer moved it first, or when it is gone.
   */
  advance(id: string, fromOffset: number, to: UploadPosition): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** Removes the upload only if it has stayed idle since before `idleBefore`; true when it was removed. */
  deleteIfIdle(id: string, idleBefore: number): Promise<boolean>;
  /** Uploads idle since before `idleBefore`, at most `limit` of them. */
  idleSince(idleBefore: number, limit: number): Promise<UploadRecord[]>;
  /** Which of these upload ids have a record. */
  existing(ids: string[]): Promise<Set<string>>;
}

/**
 * A pattern of immutable tags (oci/tag-patterns.ts), set on a whole namespace (`repository` null) or on
 * one repository (its full name) in it. A tag it matches, once made, never moves nor goes.
 */
export interface ImmutableTagRule {
  namespace: string;
  repository: string | null;
  pattern: string;
  createdAt: number;
}

export interface ImmutableTagStore {
  /** Adds the rule; false (and the first one's time stays) when it is there already. */
  add(namespace: string, repository: string | null, pattern: string): Promise<boolean>;
  remove(namespace: string, repository: string | null, pattern: string): Promise<boolean>;
  /** The rules of a namespace (on it and on its repositories), or of every namespace; by namespace, repository, pattern. */
  list(namespace?: string): Promise<ImmutableTagRule[]>;
  /** The rules that protect a repository's tags: its namespace's and its own (one indexed query). */
  forRepository(namespace: string, repository: string): Promise<ImmutableTagRule[]>;
}

/** Where a quota applies: a whole namespace (`repository` null) or one repository (its full name) in it. */
export interface QuotaScope {
  namespace: string;
  repository: string | null;
}

/** Limits of a quota; null is no limit. */
export interface QuotaLimits {
  /** Bytes of the distinct blobs (layers, configs and manifests) linked in the scope. */
  bytes: number | null;
  tags: number | null;
}

export interface QuotaRecord extends QuotaScope, QuotaLimits {
  createdAt: number;
  updatedAt: number;
}

/** What a webhook subscription may be told of (registry/webhook-events.ts). */
export type WebhookEventKind = 'push' | 'delete' | 'pull' | 'tag-move';
/** The body a subscription receives: CloudEvents 1.0 (structured JSON), or Distribution's notification envelope. */
export type WebhookFormat = 'cloudevents' | 'distribution';

/** What a subscription's owner may change. */
export interface WebhookSettings {
  url: string;
  events: WebhookEventKind[];
  /** A glob on the repository's full name (oci/tag-patterns.ts), or null: every repository. */
  repositories: string | null;
  /** A glob on the tag, or null: every tag (and events without one). */
  tags: string | null;
  format: WebhookFormat;
  enabled: boolean;
  /** Most events in one request (1..100); 1: one event per request, the body as ever; more: a batch body (jobs/webhook-payloads.ts). */
  batch: number;
}

/** A subscription on a whole namespace (`repository` null) or on one repository (its full name) in it. */
export interface NewWebhook extends WebhookSettings {
  namespace: string;
  repository: string | null;
  /** The HMAC key of the signature header: kept, since signing needs it; never shown again once made. */
  secret: string;
}

export interface WebhookRecord extends NewWebhook {
  id: number;
  createdAt: number;
  updatedAt: number;
}

/** A retention policy (config/retention-rules.ts), set on a whole namespace (`repository` null) or on one repository in it. */
export interface RetentionPolicyRecord {
  namespace: string;
  repository: string | null;
  rules: RetentionRules;
  createdAt: number;
  updatedAt: number;
}

/** What a scope holds, as quotas count it. */
export interface QuotaUsage {
  bytes: number;
  tags: number;
}

/**
 * Quotas and the usage they are measured against, computed from the links and tags (never kept as
 * counters): a namespace's repositories are the names from `ns/` up to `ns0` (byte order), so a blob
 * two of them link counts once for the namespace, and once for each repository.
 */
export interface QuotaStore {
  /** Sets the scope's limits (replacing any; the first time set stays); returns the record. */
  set(scope: QuotaScope, limits: QuotaLimits): Promise<QuotaRecord>;
  remove(scope: QuotaScope): Promise<boolean>;
  get(scope: QuotaScope): Promise<QuotaRecord | null>;
  /** Every quota, by namespace then repository (a namespace's own first). */
  list(): Promise<QuotaRecord[]>;
  /** The quotas on a repository: its namespace's, then its own (one indexed query). */
  forRepository(namespace: string, repository: string): Promise<QuotaRecord[]>;
  /** Bytes of the distinct blobs linked in the scope. */
  storedBytes(scope: QuotaScope): Promise<number>;
  /** Tags in the scope's repositories. */
  tagCount(scope: QuotaScope): Promise<number>;
  /** Whether some repository of the scope links the digest already (linking it again adds no bytes). */
  holds(scope: QuotaScope, digest: string): Promise<boolean>;
  /** Stored bytes of every namespace that has a repository (the storage metric), by namespace. */
  bytesByNamespace(): Promise<Map<string, number>>;
}

/** One repository as a retention run reads it (registry/retention-plan.ts). */
export interface RetentionContents {
  /** Each tag with the time it last moved to its digest (when it was pushed, as retention counts). */
  tags: { tag: string; digest: string; pushedAt: number }[];
  manifests: { digest: string; createdAt: number; subject: string | null }[];
  /** Index -> child manifest references. */
  children: { from: string; to: string }[];
  /** Per digest, the last time a tag left it (from tag history); absent when none did. */
  untaggedAt: Map<string, number>;
}

export interface RetentionStore {
  /** Sets (replaces) the policy; true when there was none before. The first one's createdAt stays. */
  set(namespace: string, repository: string | null, rules: RetentionRules): Promise<boolean>;
  get(namespace: string, repository: string | null): Promise<RetentionPolicyRecord | null>;
  remove(namespace: string, repository: string | null): Promise<boolean>;
  /** The policies of a namespace (on it and on its repositories), or of every namespace; by namespace, repository. */
  list(namespace?: string): Promise<RetentionPolicyRecord[]>;
  /** What a plan reads of the repository; read it under the repository's lock. */
  contents(repoId: number): Promise<RetentionContents>;
}

/** One delivery to make: an event for one subscription. */
export interface OutboxEntry {
  webhookId: number;
  eventId: string;
  eventType: string;
  /** The event as JSON (registry/webhook-events.ts), rendered in the subscription's format when sent. */
  payload: string;
}

export interface ClaimedDelivery extends OutboxEntry {
  /** The claim's handle for remove, retryAt and release (the store's: unique among claimed deliveries, not kept across attempts). */
  id: number;
  /** Failed attempts so far. */
  attempts: number;
  /** When the event was recorded. */
  createdAt: number;
}

export type DeliveryOutcome = 'delivered' | 'failed_attempt' | 'gave_up';

/** One attempt, as the delivery log keeps it. */
export interface DeliveryAttempt {
  webhookId: number;
  eventId: string;
  eventType: string;
  attempt: number;
  at: number;
  durationMs: number;
  /** The receiver's HTTP status, or null when there was no answer. */
  status: number | null;
  /** The first KiB of the receiver's answer. */
  response: string | null;
  error: string | null;
  outcome: DeliveryOutcome;
}

export interface DeliveryLogEntry extends DeliveryAttempt {
  id: number;
}

export interface WebhookSubscriptions {
  create(w: NewWebhook): Promise<WebhookRecord>;
  get(id: number): Promise<WebhookRecord | null>;
  /** A namespace's subscriptions (on it and on its repositories), or every one; by id. */
  list(namespace?: string): Promise<WebhookRecord[]>;
  /** Changes the given settings (and the secret); null when there is no such subscription. */
  update(id: number, changes: Partial<WebhookSettings> & { secret?: string }): Promise<WebhookRecord | null>;
  /** Removes the subscription with its pending deliveries and its log. */
  delete(id: number): Promise<boolean>;
  /** The enabled subscriptions that may want a repository's events: its namespace's and its own (one indexed query). */
  forRepository(namespace: string, repository: string): Promise<WebhookRecord[]>;
  /** Namespaces with an enabled subscription to pull events (on the namespace or one of its repositories). */
  namespacesWithPulls(): Promise<string[]>;
}

export interface WebhookOutbox {
  /** Adds deliveries, due now. */
  add(entries: readonly OutboxEntry[]): Promise<void>;
  /**
   * Claims up to `limit` due deliveries of enabled subscriptions for `holder` until now + `claimMs`: those
   * never claimed or whose claim has run out (its holder died or gave up). One statement: two claimers
   * never get the same delivery while a claim lasts.
   */
  claim(holder: string, claimMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** As claim, of one subscription's due deliveries only (to fill its batches). */
  claimOf(webhookId: number, holder: string, claimMs: number, limit: number): Promise<ClaimedDelivery[]>;
  /** Removes deliveries (made, or given up) whose claim `holder` still holds; how many it removed. */
  remove(ids: readonly number[], holder: string): Promise<number>;
  /** Counts a failed attempt and makes the delivery due again at `nextAttemptAt`, unclaimed, if `holder` still holds it. */
  retryAt(id: number, holder: string, nextAttemptAt: number): Promise<boolean>;
  /** Gives a claim back unused (a process stopping): the delivery is due as it was, for anyone. */
  release(id: number, holder: string): Promise<boolean>;
  /** How many deliveries are waiting (for the metrics gauge). */
  pending(): Promise<number>;
}

export interface WebhookDeliveryLog {
  /** Records attempts, keeping the last DELIVERY_LOG_KEPT of each subscription. */
  append(attempts: readonly DeliveryAttempt[]): Promise<void>;
  /** The subscription's attempts, newest first. */
  recent(webhookId: number, limit: number): Promise<DeliveryLogEntry[]>;
}

/** How many attempts the delivery log keeps per subscription. */
export const DELIVERY_LOG_KEPT = 50;

export interface WebhookStore {
  readonly subscriptions: WebhookSubscriptions;
  readonly outbox: WebhookOutbox;
  readonly log: WebhookDeliveryLog;
}

export interface LeaseStore {
  /** Takes (or renews, for the same holder) the named lease until `now + ttlMs`, unless another holder's is still valid. */
  acquire(name: string, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` still holds it. */
  release(name: string, holder: string): Promise<void>;
  get(name: string): Promise<Lease | null>;
}

/** One repository as garbage collection's mark phase sees it. */
export interface RepositoryGraph {
  /** Digests the repository's tags point at. */
  tagged: string[];
  manifests: { digest: string; size: number; createdAt: number; subject: string | null }[];
  /** Every reference of every manifest: `from` (the manifest) refers to `to` as `kind`. */
  refs: { from: string; to: string; kind: ManifestRef['kind'] }[];
  links: { digest: string; linkedAt: number }[];
}

/** A collection's record: when it ran and its report (JSON). */
export interface GcRunRecord {
  startedAt: number;
  finishedAt: number;
  dryRun: boolean;
  report: string;
}

/** What online garbage collection reads and writes; the protocol is at the top of registry/gc.ts. */
export interface GcStore {
  repositories(): Promise<{ id: number; name: string }[]>;
  graph(repoId: number): Promise<RepositoryGraph>;
  /** The ids of the repositories linking each of these digests (digests nobody links are absent). */
  linkHolders(digests: string[]): Promise<Map<string, number[]>>;
  /** Which of these digests have a blob row. */
  knownBlobs(digests: string[]): Promise<Set<string>>;
  /** Blob rows in digest order, after `after`, at most `limit`. */
  blobRows(after: string, limit: number): Promise<{ digest: string; size: number }[]>;
  /** Removes the blob row when no repository links the digest; true when removed. */
  forgetBlob(digest: string): Promise<boolean>;
  /**
   * Marks the digest's bytes as being deleted, only if no repository links it and no claim made at or
   * after `claimsSince` holds it. True when marked (then `link` refuses the digest until `unmark`).
   */
  markForDeletion(digest: string, claimsSince: number): Promise<boolean>;
  /** Clears the mark once the bytes are gone, and forgets the blob row when nothing links it. */
  unmark(digest: string): Promise<void>;
  /** Whether the digest is marked. */
  isMarked(digest: string): Promise<boolean>;
  /** Every marked digest (at the start of a collection: what a collector that died mid-deletion left). */
  marked(): Promise<string[]>;
  /** A writer's claim on a digest before it writes the bytes; false (nothing claimed) while the digest is marked. */
  claim(digest: string, holder: string): Promise<boolean>;
  release(digest: string, holder: string): Promise<void>;
  /** Removes claims made before `before` (left by crashed writers); returns how many. */
  dropClaimsBefore(before: number): Promise<number>;
  recordRun(run: GcRunRecord): Promise<void>;
  lastRun(): Promise<GcRunRecord | null>;
}

/** The aggregates, as seen inside a unit of work (or, on the store itself, each call on its own). */
export interface MetaTx {
  readonly repositories: RepositoryStore;
  readonly blobs: BlobLinkStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  readonly uploads: UploadStore;
  readonly leases: LeaseStore;
  readonly gc: GcStore;
  readonly immutableTags: ImmutableTagStore;
  readonly quotas: QuotaStore;
  readonly retention: RetentionStore;
  readonly webhooks: WebhookStore;
  // Who may do what (account-store.ts).
  readonly users: UserStore;
  readonly orgs: OrgStore;
  readonly grants: GrantStore;
  readonly tokens: TokenStore;
  readonly visibility: VisibilityStore;
  readonly audit: AuditStore;
  readonly signingKeys: SigningKeyStore;
  /**
   * Inside a unit of work: holds the named lock until it ends, so that units of work of every process
   * sharing the database that take the same lock run one after another (SQLite's are serial anyway).
   */
  lock(name: string): Promise<void>;
}

/** The lock over a repository's tags, manifests and links (what garbage collection plans from). */
export const repositoryLock = (repoId: number): string => `repository:${repoId}`;
/** The lock over a digest's links, claims and deletion mark. */
export const blobLock = (digest: string): string => `blob:${digest}`;
/** The lock over the names of accounts and organizations (one namespace), teams and robots. */
export const ACCOUNT_NAMES_LOCK = 'account-names';

export interface MetaStore extends MetaTx {
  /**
   * Runs `fn` as one unit of work: everything it does through `m` commits together or not at all.
   * Keep blob I/O out of it; other calls on this store wait until it ends.
   */
  tx<T>(fn: (m: MetaTx) => Promise<T> | T): Promise<T>;
  close(): Promise<void>;
}
