// Typed queries over the metadata schema, one function per question the
// registry asks. Everything that must change together runs in one
// transaction, so a crash leaves either the old state or the new one.
import { sql, type CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { engineOf, type Engine } from './connect.js';
import { LOCK_KIND, lockName } from './row-locks.js';
import type { Database } from './schema.js';

export interface ManifestRow {
  digest: string;
  media_type: string;
  size: number;
  content: Uint8Array;
}

export interface NewManifest {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  annotations: string | null;
  content: Uint8Array;
  blobDigests: string[];
  childDigests: string[];
}

export interface ReferrerRow {
  digest: string;
  media_type: string;
  artifact_type: string | null;
  annotations: string | null;
  size: number;
}

export interface UploadRow {
  id: string;
  repository_id: number;
  size: number;
  started_at: number;
}

export class Metadata {
  // Repository ids never change once assigned, so name -> id is cached.
  private readonly repositoryIds = new Map<string, number>();
  private readonly engine: Engine;

  constructor(readonly db: Kysely<Database>) {
    this.engine = engineOf(db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  async findRepository(name: string): Promise<number | undefined> {
    const cached = this.repositoryIds.get(name);
    if (cached !== undefined) return cached;
    const row = await this.db.selectFrom('repositories').select('id').where('name', '=', name).executeTakeFirst();
    if (row) this.repositoryIds.set(name, row.id);
    return row?.id;
  }

  async ensureRepository(name: string): Promise<number> {
    const existing = await this.findRepository(name);
    if (existing !== undefined) return existing;
    await this.db
      .insertInto('repositories')
      .values({ name, created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const id = await this.findRepository(name);
    if (id === undefined) throw new Error(`repository ${name} vanished while being created`);
    return id;
  }

  async listRepositories(limit: number, after?: string): Promise<string[]> {
    let q = this.db.selectFrom('repositories').select('name').orderBy('name').limit(limit);
    if (after !== undefined) q = q.where('name', '>', after);
    return (await q.execute()).map((r) => r.name);
  }

  // --- blobs ---------------------------------------------------------------

  async linkBlob(repositoryId: number, digest: string, size: number): Promise<void> {
    const now = Date.now();
    await this.db.transaction().execute(async (trx) => {
      await trx.insertInto('blobs').values({ digest, size, created_at: now }).onConflict((oc) => oc.column('digest').doNothing()).execute();
      await trx
        .insertInto('repository_blobs')
        .values({ repository_id: repositoryId, digest, created_at: now })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
        .execute();
    });
  }

  /** The blob's size if it is linked to the repository. */
  async linkedBlobSize(repositoryId: number, digest: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select('b.size')
      .where('rb.repository_id', '=', repositoryId)
      .where('rb.digest', '=', digest)
      .executeTakeFirst();
    return row === undefined ? undefined : Number(row.size);
  }

  async unlinkBlob(repositoryId: number, digest: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Sizes of those of `digests` that are linked to the repository. */
  async linkedBlobSizes(repositoryId: number, digests: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for (const batch of batches(unique(digests))) {
      const rows = await this.db
        .selectFrom('repository_blobs as rb')
        .innerJoin('blobs as b', 'b.digest', 'rb.digest')
        .select(['b.digest', 'b.size'])
        .where('rb.repository_id', '=', repositoryId)
        .where('rb.digest', 'in', batch)
        .execute();
      for (const r of rows) sizes.set(r.digest, Number(r.size));
    }
    return sizes;
  }

  // --- manifests and tags --------------------------------------------------

  async missingManifests(repositoryId: number, digests: string[]): Promise<string[]> {
    if (digests.length === 0) return [];
    const found = new Set<string>();
    for (const batch of batches(unique(digests))) {
      const rows = await this.db
        .selectFrom('manifests')
        .select('digest')
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', batch)
        .execute();
      for (const r of rows) found.add(r.digest);
    }
    return unique(digests).filter((d) => !found.has(d));
  }

  /** Stores the manifest (idempotent for the same digest) and points `tag` at it. */
  async putManifest(repositoryId: number, m: NewManifest, tag?: string): Promise<void> {
    const now = Date.now();
    await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('manifests')
        .values({
          repository_id: repositoryId,
          digest: m.digest,
          media_type: m.mediaType,
          artifact_type: m.artifactType,
          subject_digest: m.subjectDigest,
          annotations: m.annotations,
          size: m.content.byteLength,
          content: m.content,
          created_at: now,
        })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) await insertReferences(trx, repositoryId, m);
      if (tag !== undefined) {
        // A tag that already points at this manifest is left alone (its
        // updated_at is when it last pointed somewhere new), so pushing the
        // same tag again does not invalidate cached tag lists.
        const upserted = await trx
          .insertInto('tags')
          .values({ repository_id: repositoryId, name: tag, manifest_digest: m.digest, updated_at: now })
          .onConflict((oc) =>
            oc
              .columns(['repository_id', 'name'])
              .doUpdateSet({ manifest_digest: m.digest, updated_at: now })
              .where('tags.manifest_digest', '<>', m.digest),
          )
          .executeTakeFirst();
        if (Number(upserted.numInsertedOrUpdatedRows ?? 0) > 0) await bumpTagsVersion(trx, repositoryId);
      }
    });
  }

  async manifestByDigest(repositoryId: number, digest: string): Promise<ManifestRow | undefined> {
    return this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size', 'content'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
  }

  async manifestByTag(repositoryId: number, tag: string): Promise<ManifestRow | undefined> {
    return this.db
      .selectFrom('tags as t')
      .innerJoin('manifests as m', (j) => j.onRef('m.repository_id', '=', 't.repository_id').onRef('m.digest', '=', 't.manifest_digest'))
      .select(['m.digest', 'm.media_type', 'm.size', 'm.content'])
      .where('t.repository_id', '=', repositoryId)
      .where('t.name', '=', tag)
      .executeTakeFirst();
  }

  /** Deletes the manifest and every tag pointing at it. */
  async deleteManifest(repositoryId: number, digest: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('manifests').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      const untagged = await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).executeTakeFirst();
      if (Number(untagged.numDeletedRows) > 0) await bumpTagsVersion(trx, repositoryId);
      await trx.deleteFrom('manifest_references').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute();
      return true;
    });
  }

  async deleteTag(repositoryId: number, tag: string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
      if (Number(result.numDeletedRows) === 0) return false;
      await bumpTagsVersion(trx, repositoryId);
      return true;
    });
  }

  /**
   * The repository's tag-list version (see RepositoriesTable.tags_version):
   * one primary-key lookup. Read it before the tags it labels, never after,
   * so that a list is never older than the version it is kept under.
   */
  async tagsVersion(repositoryId: number): Promise<number | undefined> {
    const row = await this.db.selectFrom('repositories').select('tags_version').where('id', '=', repositoryId).executeTakeFirst();
    return row === undefined ? undefined : Number(row.tags_version);
  }

  /**
   * Every tag name of the repository as a JSON array, in byte order, built
   * by the database: no row object per tag. (The tags.name column is
   * collated "C" on PostgreSQL, so its order is SQLite's byte order.)
   */
  async tagNamesJson(repositoryId: number): Promise<string> {
    const query =
      this.engine === 'postgres'
        ? // json_agg gives null for no rows, and pg would parse json: ask for text.
          sql<{ tags: string }>`select coalesce(json_agg(name order by name)::text, '[]') as tags from tags where repository_id = ${repositoryId}`
        : sql<{ tags: string }>`select json_group_array(name order by name) as tags from tags where repository_id = ${repositoryId}`;
    const { rows } = await query.execute(this.db);
    return rows[0]?.tags ?? '[]';
  }

  async listTags(repositoryId: number, limit: number | undefined, after?: string): Promise<string[]> {
    let q = this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name');
    if (after !== undefined) q = q.where('name', '>', after);
    if (limit !== undefined) q = q.limit(limit);
    return (await q.execute()).map((r) => r.name);
  }

  async referrers(repositoryId: number, subject: string, artifactType?: string): Promise<ReferrerRow[]> {
    let q = this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'artifact_type', 'annotations', 'size'])
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subject)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    return q.execute();
  }

  // --- upload sessions -----------------------------------------------------

  /**
   * Opens an upload session unless `owner` already holds `maxPerOwner`
   * open ones. Returns whether the session was created. On SQLite the one
   * statement is enough (writers take turns); on PostgreSQL two nodes could
   * each count below the cap and both insert, so the owner's sessions are
   * counted under a transaction lock on the owner's name.
   */
  async createUpload(id: string, repositoryId: number, owner: string, maxPerOwner: number): Promise<boolean> {
    const now = Date.now();
    // The casts give PostgreSQL the types that a bare parameter in a select list lacks.
    const insertUnderCap = sql`
      insert into uploads (id, repository_id, size, started_at, updated_at, owner)
      select cast(${id} as varchar(128)), cast(${repositoryId} as integer), 0, cast(${now} as bigint), cast(${now} as bigint), cast(${owner} as varchar(255))
      where (select count(*) from uploads where owner = ${owner}) < ${maxPerOwner}`;
    if (this.engine === 'sqlite') return Number((await insertUnderCap.execute(this.db)).numAffectedRows ?? 0) > 0;
    return this.db.transaction().execute(async (trx) => {
      await lockName(trx, LOCK_KIND.uploadsOfOwner, owner);
      return Number((await insertUnderCap.execute(trx)).numAffectedRows ?? 0) > 0;
    });
  }

  async findUpload(id: string): Promise<UploadRow | undefined> {
    const row = await this.db.selectFrom('uploads').select(['id', 'repository_id', 'size', 'started_at']).where('id', '=', id).executeTakeFirst();
    return row && { ...row, size: Number(row.size), started_at: Number(row.started_at) };
  }

  /**
   * Moves the upload's offset, only if nobody else moved it first. With
   * `releaseLease`, also frees that holder's lease in the same write.
   */
  async advanceUpload(id: string, from: number, to: number, releaseLease?: string): Promise<boolean> {
    const lease =
      releaseLease === undefined
        ? {}
        : {
            lease_holder: sql<string | null>`case when lease_holder = ${releaseLease} then null else lease_holder end`,
            lease_until: sql<number | null>`case when lease_holder = ${releaseLease} then null else lease_until end`,
          };
    const result = await this.db
      .updateTable('uploads')
      .set({ size: to, updated_at: Date.now(), ...lease })
      .where('id', '=', id)
      .where('size', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /**
   * Takes the session's lease for `holder` until `until` (ms), if it is free
   * or expired at `now`. Returns whether `holder` now holds it.
   */
  async acquireUploadLease(id: string, holder: string, now: number, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('uploads')
      .set({ lease_holder: holder, lease_until: until })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now), eb('lease_holder', '=', holder)]))
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Extends a lease `holder` holds; false when it lost it (expired and taken, or the session is gone). */
  async renewUploadLease(id: string, holder: string, until: number): Promise<boolean> {
    const result = await this.db
      .updateTable('uploads')
      .set({ lease_until: until })
      .where('id', '=', id)
      .where('lease_holder', '=', holder)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async releaseUploadLease(id: string, holder: string): Promise<void> {
    await this.db.updateTable('uploads').set({ lease_holder: null, lease_until: null }).where('id', '=', id).where('lease_holder', '=', holder).execute();
  }

  /** Sessions not moved since `updatedBefore` and not leased now (a long streamed PATCH holds its lease). */
  async idleUploads(updatedBefore: number, now = Date.now()): Promise<string[]> {
    const rows = await this.db
      .selectFrom('uploads')
      .select('id')
      .where('updated_at', '<', updatedBefore)
      .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
      .execute();
    return rows.map((r) => r.id);
  }

  async deleteUpload(id: string): Promise<void> {
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  private linkedBlobSizeQuery?: CompiledQuery<{ size: number | bigint }>;

  /**
   * Size of a blob linked to the named repository: one query for every blob
   * GET and HEAD, its SQL built once (building it each time costs about a
   * third of the lookup's CPU).
   */
  async linkedBlobSizeByName(name: string, digest: string): Promise<number | undefined> {
    this.linkedBlobSizeQuery ??= this.db
      .selectFrom('repositories as r')
      .innerJoin('repository_blobs as rb', 'rb.repository_id', 'r.id')
      .innerJoin('blobs as b', 'b.digest', 'rb.digest')
      .select('b.size')
      .where('r.name', '=', name)
      .where('rb.digest', '=', digest)
      .compile();
    const { rows } = await this.db.executeQuery<{ size: number | bigint }>({ ...this.linkedBlobSizeQuery, parameters: [name, digest] });
    const row = rows[0];
    return row === undefined ? undefined : Number(row.size);
  }

  /** Upload sessions not yet completed, cancelled or expired (for the metrics). */
  async openUploadCount(): Promise<number> {
    const row = await this.db.selectFrom('uploads').select((eb) => eb.fn.countAll().as('n')).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** Bytes of all blobs the database knows, each counted once (for the metrics; a full scan, so callers cache it). */
  async storedBlobBytes(): Promise<number> {
    const row = await this.db.selectFrom('blobs').select((eb) => eb.fn.sum<number | string | bigint>('size').as('bytes')).executeTakeFirst();
    return Number(row?.bytes ?? 0);
  }
}

/** Every statement that adds, moves or removes a tag calls this in its transaction. */
async function bumpTagsVersion(trx: Transaction<Database>, repositoryId: number): Promise<void> {
  await trx
    .updateTable('repositories')
    .set((eb) => ({ tags_version: eb('tags_version', '+', 1) }))
    .where('id', '=', repositoryId)
    .execute();
}

async function insertReferences(trx: Transaction<Database>, repositoryId: number, m: NewManifest): Promise<void> {
  const rows = [
    ...unique(m.blobDigests).map((d) => ({ repository_id: repositoryId, manifest_digest: m.digest, child_digest: d, kind: 'blob' })),
    ...unique(m.childDigests).map((d) => ({ repository_id: repositoryId, manifest_digest: m.digest, child_digest: d, kind: 'manifest' })),
  ];
  for (const batch of batches(rows, 200)) {
    await trx
      .insertInto('manifest_references')
      .values(batch)
      .onConflict((oc) => oc.columns(['repository_id', 'manifest_digest', 'child_digest']).doNothing())
      .execute();
  }
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}

// SQLite allows 32766 bound parameters per statement; stay far below.
function* batches<T>(items: T[], size = 500): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}
