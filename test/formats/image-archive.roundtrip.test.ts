// Writing docker-archive and oci-archive tarballs with the streaming
// writers, and reading them back with the reader: identical digests.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PassThrough, Readable, Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import type { Digest } from '../../src/formats/digest.js';
import {
  ImageArchiveError,
  discardingBlobSink,
  readImageArchive,
  type ArchiveImage,
  type BlobSink,
} from '../../src/formats/image-archive.js';
import { writeDockerArchive, writeOciArchive, type BlobSource, type ImageSource } from '../../src/formats/image-archive-writer.js';
import { makeImage, memorySink, OCI_INDEX, OCI_MANIFEST, ociManifest, sha256, type TestImage } from './image-archive.fixtures.js';

const base = makeImage('rt-base', 2);
const app = makeImage('rt-app', 3, { shared: base.layers });
const arm = makeImage('rt-arm', 1, { architecture: 'arm64' });

function source(img: TestImage, gzip: boolean, names: string[]): ImageSource {
  return {
    names,
    manifest: ociManifest(img, gzip),
    config: img.config,
    layers: img.layers.map((l) => {
      const bytes = gzip ? l.gz : l.tar;
      return { digest: sha256(bytes), size: bytes.length, open: () => Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]) };
    }),
  };
}

async function toBuffer(write: (out: Writable) => Promise<void>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await write(out);
  return Buffer.concat(chunks);
}

function byConfig(images: ArchiveImage[], img: TestImage): ArchiveImage {
  const found = images.find((i) => i.config.digest === img.configDigest);
  assert.ok(found, `image ${img.label} read back`);
  return found;
}

describe('writeDockerArchive -> readImageArchive', () => {
  for (const gzip of [false, true]) {
    it(`round-trips two images with shared ${gzip ? 'gzip' : 'plain'} layers, several tags, deterministically`, async () => {
      const sources = [source(base, gzip, ['registry.example/system/base:1', 'base:latest']), source(app, gzip, ['registry.example/system/oracle_db:19c'])];
      const tar = await toBuffer((out) => writeDockerArchive(sources, out));
      const again = await toBuffer((out) => writeDockerArchive(sources, out));
      assert.ok(tar.equals(again), 'same input, same bytes');
      const sink = memorySink();
      const result = await readImageArchive(Readable.from([tar]), sink);
      assert.equal(result.layout, 'docker-archive');
      assert.equal(result.images.length, 2);
      const b = byConfig(result.images, base);
      const a = byConfig(result.images, app);
      assert.deepEqual(b.repoTags, ['registry.example/system/base:1', 'base:latest']);
      assert.deepEqual(a.repoTags, ['registry.example/system/oracle_db:19c']);
      assert.deepEqual(
        a.layers.map((l) => l.digest),
        app.layers.map((l) => (gzip ? l.gzDigest : l.diffId)),
      );
      assert.ok(a.layers.every((l) => l.mediaType === (gzip ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.docker.image.rootfs.diff.tar')));
      // 3 layers + 2 configs, each stored once; legacy symlinks resolve to the same files
      assert.equal(result.blobs.size, 5);
      for (const l of app.layers) assert.ok(sink.blobs.get(gzip ? l.gzDigest : l.diffId)?.equals(gzip ? l.gz : l.tar));
    });
  }

  it('refuses names docker cannot load, and a layer whose bytes are not what the manifest says', async () => {
    await assert.rejects(
      toBuffer((out) => writeDockerArchive([source(base, false, ['registry.example/base@sha256:' + 'a'.repeat(64)])], out)),
      (e: ImageArchiveError) => e.code === 'UNSUPPORTED',
    );
    const bad = source(base, false, ['base:1']);
    const wrong = app.layers[2]!.tar;
    bad.layers[1] = { ...bad.layers[1]!, open: () => Readable.from([wrong.subarray(0, bad.layers[1]!.size)]) };
    await assert.rejects(
      toBuffer((out) => writeDockerArchive([bad], out)),
      (e: ImageArchiveError) => e.code === 'DIGEST_MISMATCH' || e.code === 'SIZE_MISMATCH' || e.code === 'TRUNCATED',
    );
    const short = source(base, false, ['base:1']);
    short.layers[0] = { ...short.layers[0]!, open: () => Readable.from([base.layers[0]!.tar.subarray(0, 10)]) };
    await assert.rejects(
      toBuffer((out) => writeDockerArchive([short], out)),
      (e: ImageArchiveError) => e.code === 'TRUNCATED',
    );
  });

  it('refuses a manifest whose layers do not match the given blobs', async () => {
    const s = source(base, false, ['base:1']);
    s.layers = s.layers.slice(0, 1);
    await assert.rejects(
      toBuffer((out) => writeDockerArchive([s], out)),
      (e: ImageArchiveError) => e.code === 'INVALID_METADATA',
    );
  });
});

describe('writeOciArchive -> readImageArchive', () => {
  it('round-trips images and a multi-platform index with identical digests', async () => {
    const baseSrc = source(base, true, ['registry.example/system/base:1']);
    const amdSrc = source(app, true, []);
    const armSrc = source(arm, true, []);
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          { mediaType: OCI_MANIFEST, digest: sha256(amdSrc.manifest), size: amdSrc.manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
          { mediaType: OCI_MANIFEST, digest: sha256(armSrc.manifest), size: armSrc.manifest.length, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    const tar = await toBuffer((out) => writeOciArchive([baseSrc, { names: ['registry.example/system/multi:2', 'registry.example/system/multi:latest'], index, images: [amdSrc, armSrc] }], out));
    const sink = memorySink();
    const result = await readImageArchive(Readable.from([tar]), sink);
    assert.equal(result.layout, 'oci-archive');
    assert.equal(result.indexes.length, 1);
    assert.equal(result.indexes[0]!.digest, sha256(index));
    assert.deepEqual(result.indexes[0]!.repoTags, ['registry.example/system/multi:2', 'registry.example/system/multi:latest']);
    assert.deepEqual(result.indexes[0]!.refNames, ['2', 'latest']);
    assert.equal(result.images.length, 3);
    const b = result.images.find((i) => i.digest === sha256(baseSrc.manifest))!;
    assert.deepEqual(b.repoTags, ['registry.example/system/base:1']);
    assert.deepEqual(b.refNames, ['1']);
    assert.ok(b.bytes.equals(baseSrc.manifest as Buffer));
    for (const src of [amdSrc, armSrc]) {
      const img = result.images.find((i) => i.digest === sha256(src.manifest))!;
      assert.deepEqual(
        img.layers.map((l) => l.digest),
        src.layers.map((l) => l.digest),
      );
    }
    assert.deepEqual(result.images.find((i) => i.digest === sha256(armSrc.manifest))!.platform, { os: 'linux', architecture: 'arm64' });
  });

  it('re-exports what it read: read(write(read(x))) keeps manifest, config and layer digests', async () => {
    const first = await toBuffer((out) => writeOciArchive([source(app, true, ['app:1'])], out));
    const sink = memorySink();
    const read1 = await readImageArchive(Readable.from([first]), sink);
    const img = read1.images[0]!;
    const again: ImageSource = {
      names: img.repoTags,
      manifest: img.bytes,
      config: img.config.bytes,
      layers: img.layers.map((l) => ({ digest: l.digest, size: l.size, open: () => Readable.from([sink.blobs.get(l.digest)!]) })),
    };
    const second = await toBuffer((out) => writeOciArchive([again], out));
    assert.ok(second.equals(first), 'byte-identical archive');
    const docker = await toBuffer((out) => writeDockerArchive([again], out));
    const read2 = await readImageArchive(Readable.from([docker]), memorySink());
    assert.equal(read2.images[0]!.config.digest, img.config.digest);
    assert.deepEqual(
      read2.images[0]!.layers.map((l) => l.digest),
      img.layers.map((l) => l.digest),
    );
  });
});

describe('streaming', () => {
  it('moves a 256 MiB layer writer -> reader without holding it in memory', async () => {
    const baseline = process.memoryUsage();
    const size = Number(process.env.HATOBA_STREAM_TEST_MIB ?? 256) * 1024 * 1024;
    const block = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < block.length; i++) block[i] = (i * 31) % 253;
    const generate = (): Readable => {
      let left = size;
      return new Readable({
        read() {
          if (left === 0) {
            this.push(null);
            return;
          }
          const n = Math.min(left, block.length);
          left -= n;
          this.push(block.subarray(0, n));
        },
      });
    };
    // digest of the generated bytes, computed by streaming once
    const h = createHash('sha256');
    for await (const c of generate()) h.update(c as Buffer);
    const digest = `sha256:${h.digest('hex')}` as Digest;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digest] } }));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest, size }],
      }),
    );
    const layer: BlobSource = { digest, size, open: generate };
    const before = baseline;
    let peak = 0;
    let samples = 0;
    // sampled from the sink (a timer would not fire: in-memory streams never yield to the timers phase)
    const sample = (): void => {
      const m = process.memoryUsage();
      samples++;
      peak = Math.max(peak, m.rss - before.rss, m.arrayBuffers - before.arrayBuffers);
    };
    let seen = 0;
    const sink: BlobSink = {
      async putBlob(blob) {
        for await (const c of blob.stream) {
          seen += (c as Buffer).length;
          if ((seen & 0xfffff) < (c as Buffer).length) sample();
        }
        await blob.digest;
      },
    };
    try {
      const pipe = new PassThrough();
      const [result] = await Promise.all([readImageArchive(pipe, sink), writeDockerArchive([{ names: ['big:1'], manifest, config, layers: [layer] }], pipe)]);
      assert.deepEqual(
        result.images[0]!.layers.map((l) => l.digest),
        [digest],
      );
      assert.equal(seen, size + config.length);
    } finally {
      sample();
    }
    console.log(`# memory growth while streaming ${size / 1048576} MiB: ${(peak / 1024 / 1024).toFixed(1)} MiB (rss ${(baseline.rss / 1048576).toFixed(0)} -> ${(process.memoryUsage().rss / 1048576).toFixed(0)} MiB, ${samples} samples)`);
    assert.ok(peak < 128 * 1024 * 1024, `memory grew by ${(peak / 1024 / 1024).toFixed(1)} MiB`);
  });

  it('a discarding sink only verifies', async () => {
    const tar = await toBuffer((out) => writeDockerArchive([source(base, false, ['base:1'])], out));
    const result = await readImageArchive(Readable.from([tar]), discardingBlobSink());
    assert.equal(result.images[0]!.config.digest, base.configDigest);
  });
});
