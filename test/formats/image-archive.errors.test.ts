// Broken tarballs: each gives one clear, typed ImageArchiveError and never
// a result; the sink never gets a blob whose bytes are wrong.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ImageArchiveError, readImageArchive, type ImageArchiveErrorCode } from '../../src/formats/image-archive.js';
import {
  classicEntries,
  docker25Entries,
  hex,
  makeImage,
  memorySink,
  ociArchiveEntries,
  ociManifest,
  packTar,
  sha256,
  streamOf,
  type Entry,
} from './image-archive.fixtures.js';

const img = makeImage('base', 2);
const img2 = makeImage('other', 1);

async function expectError(input: Buffer | Readable, code: ImageArchiveErrorCode, message?: RegExp): Promise<ImageArchiveError> {
  const sink = memorySink();
  let caught: unknown;
  try {
    const result = await readImageArchive(Buffer.isBuffer(input) ? streamOf(input) : input, sink);
    assert.fail(`expected ${code}, got a result with ${result.images.length} images`);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ImageArchiveError, `an ImageArchiveError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  // every blob the sink kept has the bytes of its digest (memorySink checks on publish)
  for (const [d, b] of sink.blobs) assert.equal(sha256(b), d);
  return caught;
}

function replace(entries: Entry[], name: string, data: Buffer | string | undefined): Entry[] {
  if (data === undefined) return entries.filter((e) => e.name !== name);
  return entries.map((e) => (e.name === name ? { ...e, data } : e));
}

describe('readImageArchive: truncated and corrupt input', () => {
  it('refuses a plain tarball cut at any offset (mid-header, mid-file, at entry boundaries, in the end marker)', async () => {
    const tar = await packTar(classicEntries([{ image: img, repoTags: ['base:1'] }]));
    const cuts = new Set<number>([1, 100, 511, 512, 513, 1024, 1536, tar.length - 1024, tar.length - 512, tar.length - 1]);
    for (let c = 2000; c < tar.length; c += 1531) cuts.add(c);
    for (let c = 512; c < tar.length; c += 512 * 7) cuts.add(c); // block boundaries
    for (const cut of cuts) {
      const err = await expectError(tar.subarray(0, cut), cut < 512 ? 'TRUNCATED' : 'TRUNCATED');
      assert.match(err.message, /truncated|ends/, `cut at ${cut}`);
    }
  });

  it('refuses a gzip tarball cut at several offsets', async () => {
    for (const entries of [classicEntries([{ image: img, repoTags: ['base:1'] }]), docker25Entries([{ image: img, repoTags: ['base:1'] }]).entries]) {
      const gz = gzipSync(await packTar(entries));
      for (const cut of [10, 20, 100, Math.floor(gz.length / 3), Math.floor(gz.length / 2), gz.length - 9, gz.length - 1]) {
        await expectError(gz.subarray(0, cut), 'TRUNCATED', /truncated/);
      }
    }
  });

  it('refuses a corrupt gzip stream', async () => {
    const gz = gzipSync(await packTar(classicEntries([{ image: img, repoTags: ['base:1'] }])));
    const damaged = Buffer.from(gz);
    for (let i = 200; i < 260; i++) damaged[i] = damaged[i]! ^ 0x5a;
    await expectError(damaged, 'CORRUPT_COMPRESSION', /gzip stream is corrupt/);
    const badCrc = Buffer.from(gz);
    badCrc[badCrc.length - 6] = badCrc[badCrc.length - 6]! ^ 0xff; // CRC32 in the trailer
    await expectError(badCrc, 'CORRUPT_COMPRESSION');
    const badMethod = Buffer.from(gz);
    badMethod[2] = 7; // compression method
    await expectError(badMethod, 'CORRUPT_COMPRESSION');
  });

  it('refuses input that is not a tarball', async () => {
    await expectError(Buffer.alloc(0), 'NOT_AN_ARCHIVE', /empty/);
    await expectError(Buffer.from('hello, this is not a tar file at all\n'.repeat(40)), 'NOT_AN_ARCHIVE', /not a tar/);
    await expectError(gzipSync(Buffer.from('{"json": true}')), 'TRUNCATED');
    await expectError(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100)]), 'UNSUPPORTED', /zstd/);
    await expectError(await packTar([{ name: 'hello.txt', data: 'hi' }]), 'NOT_AN_ARCHIVE', /neither manifest.json nor index.json/);
    await expectError(await packTar([{ name: 'repositories', data: '{}' }, { name: 'abc/json', data: '{}' }]), 'UNSUPPORTED', /pre-1.10/);
  });
});

describe('readImageArchive: classic layout with wrong metadata', () => {
  const entries = classicEntries([{ image: img, repoTags: ['base:1'] }]);
  const manifest = JSON.parse(entries.find((e) => e.name === 'manifest.json')!.data as string) as { Layers: string[]; Config: string }[];
  const layerPath = manifest[0]!.Layers[1]!;

  it('refuses a manifest.json that points to a missing layer', async () => {
    const err = await expectError(await packTar(replace(entries, layerPath, undefined)), 'MISSING_FILE', /base:1.*refers to layer/);
    assert.equal(err.path, layerPath);
  });

  it('refuses a manifest.json that points to a missing config', async () => {
    await expectError(await packTar(replace(entries, manifest[0]!.Config, undefined)), 'MISSING_FILE', /config/);
  });

  it('refuses a layer whose bytes do not match the config diff ID', async () => {
    const other = makeImage('x', 1).layers[0]!.tar;
    await expectError(await packTar(replace(entries, layerPath, other)), 'DIGEST_MISMATCH', /diff ID/);
  });

  it('refuses a config whose bytes do not match its <digest>.json name', async () => {
    await expectError(await packTar(replace(entries, manifest[0]!.Config, img2.config)), 'DIGEST_MISMATCH', /hash to/);
  });

  it('refuses nonsense JSON', async () => {
    await expectError(await packTar(replace(entries, 'manifest.json', '{not json')), 'INVALID_METADATA', /manifest.json is not valid JSON/);
    await expectError(await packTar(replace(entries, 'manifest.json', '{"Config": "x"}')), 'INVALID_METADATA', /array/);
    await expectError(await packTar(replace(entries, 'manifest.json', '[{"Config": 3, "Layers": []}]')), 'INVALID_METADATA', /Config/);
    await expectError(await packTar(replace(entries, 'manifest.json', '[]')), 'NOT_AN_ARCHIVE', /no images/);
    const fewer = JSON.stringify([{ ...manifest[0], Layers: manifest[0]!.Layers.slice(0, 1) }]);
    await expectError(await packTar(replace(entries, 'manifest.json', fewer)), 'INVALID_METADATA', /1 layers but its config .* 2 diff IDs/);
  });

  it('keeps JSON within limits', async () => {
    await assert.rejects(readImageArchive(streamOf(await packTar(entries)), memorySink(), { maxJsonSize: 100 }), (e: ImageArchiveError) => e.code === 'TOO_LARGE');
  });
});

describe('readImageArchive: OCI layouts with wrong blobs', () => {
  it('refuses a layer whose bytes do not match the OCI manifest digest, and never publishes it', async () => {
    const { entries } = ociArchiveEntries([{ image: img, refName: 'base' }]);
    const name = `blobs/sha256/${hex(img.layers[0]!.gzDigest)}`;
    const tampered = entries.map((e) => (e.name === name ? { ...e, data: img2.layers[0]!.gz } : e));
    const sink = memorySink();
    await assert.rejects(readImageArchive(streamOf(await packTar(tampered)), sink), (e: ImageArchiveError) => {
      assert.equal(e.code, 'DIGEST_MISMATCH');
      assert.match(e.message, new RegExp(`${name}.*hash to`));
      return true;
    });
    assert.equal(sink.blobs.has(img.layers[0]!.gzDigest), false);
    assert.equal(sink.refused, 1);
  });

  it('refuses a Docker 25 save whose layer blob is missing', async () => {
    const { entries } = docker25Entries([{ image: img, repoTags: ['base:1'] }]);
    await expectError(await packTar(entries.filter((e) => !e.name.endsWith(hex(img.layers[1]!.diffId)))), 'MISSING_FILE', /is not in the archive/);
  });

  it('refuses an oci-archive whose manifest is missing', async () => {
    const { entries, manifests } = ociArchiveEntries([{ image: img, refName: 'base' }]);
    await expectError(await packTar(entries.filter((e) => !e.name.endsWith(hex(manifests.get('base')!)))), 'MISSING_FILE', /image manifest/);
  });

  it('refuses a descriptor whose size is wrong', async () => {
    const { entries, manifests } = ociArchiveEntries([{ image: img, refName: 'base' }]);
    const index = JSON.parse(entries.find((e) => e.name === 'index.json')!.data as string) as { manifests: { size: number }[] };
    index.manifests[0]!.size += 1;
    await expectError(await packTar(replace(entries, 'index.json', JSON.stringify(index))), 'SIZE_MISMATCH', new RegExp(manifests.get('base')!));
  });

  it('refuses a nonsense index.json and a nonsense manifest', async () => {
    const { entries, manifests } = ociArchiveEntries([{ image: img, refName: 'base' }]);
    await expectError(await packTar(replace(entries, 'index.json', '[1,2')), 'INVALID_METADATA', /index.json/);
    await expectError(await packTar(replace(entries, 'index.json', '{"schemaVersion":2,"manifests":[{"digest":"nope"}]}')), 'INVALID_METADATA', /index.json/);
    // a manifest blob that is valid JSON with the right digest but not a manifest
    const bogus = Buffer.from('{"hello":"world"}');
    const withBogus = [
      ...entries.filter((e) => e.name !== 'index.json'),
      { name: `blobs/sha256/${hex(sha256(bogus))}`, data: bogus },
      { name: 'index.json', data: JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(bogus), size: bogus.length }] }) },
    ];
    void manifests;
    await expectError(await packTar(withBogus), 'INVALID_METADATA', /not a valid manifest/);
    void ociManifest;
  });

  it('passes a sink failure through unchanged', async () => {
    const tar = await packTar(classicEntries([{ image: img, repoTags: ['base:1'] }]));
    const boom = new Error('disk full');
    await assert.rejects(
      readImageArchive(streamOf(tar), {
        async putBlob() {
          throw boom;
        },
      }),
      (e) => e === boom,
    );
  });

  it('passes an input stream failure through', async () => {
    const tar = await packTar(classicEntries([{ image: img, repoTags: ['base:1'] }]));
    const input = new Readable({
      read() {
        this.push(tar.subarray(0, 3000));
        this.destroy(Object.assign(new Error('connection reset'), { code: 'ECONNRESET' }));
      },
    });
    await assert.rejects(readImageArchive(input, memorySink()), (e: Error & { code?: string }) => e.code === 'ECONNRESET');
  });
});

describe('readImageArchive: fuzzed tarballs', () => {
  it('either reads the original images or fails with an ImageArchiveError, never hangs or throws anything else', async () => {
    const original = await packTar(classicEntries([{ image: img, repoTags: ['base:1'] }, { image: img2, repoTags: ['other:1'] }]));
    const oci = await packTar(ociArchiveEntries([{ image: img, refName: 'base' }]).entries);
    const expectedOf = new Map<Buffer, Map<string, string>>();
    for (const tar of [original, oci]) {
      const r = await readImageArchive(streamOf(tar), memorySink());
      expectedOf.set(tar, new Map(r.images.map((i) => [i.config.digest, i.digest])));
    }
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const codes = new Map<string, number>();
    for (let round = 0; round < 300; round++) {
      const base = round % 2 === 0 ? original : oci;
      const mutated = Buffer.from(base);
      const flips = 1 + rand(4);
      for (let k = 0; k < flips; k++) {
        // aim at headers half of the time (the first 512 bytes of some block)
        const pos = rand(2) === 0 ? rand(mutated.length / 512) * 512 + rand(512) : rand(mutated.length);
        mutated[pos] = rand(256);
      }
      const input = round % 3 === 0 ? gzipSync(mutated) : mutated;
      let r;
      try {
        r = await readImageArchive(streamOf(input, 509), memorySink());
      } catch (err) {
        assert.ok(err instanceof ImageArchiveError, `round ${round}: ${String((err as Error)?.stack ?? err)}`);
        codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
        continue;
      }
      const expected = expectedOf.get(base)!;
      for (const i of r.images) {
        assert.equal(expected.get(i.config.digest), i.digest, `round ${round}: a mutated archive read as something else: ${i.bytes.toString()}`);
      }
      codes.set('ok', (codes.get('ok') ?? 0) + 1);
    }
    console.log(`# fuzz outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
  });
});
