// Several nodes started at once on one new database: the schema is migrated
// once (PostgreSQL: under an advisory lock; SQLite: in one immediate
// transaction), exactly one first admin is made, and each node accepts the
// others' tokens. A node then refuses a database that a newer version has
// migrated, naming both versions. On SQLite the nodes share a data
// directory (as --workers do); on PostgreSQL each has its own, with one
// HATOBA_MASTER_KEY.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openDatabase } from '../../src/db/connect.js';
import { parseDatabaseUrl } from '../../src/db/location.js';
import { latestMigration, migrationNames } from '../../src/db/migrations.js';
import { createTestDatabase, pgTestOptions } from '../helpers/postgres.js';
import { TestRegistry } from '../helpers/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';

const NODES = 3;

interface SharedDatabase {
  url: string;
  /** The data directory of node i. */
  dataDir(i: number): string;
  env: Record<string, string>;
  dispose(): Promise<void>;
}

const ENGINES: { name: string; options: { skip?: string }; shared(): Promise<SharedDatabase> }[] = [
  {
    name: 'sqlite',
    options: {},
    async shared() {
      const dir = await mkdtemp(join(tmpdir(), 'hatoba-start-'));
      const url = `sqlite:${join(dir, 'hatoba.db')}`;
      return { url, dataDir: () => dir, env: { HATOBA_DB: url }, dispose: () => rm(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    options: pgTestOptions(),
    async shared() {
      const database = await createTestDatabase();
      const root = await mkdtemp(join(tmpdir(), 'hatoba-start-'));
      return {
        url: database.url,
        dataDir: (i) => join(root, `node${i}`),
        env: { HATOBA_DB: database.url, HATOBA_MASTER_KEY: randomBytes(32).toString('base64') },
        async dispose() {
          await database.drop();
          await rm(root, { recursive: true, force: true });
        },
      };
    },
  },
];

for (const engine of ENGINES) {
  describe(`${NODES} nodes starting at once on one new ${engine.name} database`, engine.options, () => {
    test('migrate once, make one admin, share tokens; a newer schema is refused', { timeout: 120_000 }, async () => {
      const shared = await engine.shared();
      let nodes: RunningServer[] = [];
      try {
        nodes = await Promise.all(Array.from({ length: NODES }, (_, i) => startServer({ dataDir: shared.dataDir(i), env: shared.env })));
        const db = await openDatabase(parseDatabaseUrl(shared.url, shared.dataDir(0), 2));
        try {
          const applied = (await db.selectFrom('kysely_migration' as never).select('name' as never).execute()).map((r) => (r as { name: string }).name);
          assert.deepEqual(applied.sort(), migrationNames, 'each migration applied once');
          assert.equal(Number((await db.selectFrom('users').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n), 1, 'one first admin');
          assert.equal(Number((await db.selectFrom('role_bindings').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n), 1);
        } finally {
          await db.destroy();
        }

        // Every node takes the admin's password, and a token any node issued.
        for (const from of nodes) {
          const res = await fetch(`${from.url}/v2/token?service=hatoba&scope=repository:start/app:pull,push`, { headers: { authorization: `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}` } });
          assert.equal(res.status, 200, await res.clone().text());
          const { token } = (await res.json()) as { token: string };
          for (const to of nodes) assert.equal((await fetch(`${to.url}/v2/`, { headers: { authorization: `Bearer ${token}` } })).status, 200, `${from.url}'s token on ${to.url}`);
        }
        // What one node stored, the others serve.
        const pushed = await new TestRegistry(nodes[0]!.url).pushImage('start/app', 'v1');
        const pulled = await new TestRegistry(nodes[NODES - 1]!.url).request('/v2/start/app/manifests/v1', { headers: { accept: pushed.manifest.mediaType } });
        assert.equal(pulled.status, 200);
        assert.equal(await pulled.text(), pushed.bytes);

        await Promise.all(nodes.map((n) => n.stop()));
        const db2 = await openDatabase(parseDatabaseUrl(shared.url, shared.dataDir(0), 2));
        await db2.insertInto('kysely_migration' as never).values({ name: '9999_from_the_future', timestamp: new Date().toISOString() } as never).execute();
        await db2.destroy();
        await assert.rejects(startServer({ dataDir: shared.dataDir(0), env: shared.env }), (err: Error) => {
          assert.match(err.message, /exited with 2 before listening/);
          assert.match(err.message, /schema version 9999_from_the_future, newer than this hatoba knows/);
          assert.ok(err.message.includes(`its newest is ${latestMigration}`), err.message);
          const password = new URL(shared.url).password;
          if (password) assert.ok(!err.message.includes(`:${password}@`), 'the password is not shown');
          return true;
        });
      } finally {
        await Promise.all(nodes.map((n) => n.stop()));
        await shared.dispose();
      }
    });
  });
}
