// The one test suite every BlobStore driver runs unchanged (filesystem,
// S3): appends in any chunking, rollback of a failed body, verification at
// commit, ranges, abort and delete. A driver's own file adds what only it
// has (direct I/O, a session continued by another node, ...).
import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { parseDigest, type Digest } from '../../src/formats/digest.js';
import type { ByteRange } from '../../src/formats/http-range.js';
import { BlobNotFoundError, DigestMismatchError, UploadOffsetError, type BlobStore } from '../../src/storage/blob-store.js';

export const MiB = 1024 * 1024;

export function digestOf(data: Buffer): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(data).digest('hex')}`);
}

/** `data` as a stream of pieces of the given sizes (cycled). */
export function pieces(data: Buffer, sizes: number[]): Readable {
  const out: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - off);
    out.push(data.subarray(off, off + n));
    off += n;
  }
  return Readable.from(out, { objectMode: false });
}

/** A body that sends `bytes` and then fails, as a dropped connection does. */
export function brokenBody(bytes: number): Readable {
  return Readable.from(
    (async function* () {
      yield randomBytes(bytes);
      throw new Error('connection reset');
    })(),
  );
}

export async function readAll(store: BlobStore, digest: Digest, range?: ByteRange): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.read(digest, range)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let uploadCounter = 0;
export const newUploadId = () => `upload-${process.pid}-${Date.now().toString(36)}-${++uploadCounter}`;

export interface SuiteOptions {
  /** Options for node:test (e.g. skip without an S3 endpoint). */
  testOptions?: { skip?: string };
}

export function blobStoreSuite(driver: string, newStore: () => Promise<BlobStore>, options: SuiteOptions = {}): void {
  describe(`blob store driver suite: ${driver}`, options.testOptions ?? {}, () => {
    test('appends at unaligned offsets, in odd pieces, across buffer and part boundaries', async () => {
      const store = await newStore();
      // chunk lengths chosen to start and end mid-block, mid-buffer and mid-part
      const lengths = [1, 4095, 4097, 5 * MiB + 3, 4 * MiB, 8 * MiB - 7, 0, 12_345];
      const data = randomBytes(lengths.reduce((a, b) => a + b, 0));
      const id = newUploadId();
      let offset = 0;
      for (const [i, n] of lengths.entries()) {
        const size = await store.append(id, offset, pieces(data.subarray(offset, offset + n), [1000 + i * 7919, 65_536, 3]));
        offset += n;
        assert.equal(size, offset);
        assert.equal(await store.stagedSize(id), offset);
      }
      const digest = digestOf(data);
      assert.equal(await store.stat(digest), undefined, 'nothing is visible before commit');
      const info = await store.commit(id, digest);
      assert.equal(info.size, data.length);
      assert.deepEqual(await store.stat(digest), { digest, size: data.length });
      assert.ok((await readAll(store, digest)).equals(data));
      await store.close?.();
    });

    test('exact multiples of buffer and part sizes, and a zero-byte blob', async () => {
      const store = await newStore();
      for (const n of [0, 4096, 4 * MiB, 8 * MiB, 8 * MiB + 1, 16 * MiB]) {
        const data = randomBytes(n);
        const id = newUploadId();
        assert.equal(await store.append(id, 0, pieces(data, [65_536])), n);
        const digest = digestOf(data);
        await store.commit(id, digest);
        assert.equal((await store.stat(digest))?.size, n);
        assert.ok((await readAll(store, digest)).equals(data), `${n} bytes round-trip`);
      }
      // committed without any append at all
      const empty = newUploadId();
      assert.equal(await store.stagedSize(empty), 0);
      assert.equal((await store.commit(empty, digestOf(Buffer.alloc(0)))).size, 0);
      await store.close?.();
    });

    test('a body that fails mid-way (also past a full part) leaves the upload at its previous size', async () => {
      const store = await newStore();
      const id = newUploadId();
      const first = randomBytes(5000);
      await store.append(id, 0, pieces(first, [5000]));
      await assert.rejects(store.append(id, 5000, brokenBody(6 * MiB)), /connection reset/);
      assert.equal(await store.stagedSize(id), 5000);
      await assert.rejects(store.append(id, 5000, brokenBody(19 * MiB)), /connection reset/);
      assert.equal(await store.stagedSize(id), 5000);
      const rest = randomBytes(9 * MiB + 11);
      assert.equal(await store.append(id, 5000, pieces(rest, [300_000])), 5000 + rest.length);
      const data = Buffer.concat([first, rest]);
      await store.commit(id, digestOf(data));
      assert.ok((await readAll(store, digestOf(data))).equals(data));
      await store.close?.();
    });

    test('a chunk stored but never recorded (its node died in between) is replaced by the one sent again from the earlier offset', async () => {
      const store = await newStore();
      const id = newUploadId();
      const first = randomBytes(3 * MiB + 5);
      await store.append(id, 0, pieces(first, [1 << 20]));
      // Stored, then the node died before the session's row moved on: the
      // client resumes from first.length with other bytes (across a full part).
      assert.equal(await store.append(id, first.length, pieces(randomBytes(6 * MiB), [1 << 20])), first.length + 6 * MiB);
      const rest = randomBytes(7 * MiB + 3);
      assert.equal(await store.append(id, first.length, pieces(rest, [1 << 20])), first.length + rest.length);
      const more = randomBytes(1000);
      assert.equal(await store.append(id, first.length + rest.length, pieces(more, [1000])), first.length + rest.length + more.length);
      const data = Buffer.concat([first, rest, more]);
      await store.commit(id, digestOf(data));
      assert.ok((await readAll(store, digestOf(data))).equals(data));
      await store.close?.();
    });

    test('a chunk at the wrong offset is refused and changes nothing', async () => {
      const store = await newStore();
      const id = newUploadId();
      const data = randomBytes(3000);
      await store.append(id, 0, pieces(data, [3000]));
      await assert.rejects(store.append(id, 4000, pieces(randomBytes(10), [10])), (err: unknown) => err instanceof UploadOffsetError && err.actual === 3000);
      assert.equal(await store.stagedSize(id), 3000);
      await store.commit(id, digestOf(data));
      await store.close?.();
    });

    test('a wrong digest is refused and nothing is published', async () => {
      const store = await newStore();
      for (const size of [1000, 9 * MiB]) {
        const id = newUploadId();
        const data = randomBytes(size);
        await store.append(id, 0, pieces(data, [1 << 20]));
        const wrong = digestOf(Buffer.from('something else'));
        await assert.rejects(store.commit(id, wrong), DigestMismatchError);
        assert.equal(await store.stat(wrong), undefined);
        assert.equal(await store.stat(digestOf(data)), undefined, 'not under its real digest either');
        await store.abort(id);
      }
      await store.close?.();
    });

    test('ranges read exactly the bytes asked for', async () => {
      const store = await newStore();
      const data = randomBytes(9 * MiB + 77);
      const id = newUploadId();
      await store.append(id, 0, pieces(data, [1 << 20]));
      const digest = digestOf(data);
      await store.commit(id, digest);
      for (const range of [
        { start: 0, end: 0 },
        { start: 10, end: 20 },
        { start: 8 * MiB - 5, end: 8 * MiB + 5 },
        { start: data.length - 1, end: data.length - 1 },
        { start: 100, end: data.length - 1 },
      ]) {
        assert.ok((await readAll(store, digest, range)).equals(data.subarray(range.start, range.end + 1)), `${range.start}-${range.end}`);
      }
      await store.close?.();
    });

    test('abort discards the staged bytes; delete removes a blob; absent blobs are BlobNotFoundError', async () => {
      const store = await newStore();
      const id = newUploadId();
      await store.append(id, 0, pieces(randomBytes(9 * MiB), [1 << 20]));
      await store.abort(id);
      assert.equal(await store.stagedSize(id), 0);
      await store.abort(id); // twice is harmless
      const data = randomBytes(100);
      const again = newUploadId();
      await store.append(again, 0, pieces(data, [100]));
      const digest = digestOf(data);
      await store.commit(again, digest);
      await store.delete(digest);
      assert.equal(await store.stat(digest), undefined);
      await assert.rejects(store.read(digest), BlobNotFoundError);
      await store.delete(digest); // absent: nothing to do
      await store.close?.();
    });

    test('the same blob committed by two uploads is published once, intact', async () => {
      const store = await newStore();
      const data = randomBytes(2 * MiB);
      const ids = [newUploadId(), newUploadId()];
      await Promise.all(ids.map((id) => store.append(id, 0, pieces(data, [64 * 1024]))));
      await Promise.all(ids.map((id) => store.commit(id, digestOf(data))));
      assert.ok((await readAll(store, digestOf(data))).equals(data));
      await store.close?.();
    });

    test('more uploads at once than the pools have buffers', async () => {
      const store = await newStore();
      const blobs = Array.from({ length: 12 }, () => randomBytes(9 * MiB + 100));
      const ids = blobs.map(() => newUploadId());
      await Promise.all(blobs.map((b, i) => store.append(ids[i]!, 0, pieces(b, [64 * 1024 + i]))));
      for (const [i, b] of blobs.entries()) {
        await store.commit(ids[i]!, digestOf(b));
        assert.ok((await readAll(store, digestOf(b))).equals(b));
      }
      await store.close?.();
    });
  });
}
