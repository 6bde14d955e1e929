// The registry client against CNCF distribution (Debian's `docker-registry`,
// the reference registry): no single-POST upload (202 to `POST ?digest=`),
// `_state` in upload Locations, no referrers API. Copies a multi-arch index
// from Hatoba to it and back with every digest unchanged. Skipped when the
// binary is not installed.
//
// Run: node --import tsx --test test/client/distribution-interop.test.ts
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { copyImage, pushImage } from '../../src/client/image-copy.js';
import type { RegistryClient } from '../../src/client/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { loggedClient, makeImage, makeIndex, makeReferrer, uniq, type RequestLog } from './helpers.js';

const { path: BINARY, skip } = requireTool('docker-registry', 'apt-get install -y docker-registry', 'the distribution interop tests');

let hatoba: RunningServer;
let distribution: ChildProcess | undefined;
let dir = '';
let h: RegistryClient;
let d: RegistryClient;
let logD: RequestLog;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'hatoba-distribution-'));
  const port = await freePort();
  await writeFile(join(dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`);
  distribution = spawn(BINARY!, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  distribution.stderr!.resume();
  hatoba = await startServer();
  ({ client: h } = loggedClient(hatoba.url));
  ({ client: d, log: logD } = loggedClient(`http://127.0.0.1:${port}`, { credentials: undefined, chunkSize: 256 * 1024 }));
  for (let i = 0; ; i++) {
    try {
      await d.ping();
      break;
    } catch (err) {
      if (i > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  h?.close();
  d?.close();
  distribution?.kill('SIGTERM');
  await hatoba?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('push, copy Hatoba -> distribution -> Hatoba, tags, delete', { skip }, async () => {
  const repo = uniq('interop/app-');
  const images = [makeImage({ platform: 'linux/amd64' }), makeImage({ platform: 'linux/arm64', layers: [Buffer.alloc(600 * 1024, 7), Buffer.from('small')] })];
  const index = makeIndex([
    { image: images[0]!, platform: 'linux/amd64' },
    { image: images[1]!, platform: 'linux/arm64' },
  ]);
  const sig = makeReferrer({ digest: index.digest, size: index.bytes.length, mediaType: index.mediaType }, 'application/vnd.example.sig');
  await pushImage(h, `${repo}:v1`, {
    bytes: index.bytes,
    mediaType: index.mediaType,
    children: images.map((i) => ({ bytes: i.manifest, mediaType: i.mediaType })),
    blobs: [...images, sig].flatMap((i) => i.sources),
    referrers: [{ bytes: sig.manifest, mediaType: sig.mediaType }],
  });

  const there = await copyImage(h, `${repo}:v1`, d, `${repo}:v1`, { referrers: true });
  assert.equal(there.digest, index.digest);
  assert.deepEqual(there.referrers, [sig.digest]);
  assert.deepEqual((await d.getManifest(repo, 'v1')).bytes, index.bytes);
  // distribution answers 202 to POST ?digest=; the client then uses POST + PUT, and PATCHes for the big layer.
  assert.ok(logD.count('PATCH', /blobs\/uploads/) >= 3, logD.toString());
  assert.ok(logD.matching('PUT', /blobs\/uploads/).every((e) => new URL(e.url).searchParams.has('_state')));
  // No referrers API there: the tag schema finds nothing, and the signature was still copied by digest.
  assert.deepEqual(await d.referrers(repo, index.digest), []);
  assert.deepEqual((await d.getManifest(repo, sig.digest)).bytes, sig.manifest);

  const back = uniq('interop/back-');
  const home = await copyImage(d, `${repo}:v1`, h, `${back}:v1`);
  assert.equal(home.digest, index.digest);
  assert.equal((await h.getManifest(back, images[1]!.digest)).digest, images[1]!.digest);

  for (let i = 2; i <= 4; i++) await d.putManifest(repo, `v${i}`, index.bytes, index.mediaType);
  // distribution 2.8 ignores `n` on tags/list (one page, unsorted); the client takes what it gets.
  assert.deepEqual((await d.listTags(repo, { pageSize: 2 })).sort(), ['v1', 'v2', 'v3', 'v4']);
  await d.deleteManifest(repo, sig.digest);
  assert.equal(await d.headManifest(repo, sig.digest), undefined);
});
