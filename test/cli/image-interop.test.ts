// `hatoba image push/pull` with the real skopeo (Debian package): what
// `hatoba image pull -o docker-archive:` writes, skopeo copies into an OCI
// layout with identical layer digests; a docker-archive skopeo wrote pushes
// with `hatoba image push`. Skipped without skopeo, except with CI=true,
// where a missing skopeo fails with how to install it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeImage } from '../formats/image-archive.fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { ADMIN, type RunningServer } from '../helpers/server.js';
import { show } from './helpers.js';
import { serverAndLoggedInHome, saveTarball, workDir, type ImageHome } from './image-helpers.js';
import { requireTool } from '../helpers/tools.js';

const { path: SKOPEO, missing: MISSING } = requireTool('skopeo', 'apt-get install -y skopeo', 'the image CLI interop tests');

function skopeo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(SKOPEO!, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`skopeo ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

describe('hatoba image and skopeo', { skip: SKOPEO ? false : MISSING }, () => {
  let server: RunningServer;
  let home: ImageHome;
  let dispose: (() => Promise<void>) | undefined;

  before(async () => {
    ({ server, home, dispose } = await serverAndLoggedInHome());
  });

  after(async () => {
    await dispose?.();
  });

  it('push a docker save tarball, pull -o docker-archive, and skopeo copies it to oci: with identical layer digests', async () => {
    const img = makeImage('skopeo-roundtrip', 3);
    const { file } = await saveTarball('skopeo-src', [{ image: img, repoTags: ['oracle_db:19c'] }], 'classic', true);
    const ref = `${server.host}/system/oracle_db:19c`;
    let r = await home.run(['image', 'push', file, ref, '--json']);
    assert.equal(r.code, 0, show(r));
    const pushedDigest = (JSON.parse(r.stdout) as { pushed: { digest: string }[] }).pushed[0]!.digest;
    const pushedLayers = (JSON.parse((await home.run(['image', 'inspect', '--remote', ref])).stdout) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
    assert.deepEqual(pushedLayers, img.layers.map((l) => l.diffId));

    const tar = join(await workDir(), 'pulled-for-skopeo.tar');
    r = await home.run(['image', 'pull', ref, '-o', `docker-archive:${tar}`]);
    assert.equal(r.code, 0, show(r));
    const dir = join(await workDir(), 'skopeo-oci');
    await skopeo(['copy', '--dest-oci-accept-uncompressed-layers', `docker-archive:${tar}:${ref}`, `oci:${dir}:19c`]);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === '19c')!;
    const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', desc.digest.slice(7)), 'utf8')) as { layers: { digest: string }[]; config: { digest: string } };
    assert.deepEqual(manifest.layers.map((l) => l.digest), pushedLayers, 'skopeo reads the same layers');
    const config = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', manifest.config.digest.slice(7)), 'utf8')) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, pushedLayers);
    // skopeo sees the name we wrote
    const inspected = JSON.parse(await skopeo(['inspect', `docker-archive:${tar}:${ref}`])) as { Layers: string[] };
    assert.deepEqual(inspected.Layers, pushedLayers);
    assert.ok(pushedDigest.startsWith('sha256:'));
  });

  it('a docker-archive written by `skopeo copy oci:... docker-archive:FILE:name:tag` pushes with hatoba image push', async () => {
    const dir = join(await workDir(), 'skopeo-layout');
    const layout = writeOciLayout(dir, { salt: 'image-cli-skopeo' });
    const tar = join(await workDir(), 'skopeo-written.tar');
    await skopeo(['copy', `oci:${dir}:multi`, `docker-archive:${tar}:registry.example/system/multi:1`]);
    const dest = `${server.host}/system/multi:1`;
    const r = await home.run(['image', 'push', tar, dest, '--json']);
    assert.equal(r.code, 0, show(r));
    const remote = JSON.parse((await home.run(['image', 'inspect', '--remote', dest])).stdout) as { layers: { digest: string }[]; config: { rootfs: { diff_ids: string[] } } };
    // skopeo wrote the layers uncompressed: they are the diff IDs of the source image
    assert.deepEqual(remote.layers.map((l) => l.digest), layout.multi.layers.map((l) => l.diffId));
    assert.deepEqual(remote.config.rootfs.diff_ids, layout.multi.layers.map((l) => l.diffId));
    // and skopeo pulls it back from the registry
    const out = join(await workDir(), 'skopeo-from-registry');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', `${ADMIN.username}:${ADMIN.password}`, '--dest-oci-accept-uncompressed-layers', `docker://${dest}`, `oci:${out}:1`]);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    assert.equal(index.manifests.length, 1);
  });
});
