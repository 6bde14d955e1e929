// `hatoba admin backup DEST` while a server runs and pushes go on: the
// backup, started as a new data directory, serves every tag it holds whole
// (manifest and every blob, digests checked), needs its master.key, keeps
// no upload session whose bytes it lacks, and a refused backup writes
// nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TestRegistry } from '../helpers/registry-client.js';
import { EMBEDDED_BACKEND_ENV } from '../helpers/backend.js';
import { startServer } from '../helpers/server.js';
import { cliHome, removeHomes } from './helpers.js';

// `admin backup` copies an embedded data directory: these servers run on it
// whatever HATOBA_TEST_BACKEND says (on PostgreSQL the command refuses and
// points to pg_dump: test/cli/admin-postgres.test.ts).
const env = EMBEDDED_BACKEND_ENV;

const dirs: string[] = [];
after(async () => {
  await removeHomes();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-backup-test-'));
  dirs.push(dir);
  return dir;
}

/** Every tag of every repository pulls whole: manifest digest, and each blob's bytes against its digest. */
async function assertEveryTagPullsWhole(reg: TestRegistry): Promise<number> {
  const catalog = (await (await reg.request('/v2/_catalog?n=10000')).json()) as { repositories: string[] };
  let pulled = 0;
  for (const repo of catalog.repositories) {
    const { tags } = (await (await reg.request(`/v2/${repo}/tags/list`)).json()) as { tags: string[] };
    for (const tag of tags) {
      const res = await reg.request(`/v2/${repo}/manifests/${tag}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 200, `${repo}:${tag}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      assert.equal(res.headers.get('docker-content-digest'), `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      const manifest = JSON.parse(bytes.toString()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
      for (const { digest } of [manifest.config, ...manifest.layers]) {
        const blob = await reg.request(`/v2/${repo}/blobs/${digest}`);
        assert.equal(blob.status, 200, `${repo}:${tag} blob ${digest}`);
        const data = Buffer.from(await blob.arrayBuffer());
        assert.equal(`sha256:${createHash('sha256').update(data).digest('hex')}`, digest, `${repo}:${tag} blob ${digest} is whole`);
      }
      pulled++;
    }
  }
  return pulled;
}

test('a backup taken under load restores into a new data dir, and every tag pulls whole', { timeout: 180_000 }, async (t) => {
  const server = await startServer({ env });
  const home = await cliHome();
  const backups = await tempDir();
  try {
    const reg = new TestRegistry(server.url);
    for (let i = 0; i < 5; i++) await reg.pushImage(`backup/app${i % 2}`, `before-${i}`, { layers: [`layer ${i} `.repeat(5000), `second layer ${i}`] });
    // An upload session open at backup time: the backup does not have its bytes.
    const open = await reg.request('/v2/backup/app0/blobs/uploads/', { method: 'POST' });
    assert.equal(open.status, 202);
    const uploadPath = open.headers.get('location')!;
    assert.equal((await reg.request(uploadPath, { method: 'PATCH', body: 'staged bytes', headers: { 'content-type': 'application/octet-stream' } })).status, 202);

    // Pushes go on while the backup runs.
    let pushing = true;
    let pushedDuring = 0;
    const pusher = (async () => {
      for (let i = 0; pushing; i++) {
        await reg.pushImage(`backup/load${i % 3}`, `during-${i}`, { layers: [`load layer ${i} `.repeat(20000)] });
        pushedDuring++;
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    const dest = join(backups, 'b1');
    const run = await home.run(['admin', 'backup', dest, '--data-dir', server.dataDir, '--json']);
    pushing = false;
    await pusher;
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    t.diagnostic(`backup: ${report.blobs.files} blobs, ${report.blobs.bytes} bytes (${report.blobs.linked} linked), database ${report.database.bytes} bytes, ${report.seconds} s; ${pushedDuring} images pushed during the run`);
    assert.equal(report.masterKey, 'copied');
    assert.equal(report.database.droppedUploads, 1);
    assert.ok(report.blobs.files >= 10);
    assert.deepEqual((await readdir(backups)).sort(), ['b1'], 'no partial directory is left beside it');
    assert.equal(statSync(dest).mode & 0o777, 0o700);
    for (const f of ['hatoba.db', 'master.key']) assert.equal(statSync(join(dest, f)).mode & 0o777, 0o600, f);
    assert.ok(!existsSync(join(dest, 'hatoba.db-wal')), 'the database copy is one file');

    await server.stop();
    const restored = await startServer({ dataDir: dest, env });
    try {
      const restoredReg = new TestRegistry(restored.url);
      const pulled = await assertEveryTagPullsWhole(restoredReg);
      t.diagnostic(`restored: ${pulled} tags pulled whole`);
      assert.ok(pulled >= 5, `the five tags pushed before the backup are there (pulled ${pulled})`);
      for (let i = 0; i < 5; i++) assert.equal((await restoredReg.request(`/v2/backup/app${i % 2}/manifests/before-${i}`, { method: 'HEAD' })).status, 200);
      assert.equal((await restoredReg.request(uploadPath)).status, 404, 'the upload session whose bytes were not backed up is gone');
      // The restored registry takes new pushes.
      await restoredReg.pushImage('backup/after', 'v1');
    } finally {
      await restored.dispose();
    }
  } finally {
    await server.dispose();
  }
});

test('a backup is refused, writing nothing, into an existing directory, from a non-data dir, or without a master key', async () => {
  const home = await cliHome();
  const root = await tempDir();
  const server = await startServer({ env });
  try {
    await new TestRegistry(server.url).pushImage('backup/refused', 'v1');
    const existing = join(root, 'existing');
    await mkdir(existing);
    await writeFile(join(existing, 'keep'), 'x');
    let run = await home.run(['admin', 'backup', existing, '--data-dir', server.dataDir]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /already exists/);
    assert.deepEqual(await readdir(existing), ['keep']);

    run = await home.run(['admin', 'backup', join(root, 'b2'), '--data-dir', root]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /not a Hatoba data directory/);
    assert.match(run.stderr, /--data-dir/);

    await server.stop();
    await unlink(join(server.dataDir, 'master.key'));
    run = await home.run(['admin', 'backup', join(root, 'b3'), '--data-dir', server.dataDir]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /HATOBA_MASTER_KEY/);
    assert.deepEqual((await readdir(root)).sort(), ['existing'], 'no backup directory and no partial one');
  } finally {
    await server.dispose();
  }
});
