// The metadata store contract: repositories, manifests, tags, blob links, upload sessions.
// Implementations: SQLite (embedded default); PostgreSQL shares the same portable SQL (to come).

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  artifactType: string | null;
  subject: string | null;
  /** JSON-encoded annotations, or null. */
  annotations: string | null;
}

export interface ManifestRef {
  digest: string;
  kind: 'config' | 'layer' | 'child' | 'subject';
}

export interface UploadRecord {
  id: string;
  repository: string;
  createdAt: number;
  updatedAt: number;
}

export interface Page {
  n?: number;
  last?: string;
}

export interface MetaStore {
  /** Id of the repository, created on first use. */
  ensureRepository(name: string): Promise<number>;
  repositoryId(name: string): Promise<number | null>;
  /** Repositories that hold or have held a manifest, in lexical order (uploads alone do not make one visible). */
  listRepositories(page: Page): Promise<string[]>;
  hasHeldManifests(repoId: number): Promise<boolean>;

  /** Records the blob and makes it readable in the repository. */
  linkBlob(repoId: number, digest: string, size: number): Promise<void>;
  /** Size of the blob when the repository may read it. */
  linkedBlobSize(repoId: number, digest: string): Promise<number | null>;
  /** Size of the blob when some repository holds it. */
  knownBlobSize(digest: string): Promise<number | null>;
  unlinkBlob(repoId: number, digest: string): Promise<boolean>;

  /** Which of these digests are manifests in the repository. */
  existingManifests(repoId: number, digests: string[]): Promise<Set<string>>;
  /** Which of these digests are blobs linked to the repository. */
  existingBlobs(repoId: number, digests: string[]): Promise<Set<string>>;
  /** Stores a manifest (idempotent), links its bytes as a blob, and moves `tag` to it, in one transaction. */
  putManifest(repoId: number, m: ManifestRecord, refs: ManifestRef[], tag: string | null, now: number): Promise<void>;
  manifest(repository: string, digest: string): Promise<ManifestRecord | null>;
  manifestByTag(repository: string, tag: string): Promise<ManifestRecord | null>;
  /** Removes the manifest and every tag on it. */
  deleteManifest(repoId: number, digest: string): Promise<boolean>;
  deleteTag(repoId: number, tag: string, now: number): Promise<boolean>;
  listTags(repoId: number, page: Page): Promise<string[]>;
  referrers(repoId: number, subject: string, artifactType?: string): Promise<ManifestRecord[]>;

  createUpload(id: string, repoId: number, now: number): Promise<void>;
  upload(id: string): Promise<UploadRecord | null>;
  touchUpload(id: string, now: number): Promise<void>;
  deleteUpload(id: string): Promise<void>;
  uploadsOlderThan(updatedBefore: number): Promise<UploadRecord[]>;
  allUploadIds(): Promise<Set<string>>;

  close(): Promise<void>;
}
