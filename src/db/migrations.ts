// Schema migrations, in order. Never edit a migration that has shipped: add
// a new one (a shipped one may change only where its SQLite result stays
// identical). Written with Kysely's schema builder, and the few types that
// are spelled differently taken from `t`, so that SQLite and PostgreSQL get
// the same schema.
import { sql, type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';

export type Engine = 'sqlite' | 'postgres';

/** The column types each engine spells its own way. */
function columnTypes(engine: Engine) {
  const postgres = engine === 'postgres';
  return {
    /** Raw bytes (a manifest as pushed). */
    bytes: postgres ? sql`bytea` : sql`blob`,
    /**
     * Compared and ordered byte by byte, as SQLite does by default: tag and
     * repository lists come out in the same order on both engines whatever
     * the PostgreSQL database's locale, and paging with `name > last` agrees.
     */
    varchar: (n: number) => (postgres ? sql.raw(`varchar(${n}) collate "C"`) : (`varchar(${n})` as const)),
    /** An id the database assigns. */
    serial: (c: ColumnDefinitionBuilder) => (postgres ? c.primaryKey().generatedByDefaultAsIdentity() : c.primaryKey().autoIncrement()),
  };
}

const migrations = (t: ReturnType<typeof columnTypes>): Record<string, Migration> => ({
  '0001_registry_core': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('repositories')
        .addColumn('id', 'integer', t.serial)
        .addColumn('name', t.varchar(255), (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('blobs')
        .addColumn('digest', t.varchar(200), (c) => c.primaryKey())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('repository_blobs')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id'))
        .addColumn('digest', t.varchar(200), (c) => c.notNull().references('blobs.digest'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();
      await db.schema
        .createTable('manifests')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id'))
        .addColumn('digest', t.varchar(200), (c) => c.notNull())
        .addColumn('media_type', t.varchar(255), (c) => c.notNull())
        .addColumn('artifact_type', t.varchar(255))
        .addColumn('subject_digest', t.varchar(200))
        .addColumn('annotations', 'text')
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('content', t.bytes, (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('manifests_pk', ['repository_id', 'digest'])
        .execute();
      await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();
      await db.schema
        .createTable('manifest_references')
        .addColumn('repository_id', 'integer', (c) => c.notNull())
        .addColumn('manifest_digest', t.varchar(200), (c) => c.notNull())
        .addColumn('child_digest', t.varchar(200), (c) => c.notNull())
        .addColumn('kind', t.varchar(16), (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_references_pk', ['repository_id', 'manifest_digest', 'child_digest'])
        .execute();
      await db.schema.createIndex('manifest_references_child').on('manifest_references').columns(['repository_id', 'child_digest']).execute();
      await db.schema
        .createTable('tags')
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id'))
        .addColumn('name', t.varchar(128), (c) => c.notNull())
        .addColumn('manifest_digest', t.varchar(200), (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
        .execute();
      await db.schema.createIndex('tags_manifest').on('tags').columns(['repository_id', 'manifest_digest']).execute();
      await db.schema
        .createTable('uploads')
        .addColumn('id', t.varchar(128), (c) => c.primaryKey())
        .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id'))
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0002_identity': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('users')
        .addColumn('id', 'integer', t.serial)
        .addColumn('username', t.varchar(255), (c) => c.notNull().unique())
        .addColumn('password_hash', t.varchar(255))
        .addColumn('email', t.varchar(255))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('auth_tokens')
        .addColumn('id', t.varchar(64), (c) => c.primaryKey())
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('name', t.varchar(255), (c) => c.notNull())
        .addColumn('secret_hash', t.varchar(128), (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('last_used_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('auth_tokens_user').on('auth_tokens').column('user_id').execute();
      await db.schema
        .createTable('robots')
        .addColumn('id', 'integer', t.serial)
        .addColumn('namespace', t.varchar(255), (c) => c.notNull())
        .addColumn('name', t.varchar(255), (c) => c.notNull())
        .addColumn('secret_hash', t.varchar(128), (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addUniqueConstraint('robots_namespace_name', ['namespace', 'name'])
        .execute();
      await db.schema
        .createTable('groups')
        .addColumn('id', 'integer', t.serial)
        .addColumn('name', t.varchar(255), (c) => c.notNull().unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('group_members')
        .addColumn('group_id', 'integer', (c) => c.notNull().references('groups.id').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
        .execute();
      await db.schema
        .createTable('organizations')
        .addColumn('name', t.varchar(255), (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('organization_members')
        .addColumn('organization', t.varchar(255), (c) => c.notNull().references('organizations.name').onDelete('cascade'))
        .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('organization_members_pk', ['organization', 'user_id'])
        .execute();
      await db.schema
        .createTable('projects')
        .addColumn('name', t.varchar(255), (c) => c.primaryKey())
        .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('roles')
        .addColumn('name', t.varchar(255), (c) => c.primaryKey())
        .addColumn('verbs', t.varchar(255), (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('builtin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('role_bindings')
        .addColumn('id', 'integer', t.serial)
        .addColumn('name', t.varchar(255), (c) => c.notNull())
        .addColumn('namespace', t.varchar(255), (c) => c.notNull())
        .addColumn('role', t.varchar(255), (c) => c.notNull().references('roles.name'))
        .addColumn('subject_kind', t.varchar(16), (c) => c.notNull())
        .addColumn('subject_id', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('role_bindings_namespace_name', ['namespace', 'name'])
        .execute();
      await db.schema.createIndex('role_bindings_subject').on('role_bindings').columns(['subject_kind', 'subject_id']).execute();
      await db.schema
        .createTable('jwt_keys')
        .addColumn('kid', t.varchar(64), (c) => c.primaryKey())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('private_jwk_encrypted', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'integer', t.serial)
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('principal', t.varchar(255), (c) => c.notNull())
        .addColumn('action', t.varchar(64), (c) => c.notNull())
        .addColumn('resource', t.varchar(512), (c) => c.notNull())
        .addColumn('result', t.varchar(16), (c) => c.notNull())
        .addColumn('remote_addr', t.varchar(64))
        .addColumn('detail', 'text')
        .execute();
      await db.schema.createIndex('audit_log_at').on('audit_log').column('at').execute();
      await db.schema.createIndex('audit_log_principal_at').on('audit_log').columns(['principal', 'at']).execute();
    },
  },
  '0003_tags_version': {
    // A counter per repository that every change to its tags increments in
    // the same transaction. A process that caches a repository's tag list
    // keeps the version it read with it, and serves the cache only while the
    // database still holds that version; so caches in several processes (or
    // nodes sharing PostgreSQL) never serve a list that has changed.
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('repositories')
        .addColumn('tags_version', 'bigint', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0004_token_scopes': {
    // Personal auth tokens get scopes (space-separated: pull, push, api) so
    // that a token made for a CI pull cannot run the management API; tokens
    // that existed before get the default, pull and push. A token minted by
    // another token records it as its parent and is revoked with it. The
    // users' credential_epoch is counted up when a user is disabled: the
    // stamp that bearer and refresh tokens carry includes it, so enabling
    // the user again does not bring back the tokens issued before.
    async up(db: Kysely<any>) {
      await db.schema
        .alterTable('auth_tokens')
        .addColumn('scopes', t.varchar(64), (c) => c.notNull().defaultTo('pull push'))
        .execute();
      await db.schema.alterTable('auth_tokens').addColumn('parent_id', t.varchar(64)).execute();
      await db.schema.createIndex('auth_tokens_parent').on('auth_tokens').column('parent_id').execute();
      await db.schema
        .alterTable('users')
        .addColumn('credential_epoch', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
    },
  },
  '0005_upload_owner_audit_count': {
    // Upload sessions know who opened them, so open sessions can be capped
    // per principal; audit rows carry a count, so a burst of identical
    // failures is one row per minute instead of one per request.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('uploads').addColumn('owner', t.varchar(255)).execute();
      await db.schema.createIndex('uploads_owner').on('uploads').column('owner').execute();
      await db.schema.alterTable('audit_log').addColumn('count', 'integer', (c) => c.notNull().defaultTo(1)).execute();
    },
  },
  '0006_upload_lease': {
    // A lease on an upload session, held in the database: requests on one
    // session are serialised across processes (--workers) and nodes, not
    // only within one process. A holder that dies frees it when it expires.
    async up(db: Kysely<any>) {
      await db.schema.alterTable('uploads').addColumn('lease_holder', t.varchar(64)).execute();
      await db.schema.alterTable('uploads').addColumn('lease_until', 'bigint').execute();
    },
  },
  '0007_signin_failures': {
    // Failed sign-ins, so that the throttle's budgets hold across processes
    // and nodes (src/db/signin-failures.ts); pruned after an hour.
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('signin_failures')
        .addColumn('key', t.varchar(64), (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('node', t.varchar(64), (c) => c.notNull())
        .execute();
      await db.schema.createIndex('signin_failures_key_at').on('signin_failures').columns(['key', 'at']).execute();
    },
  },
});

export function migrationProvider(engine: Engine): MigrationProvider {
  return {
    async getMigrations() {
      return migrations(columnTypes(engine));
    },
  };
}

/** Names of the migrations this version knows, oldest first: a database with any other is newer. */
export const migrationNames = Object.keys(migrations(columnTypes('sqlite'))).sort();
export const latestMigration = migrationNames.at(-1)!;
