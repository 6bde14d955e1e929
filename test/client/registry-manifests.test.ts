// Manifests, tags and referrers through the registry client, against a real
// `hatoba serve` and a fake registry for misbehaviour.
//
// Run: node --import tsx --test test/client/registry-manifests.test.ts
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DigestMismatchError, MANIFEST_ACCEPT, RegistryApiError, RegistryClient, nextLink } from '../../src/client/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { listen, loggedClient, makeImage, makeIndex, makeReferrer, sha256, uniq, type TestImage } from './helpers.js';

let server: RunningServer;
let client: RegistryClient;
const closers: (() => unknown)[] = [];

before(async () => {
  server = await startServer();
  client = new RegistryClient({ url: server.url, credentials: { ...ADMIN } });
  closers.push(() => client.close());
});

after(async () => {
  for (const close of closers.reverse()) await close();
  await server?.dispose();
});

async function pushImage(repo: string, image: TestImage, reference = image.digest): Promise<void> {
  for (const s of image.sources) await client.pushBlob(repo, s);
  await client.putManifest(repo, reference, image.manifest, image.mediaType);
}

describe('manifests', () => {
  test('put then get by tag and by digest returns the exact bytes, media type and digest', async () => {
    const repo = uniq('man/app-');
    const image = makeImage();
    for (const s of image.sources) await client.pushBlob(repo, s);
    const put = await client.putManifest(repo, 'v1', image.manifest, image.mediaType);
    assert.equal(put.digest, image.digest);
    assert.equal(put.location, `/v2/${repo}/manifests/${image.digest}`);
    for (const ref of ['v1', image.digest]) {
      const got = await client.getManifest(repo, ref);
      assert.deepEqual(got.bytes, image.manifest, ref);
      assert.equal(got.mediaType, image.mediaType);
      assert.equal(got.digest, image.digest);
      assert.equal(got.size, image.manifest.length);
    }
    assert.deepEqual(await client.headManifest(repo, 'v1'), { digest: image.digest, mediaType: image.mediaType, size: image.manifest.length });
    assert.equal(await client.headManifest(repo, 'nope'), undefined);
  });

  test('an index with Docker and OCI children; delete of a tag and of a digest', async () => {
    const repo = uniq('man/multi-');
    const amd = makeImage({ platform: 'linux/amd64' });
    const arm = makeImage({ platform: 'linux/arm64' });
    await pushImage(repo, amd);
    await pushImage(repo, arm);
    const index = makeIndex([
      { image: amd, platform: 'linux/amd64' },
      { image: arm, platform: 'linux/arm64/v8' },
    ]);
    await client.putManifest(repo, 'multi', index.bytes, index.mediaType);
    const got = await client.getManifest(repo, 'multi');
    assert.equal(got.mediaType, index.mediaType);
    assert.equal(got.digest, index.digest);
    await client.deleteManifest(repo, 'multi');
    await assert.rejects(client.getManifest(repo, 'multi'), (err: unknown) => err instanceof RegistryApiError && err.code === 'MANIFEST_UNKNOWN' && err.status === 404);
    assert.ok(await client.headManifest(repo, index.digest), 'deleting the tag keeps the manifest');
    await client.deleteManifest(repo, amd.digest);
    assert.equal(await client.headManifest(repo, amd.digest), undefined);
  });

  test('a manifest referencing a missing blob is a typed MANIFEST_BLOB_UNKNOWN', async () => {
    const repo = uniq('man/missing-');
    const image = makeImage();
    await assert.rejects(client.putManifest(repo, 'v1', image.manifest, image.mediaType), (err: unknown) => {
      assert.ok(err instanceof RegistryApiError);
      assert.equal(err.code, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal(err.errors.length, 3, 'one entry per missing blob');
      return true;
    });
  });

  test('putting bytes under a digest they do not have is refused before sending', async () => {
    const image = makeImage();
    await assert.rejects(client.putManifest(uniq('man/x-'), sha256('other'), image.manifest, image.mediaType), DigestMismatchError);
  });
});

describe('a registry that serves wrong manifest bytes', () => {
  const real = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 }, layers: [] }));
  const digest = sha256(real);
  const accepts: string[] = [];
  let fake: Awaited<ReturnType<typeof listen>>;
  before(async () => {
    fake = await listen((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      accepts.push(String(req.headers.accept));
      const tampered = Buffer.from(real.toString().replace('"layers":[]', '"layers": []'));
      if (req.url === `/v2/r/manifests/${digest}` || req.url === '/v2/r/manifests/lying-tag') {
        return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': digest }).end(tampered);
      }
      if (req.url === '/v2/r/manifests/honest-tag') return void res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(tampered);
      res.writeHead(404).end();
    });
    closers.push(() => fake.close());
  });

  test('by digest, or by a tag whose Docker-Content-Digest disagrees: DigestMismatchError', async () => {
    const c = new RegistryClient({ url: fake.url });
    closers.push(() => c.close());
    await assert.rejects(c.getManifest('r', digest), (err: unknown) => err instanceof DigestMismatchError && err.expected === digest);
    await assert.rejects(c.getManifest('r', 'lying-tag'), DigestMismatchError);
    const honest = await c.getManifest('r', 'honest-tag');
    assert.notEqual(honest.digest, digest);
    assert.equal(honest.digest, sha256(honest.bytes));
    assert.deepEqual(accepts[0]!.split(', '), MANIFEST_ACCEPT);
    for (const t of ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.docker.distribution.manifest.list.v2+json']) {
      assert.ok(accepts[0]!.includes(t), t);
    }
  });
});

describe('tags', () => {
  test('listTags follows Link pagination to the end', async () => {
    const repo = uniq('man/tags-');
    const image = makeImage();
    await pushImage(repo, image);
    const tags = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
    for (const t of tags) await client.putManifest(repo, t, image.manifest, image.mediaType);
    const { client: c, log } = loggedClient(server.url);
    closers.push(() => c.close());
    assert.deepEqual(await c.listTags(repo, { pageSize: 3 }), tags);
    const pages = log.matching('GET', `/v2/${repo}/tags/list`);
    assert.deepEqual(pages.map((p) => new URL(p.url).search), ['?n=3', '?n=3&last=c', '?n=3&last=f']);
    assert.deepEqual(await c.listTags(repo), tags, 'without n: one page');
    const pageList: string[][] = [];
    for await (const page of c.tagPages(repo, { pageSize: 2 })) pageList.push(page);
    assert.deepEqual(pageList, [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g']]);
  });

  test('an unknown repository is a typed NAME_UNKNOWN', async () => {
    await assert.rejects(client.listTags(uniq('man/none-')), (err: unknown) => err instanceof RegistryApiError && err.code === 'NAME_UNKNOWN');
  });

  test('nextLink reads RFC 8288 Link headers', () => {
    assert.equal(nextLink('</v2/x/tags/list?n=2&last=b>; rel="next"'), '/v2/x/tags/list?n=2&last=b');
    assert.equal(nextLink('<https://a/p?x=1>; rel="prev", <https://a/n?y=2>; rel=next'), 'https://a/n?y=2');
    assert.equal(nextLink('<https://a/p>; rel="prev"'), undefined);
    assert.equal(nextLink(undefined), undefined);
  });
});

describe('referrers', () => {
  test('lists the manifests whose subject is a digest, filtered by artifactType', async () => {
    const repo = uniq('man/ref-');
    const image = makeImage();
    await pushImage(repo, image, 'v1');
    const subject = { digest: image.digest, size: image.manifest.length, mediaType: image.mediaType };
    const sig = makeReferrer(subject, 'application/vnd.example.signature');
    const sbom = makeReferrer(subject, 'application/vnd.example.sbom');
    for (const r of [sig, sbom]) {
      for (const s of r.sources) await client.pushBlob(repo, s);
      const put = await client.putManifest(repo, r.digest, r.manifest, r.mediaType);
      assert.equal(put.subject, image.digest);
    }
    const all = await client.referrers(repo, image.digest);
    assert.deepEqual(all.map((r) => r.digest).sort(), [sig.digest, sbom.digest].sort());
    const sigs = await client.referrers(repo, image.digest, { artifactType: 'application/vnd.example.signature' });
    assert.deepEqual(sigs.map((r) => [r.digest, r.artifactType]), [[sig.digest, 'application/vnd.example.signature']]);
    assert.deepEqual(await client.referrers(repo, sha256('nothing refers to this')), []);
  });

  test('without the referrers API, the tag schema is used and filtered on the client', async () => {
    const subject = sha256('subject');
    const index = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256('a'), size: 1, artifactType: 'type/a' },
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256('b'), size: 1, artifactType: 'type/b' },
      ],
    };
    const fake = await listen((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200).end('{}');
      if (req.url === `/v2/r/manifests/${subject.replace(':', '-')}`) return void res.writeHead(200, { 'content-type': index.mediaType }).end(JSON.stringify(index));
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
    });
    closers.push(() => fake.close());
    const c = new RegistryClient({ url: fake.url });
    closers.push(() => c.close());
    assert.deepEqual((await c.referrers('r', subject, { artifactType: 'type/b' })).map((m) => m.digest), [sha256('b')]);
    assert.deepEqual(await c.referrers('r', sha256('other')), []);
  });
});
