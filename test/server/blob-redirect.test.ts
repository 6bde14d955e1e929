// Blob GETs redirected to presigned S3 URLs (storage URL redirect=true):
// a 307 only after the pull is authorized, to a URL that serves the bytes
// (and ranges) without credentials; everyone else gets the usual error and
// no Location. HEAD and uploads are unchanged.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Api, uniq } from '../auth/access-helpers.js';
import { TestRegistry, expectError, sha256 } from '../helpers/registry-client.js';
import { s3TestOptions } from '../helpers/s3-endpoint.js';
import { freshS3Storage, removeS3Storage, type S3TestStorage } from '../helpers/s3-storage.js';
import { startServer, type RunningServer } from '../helpers/server.js';

describe('blob GETs redirected to presigned S3 URLs', s3TestOptions(), () => {
  let server: RunningServer;
  let registry: TestRegistry;
  const data = randomBytes(200_000);
  let digest: string;
  let storage: S3TestStorage;

  before(async () => {
    storage = await freshS3Storage({ redirect: true });
    server = await startServer({ args: ['--storage', storage.url], env: storage.env });
    registry = new TestRegistry(server.url);
    digest = await registry.pushBlob('redirect/app', data);
  });
  after(async () => {
    await server?.dispose();
    if (storage) await removeS3Storage(storage);
  });

  test('an authorized GET is a 307 to a URL that serves the blob and its ranges', async () => {
    const res = await registry.request(`/v2/redirect/app/blobs/${digest}`);
    assert.equal(res.status, 307);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const location = res.headers.get('location')!;
    assert.match(location, /X-Amz-Signature=/);
    const direct = await fetch(location); // no credentials of the registry's
    assert.equal(direct.status, 200);
    const body = Buffer.from(await direct.arrayBuffer());
    assert.equal(sha256(body), digest);
    const ranged = await fetch(location, { headers: { Range: 'bytes=10-19' } });
    assert.equal(ranged.status, 206);
    assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(10, 20)));
    // a client that follows redirects itself gets the bytes in one go
    const followed = await fetch(`${server.url}/v2/redirect/app/blobs/${digest}`, { headers: { authorization: `Basic ${Buffer.from('admin:hatoba-test-admin-password').toString('base64')}` } });
    assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), digest);
  });

  test('HEAD answers itself, with the size', async () => {
    const res = await registry.request(`/v2/redirect/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(data.length));
    assert.equal(res.headers.get('location'), null);
  });

  test('no redirect without the right to pull, nor for a blob the repository does not have', async () => {
    const anonymous = await registry.as(null).request(`/v2/redirect/app/blobs/${digest}`);
    assert.equal(anonymous.headers.get('location'), null);
    await expectError(anonymous, 401, 'UNAUTHORIZED');
    const wrong = await registry.as({ username: 'admin', password: 'not-the-password' }).request(`/v2/redirect/app/blobs/${digest}`);
    assert.equal(wrong.headers.get('location'), null);
    await expectError(wrong, 401, 'UNAUTHORIZED');
    const stranger = await new Api(server.url).user(uniq('stranger-'));
    const denied = await registry.as(stranger).request(`/v2/redirect/app/blobs/${digest}`);
    assert.equal(denied.headers.get('location'), null);
    assert.ok(denied.status === 401 || denied.status === 403, String(denied.status));
    const elsewhere = await registry.request(`/v2/redirect/other/blobs/${digest}`);
    assert.equal(elsewhere.headers.get('location'), null);
    await expectError(elsewhere, 404, 'BLOB_UNKNOWN');
  });
});
