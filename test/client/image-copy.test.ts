// pushImage and copyImage between two real `hatoba serve` processes: a
// multi-arch index with a signature copied with every digest unchanged,
// mounts within one registry, platform filters, and re-copies that move no
// bytes.
//
// Run: node --import tsx --test test/client/image-copy.test.ts
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { copyImage, parseImageReference, pushImage, type ManifestEvent } from '../../src/client/image-copy.js';
import { RegistryApiError, RegistryClient, bufferSource, type BlobProgress } from '../../src/client/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { loggedClient, makeImage, makeIndex, makeReferrer, sha256, uniq, type RequestLog, type TestImage } from './helpers.js';

let a: RunningServer;
let b: RunningServer;
let ca: RegistryClient;
let cb: RegistryClient;
let logA: RequestLog;
let logB: RequestLog;

before(async () => {
  [a, b] = await Promise.all([startServer(), startServer()]);
  ({ client: ca, log: logA } = loggedClient(a.url));
  ({ client: cb, log: logB } = loggedClient(b.url, { chunkSize: 256 * 1024 }));
});

after(async () => {
  ca?.close();
  cb?.close();
  await Promise.all([a?.dispose(), b?.dispose()]);
});

interface MultiArch {
  images: TestImage[];
  index: ReturnType<typeof makeIndex>;
  signature: TestImage;
  childSignature: TestImage;
}

/** Three platforms sharing a base layer, one big layer (chunked on B), a signature on the index and one on a child. */
function multiArch(): MultiArch {
  const shared = randomBytes(5000);
  const images = [
    makeImage({ platform: 'linux/amd64', layers: [shared, randomBytes(700 * 1024)] }),
    makeImage({ platform: 'linux/arm64', layers: [shared, randomBytes(2000)] }),
    makeImage({ platform: 'linux/s390x', layers: [shared, randomBytes(3000)] }),
  ];
  const index = makeIndex([
    { image: images[0]!, platform: 'linux/amd64' },
    { image: images[1]!, platform: 'linux/arm64/v8' },
    { image: images[2]!, platform: 'linux/s390x' },
  ]);
  const signature = makeReferrer({ digest: index.digest, size: index.bytes.length, mediaType: index.mediaType }, 'application/vnd.dev.cosign.artifact.sig.v1+json');
  const childSignature = makeReferrer({ digest: images[1]!.digest, size: images[1]!.manifest.length, mediaType: images[1]!.mediaType }, 'application/vnd.example.sbom');
  return { images, index, signature, childSignature };
}

async function pushMultiArch(client: RegistryClient, repo: string, tag: string, m: MultiArch) {
  return pushImage(
    client,
    { repository: repo, reference: tag },
    {
      bytes: m.index.bytes,
      mediaType: m.index.mediaType,
      children: m.images.map((i) => ({ bytes: i.manifest, mediaType: i.mediaType })),
      blobs: [...m.images, m.signature, m.childSignature].flatMap((i) => i.sources),
      referrers: [m.signature, m.childSignature].map((r) => ({ bytes: r.manifest, mediaType: r.mediaType })),
    },
    { concurrency: 3 },
  );
}

describe('pushImage', () => {
  test('pushes blobs once, children before the index, and the referrers after it', async () => {
    const repo = uniq('copy/push-');
    const m = multiArch();
    const events: ManifestEvent[] = [];
    const result = await pushImage(
      ca,
      `${repo}:v1`,
      { bytes: m.index.bytes, mediaType: m.index.mediaType, children: m.images.map((i) => ({ bytes: i.manifest, mediaType: i.mediaType })), blobs: [...m.images, m.signature].flatMap((i) => i.sources), referrers: [{ bytes: m.signature.manifest, mediaType: m.signature.mediaType }] },
      { onManifest: (e) => events.push(e) },
    );
    assert.equal(result.digest, m.index.digest);
    assert.equal(result.reference, 'v1');
    // shared layer once: 3 configs + 3 own layers + 1 shared + signature's empty config and payload
    assert.equal(result.stats.blobsUploaded, 9);
    assert.deepEqual(events.map((e) => e.kind), ['image', 'image', 'image', 'index', 'referrer']);
    assert.deepEqual((await ca.referrers(repo, m.index.digest)).map((r) => r.digest), [m.signature.digest]);
  });

  test('a blob with no source that the repository lacks is a clear error before any manifest is pushed', async () => {
    const repo = uniq('copy/nosrc-');
    const image = makeImage();
    await assert.rejects(pushImage(ca, `${repo}:v1`, { bytes: image.manifest, mediaType: image.mediaType, blobs: image.sources.slice(0, 1) }), /no content for blob sha256:/);
    assert.equal(await ca.headManifest(repo, image.digest).catch(() => undefined), undefined);
  });
});

describe('copyImage between two registries', () => {
  test('a multi-arch index with referrers arrives with every digest identical', async () => {
    const srcRepo = uniq('copy/src-');
    const dstRepo = uniq('copy/dst-');
    const m = multiArch();
    await pushMultiArch(ca, srcRepo, 'v1', m);
    logB.clear();
    const progress: BlobProgress[] = [];
    const result = await copyImage(ca, `${srcRepo}:v1`, cb, `${dstRepo}:release`, { referrers: true, concurrency: 3, onProgress: (e) => progress.push(e) });
    assert.equal(result.digest, m.index.digest);
    assert.equal(result.reference, 'release');
    assert.deepEqual(result.referrers.sort(), [m.signature.digest, m.childSignature.digest].sort());
    assert.equal(result.stats.manifests, 3 + 1 + 2);
    assert.equal(result.stats.blobsUploaded, 3 + 3 + 1 + 2 + 1, 'configs, own layers, shared layer, referrer payloads, one empty config');

    // Same bytes, same digests, on B.
    const top = await cb.getManifest(dstRepo, 'release');
    assert.equal(top.digest, m.index.digest);
    assert.deepEqual(top.bytes, m.index.bytes);
    for (const image of m.images) {
      const child = await cb.getManifest(dstRepo, image.digest);
      assert.deepEqual(child.bytes, image.manifest);
      assert.deepEqual(await cb.getBlob(dstRepo, sha256(image.config)), image.config);
      for (const layer of image.layers) assert.equal((await cb.blobExists(dstRepo, sha256(layer)))?.size, layer.length);
    }
    assert.deepEqual((await cb.referrers(dstRepo, m.index.digest)).map((r) => r.digest), [m.signature.digest]);
    assert.deepEqual((await cb.referrers(dstRepo, m.images[1]!.digest, { artifactType: 'application/vnd.example.sbom' })).map((r) => r.digest), [m.childSignature.digest]);
    assert.deepEqual((await cb.getManifest(dstRepo, m.signature.digest)).bytes, m.signature.manifest);
    // Blobs streamed: no mounts across registries, the 700 KiB layer in chunks.
    assert.equal(logB.count('POST', /blobs\/uploads/) > 0, true);
    assert.equal(logB.matching('POST', /blobs\/uploads/).filter((e) => new URL(e.url).searchParams.has('mount')).length, 0);
    assert.ok(logB.count('PATCH', /blobs\/uploads/) >= 3, logB.toString());
    assert.ok(progress.some((p) => p.state === 'uploading'));

    // Again: nothing moves, only HEADs and the tag.
    logB.clear();
    const again = await copyImage(ca, `${srcRepo}:v1`, cb, `${dstRepo}:release`, { referrers: true });
    assert.equal(again.digest, m.index.digest);
    assert.equal(again.stats.blobsUploaded, 0);
    assert.equal(logB.count('PATCH', /./) + logB.count('POST', /blobs/), 0, logB.toString());
  });

  test('the destination reference defaults to the source tag; a digest reference copies by digest', async () => {
    const srcRepo = uniq('copy/def-');
    const image = makeImage();
    await pushImage(ca, `${srcRepo}:1.0`, { bytes: image.manifest, mediaType: image.mediaType, blobs: image.sources });
    const byTag = await copyImage(ca, `${srcRepo}:1.0`, cb, { repository: srcRepo });
    assert.equal(byTag.reference, '1.0');
    assert.deepEqual(await cb.listTags(srcRepo), ['1.0']);
    const other = uniq('copy/bydigest-');
    const byDigest = await copyImage(ca, `${srcRepo}@${image.digest}`, cb, { repository: other });
    assert.equal(byDigest.reference, image.digest);
    assert.equal((await cb.getManifest(other, image.digest)).digest, image.digest);
  });

  test('a platform filter copies one image alone, or a smaller index of several', async () => {
    const srcRepo = uniq('copy/plat-');
    const m = multiArch();
    await pushMultiArch(ca, srcRepo, 'v1', m);
    const one = await copyImage(ca, `${srcRepo}:v1`, cb, `${srcRepo}:amd64`, { platforms: ['linux/amd64'] });
    assert.equal(one.digest, m.images[0]!.digest);
    assert.equal((await cb.getManifest(srcRepo, 'amd64')).digest, m.images[0]!.digest);
    assert.equal(await cb.headManifest(srcRepo, m.images[1]!.digest), undefined);
    const two = await copyImage(ca, `${srcRepo}:v1`, cb, `${srcRepo}:two`, { platforms: ['linux/arm64/v8', 'linux/s390x'] });
    assert.notEqual(two.digest, m.index.digest);
    const index = JSON.parse((await cb.getManifest(srcRepo, 'two')).bytes.toString()) as { manifests: { digest: string }[] };
    assert.deepEqual(index.manifests.map((c) => c.digest), [m.images[1]!.digest, m.images[2]!.digest]);
    await assert.rejects(copyImage(ca, `${srcRepo}:v1`, cb, `${srcRepo}:x`, { platforms: ['windows/amd64'] }), /has no image for windows\/amd64; it has linux\/amd64, linux\/arm64\/v8, linux\/s390x/);
  });

  test('a missing source is a typed MANIFEST_UNKNOWN naming the repository and tag', async () => {
    const repo = uniq('copy/none-');
    await ca.pushBlob(repo, bufferSource('x', sha256('x')));
    await assert.rejects(copyImage(ca, `${repo}:nope`, cb, `${repo}:nope`), (err: unknown) => {
      assert.ok(err instanceof RegistryApiError);
      assert.equal(err.code, 'MANIFEST_UNKNOWN');
      assert.match(err.message, new RegExp(`pull manifest ${repo}:nope`));
      return true;
    });
  });
});

describe('copyImage within one registry', () => {
  test('blobs are mounted from the source repository, never streamed', async () => {
    const srcRepo = uniq('copy/msrc-');
    const dstRepo = uniq('copy/mdst-');
    const m = multiArch();
    await pushMultiArch(ca, srcRepo, 'v1', m);
    logA.clear();
    const result = await copyImage(ca, `${srcRepo}:v1`, ca, `${dstRepo}:v1`, { referrers: true });
    assert.equal(result.digest, m.index.digest);
    assert.equal(result.stats.blobsUploaded, 0);
    assert.equal(result.stats.blobsMounted, 10);
    assert.equal(logA.count('GET', /\/blobs\/sha256:/), 0, 'no blob was downloaded');
    assert.equal(logA.count('PATCH', /./), 0);
    assert.deepEqual((await ca.referrers(dstRepo, m.index.digest)).map((r) => r.digest), [m.signature.digest]);
  });
});

test('parseImageReference', () => {
  assert.deepEqual(parseImageReference('a/b:1.0'), { repository: 'a/b', reference: '1.0' });
  assert.deepEqual(parseImageReference('a/b'), { repository: 'a/b', reference: 'latest' });
  assert.deepEqual(parseImageReference(`a/b@${sha256('x')}`), { repository: 'a/b', reference: sha256('x') });
});
