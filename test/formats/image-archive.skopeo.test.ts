// Interop with the real skopeo (Debian package): what writeDockerArchive /
// writeOciArchive write, skopeo accepts; what skopeo writes as
// docker-archive / oci-archive, readImageArchive reads with the same
// digests. Skipped when skopeo is missing, except with CI=true, where that
// fails.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { after, describe, it } from 'node:test';
import { readImageArchive } from '../../src/formats/image-archive.js';
import { writeDockerArchive, writeOciArchive, type ImageSource } from '../../src/formats/image-archive-writer.js';
import { readOciLayoutDirectory } from '../../src/formats/oci-layout-dir.js';
import { findRef, writeOciLayout, type LayoutIndexJson } from '../helpers/oci-layout.js';
import { makeImage, memorySink, ociManifest, sha256, type TestImage } from './image-archive.fixtures.js';
import { requireTool } from '../helpers/tools.js';

const { path: SKOPEO, missing: MISSING } = requireTool('skopeo', 'apt-get install -y skopeo', 'the image-archive interop tests');

function skopeo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(SKOPEO!, ['--insecure-policy', ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

const work = mkdtempSync(join(tmpdir(), 'hatoba-archive-skopeo-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function writeFile(path: string, write: (out: NodeJS.WritableStream & import('node:stream').Writable) => Promise<void>): Promise<void> {
  await write(createWriteStream(path));
}

function source(img: TestImage, gzip: boolean, names: string[]): ImageSource {
  return {
    names,
    manifest: ociManifest(img, gzip),
    config: img.config,
    layers: img.layers.map((l) => {
      const bytes = gzip ? l.gz : l.tar;
      return { digest: sha256(bytes), size: bytes.length, open: () => Readable.from([bytes]) };
    }),
  };
}

function readLayout(dir: string): { index: LayoutIndexJson; blob: (d: string) => Buffer } {
  const blob = (d: string): Buffer => readFileSync(join(dir, 'blobs', 'sha256', d.slice('sha256:'.length)));
  return { index: JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as LayoutIndexJson, blob };
}

describe('image archives and skopeo', { skip: SKOPEO ? false : MISSING }, () => {
  const app = makeImage('skopeo-app', 3);
  const base = makeImage('skopeo-base', 2);

  for (const gzip of [false, true]) {
    it(`skopeo copies a docker-archive written by writeDockerArchive (${gzip ? 'gzip' : 'plain'} layers) into an OCI layout`, async () => {
      const file = join(work, `written-${gzip}.tar`);
      await writeFile(file, (out) => writeDockerArchive([source(app, gzip, ['registry.example/system/oracle_db:19c']), source(base, gzip, ['base:1'])], out));
      const dir = join(work, `from-docker-archive-${gzip}`);
      await skopeo(['copy', `docker-archive:${file}:registry.example/system/oracle_db:19c`, `oci:${dir}:19c`]);
      const { index, blob } = readLayout(dir);
      const desc = findRef(index, '19c');
      assert.ok(desc, 'skopeo wrote the image');
      const manifest = JSON.parse(blob(desc.digest).toString('utf8')) as { config: { digest: string }; layers: { digest: string }[] };
      // skopeo hands out our config bytes unchanged (same image ID) ...
      const config = await skopeo(['inspect', '--config', '--raw', `docker-archive:${file}:registry.example/system/oracle_db:19c`]);
      assert.equal(sha256(Buffer.from(config)), app.configDigest, 'same config (image ID)');
      // ... and re-encodes it as an OCI config for oci:, with the same diff IDs
      const ociConfig = JSON.parse(blob(manifest.config.digest).toString('utf8')) as { rootfs: { diff_ids: string[] } };
      assert.deepEqual(
        ociConfig.rootfs.diff_ids,
        app.layers.map((l) => l.diffId),
      );
      // skopeo gzips the layers for oci: (whatever --dest-decompress says); their contents are ours
      assert.deepEqual(
        manifest.layers.map((l) => {
          const b = blob(l.digest);
          return sha256(b[0] === 0x1f && b[1] === 0x8b ? gunzipSync(b) : b);
        }),
        app.layers.map((l) => l.diffId),
      );
      // and our directory reader reads what skopeo wrote
      const back = await readOciLayoutDirectory((p) => createReadStream(join(dir, ...p.split('/'))), memorySink());
      assert.equal(back.images[0]!.config.digest, manifest.config.digest);
      assert.equal(back.images[0]!.digest, desc.digest);
      // the second image is reachable by its tag too
      await skopeo(['inspect', '--raw', `docker-archive:${file}:base:1`]);
    });
  }

  it('readImageArchive reads what `skopeo copy oci:DIR docker-archive:FILE:name:tag` writes', async () => {
    const dir = join(work, 'layout');
    const layout = writeOciLayout(dir, { salt: 'image-archive-skopeo' });
    const file = join(work, 'skopeo-docker-archive.tar');
    await skopeo(['copy', `oci:${dir}:multi`, `docker-archive:${file}:registry.example/system/multi:1`]);
    const sink = memorySink();
    const result = await readImageArchive(createReadStream(file), sink);
    assert.equal(result.layout, 'docker-archive');
    assert.equal(result.images.length, 1);
    const img = result.images[0]!;
    assert.equal(img.config.digest, layout.multi.configDigest);
    assert.deepEqual(
      img.layers.map((l) => l.digest),
      layout.multi.layers.map((l) => l.diffId),
    );
    assert.ok(img.repoTags.some((t) => t.endsWith('registry.example/system/multi:1')), img.repoTags.join(', '));
  });

  it('readImageArchive reads what `skopeo copy oci:DIR oci-archive:FILE` writes, with the same manifest digest', async () => {
    const dir = join(work, 'layout2');
    const layout = writeOciLayout(dir, { salt: 'image-archive-skopeo-2' });
    const file = join(work, 'skopeo-oci-archive.tar');
    await skopeo(['copy', `oci:${dir}:multi`, `oci-archive:${file}:multi`]);
    const result = await readImageArchive(createReadStream(file), memorySink());
    assert.equal(result.layout, 'oci-archive');
    assert.equal(result.images[0]!.digest, layout.multi.manifestDigest);
    assert.deepEqual(result.images[0]!.refNames, ['multi']);
  });

  it('skopeo reads an oci-archive written by writeOciArchive, keeping the manifest digest', async () => {
    const file = join(work, 'written-oci.tar');
    const src = source(app, true, ['registry.example/system/app:2']);
    await writeFile(file, (out) => writeOciArchive([src], out));
    const raw = await skopeo(['inspect', '--raw', `oci-archive:${file}:2`]);
    assert.equal(sha256(Buffer.from(raw)), sha256(src.manifest));
    const dir = join(work, 'from-oci-archive');
    await skopeo(['copy', `oci-archive:${file}:2`, `oci:${dir}:2`]);
    const { index } = readLayout(dir);
    assert.equal(findRef(index, '2')?.digest, sha256(src.manifest));
  });
});
