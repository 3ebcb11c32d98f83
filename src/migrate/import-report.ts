// What `wharf import-distribution` did: counts per kind, and every thing it skipped for a problem.

export interface ImportCounts {
  /** Written to Wharf by this run. */
  imported: number;
  /** Already in Wharf (an earlier, perhaps interrupted, run; or, for blobs, stored for another repository). */
  skipped: number;
}

export type ImportProblemKind =
  /** A repository name Wharf does not accept. */
  | 'repository-invalid'
  /** A link file that names no valid digest, or not the one its directory does. */
  | 'link-invalid'
  /** A blob whose bytes do not hash to its digest, or that could not be read. */
  | 'blob-corrupt'
  /** A manifest revision whose bytes Distribution no longer holds. */
  | 'manifest-missing'
  /** A manifest Wharf refused: corrupt, unsupported (Docker schema 1), too large, or a blob or child it needs is missing. */
  | 'manifest-refused'
  /** A tag that points at a manifest that is not there, or was not imported. */
  | 'tag-dangling'
  /** A tag Wharf refused (e.g. its name). */
  | 'tag-refused';

export interface ImportProblem {
  repository: string;
  kind: ImportProblemKind;
  /** The digest concerned, when there is one. */
  digest?: string;
  tag?: string;
  detail: string;
}

export interface ImportReport {
  /** Distribution's v2 directory (or bucket prefix) read. */
  from: string;
  repositories: number;
  tags: ImportCounts;
  manifests: ImportCounts;
  /** Per repository link: `imported` blobs were copied (their `bytes`), `skipped` ones were already stored. */
  blobs: ImportCounts & { bytes: number };
  /**
   * Blob links whose bytes Distribution no longer holds (its garbage collection leaves the links): nothing
   * to import, and not a problem unless a manifest needs the blob (then that manifest is one).
   */
  linksWithoutBlob: { count: number; examples: string[] };
  problems: ImportProblem[];
  durationMs: number;
}

export function emptyReport(from: string): ImportReport {
  return {
    from,
    repositories: 0,
    tags: { imported: 0, skipped: 0 },
    manifests: { imported: 0, skipped: 0 },
    blobs: { imported: 0, skipped: 0, bytes: 0 },
    linksWithoutBlob: { count: 0, examples: [] },
    problems: [],
    durationMs: 0,
  };
}
