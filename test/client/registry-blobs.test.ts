// Blob transfers of the registry client against a real `hatoba serve` (and
// fake registries for what a good one never does): HEAD skip, mount,
// monolithic and chunked uploads, resumed uploads and downloads, progress,
// and digest verification while streaming.
//
// Run: node --import tsx --test test/client/registry-blobs.test.ts
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { DigestMismatchError, RegistryApiError, RegistryClient, bufferSource, type BlobProgress, type BlobSource } from '../../src/client/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { listen, loggedClient, sha256, uniq } from './helpers.js';

const MiB = 1024 * 1024;
let server: RunningServer;
const closers: (() => unknown)[] = [];

before(async () => {
  server = await startServer();
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await server?.dispose();
});

function track<T extends { close(): unknown }>(x: T): T {
  closers.push(() => x.close());
  return x;
}

/** Deterministic bytes made on the fly, 64 KiB at a time: a large blob never in memory. */
function patternStream(size: number, seed: string): Readable {
  async function* gen() {
    let offset = 0;
    let counter = 0;
    while (offset < size) {
      const block = Buffer.alloc(Math.min(64 * 1024, size - offset));
      for (let i = 0; i < block.length; i += 32) createHash('sha256').update(`${seed}:${counter++}`).digest().copy(block, i);
      offset += block.length;
      yield block;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

async function patternSource(size: number, seed: string): Promise<BlobSource & { opens: number }> {
  const hash = createHash('sha256');
  for await (const chunk of patternStream(size, seed)) hash.update(chunk as Buffer);
  const source = { digest: `sha256:${hash.digest('hex')}`, size, opens: 0, open: () => (source.opens++, patternStream(size, seed)) };
  return source;
}

async function digestOfStream(stream: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  await pipeline(
    stream,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb();
      },
    }),
  );
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

describe('push', () => {
  test('a blob the repository has is skipped after one HEAD, without reading the source', async () => {
    const { client, log } = loggedClient(server.url);
    track(client);
    const repo = uniq('blobs/skip-');
    const data = `skip me ${repo}`;
    let opened = 0;
    const source: BlobSource = { digest: sha256(data), size: data.length, open: () => (opened++, Readable.from([Buffer.from(data)])) };
    assert.equal((await client.pushBlob(repo, source)).outcome, 'uploaded');
    assert.equal(opened, 1);
    log.clear();
    const events: BlobProgress[] = [];
    const again = await client.pushBlob(repo, source, { onProgress: (e) => events.push(e) });
    assert.equal(again.outcome, 'exists');
    assert.equal(opened, 1, 'the source was not opened again');
    assert.deepEqual(log.events.map((e) => `${e.method} ${new URL(e.url).pathname}`), [`HEAD /v2/${repo}/blobs/${source.digest}`]);
    assert.deepEqual(events.at(-1), { digest: source.digest, repository: repo, state: 'exists', bytes: data.length, total: data.length });
  });

  test('a small blob goes in one POST ?digest=', async () => {
    const { client, log } = loggedClient(server.url);
    track(client);
    const repo = uniq('blobs/mono-');
    const source = await patternSource(300 * 1024, repo);
    assert.equal((await client.pushBlob(repo, source)).outcome, 'uploaded');
    const posts = log.matching('POST', `/v2/${repo}/blobs/uploads/`);
    assert.equal(posts.length, 1);
    assert.equal(new URL(posts[0]!.url).searchParams.get('digest'), source.digest);
    assert.equal(posts[0]!.status, 201);
    assert.equal(log.count('PATCH', /./) + log.count('PUT', /./), 0);
    assert.deepEqual(await digestOfStream(await client.openBlob(repo, source.digest)), { digest: source.digest, size: source.size });
  });

  test('a 20 MiB blob goes in 4 MiB PATCHes following Location, then PUT; progress reaches the total', async () => {
    const { client, log } = loggedClient(server.url, { chunkSize: 4 * MiB });
    track(client);
    const repo = uniq('blobs/chunked-');
    const source = await patternSource(20 * MiB, repo);
    const events: BlobProgress[] = [];
    const before = process.memoryUsage().rss;
    const result = await client.pushBlob(repo, source, { onProgress: (e) => events.push(e) });
    const grew = process.memoryUsage().rss - before;
    assert.equal(result.outcome, 'uploaded');
    assert.equal(log.count('POST', `/v2/${repo}/blobs/uploads/`), 1, log.toString());
    assert.equal(log.count('PATCH', /\/blobs\/uploads\/./), 5, log.toString());
    const puts = log.matching('PUT', /\/blobs\/uploads\/./);
    assert.equal(puts.length, 1);
    assert.equal(new URL(puts[0]!.url).searchParams.get('digest'), source.digest);
    assert.equal(source.opens, 1);
    const uploading = events.filter((e) => e.state === 'uploading');
    assert.ok(uploading.length >= 5, `${uploading.length} progress events`);
    assert.ok(uploading.every((e, i) => i === 0 || e.bytes >= uploading[i - 1]!.bytes), 'progress never goes back');
    assert.equal(events.at(-1)!.state, 'done');
    assert.equal(events.at(-1)!.bytes, 20 * MiB);
    assert.ok(grew < 64 * MiB, `rss grew ${grew} bytes`);
    const head = await client.blobExists(repo, source.digest);
    assert.equal(head?.size, 20 * MiB);
    assert.deepEqual(await digestOfStream(await client.openBlob(repo, source.digest)), { digest: source.digest, size: source.size });
  });

  test('a blob in another repository of the same registry is mounted, not uploaded', async () => {
    const { client, log } = loggedClient(server.url);
    track(client);
    const src = uniq('blobs/mount-src-');
    const dst = uniq('blobs/mount-dst-');
    const source = await patternSource(100 * 1024, src);
    await client.pushBlob(src, source);
    const opensBefore = source.opens;
    log.clear();
    const result = await client.pushBlob(dst, source, { from: src });
    assert.equal(result.outcome, 'mounted');
    assert.equal(source.opens, opensBefore);
    const mount = log.matching('POST', `/v2/${dst}/blobs/uploads/`);
    assert.equal(mount.length, 1);
    assert.equal(new URL(mount[0]!.url).searchParams.get('from'), src);
    assert.equal(mount[0]!.status, 201);
    // The token asked for both repositories at once.
    const token = log.matching('GET', '/v2/token').at(-1)!;
    assert.deepEqual(new URL(token.url).searchParams.getAll('scope').sort(), [`repository:${dst}:pull,push`, `repository:${src}:pull`].sort());
    assert.ok(await client.blobExists(dst, source.digest));
  });

  test('a mount that the registry refuses (blob not in `from`) falls back to uploading into the session it opened', async () => {
    const { client, log } = loggedClient(server.url);
    track(client);
    const dst = uniq('blobs/nomount-');
    const source = await patternSource(50 * 1024, dst);
    const result = await client.pushBlob(dst, source, { from: uniq('blobs/empty-') });
    assert.equal(result.outcome, 'uploaded');
    assert.equal(log.matching('POST', `/v2/${dst}/blobs/uploads/`)[0]!.status, 202);
    assert.equal(log.count('PUT', /\/blobs\/uploads\/./), 1, log.toString());
  });

  test('a source with other bytes than its digest: the registry refuses it and nothing is stored', async () => {
    const client = track(new RegistryClient({ url: server.url, credentials: { ...ADMIN }, chunkSize: 64 * 1024 }));
    const repo = uniq('blobs/lie-');
    for (const size of [1000, 200 * 1024]) {
      const real = await patternSource(size, `${repo}-${size}`);
      const liar: BlobSource = { digest: sha256(`something else ${size}`), size, open: () => real.open() };
      await assert.rejects(client.pushBlob(repo, liar), (err: unknown) => {
        assert.ok(err instanceof RegistryApiError, String(err));
        assert.equal(err.code, 'DIGEST_INVALID');
        return true;
      });
      assert.equal(await client.blobExists(repo, liar.digest), undefined);
    }
    // A source shorter than announced is caught by the client itself.
    const short: BlobSource = { digest: sha256('abc'), size: 10, open: () => Readable.from([Buffer.from('abc')]) };
    await assert.rejects(client.pushBlob(repo, short), DigestMismatchError);
  });

  test('a PATCH whose connection breaks midway is resumed where the registry says the upload is', async () => {
    // A proxy that cuts the second PATCH after ~100 KiB of its body.
    let patches = 0;
    const target = new URL(server.url);
    const proxy = await listen((req, res) => {
      const isPatch = req.method === 'PATCH';
      if (isPatch) patches++;
      const cut = isPatch && patches === 2;
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode!, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      let forwarded = 0;
      req.on('data', (chunk: Buffer) => {
        forwarded += chunk.length;
        up.write(chunk);
        if (cut && forwarded > 100 * 1024) {
          req.removeAllListeners('data');
          up.destroy();
          res.destroy();
        }
      });
      req.on('end', () => up.end());
    });
    closers.push(() => proxy.close());
    const { client, log } = loggedClient(proxy.url, { chunkSize: 512 * 1024, authMode: 'basic' });
    track(client);
    const repo = uniq('blobs/resume-');
    const source = await patternSource(2 * MiB + 12345, repo);
    assert.equal((await client.pushBlob(repo, source)).outcome, 'uploaded');
    assert.equal(source.opens, 2, 'the source was opened again to resume');
    assert.equal(log.count('GET', /\/blobs\/uploads\/./), 1, `asked the session status once\n${log}`);
    assert.deepEqual(await digestOfStream(await client.openBlob(repo, source.digest)), { digest: source.digest, size: source.size });
  });
});

describe('pull', () => {
  test('streams and verifies; progress counts the bytes', async () => {
    const client = track(new RegistryClient({ url: server.url, credentials: { ...ADMIN } }));
    const repo = uniq('blobs/pull-');
    const source = await patternSource(3 * MiB, repo);
    await client.pushBlob(repo, source);
    const events: BlobProgress[] = [];
    const got = await digestOfStream(await client.openBlob(repo, source.digest, { size: source.size, onProgress: (e) => events.push(e) }));
    assert.deepEqual(got, { digest: source.digest, size: source.size });
    assert.equal(events.at(-1)!.state, 'done');
    assert.equal(events.at(-1)!.bytes, source.size);
  });

  test('an unknown blob is a typed BLOB_UNKNOWN before any byte is streamed', async () => {
    const client = track(new RegistryClient({ url: server.url, credentials: { ...ADMIN } }));
    const repo = uniq('blobs/none-');
    await client.pushBlob(repo, bufferSource('x', sha256('x')));
    await assert.rejects(client.openBlob(repo, sha256('not there')), (err: unknown) => {
      assert.ok(err instanceof RegistryApiError);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'BLOB_UNKNOWN');
      assert.match(err.message, new RegExp(`pull blob sha256:.* from ${repo}: blob_unknown: `));
      return true;
    });
  });

  describe('against a registry that serves wrong bytes', () => {
    const good = Buffer.from('the real content of this blob, 49 bytes long....');
    const digest = sha256(good);
    let fake: Awaited<ReturnType<typeof listen>>;
    let mode: 'wrong' | 'short' | 'cut-then-resume' | 'cut-then-full' = 'wrong';
    before(async () => {
      fake = await listen((req, res) => {
        if (req.url === '/v2/') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        if (req.url === `/v2/some/repo/blobs/${digest}`) {
          if (mode === 'wrong') {
            const bad = Buffer.from(good);
            bad[10] = bad[10]! ^ 1;
            return void res.writeHead(200, { 'content-length': bad.length, 'docker-content-digest': digest }).end(bad);
          }
          if (mode === 'short') return void res.writeHead(200, {}).end(good.subarray(0, 20));
          const range = req.headers.range;
          if (range) {
            const from = Number(/bytes=(\d+)-/.exec(range)![1]);
            if (mode === 'cut-then-full') return void res.writeHead(200, { 'content-length': good.length }).end(good);
            return void res.writeHead(206, { 'content-length': good.length - from, 'content-range': `bytes ${from}-${good.length - 1}/${good.length}` }).end(good.subarray(from));
          }
          // Announce everything, send 20 bytes, hang up.
          res.writeHead(200, { 'content-length': good.length });
          res.write(good.subarray(0, 20), () => setTimeout(() => res.socket?.destroy(), 20));
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"nope"}]}');
      });
    });
    after(() => fake.close());

    test('a flipped bit fails the stream with DigestMismatchError (it never ends normally)', async () => {
      mode = 'wrong';
      const client = track(new RegistryClient({ url: fake.url }));
      const stream = await client.openBlob('some/repo', digest);
      let ended = false;
      stream.on('end', () => (ended = true));
      await assert.rejects(digestOfStream(stream), (err: unknown) => {
        assert.ok(err instanceof DigestMismatchError, String(err));
        assert.equal(err.expected, digest);
        assert.equal(err.actual, sha256(Buffer.from(good).fill(good[10]! ^ 1, 10, 11)));
        return true;
      });
      assert.equal(ended, false);
      await assert.rejects(client.getBlob('some/repo', digest), DigestMismatchError);
    });

    test('fewer bytes than the expected size fail too', async () => {
      mode = 'short';
      const client = track(new RegistryClient({ url: fake.url }));
      await assert.rejects(digestOfStream(await client.openBlob('some/repo', digest, { size: good.length })), DigestMismatchError);
    });

    test('a download cut midway resumes with Range (and copes with a registry that ignores Range)', async () => {
      for (const m of ['cut-then-resume', 'cut-then-full'] as const) {
        mode = m;
        const before = fake.requests.length;
        const client = track(new RegistryClient({ url: fake.url }));
        assert.deepEqual(await client.getBlob('some/repo', digest), good, m);
        assert.equal(fake.requests.slice(before).filter((r) => r.url.includes('/blobs/')).length, 2, m);
      }
    });
  });
});
