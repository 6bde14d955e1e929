// The S3 blob store against a real Ceph RGW: the shared driver suite on a
// fresh prefix, plus what only S3 has: sessions continued by another node,
// part sizes for huge layers, ranged server-side copies, presigned URLs.
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { S3BlobStore, type S3BlobStoreOptions } from '../../src/storage/s3/s3-blob-store.js';
import { MAX_PARTS, MAX_PART_BYTES, MIN_PART_BYTES, copyRanges, partSize, partsFor } from '../../src/storage/s3/part-size.js';
import { objectUrl, presignGet } from '../../src/storage/s3/presign.js';
import { StorageUrlError, parseS3StorageUrl } from '../../src/storage/s3/s3-location.js';
import { openBlobStore } from '../../src/storage/open-blob-store.js';
import { s3Endpoint, s3TestOptions } from '../helpers/s3-endpoint.js';
import { freshS3Storage, removeS3Storage, type S3TestStorage } from '../helpers/s3-storage.js';
import { MiB, blobStoreSuite, brokenBody, digestOf, newUploadId, pieces, readAll } from './blob-store-suite.js';

const GiB = 1024 * MiB;
const options = s3TestOptions();
let storage: S3TestStorage;
let admin: S3Client;

before(async () => {
  if (options.skip) return;
  storage = await freshS3Storage();
  Object.assign(process.env, storage.env); // the AWS credential chain reads them
  const ep = s3Endpoint()!;
  admin = new S3Client({ endpoint: ep.endpoint, region: ep.region, forcePathStyle: true, credentials: { accessKeyId: ep.accessKeyId, secretAccessKey: ep.secretAccessKey } });
});

after(async () => {
  if (options.skip) return;
  await removeS3Storage(storage); // the gateway keeps objects in memory
  admin.destroy();
});

async function keysUnder(sub: string): Promise<string[]> {
  const page = await admin.send(new ListObjectsV2Command({ Bucket: storage.bucket, Prefix: storage.prefix + sub }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

function newStore(extra: S3BlobStoreOptions = {}, url = storage.url): S3BlobStore {
  return new S3BlobStore(parseS3StorageUrl(url), extra);
}

/** Keys of every GetObject the store sends from now on. */
function recordReads(store: S3BlobStore): string[] {
  const keys: string[] = [];
  (store as unknown as { client: S3Client }).client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand') keys.push((args.input as { Key: string }).Key);
      return next(args);
    },
    { step: 'initialize' },
  );
  return keys;
}

blobStoreSuite('S3 (Ceph RGW)', async () => newStore(), { testOptions: options });

describe('part sizes', () => {
  test('grow so that 100 GiB, 1 TiB and S3s 5 TiB limit stay within 10,000 parts', () => {
    assert.equal(partSize(1), 8 * MiB);
    assert.ok(partsFor(1 * GiB) === 128, 'a 1 GiB layer: 128 parts of 8 MiB');
    assert.ok(partsFor(100 * GiB) < MAX_PARTS, `100 GiB: ${partsFor(100 * GiB)} parts`);
    assert.ok(partSize(partsFor(100 * GiB)) <= 64 * MiB, 'a 100 GiB layer holds at most 64 MiB in memory');
    assert.ok(partsFor(1024 * GiB) < MAX_PARTS, `1 TiB: ${partsFor(1024 * GiB)} parts`);
    assert.ok(partsFor(5 * 1024 * GiB) <= MAX_PARTS, `5 TiB: ${partsFor(5 * 1024 * GiB)} parts`);
    for (let n = 1; n <= MAX_PARTS; n++) assert.ok(partSize(n) >= MIN_PART_BYTES && partSize(n) <= MAX_PART_BYTES && partSize(n) >= partSize(Math.max(1, n - 1)));
    assert.throws(() => partSize(MAX_PARTS + 1), RangeError);
  });

  test('copy ranges cover the object without gaps, each within S3s limits', () => {
    for (const size of [5 * GiB + 1, 100 * GiB + 3, 1024 * GiB, 5 * 1024 * GiB]) {
      const ranges = copyRanges(size, GiB);
      assert.ok(ranges.length <= MAX_PARTS, `${size}: ${ranges.length} ranges`);
      assert.equal(ranges[0]!.start, 0);
      assert.equal(ranges.at(-1)!.end, size - 1);
      for (const [i, r] of ranges.entries()) {
        const length = r.end - r.start + 1;
        assert.ok(length <= MAX_PART_BYTES && (length >= MIN_PART_BYTES || i === ranges.length - 1));
        if (i > 0) assert.equal(r.start, ranges[i - 1]!.end + 1);
      }
    }
  });
});

describe('storage URLs', () => {
  test('bucket, prefix and options', () => {
    assert.deepEqual(parseS3StorageUrl('s3://my-bucket/reg/prod?endpoint=http://127.0.0.1:5080/&region=eu-1'), {
      bucket: 'my-bucket',
      prefix: 'reg/prod/',
      endpoint: 'http://127.0.0.1:5080',
      region: 'eu-1',
      pathStyle: true,
      redirect: false,
    });
    const aws = parseS3StorageUrl('s3://my-bucket?region=us-west-2&redirect=true');
    assert.deepEqual([aws.prefix, aws.endpoint, aws.pathStyle, aws.redirect], ['', undefined, false, true]);
    assert.equal(parseS3StorageUrl('s3://b-1/p?endpoint=https://s3.example&path_style=false').pathStyle, false);
  });

  test('credentials in the URL are refused, and say where they belong', () => {
    assert.throws(() => parseS3StorageUrl('s3://AKIA:secret@bucket/p'), /must not carry credentials: set AWS_ACCESS_KEY_ID/);
    assert.throws(() => parseS3StorageUrl('s3://bucket/p?access_key=AKIA'), /never from the URL/);
    assert.throws(() => parseS3StorageUrl('s3://bucket?endpoint=http://a:b@host'), /must not carry credentials/);
  });

  test('malformed ones are refused', () => {
    for (const bad of ['s3://UPPER', 's3://b/../x', 's3://bucket?path_style=yes', 's3://bucket?endpoint=ftp://x', 's3://bucket?color=red']) {
      assert.throws(() => parseS3StorageUrl(bad), StorageUrlError, bad);
    }
  });
});

test('a store that stops answering fails the request after the idle timeout instead of holding it', async () => {
  // accepts connections, reads the request, never answers (as a full Ceph OSD behind RGW does)
  const silent = createServer((socket) => socket.on('data', () => {}));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  const { port } = silent.address() as AddressInfo;
  const store = new S3BlobStore(parseS3StorageUrl(`s3://bucket?endpoint=http://127.0.0.1:${port}`), {
    idleTimeoutMs: 300,
    credentials: async () => ({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' }),
  });
  const started = Date.now();
  await assert.rejects(store.append(newUploadId(), 0, pieces(randomBytes(100), [100])));
  assert.ok(Date.now() - started < 10_000, `gave up after ${Date.now() - started} ms`);
  store.close();
  silent.close();
});

describe('presigned URLs', () => {
  test('match the AWS documentation example (SigV4 query string)', () => {
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    const url = presignGet({
      url: objectUrl(new URL('https://s3.amazonaws.com'), 'examplebucket', 'test.txt', false),
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      expiresSeconds: 86400,
      now: new Date('2013-05-24T00:00:00Z'),
    });
    assert.ok(url.startsWith('https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request'), url);
    assert.ok(url.endsWith('&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404'), url);
  });

  test('the gateway serves a presigned blob, also a range of it, and refuses a tampered one', options, async () => {
    const store = newStore({}, `${storage.url}&redirect=true`);
    assert.ok(store.presignedUrl);
    assert.equal(newStore().presignedUrl, undefined, 'off unless redirect=true');
    const data = randomBytes(300_000);
    const id = newUploadId();
    await store.append(id, 0, pieces(data, [100_000]));
    await store.commit(id, digestOf(data));
    const url = await store.presignedUrl(digestOf(data));
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(data));
    const part = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 2000)));
    const tampered = url.replace(/X-Amz-Signature=./, (m) => m.slice(0, -1) + (m.endsWith('0') ? '1' : '0'));
    assert.equal((await fetch(tampered)).status, 403);
    const anonymous = await fetch(url.slice(0, url.indexOf('?')));
    assert.equal(anonymous.status, 403, 'the bucket is not public: only the signature lets a client in');
    store.close();
  });
});

describe('S3 sessions across nodes', options, () => {
  test('a second node continues a session after small and large chunks, without re-reading the staged bytes', async () => {
    const first = newStore();
    const data = randomBytes(1000 + 12 * MiB + 7 + 3 * MiB + 9 * MiB + 5);
    const cuts = [1000, 12 * MiB, 7, 3 * MiB, 9 * MiB + 5];
    const id = newUploadId();
    let offset = 0;
    const nodes = [first, newStore(), first, newStore(), newStore()];
    for (const [i, n] of cuts.entries()) {
      offset = await nodes[i]!.append(id, offset, pieces(data.subarray(offset, offset + n), [64 * 1024]));
    }
    assert.equal(offset, data.length);
    const last = newStore();
    const reads = recordReads(last);
    assert.equal(await last.stagedSize(id), data.length);
    await last.commit(id, digestOf(data));
    // Only the session state and the tail (less than a part) were read back.
    assert.ok(reads.every((key) => key.endsWith('/state.json') || key.includes('/tail-')), reads.join(', '));
    assert.ok((await readAll(newStore(), digestOf(data))).equals(data));
    assert.deepEqual(await keysUnder(`uploads/${id}/`), [], 'no staged objects are left');
    for (const s of [...nodes, last]) s.close();
  });

  test('a wrong digest leaves nothing visible; abort leaves no objects and no multipart upload', async () => {
    const store = newStore();
    const id = newUploadId();
    const data = randomBytes(17 * MiB);
    await store.append(id, 0, pieces(data, [MiB]));
    await assert.rejects(store.append(id, data.length, brokenBody(9 * MiB)), /connection reset/);
    const wrong = digestOf(Buffer.from('not it'));
    await assert.rejects(store.commit(id, wrong), /content digest is/);
    const published = await keysUnder('blobs/');
    assert.ok(!published.some((k) => k.endsWith(wrong.slice(7)) || k.endsWith(digestOf(data).slice(7))), published.join(', '));
    assert.equal(await store.stat(digestOf(data)), undefined);
    await store.abort(id);
    assert.deepEqual(await keysUnder(`uploads/${id}/`), []);
    const open = await admin.send(new ListMultipartUploadsCommand({ Bucket: storage.bucket, Prefix: `${storage.prefix}uploads/${id}/` }));
    assert.deepEqual(open.Uploads ?? [], []);
    store.close();
  });

  test('a commit retried after its copy failed finishes from the assembled object', async () => {
    const store = newStore();
    const id = newUploadId();
    const data = randomBytes(10 * MiB);
    await store.append(id, 0, pieces(data, [MiB]));
    const internals = store as unknown as { copy: (...args: unknown[]) => Promise<void> };
    const copy = internals.copy;
    internals.copy = async () => {
      throw new Error('gateway timeout');
    };
    await assert.rejects(store.commit(id, digestOf(data)), /gateway timeout/);
    assert.equal(await store.stat(digestOf(data)), undefined);
    internals.copy = copy;
    await store.commit(id, digestOf(data));
    assert.ok((await readAll(store, digestOf(data))).equals(data));
    store.close();
  });

  test('a blob above the single-copy limit is published with ranged UploadPartCopy', async () => {
    // Limits lowered so that a 17 MiB blob takes the path a 6 GiB one takes.
    const store = newStore({ singleCopyMaxBytes: 6 * MiB, copyRangeBytes: 5 * MiB });
    const data = randomBytes(17 * MiB + 3);
    const id = newUploadId();
    await store.append(id, 0, pieces(data, [MiB]));
    await store.commit(id, digestOf(data));
    assert.ok((await readAll(store, digestOf(data))).equals(data));
    assert.ok((await readAll(store, digestOf(data), { start: 15 * MiB, end: 16 * MiB })).equals(data.subarray(15 * MiB, 16 * MiB + 1)));
    store.close();
  });

  test('ready() checks the bucket; openBlobStore picks the S3 driver', async () => {
    const store = await openBlobStore(storage.url, '/nonexistent');
    assert.ok(store instanceof S3BlobStore);
    await store.ready();
    const missing = newStore({}, storage.url.replace(`s3://${storage.bucket}/`, 's3://hatoba-no-such-bucket/'));
    await assert.rejects(missing.ready());
    missing.close();
    store.close();
  });
});
