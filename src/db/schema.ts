// The metadata schema as Kysely sees it. Times are Unix milliseconds.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

/** A blob known to the registry (its bytes are in the blob store). */
export interface BlobsTable {
  digest: string;
  size: number;
  created_at: number;
}

/** A blob linked to a repository: the only way a repository can read it. */
export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface ManifestsTable {
  repository_id: number;
  digest: string;
  media_type: string;
  /** What the referrers API reports (artifactType, else config.mediaType). */
  artifact_type: string | null;
  subject_digest: string | null;
  /** JSON of the manifest's annotations, for referrers descriptors. */
  annotations: string | null;
  size: number;
  content: Uint8Array;
  created_at: number;
}

/** What a manifest points at: its blobs and (for an index) child manifests. */
export interface ManifestReferencesTable {
  repository_id: number;
  manifest_digest: string;
  child_digest: string;
  /** 'blob' or 'manifest' */
  kind: string;
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_digest: string;
  updated_at: number;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  /** Bytes accepted so far (the next chunk must start here). */
  size: number;
  started_at: number;
  updated_at: number;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
}
