// The metadata query layer (src/db/metadata.ts, src/db/identity.ts) gives
// the same answers on SQLite and on PostgreSQL: every case below runs on
// both, each on a fresh database. What differs between the engines (the
// types pg hands back, collation, json_agg, concurrency under READ
// COMMITTED) is what these cases pin down.
//
// Run: node --import tsx --test test/db/metadata.test.ts
// (the PostgreSQL half needs scripts/postgres/pg-up.sh; skipped without it, except in CI)
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Kysely } from 'kysely';

import { engineOf, openDatabase } from '../../src/db/connect.js';
import { isUniqueViolation } from '../../src/db/errors.js';
import { IdentityStore } from '../../src/db/identity.js';
import type { DatabaseLocation } from '../../src/db/location.js';
import { Metadata, type NewManifest } from '../../src/db/metadata.js';
import { latestMigration } from '../../src/db/migrations.js';
import type { Database } from '../../src/db/schema.js';
import { createTestDatabase, pgTestOptions } from '../helpers/postgres.js';

/** A fresh database of one engine, and how to open more connections to it. */
interface Fresh {
  location: DatabaseLocation;
  dispose(): Promise<void>;
}

const ENGINES: { name: string; options: { skip?: string }; fresh(): Promise<Fresh> }[] = [
  {
    name: 'sqlite',
    options: {},
    async fresh() {
      const dir = await mkdtemp(join(tmpdir(), 'hatoba-meta-'));
      return { location: { engine: 'sqlite', path: join(dir, 'hatoba.db') }, dispose: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    options: pgTestOptions(),
    async fresh() {
      const database = await createTestDatabase();
      return { location: { engine: 'postgres', url: database.url, poolSize: 20 }, dispose: () => database.drop() };
    },
  },
];

const digest = (n: number | string) => `sha256:${String(n).padStart(64, '0')}`;

function manifest(seed: string, extra: Partial<NewManifest> = {}): NewManifest {
  // Every byte value, so that the bytes must come back exactly (bytea on pg, blob on SQLite).
  const content = Buffer.concat([Buffer.from(`{"seed":"${seed}"}`), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
  return { digest: digest(seed), mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactType: null, subjectDigest: null, annotations: null, content, blobDigests: [], childDigests: [], ...extra };
}

for (const engine of ENGINES) {
  describe(`metadata on ${engine.name}`, engine.options, () => {
    let fresh: Fresh;
    let db: Kysely<Database>;
    let meta: Metadata;
    let ids: IdentityStore;

    before(async () => {
      fresh = await engine.fresh();
      db = await openDatabase(fresh.location);
      meta = new Metadata(db);
      ids = new IdentityStore(db);
    });
    after(async () => {
      await db?.destroy();
      await fresh?.dispose();
    });

    test('the engine is the one asked for', () => {
      assert.equal(engineOf(db), engine.name);
    });

    test('repositories: one id however many create it at once; listed in byte order, paged', async () => {
      const created = await Promise.all(Array.from({ length: 20 }, () => new Metadata(db).ensureRepository('race/app')));
      assert.equal(new Set(created).size, 1);
      assert.equal(typeof created[0], 'number');
      for (const name of ['b/x', 'a-b/x', 'a.b/x', 'a_b/x', 'a/x', 'a0/x']) await meta.ensureRepository(name);
      const all = await meta.listRepositories(100);
      assert.deepEqual(all, ['a-b/x', 'a.b/x', 'a/x', 'a0/x', 'a_b/x', 'b/x', 'race/app']);
      assert.deepEqual(await meta.listRepositories(2, 'a.b/x'), ['a/x', 'a0/x']);
    });

    test('blob sizes beyond 4 GiB come back as exact numbers', async () => {
      const repo = await meta.ensureRepository('blobs/app');
      const big = 100 * 1024 ** 3 + 7;
      await meta.linkBlob(repo, digest('big'), big);
      await Promise.all([meta.linkBlob(repo, digest('small'), 3), meta.linkBlob(repo, digest('small'), 3)]);
      assert.equal(await meta.linkedBlobSize(repo, digest('big')), big);
      assert.equal(await meta.linkedBlobSizeByName('blobs/app', digest('big')), big);
      assert.equal(await meta.linkedBlobSizeByName('blobs/other', digest('big')), undefined);
      assert.deepEqual(await meta.linkedBlobSizes(repo, [digest('big'), digest('small'), digest('none')]), new Map([[digest('big'), big], [digest('small'), 3]]));
      assert.equal(await meta.unlinkBlob(repo, digest('small')), true);
      assert.equal(await meta.unlinkBlob(repo, digest('small')), false);
    });

    test('manifests: bytes round-trip; tags move, bump the version only on a change, list in byte order', async () => {
      const repo = await meta.ensureRepository('tags/app');
      const one = manifest('one');
      const v0 = await meta.tagsVersion(repo);
      assert.equal(v0, 0);
      assert.equal(await meta.tagNamesJson(repo), '[]');
      await meta.putManifest(repo, one, 'a');
      await meta.putManifest(repo, one, 'a');
      assert.equal(await meta.tagsVersion(repo), 1, 'pushing the same tag again changes nothing');
      const row = await meta.manifestByTag(repo, 'a');
      assert.ok(row);
      assert.deepEqual(Buffer.from(row.content), Buffer.from(one.content));
      assert.equal(row.size, one.content.byteLength);
      assert.equal(typeof row.size, 'number');
      for (const tag of ['B', 'A', '_z', '0', 'a.b', 'a-b', 'a_b', 'b']) await meta.putManifest(repo, one, tag);
      const byteOrder = ['0', 'A', 'B', '_z', 'a', 'a-b', 'a.b', 'a_b', 'b'];
      assert.deepEqual(JSON.parse(await meta.tagNamesJson(repo)), byteOrder);
      assert.deepEqual(await meta.listTags(repo, 3, 'B'), ['_z', 'a', 'a-b']);
      assert.deepEqual(await meta.listTags(repo, undefined), byteOrder);
      const before = (await meta.tagsVersion(repo))!;
      await meta.putManifest(repo, manifest('two'), 'a');
      assert.equal(await meta.tagsVersion(repo), before + 1);
      assert.equal((await meta.manifestByTag(repo, 'a'))?.digest, digest('two'));
      assert.equal(await meta.deleteTag(repo, 'b'), true);
      assert.equal(await meta.deleteTag(repo, 'b'), false);
      assert.equal(await meta.tagsVersion(repo), before + 2);
      // Deleting a manifest takes its tags with it.
      assert.equal(await meta.deleteManifest(repo, digest('one')), true);
      assert.deepEqual(await meta.listTags(repo, undefined), ['a']);
      assert.equal(await meta.manifestByDigest(repo, digest('one')), undefined);
      assert.deepEqual(await meta.missingManifests(repo, [digest('one'), digest('two')]), [digest('one')]);
    });

    test('the same manifest and tag pushed at once by many: one row, one tag', async () => {
      const repo = await meta.ensureRepository('race/manifests');
      const m = manifest('race', { blobDigests: [digest('l1'), digest('l2')] });
      await Promise.all(Array.from({ length: 10 }, (_, i) => new Metadata(db).putManifest(repo, m, i % 2 === 0 ? 'latest' : `t${i}`)));
      assert.deepEqual(await meta.listTags(repo, undefined), ['latest', 't1', 't3', 't5', 't7', 't9']);
      const refs = await db.selectFrom('manifest_references').select('child_digest').where('repository_id', '=', repo).orderBy('child_digest').execute();
      assert.deepEqual(refs.map((r) => r.child_digest), [digest('l1'), digest('l2')]);
      assert.equal(await meta.tagsVersion(repo), 6, 'one bump per tag created');
    });

    test('referrers: by subject in push order, filtered by artifact type', async () => {
      const repo = await meta.ensureRepository('refs/app');
      const subject = digest('subject');
      await meta.putManifest(repo, manifest('sig', { subjectDigest: subject, artifactType: 'application/sig', annotations: '{"k":"v"}' }));
      await meta.putManifest(repo, manifest('sbom', { subjectDigest: subject, artifactType: 'application/sbom' }));
      const all = await meta.referrers(repo, subject);
      assert.deepEqual(new Set(all.map((r) => r.digest)), new Set([digest('sig'), digest('sbom')]));
      const sigs = await meta.referrers(repo, subject, 'application/sig');
      assert.deepEqual(sigs, [{ digest: digest('sig'), media_type: 'application/vnd.oci.image.manifest.v1+json', artifact_type: 'application/sig', annotations: '{"k":"v"}', size: manifest('sig').content.byteLength }]);
    });

    test('uploads: the per-owner cap holds when many open at once; one of racing PATCHes moves the offset', async () => {
      const repo = await meta.ensureRepository('uploads/app');
      // Rounds of 100 at once on 20 connections: without the lock PostgreSQL lets a sixth in now and then.
      for (let round = 0; round < 10; round++) {
        const opened = await Promise.all(Array.from({ length: 100 }, (_, i) => meta.createUpload(`u${round}-${i}`, repo, `alice${round}`, 5)));
        assert.equal(opened.filter(Boolean).length, 5, `round ${round}`);
      }
      assert.equal(await meta.createUpload('bob1', repo, 'bob', 5), true, 'the cap is per owner');
      const won = await Promise.all(Array.from({ length: 10 }, (_, i) => meta.advanceUpload('bob1', 0, 100 + i)));
      assert.equal(won.filter(Boolean).length, 1);
      const row = await meta.findUpload('bob1');
      assert.ok(row);
      assert.equal(typeof row.size, 'number');
      assert.ok(row.size >= 100 && row.size < 110);
      assert.deepEqual(await meta.idleUploads(0), []);
      assert.ok((await meta.idleUploads(Date.now() + 1)).includes('bob1'));
      await meta.deleteUpload('bob1');
      assert.equal(await meta.findUpload('bob1'), undefined);
    });

    test('identity: ids and counts are numbers; a duplicate name is a unique violation', async () => {
      const user = await ids.createUser('carol', null, null);
      assert.equal(typeof user.id, 'number');
      assert.equal(await ids.countUsers(), 1);
      assert.equal(typeof (await ids.userById(user.id))?.created_at, 'number');
      await assert.rejects(ids.createUser('carol', null, null), (err) => isUniqueViolation(err));
      // Names are case-sensitive on both engines.
      await ids.createUser('Carol', null, null);
      assert.deepEqual((await ids.listUsers()).map((u) => u.username), ['Carol', 'carol']);
    });

    test('a token made from a token that is being revoked is revoked with it', async () => {
      const user = await ids.createUser('dave', null, null);
      const now = Date.now();
      const token = (id: string, parent: string | null) => ({ id, user_id: user.id, name: id, secret_hash: id, created_at: now, expires_at: null, scopes: 'pull', parent_id: parent });
      for (let round = 0; round < 30; round++) {
        assert.equal(await ids.createAuthToken(token(`p${round}`, null)), true);
        const [created] = await Promise.all([ids.createAuthToken(token(`c${round}`, `p${round}`)), ids.revokeAuthToken(`p${round}`, now)]);
        const child = await ids.authTokenById(`c${round}`);
        if (created) assert.notEqual(child?.revoked_at, null, `round ${round}: the child of a revoked token is revoked`);
        else assert.equal(child, undefined);
      }
    });

    test('audit: repeated failures share one row and count', async () => {
      const at = Date.now();
      const entry = { at, principal: 'eve', action: 'login', resource: '/v2/', result: 'denied' as const, remote_addr: '192.0.2.1', detail: null };
      for (let i = 0; i < 3; i++) await ids.appendAudit({ ...entry, at: at + i });
      const rows = await ids.queryAudit({ principal: 'eve', limit: 10 });
      assert.equal(rows.length, 1);
      assert.equal(rows[0]!.count, 3);
      assert.equal(typeof rows[0]!.id, 'number');
      // Racing failures (as from parallel requests or several nodes) still share one row.
      const burst = { ...entry, principal: 'mallory', at: at - (at % 60_000) };
      await Promise.all(Array.from({ length: 50 }, (_, i) => ids.appendAudit({ ...burst, at: burst.at + i })));
      const raced = await ids.queryAudit({ principal: 'mallory', limit: 10 });
      assert.deepEqual(raced.map((r) => r.count), [50]);
      assert.equal(await ids.pruneAudit(at + 60_000 * 2), 2);
    });
  });

  describe(`migrations on ${engine.name}`, engine.options, () => {
    // Several processes migrating one new database at once: test/server/concurrent-start.test.ts.
    test('a database migrated by a newer version is refused, naming both versions', async () => {
      const fresh = await engine.fresh();
      try {
        const first = await openDatabase(fresh.location);
        await first.insertInto('kysely_migration' as never).values({ name: '9999_from_the_future', timestamp: new Date().toISOString() } as never).execute();
        await first.destroy();
        await assert.rejects(openDatabase(fresh.location), (err: Error) => {
          assert.match(err.message, /schema version 9999_from_the_future, newer than this hatoba knows/);
          assert.ok(err.message.includes(`its newest is ${latestMigration}`), err.message);
          return true;
        });
      } finally {
        await fresh.dispose();
      }
    });
  });
}
