// Blob endpoints: HEAD, GET with Range, DELETE, and the rule that a blob is
// visible only through a repository it is linked to.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../helpers/server.js';
import { TestRegistry, expectError, rawRequest, sha256 } from '../helpers/registry-client.js';

describe('blobs', () => {
  let server: RunningServer;
  let reg: TestRegistry;
  before(async () => {
    server = await startServer();
    reg = new TestRegistry(server.url);
  });
  after(() => server.dispose());

  test('GET /v2/ answers 200 with the API version header', async () => {
    const res = await reg.request('/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.deepEqual(await res.json(), {});
  });

  test('HEAD and GET return the bytes with length, digest and type headers', async () => {
    const data = 'the quick brown fox';
    const digest = await reg.pushBlob('blobs/one', data);
    const head = await reg.request(`/v2/blobs/one/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
    assert.equal(head.headers.get('docker-content-digest'), digest);
    assert.equal(head.headers.get('content-type'), 'application/octet-stream');
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    assert.equal(await head.text(), '');

    const get = await reg.request(`/v2/blobs/one/blobs/${digest}`);
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('docker-content-digest'), digest);
    assert.equal(await get.text(), data);
  });

  test('Range requests give 206 with Content-Range; unsatisfiable ones 416', async () => {
    const data = '0123456789';
    const digest = await reg.pushBlob('blobs/range', data);
    const path = `/v2/blobs/range/blobs/${digest}`;
    const cases: [string, string, string][] = [
      ['bytes=2-5', '2345', 'bytes 2-5/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
      ['bytes=8-100', '89', 'bytes 8-9/10'],
    ];
    for (const [range, body, contentRange] of cases) {
      const res = await reg.request(path, { headers: { Range: range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), contentRange, range);
      assert.equal(res.headers.get('content-length'), String(body.length), range);
      assert.equal(await res.text(), body, range);
    }
    const bad = await reg.request(path, { headers: { Range: 'bytes=10-20' } });
    assert.equal(bad.headers.get('content-range'), 'bytes */10');
    await expectError(bad, 416, 'SIZE_INVALID');
  });

  test('an empty blob can be pushed and read', async () => {
    const digest = await reg.pushBlob('blobs/empty', '');
    const res = await reg.request(`/v2/blobs/empty/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), '0');
    assert.equal(await res.text(), '');
  });

  test('a blob is not readable through a repository it is not linked to', async () => {
    const digest = await reg.pushBlob('tenant-a/private', 'secret layer of tenant a');
    const errors = await expectError(await reg.request(`/v2/tenant-b/app/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    assert.deepEqual(errors[0]!.detail, { digest });
    const head = await reg.request(`/v2/tenant-b/app/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.equal(head.headers.get('docker-content-digest'), null);
  });

  test('unknown blobs are BLOB_UNKNOWN', async () => {
    await reg.pushBlob('blobs/known', 'x');
    await expectError(await reg.request(`/v2/blobs/known/blobs/${sha256('never pushed')}`), 404, 'BLOB_UNKNOWN');
  });

  test('malformed digests are DIGEST_INVALID', async () => {
    for (const bad of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'G'.repeat(64), 'notadigest']) {
      await expectError(await reg.request(`/v2/blobs/known/blobs/${bad}`), 400, 'DIGEST_INVALID');
    }
  });

  test('invalid repository names are NAME_INVALID, never a path', async () => {
    const digest = sha256('x');
    for (const name of ['Upper/case', 'a/../b', '../../etc', 'a//b', '-lead', 'trail-', 'a/.hidden', '%2e%2e/etc', 'a/%2F/b']) {
      const res = await rawRequest(server.url, 'GET', `/v2/${name}/blobs/${digest}`);
      assert.equal(res.status, 400, `${name}: ${res.body}`);
      assert.equal(JSON.parse(res.body).errors[0].code, 'NAME_INVALID', name);
    }
    await expectError(await reg.request(`/v2/${'a'.repeat(256)}/blobs/${digest}`), 400, 'NAME_INVALID');
  });

  test('DELETE unlinks the blob from the repository only', async () => {
    const data = 'shared layer bytes';
    const digest = await reg.pushBlob('blobs/del-a', data);
    await reg.pushBlob('blobs/del-b', data);
    const del = await reg.request(`/v2/blobs/del-a/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    await expectError(await reg.request(`/v2/blobs/del-a/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    await expectError(await reg.request(`/v2/blobs/del-a/blobs/${digest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    const other = await reg.request(`/v2/blobs/del-b/blobs/${digest}`);
    assert.equal(other.status, 200);
    assert.equal(await other.text(), data);
  });

  test('unsupported methods and unknown endpoints get OCI errors', async () => {
    const res = await reg.request(`/v2/blobs/one/blobs/${sha256('x')}`, { method: 'PATCH' });
    await expectError(res, 405, 'UNSUPPORTED');
    await expectError(await reg.request('/v2/blobs/one/nothing-here'), 404, 'UNSUPPORTED');
  });
});
