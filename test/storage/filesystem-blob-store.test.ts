// The file blob store: the shared driver suite, with O_DIRECT where the file
// system allows it and with buffered writes, plus what only files have.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DirectIo } from '../../src/storage/filesystem/direct-io.js';
import { FilesystemBlobStore } from '../../src/storage/filesystem/filesystem-blob-store.js';
import { openBlobStore } from '../../src/storage/open-blob-store.js';
import { MiB, blobStoreSuite, digestOf, newUploadId, pieces, readAll } from './blob-store-suite.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-store-'));
  dirs.push(dir);
  return dir;
}

async function newStore(options?: { directIo?: boolean }): Promise<FilesystemBlobStore> {
  const store = new FilesystemBlobStore(await tempDir(), options);
  await store.init();
  return store;
}

for (const directIo of [true, false]) {
  blobStoreSuite(`filesystem, ${directIo ? 'direct I/O where possible' : 'buffered writes'}`, () => newStore({ directIo }));

  describe(`filesystem blob store, ${directIo ? 'direct I/O where possible' : 'buffered writes'}`, () => {
    test('direct I/O is on exactly when asked for and the file system has it', async () => {
      const store = await newStore({ directIo });
      const fsHasIt = DirectIo.open(store.root);
      fsHasIt?.close();
      assert.equal(store.directIo, directIo && fsHasIt !== undefined);
      store.close();
    });

    test('blobs are files under blobs/<algorithm>/<two hex>/<hex>', async () => {
      const store = await newStore({ directIo });
      const data = randomBytes(8 * MiB + 1);
      const id = newUploadId();
      await store.append(id, 0, pieces(data, [65_536]));
      const digest = digestOf(data);
      await store.commit(id, digest);
      assert.equal((await stat(join(store.root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7)))).size, data.length);
      store.close();
    });
  });
}

describe('file: storage URLs', () => {
  test('the default keeps the data directory layout: DATA_DIR/blobs and DATA_DIR/uploads', async () => {
    const dataDir = await tempDir();
    const store = await openBlobStore(undefined, dataDir);
    assert.ok(store instanceof FilesystemBlobStore);
    assert.equal(store.root, dataDir);
    const data = randomBytes(10);
    const id = newUploadId();
    await store.append(id, 0, pieces(data, [10]));
    assert.ok((await stat(join(dataDir, 'uploads', id))).isFile());
    await store.commit(id, digestOf(data));
    assert.ok((await stat(join(dataDir, 'blobs', 'sha256', digestOf(data).slice(7, 9)))).isDirectory());
    store.close?.();
  });

  test('file:PATH puts blobs in PATH and staged uploads beside it', async () => {
    const dataDir = await tempDir();
    const elsewhere = await tempDir();
    const store = await openBlobStore(`file:${join(elsewhere, 'layers')}`, dataDir);
    const data = randomBytes(10);
    const id = newUploadId();
    await store.append(id, 0, pieces(data, [10]));
    assert.ok((await stat(join(elsewhere, 'uploads', id))).isFile());
    await store.commit(id, digestOf(data));
    assert.ok((await readAll(store, digestOf(data))).equals(data));
    assert.ok((await stat(join(elsewhere, 'layers', 'sha256', digestOf(data).slice(7, 9), digestOf(data).slice(7)))).isFile());
    store.close?.();
  });

  test('other schemes are refused with the forms that work', async () => {
    await assert.rejects(openBlobStore('gs://bucket', await tempDir()), /file:PATH or s3:\/\/BUCKET/);
  });
});
