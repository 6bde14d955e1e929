// Reading every tarball layout `docker save` writes, plus oci-archives and
// OCI layout directories, built in the test from known bytes.
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { parseManifest } from '../../src/formats/manifest.js';
import { DOCKER_LAYER_TAR, readImageArchive, type ImageArchive } from '../../src/formats/image-archive.js';
import { readOciLayoutDirectory } from '../../src/formats/oci-layout-dir.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import {
  classicEntries,
  docker25Entries,
  makeImage,
  memorySink,
  ociArchiveEntries,
  ociManifest,
  packTar,
  sha256,
  shuffled,
  streamOf,
  type TestImage,
} from './image-archive.fixtures.js';

const alpine = makeImage('alpine', 2);
const app = makeImage('app', 3, { shared: alpine.layers }); // shares alpine's two layers

function checkClassicImage(result: ImageArchive, img: TestImage, tags: string[], blobs: Map<string, Buffer>, gzipLayers = false): void {
  const found = result.images.find((i) => i.config.digest === img.configDigest);
  assert.ok(found, `image ${img.label} loaded`);
  assert.deepEqual(found.repoTags, tags);
  assert.equal(found.synthesized, true);
  assert.equal(found.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.equal(found.digest, sha256(found.bytes));
  assert.equal(found.size, found.bytes.length);
  const parsed = parseManifest(found.bytes);
  assert.equal(parsed.kind, 'image');
  assert.equal(parsed.config?.digest, img.configDigest);
  assert.deepEqual(
    found.layers.map((l) => [l.mediaType, l.digest, l.size]),
    img.layers.map((l) =>
      gzipLayers ? ['application/vnd.docker.image.rootfs.diff.tar.gzip', l.gzDigest, l.gz.length] : [DOCKER_LAYER_TAR, l.diffId, l.tar.length],
    ),
  );
  assert.deepEqual(found.platform, { os: 'linux', architecture: 'amd64' });
  assert.ok(found.config.bytes.equals(img.config));
  for (const l of img.layers) assert.ok(blobs.get(gzipLayers ? l.gzDigest : l.diffId)?.equals(gzipLayers ? l.gz : l.tar), 'layer bytes in the sink');
  assert.ok(blobs.get(img.configDigest)?.equals(img.config), 'config in the sink');
}

describe('readImageArchive: classic docker save (manifest.json, repositories, <id>/layer.tar)', () => {
  for (const gzip of [false, true]) {
    it(`reads one image with two tags (${gzip ? 'gzip' : 'plain'})`, async () => {
      const tar = await packTar(classicEntries([{ image: alpine, repoTags: ['alpine:3.19', 'registry.example/system/alpine:3.19'] }]));
      const sink = memorySink();
      const result = await readImageArchive(streamOf(gzip ? gzipSync(tar) : tar), sink);
      assert.equal(result.layout, 'docker-archive');
      assert.equal(result.images.length, 1);
      assert.equal(result.indexes.length, 0);
      checkClassicImage(result, alpine, ['alpine:3.19', 'registry.example/system/alpine:3.19'], sink.blobs);
      assert.deepEqual(result.warnings, []);
      // legacy <id>/json and VERSION never reach the sink
      assert.ok(sink.offered.every((p) => !p.endsWith('/json') && !p.endsWith('/VERSION')));
    });
  }

  it('reads several images with several tags, shared layers stored by symlink, entries in any order', async () => {
    const entries = classicEntries(
      [
        { image: alpine, repoTags: ['alpine:3.19', 'alpine:latest'] },
        { image: app, repoTags: ['registry.example/system/oracle_db:19c'] },
      ],
      { symlinkDuplicates: true },
    );
    for (const seed of [1, 2, 3]) {
      const tar = await packTar(shuffled(entries, seed));
      const sink = memorySink();
      const result = await readImageArchive(streamOf(tar, 1000 + seed), sink);
      assert.equal(result.images.length, 2);
      checkClassicImage(result, alpine, ['alpine:3.19', 'alpine:latest'], sink.blobs);
      checkClassicImage(result, app, ['registry.example/system/oracle_db:19c'], sink.blobs);
      // 3 distinct layers + 2 configs
      assert.equal(result.blobs.size, 5);
    }
  });

  it('keeps an untagged image (RepoTags null)', async () => {
    const tar = await packTar(classicEntries([{ image: alpine, repoTags: [] }]));
    const result = await readImageArchive(streamOf(tar), memorySink());
    assert.deepEqual(result.images[0]!.repoTags, []);
  });

  it('accepts gzip-compressed layer.tar files and checks them against the diff IDs', async () => {
    const tar = await packTar(classicEntries([{ image: app, repoTags: ['app:1'] }], { gzipLayers: true }));
    const sink = memorySink();
    const result = await readImageArchive(streamOf(tar), sink);
    checkClassicImage(result, app, ['app:1'], sink.blobs, true);
  });

  it('gives the same manifest digest for the same tarball every time', async () => {
    const tar = await packTar(classicEntries([{ image: app, repoTags: ['app:1'] }]));
    const a = await readImageArchive(streamOf(tar), memorySink());
    const b = await readImageArchive(streamOf(gzipSync(tar, { level: 1 }), 333), memorySink());
    assert.equal(a.images[0]!.digest, b.images[0]!.digest);
  });
});

describe('readImageArchive: Docker 25+ docker save (OCI layout + manifest.json)', () => {
  for (const gzip of [false, true]) {
    it(`uses the real OCI manifests and merges RepoTags with index.json names (${gzip ? 'gzip' : 'plain'})`, async () => {
      const { entries, manifests } = docker25Entries([
        { image: alpine, repoTags: ['alpine:3.19'] },
        { image: app, repoTags: ['registry.example/system/oracle_db:19c', 'registry.example/system/oracle_db:latest'] },
      ]);
      const tar = await packTar(entries);
      const sink = memorySink();
      const result = await readImageArchive(streamOf(gzip ? gzipSync(tar) : tar), sink);
      assert.equal(result.layout, 'docker-archive-oci');
      assert.equal(result.images.length, 2);
      const a = result.images.find((i) => i.config.digest === alpine.configDigest)!;
      assert.equal(a.digest, manifests[0]);
      assert.ok(a.bytes.equals(ociManifest(alpine, false)));
      assert.equal(a.synthesized, false);
      // docker.io/library/alpine:3.19 (containerd name) is the same as alpine:3.19
      assert.deepEqual(a.repoTags, ['docker.io/library/alpine:3.19']);
      assert.deepEqual(a.refNames, ['3.19']);
      const b = result.images.find((i) => i.config.digest === app.configDigest)!;
      assert.equal(b.digest, manifests[1]);
      assert.deepEqual(b.repoTags, ['registry.example/system/oracle_db:19c', 'registry.example/system/oracle_db:latest']);
      assert.deepEqual(b.refNames, ['19c', 'latest']);
      assert.deepEqual(
        b.layers.map((l) => l.digest),
        app.layers.map((l) => l.diffId),
      );
      for (const l of app.layers) assert.ok(sink.blobs.get(l.diffId)?.equals(l.tar));
      assert.ok(sink.blobs.get(manifests[1]!), 'the manifest blob went to the sink too');
    });
  }
});

describe('readImageArchive: oci-archive (an OCI layout in a tar)', () => {
  it('reads images and a complete multi-platform index', async () => {
    const amd = makeImage('multi-amd64', 2);
    const arm = makeImage('multi-arm64', 2, { architecture: 'arm64' });
    const { entries, manifests, indexDigest } = ociArchiveEntries([{ image: alpine, refName: 'alpine:3.19' }], { refName: 'multi', images: [amd, arm] });
    const sink = memorySink();
    const result = await readImageArchive(streamOf(gzipSync(await packTar(shuffled(entries, 9)))), sink);
    assert.equal(result.layout, 'oci-archive');
    assert.equal(result.images.length, 3);
    assert.equal(result.indexes.length, 1);
    assert.equal(result.indexes[0]!.digest, indexDigest);
    assert.deepEqual(result.indexes[0]!.refNames, ['multi']);
    assert.deepEqual(
      result.indexes[0]!.manifests.map((m) => m.digest),
      [manifests.get('multi-amd64'), manifests.get('multi-arm64')],
    );
    const single = result.images.find((i) => i.digest === manifests.get('alpine'))!;
    assert.deepEqual(single.refNames, ['alpine:3.19']);
    assert.deepEqual(single.layers.map((l) => l.digest), alpine.layers.map((l) => l.gzDigest));
    assert.deepEqual(result.images.find((i) => i.digest === manifests.get('multi-arm64'))!.platform, { os: 'linux', architecture: 'arm64' });
  });

  it('loads the one saved platform of a partial index (as docker with the containerd store saves) and warns', async () => {
    const amd = makeImage('p-amd64', 1);
    const arm = makeImage('p-arm64', 1, { architecture: 'arm64' });
    const { entries, manifests } = ociArchiveEntries([], { refName: 'partial', images: [amd, arm], omit: [1] });
    const result = await readImageArchive(streamOf(await packTar(entries)), memorySink());
    assert.equal(result.indexes.length, 0);
    assert.equal(result.images.length, 1);
    assert.equal(result.images[0]!.digest, manifests.get('p-amd64'));
    assert.deepEqual(result.images[0]!.refNames, ['partial']);
    assert.match(result.warnings.join('\n'), /1 of the 2 manifests/);
  });
});

describe('readOciLayoutDirectory', () => {
  it('reads an OCI layout directory through an open() callback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatoba-oci-dir-'));
    try {
      const written = writeOciLayout(dir);
      const sink = memorySink();
      const result = await readOciLayoutDirectory((p) => createReadStream(join(dir, ...p.split('/'))), sink);
      assert.equal(result.layout, 'oci-layout');
      const multi = result.images.find((i) => i.digest === written.multi.manifestDigest)!;
      assert.deepEqual(multi.refNames, ['multi']);
      assert.deepEqual(multi.layers.map((l) => l.digest), written.multi.layers.map((l) => l.digest));
      assert.equal(result.indexes.length, 1);
      assert.equal(result.indexes[0]!.digest, written.multiarch.indexDigest);
      assert.deepEqual([...sink.blobs.keys()].sort(), written.blobs);
      assert.equal(result.images.length, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a missing blob of a layout directory', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hatoba-oci-dir-'));
    try {
      const written = writeOciLayout(dir);
      rmSync(join(dir, 'blobs', 'sha256', written.multi.layers[1]!.digest.slice(7)));
      await assert.rejects(
        readOciLayoutDirectory((p) => createReadStream(join(dir, ...p.split('/'))), memorySink()),
        (err: Error & { code?: string }) => err.name === 'ImageArchiveError' && err.code === 'MISSING_FILE' && err.message.includes(written.multi.layers[1]!.digest),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
