// The file blob store's upload path: appends in any chunking, at any offset,
// written with O_DIRECT where the file system allows it and buffered where
// it does not, must store exactly the bytes sent and roll back on failure.
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { parseDigest, type Digest } from '../../src/formats/digest.js';
import { DigestMismatchError } from '../../src/storage/blob-store.js';
import { DirectIo } from '../../src/storage/filesystem/direct-io.js';
import { FilesystemBlobStore } from '../../src/storage/filesystem/filesystem-blob-store.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function newStore(options?: { directIo?: boolean }): Promise<FilesystemBlobStore> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-store-'));
  dirs.push(dir);
  const store = new FilesystemBlobStore(dir, options);
  await store.init();
  return store;
}

function digestOf(data: Buffer): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);
}

/** `data` as a stream of pieces of the given sizes (cycled). */
function pieces(data: Buffer, sizes: number[]): Readable {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - off);
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return Readable.from(out, { objectMode: false });
}

async function readAll(store: FilesystemBlobStore, digest: Digest): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.read(digest)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let uploadCounter = 0;
const newId = () => `upload-${process.pid}-${++uploadCounter}`;

for (const directIo of [true, false]) {
  describe(`filesystem blob store, ${directIo ? 'direct I/O where possible' : 'buffered writes'}`, () => {
    test('direct I/O is on exactly when asked for and the file system has it', async () => {
      const store = await newStore({ directIo });
      const fsHasIt = DirectIo.open(store.root);
      fsHasIt?.close();
      assert.equal(store.directIo, directIo && fsHasIt !== undefined);
      store.close();
    });

    test('appends at unaligned offsets, in odd pieces, across buffer boundaries', async () => {
      const store = await newStore({ directIo });
      // chunk lengths chosen to start and end mid-block and mid-buffer
      const lengths = [1, 4095, 4097, 5 * MiB + 3, 4 * MiB, 8 * MiB - 7, 0, 12_345];
      const data = randomBytes(lengths.reduce((a, b) => a + b, 0));
      const id = newId();
      let offset = 0;
      for (const [i, n] of lengths.entries()) {
        const size = await store.append(id, offset, pieces(data.subarray(offset, offset + n), [1000 + i * 7919, 65_536, 3]));
        offset += n;
        assert.equal(size, offset);
        assert.equal(await store.stagedSize(id), offset);
      }
      const digest = digestOf(data);
      const info = await store.commit(id, digest);
      assert.equal(info.size, data.length);
      assert.ok((await readAll(store, digest)).equals(data));
      store.close();
    });

    test('exact multiples of the buffer size, and a zero-byte blob', async () => {
      const store = await newStore({ directIo });
      for (const n of [0, 4096, 4 * MiB, 8 * MiB, 8 * MiB + 1]) {
        const data = randomBytes(n);
        const id = newId();
        assert.equal(await store.append(id, 0, pieces(data, [65_536])), n);
        const digest = digestOf(data);
        await store.commit(id, digest);
        assert.equal((await stat(join(store.root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7)))).size, n);
        assert.ok((await readAll(store, digest)).equals(data), `${n} bytes round-trip`);
      }
      store.close();
    });

    test('a body that fails mid-way leaves the upload at its previous size', async () => {
      const store = await newStore({ directIo });
      const id = newId();
      const first = randomBytes(5000);
      await store.append(id, 0, pieces(first, [5000]));
      const broken = Readable.from(
        (async function* () {
          yield randomBytes(6 * MiB);
          throw new Error('connection reset');
        })(),
      );
      await assert.rejects(store.append(id, 5000, broken), /connection reset/);
      assert.equal(await store.stagedSize(id), 5000);
      const rest = randomBytes(9 * MiB + 11);
      assert.equal(await store.append(id, 5000, pieces(rest, [300_000])), 5000 + rest.length);
      const data = Buffer.concat([first, rest]);
      await store.commit(id, digestOf(data));
      assert.ok((await readAll(store, digestOf(data))).equals(data));
      store.close();
    });

    test('a wrong digest is refused and nothing is published', async () => {
      const store = await newStore({ directIo });
      const id = newId();
      const data = randomBytes(5 * MiB);
      await store.append(id, 0, pieces(data, [1 << 20]));
      const wrong = digestOf(Buffer.from('something else'));
      await assert.rejects(store.commit(id, wrong), DigestMismatchError);
      assert.equal(await store.stat(wrong), undefined);
      store.close();
    });

    test('more uploads at once than the pool has buffers', async () => {
      const store = await newStore({ directIo });
      const blobs = Array.from({ length: 12 }, () => randomBytes(9 * MiB + 100));
      const ids = blobs.map(() => newId());
      await Promise.all(blobs.map((b, i) => store.append(ids[i]!, 0, pieces(b, [64 * 1024 + i]))));
      for (const [i, b] of blobs.entries()) {
        await store.commit(ids[i]!, digestOf(b));
        assert.ok((await readAll(store, digestOf(b))).equals(b));
      }
      store.close();
    });
  });
}
