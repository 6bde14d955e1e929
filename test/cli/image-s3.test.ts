// `hatoba image push s3://BUCKET/KEY HOST/REPO:TAG` against a real S3
// endpoint (Ceph's RADOS Gateway, signed requests; see
// test/helpers/s3-endpoint.ts): the seed flow, a wrong secret refused with
// a clear message, and a 1 GiB tarball streamed through the CLI with its
// peak memory (VmHWM of the child process) logged and bounded.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { pack as tarPack } from 'tar-stream';
import { makeImage } from '../formats/image-archive.fixtures.js';
import { s3Endpoint, s3TestOptions, type S3Endpoint } from '../helpers/s3-endpoint.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { removeHomes, show } from './helpers.js';
import { imageHome, runCliMeasured, saveTarball, type ImageHome, removeWorkDir } from './image-helpers.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('hatoba image push s3://...', s3TestOptions(), () => {
  let server: RunningServer;
  let home: ImageHome;
  let ep: S3Endpoint;
  let s3: S3Client;
  const bucket = `hatoba-image-cli-${process.pid}-${Date.now().toString(36)}`;
  const keys: string[] = [];
  let awsEnv: Record<string, string>;

  before(async () => {
    ep = s3Endpoint()!;
    assert.ok(ep, 'an S3 endpoint (CI=true needs one)');
    s3 = new S3Client({ endpoint: ep.endpoint, region: ep.region, forcePathStyle: true, credentials: ep, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    server = await startServer();
    home = await imageHome();
    const r = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password });
    assert.equal(r.code, 0, show(r));
    awsEnv = { AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey, AWS_ENDPOINT_URL: ep.endpoint, AWS_REGION: ep.region };
  });

  after(async () => {
    // memstore keeps objects in RAM: remove them all
    for (const key of keys) await s3?.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => {});
    await s3?.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => {});
    s3?.destroy();
    await server?.dispose();
    await removeHomes();
    await removeWorkDir();
  });

  test('the seed flow: a docker save tarball in a bucket pushed straight to the registry', async () => {
    const img = makeImage('s3-oracle', 3);
    const { bytes } = await saveTarball('s3-oracle', [{ image: img, repoTags: ['oracle_db:19c'] }], 'classic', true);
    keys.push('images/oracle_db.tar');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/oracle_db.tar', Body: bytes }));
    const dest = `${server.host}/system/oracle_db:19c`;
    const r = await home.run(['image', 'push', `s3://${bucket}/images/oracle_db.tar`, dest, '--json'], { env: awsEnv });
    assert.equal(r.code, 0, show(r));
    const out = JSON.parse(r.stdout) as { pushed: { reference: string; digest: string }[]; stats: { blobsUploaded: number } };
    assert.equal(out.pushed[0]!.reference, dest);
    assert.equal(out.stats.blobsUploaded, 4);
    const remote = JSON.parse((await home.run(['image', 'inspect', '--remote', dest])).stdout) as { digest: string; layers: { digest: string }[] };
    assert.equal(remote.digest, out.pushed[0]!.digest);
    assert.deepEqual(remote.layers.map((l) => l.digest), img.layers.map((l) => l.diffId));
  });

  test('a wrong secret key is refused with a clear message, and nothing is pushed', async () => {
    const r = await home.run(['image', 'push', `s3://${bucket}/images/oracle_db.tar`, `${server.host}/system/wrong-secret:1`], { env: { ...awsEnv, AWS_SECRET_ACCESS_KEY: 'not-the-secret-key-at-all-0000000000000000' } });
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /refused the request signature: the secret key for access key .* is wrong \(taken from AWS_ACCESS_KEY_ID/, show(r));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const tags = await home.run(['tag', 'ls', `${server.host}/system/wrong-secret`]);
    assert.notEqual(tags.code, 0, 'the repository does not exist');
    const missing = await home.run(['image', 'push', `s3://${bucket}/images/nope.tar`, `${server.host}/system/nope:1`], { env: awsEnv });
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /no such object/, show(missing));
  });

  test('a 1 GiB tarball streams from S3 to the registry with flat memory', { timeout: 15 * 60_000 }, async (t) => {
    const key = 'images/big.tar';
    keys.push(key);
    const layerSize = GiB;
    const pattern = Buffer.alloc(MiB);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 31 + (i >> 10)) & 0xff;

    // A classic docker save tarball, generated streaming: one uncompressed
    // layer of the repeating pattern, then its config and manifest.json.
    const pack = tarPack();
    const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: Readable.from(pack as AsyncIterable<Buffer>) }, partSize: 16 * MiB, queueSize: 4 });
    const uploaded = upload.done();
    const hash = createHash('sha256');
    const layerId = 'a'.repeat(64);
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name: `${layerId}/layer.tar`, size: layerSize, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
      let written = 0;
      const write = () => {
        while (written < layerSize) {
          written += pattern.length;
          hash.update(pattern);
          if (!entry.write(pattern)) {
            entry.once('drain', write);
            return;
          }
        }
        entry.end(undefined);
      };
      write();
    });
    const diffId = `sha256:${hash.digest('hex')}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} }));
    const configHex = createHash('sha256').update(config).digest('hex');
    pack.entry({ name: `${configHex}.json`, mtime: new Date(0) }, config);
    pack.entry({ name: 'manifest.json', mtime: new Date(0) }, JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['big:1'], Layers: [`${layerId}/layer.tar`] }]));
    pack.finalize();
    await uploaded;

    const dest = `${server.host}/system/big:1`;
    const r = await runCliMeasured(['image', 'push', `s3://${bucket}/${key}`, dest, '--json'], { ...home.env, ...awsEnv });
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    const out = JSON.parse(r.stdout) as { stats: { bytesUploaded: number }; seconds: number };
    t.diagnostic(`peak RSS of hatoba image push (1 GiB tarball from S3): ${(r.peakRss / MiB).toFixed(1)} MiB; ${out.seconds.toFixed(1)} s`);
    assert.ok(out.stats.bytesUploaded >= layerSize);
    assert.ok(r.peakRss > 0, 'sampled the child');
    assert.ok(r.peakRss < 300 * 1000 * 1000, `peak RSS ${r.peakRss} bytes should stay under 300 MB`);
    const remote = JSON.parse((await home.run(['image', 'inspect', '--remote', dest])).stdout) as { layers: { digest: string; size: number }[] };
    assert.deepEqual(remote.layers, [{ digest: diffId, mediaType: 'application/vnd.docker.image.rootfs.diff.tar', size: layerSize }]);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  });
});
