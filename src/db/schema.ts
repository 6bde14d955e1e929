// The metadata schema as Kysely sees it. Times are Unix milliseconds.
import type { Generated } from 'kysely';

export interface RepositoriesTable {
  id: Generated<number>;
  name: string;
  created_at: number;
  /**
   * Incremented in the same transaction as every change to the
   * repository's tags (a tag added, moved, or removed), so that a cached
   * tag list can be checked against it (see registry/tag-list-cache.ts).
   */
  tags_version: Generated<number>;
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
  /** Who started it (principalName), for the cap on open sessions per principal; null before 0005. */
  owner: string | null;
}

export interface UsersTable {
  id: Generated<number>;
  /** Unique; no '/' (members of an organization also log in as <org>/<username>). */
  username: string;
  password_hash: string | null;
  email: string | null;
  disabled: number;
  created_at: number;
  /** Counted up when the user is disabled; part of the stamp bearer and refresh tokens carry. */
  credential_epoch: Generated<number>;
}

/** Personal auth tokens: the secret is shown once and stored as a SHA-256 hash. */
export interface AuthTokensTable {
  id: string;
  user_id: number;
  name: string;
  secret_hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  /** Space-separated token scopes (pull, push, api). */
  scopes: string;
  /** The auth token this one was created with, if any: revoking it revokes this one. */
  parent_id: string | null;
}

/** Robot accounts belong to a namespace and authenticate with a secret only. */
export interface RobotsTable {
  id: Generated<number>;
  namespace: string;
  name: string;
  secret_hash: string;
  description: string | null;
  created_at: number;
  expires_at: number | null;
  disabled: number;
}

export interface GroupsTable {
  id: Generated<number>;
  name: string;
  created_at: number;
}

export interface GroupMembersTable {
  group_id: number;
  user_id: number;
}

/** A top-level namespace with members. */
export interface OrganizationsTable {
  name: string;
  created_at: number;
}

export interface OrganizationMembersTable {
  organization: string;
  user_id: number;
}

/** A namespace with settings. */
export interface ProjectsTable {
  name: string;
  public: number;
  created_at: number;
}

export interface RolesTable {
  name: string;
  /** Space-separated verbs. */
  verbs: string;
  description: string | null;
  builtin: number;
  created_at: number;
}

export interface RoleBindingsTable {
  id: Generated<number>;
  name: string;
  /** '' binds at the instance (everything). */
  namespace: string;
  role: string;
  /** 'user' | 'group' | 'robot' */
  subject_kind: string;
  subject_id: number;
  created_at: number;
}

/** ES256 keys that sign registry bearer tokens; the private JWK is encrypted at rest. */
export interface JwtKeysTable {
  kid: string;
  public_jwk: string;
  private_jwk_encrypted: string;
  created_at: number;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  principal: string;
  action: string;
  resource: string;
  /** 'allowed' | 'denied' | 'failed' */
  result: string;
  remote_addr: string | null;
  detail: string | null;
  /** Repeated failures of one principal, address, action and result within a minute share one row. */
  count: Generated<number>;
}

/** A failed sign-in, or one being checked (pending = 1), counted against a throttle budget (see auth/shared-sign-in-throttle.ts). */
export interface SignInAttemptsTable {
  key: string;
  attempt: string;
  at: number;
  pending: number;
}

export interface Database {
  users: UsersTable;
  auth_tokens: AuthTokensTable;
  robots: RobotsTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  organizations: OrganizationsTable;
  organization_members: OrganizationMembersTable;
  projects: ProjectsTable;
  roles: RolesTable;
  role_bindings: RoleBindingsTable;
  jwt_keys: JwtKeysTable;
  audit_log: AuditLogTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  uploads: UploadsTable;
  sign_in_attempts: SignInAttemptsTable;
}
