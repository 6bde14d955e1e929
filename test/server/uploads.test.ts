// Blob uploads as the spec describes them: POST + PUT, chunked PATCH with
// and without Content-Range, status, cancel, cross-repository mount, and
// every way a client can get it wrong.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startServer, type RunningServer } from '../helpers/server.js';
import { TestRegistry, basicAuth, expectError, sha256, sha512 } from '../helpers/registry-client.js';
import { ADMIN } from '../helpers/server.js';
import { blobsNear, stagedUploads } from '../helpers/stored-blobs.js';

describe('uploads', () => {
  let server: RunningServer;
  let reg: TestRegistry;
  before(async () => {
    server = await startServer();
    reg = new TestRegistry(server.url);
  });
  after(() => server.dispose());

  async function start(name: string): Promise<string> {
    const res = await reg.request(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(res.status, 202, await res.text());
    const location = res.headers.get('location')!;
    assert.match(location, new RegExp(`^/v2/${name}/blobs/uploads/[A-Za-z0-9-]+$`));
    assert.equal(res.headers.get('range'), '0-0');
    assert.equal(res.headers.get('docker-upload-uuid'), location.split('/').at(-1));
    return location;
  }

  async function patch(location: string, chunk: string, contentRange?: string): Promise<Response> {
    const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
    if (contentRange) headers['Content-Range'] = contentRange;
    return reg.request(location, { method: 'PATCH', body: chunk, headers });
  }

  async function readBlob(name: string, digest: string): Promise<string> {
    const res = await reg.request(`/v2/${name}/blobs/${digest}`);
    assert.equal(res.status, 200);
    return res.text();
  }

  test('POST then a single PUT with the whole blob', async () => {
    const data = 'monolithic via session';
    const location = await start('up/put');
    const res = await reg.request(`${location}?digest=${sha256(data)}`, { method: 'PUT', body: data });
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('location'), `/v2/up/put/blobs/${sha256(data)}`);
    assert.equal(res.headers.get('docker-content-digest'), sha256(data));
    assert.equal(await readBlob('up/put', sha256(data)), data);
    // The session is gone once the blob is committed.
    await expectError(await reg.request(location), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('chunked PATCH with Content-Range, status in between, PUT without body', async () => {
    const chunks = ['aaaa', 'bbbbbb', 'cc'];
    const data = chunks.join('');
    const location = await start('up/chunked');
    let offset = 0;
    for (const chunk of chunks) {
      const res = await patch(location, chunk, `${offset}-${offset + chunk.length - 1}`);
      assert.equal(res.status, 202, await res.text());
      offset += chunk.length;
      assert.equal(res.headers.get('range'), `0-${offset - 1}`);
      assert.equal(res.headers.get('location'), location);
      const status = await reg.request(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${offset - 1}`);
      assert.equal(status.headers.get('location'), location);
    }
    const done = await reg.request(`${location}?digest=${sha256(data)}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    assert.equal(await readBlob('up/chunked', sha256(data)), data);
  });

  test('PATCH streamed with chunked transfer encoding and no Content-Range (docker, containerd, skopeo)', async () => {
    const parts = ['stream-', 'ed ', 'body'];
    const data = parts.join('');
    const location = await start('up/stream');
    const res = await reg.request(location, {
      method: 'PATCH',
      body: Readable.toWeb(Readable.from(parts.map((p) => Buffer.from(p)))) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 202, await res.text());
    assert.equal(res.headers.get('range'), `0-${data.length - 1}`);
    const done = await reg.request(`${location}?digest=${sha256(data)}`, { method: 'PUT' });
    assert.equal(done.status, 201);
    assert.equal(await readBlob('up/stream', sha256(data)), data);
  });

  test('PUT may carry the last chunk', async () => {
    const location = await start('up/lastchunk');
    assert.equal((await patch(location, 'first', '0-4')).status, 202);
    const res = await reg.request(`${location}?digest=${sha256('first+last')}`, { method: 'PUT', body: '+last', headers: { 'Content-Range': '5-9' } });
    assert.equal(res.status, 201, await res.text());
    assert.equal(await readBlob('up/lastchunk', sha256('first+last')), 'first+last');
  });

  test('an out-of-order chunk is 416 with the current Range, and the upload goes on', async () => {
    const location = await start('up/order');
    assert.equal((await patch(location, '0123', '0-3')).status, 202);
    for (const range of ['2-5', '5-8', '0-3']) {
      const res = await patch(location, '4567', range);
      assert.equal(res.headers.get('range'), '0-3', range);
      assert.equal(res.headers.get('location'), location);
      await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
    }
    const bad = await patch(location, '4567', 'bytes=garbage');
    await expectError(bad, 416, 'BLOB_UPLOAD_INVALID');
    const mismatch = await patch(location, '45678', '4-7'); // 5 bytes for a 4-byte range
    await expectError(mismatch, 416, 'BLOB_UPLOAD_INVALID');
    assert.equal((await patch(location, '4567', '4-7')).status, 202);
    const done = await reg.request(`${location}?digest=${sha256('01234567')}`, { method: 'PUT' });
    assert.equal(done.status, 201);
  });

  test('a wrong digest at PUT is DIGEST_INVALID and nothing becomes visible', async () => {
    const location = await start('up/wrong');
    assert.equal((await patch(location, 'actual bytes', '0-11')).status, 202);
    const claimed = sha256('other bytes');
    const errors = await expectError(await reg.request(`${location}?digest=${claimed}`, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    assert.match(errors[0]!.message, new RegExp(sha256('actual bytes')));
    await expectError(await reg.request(`/v2/up/wrong/blobs/${claimed}`), 404, 'BLOB_UNKNOWN');
    await expectError(await reg.request(`/v2/up/wrong/blobs/${sha256('actual bytes')}`), 404, 'BLOB_UNKNOWN');
  });

  test('a monolithic POST with a wrong digest stores nothing', async () => {
    const claimed = sha256('claimed');
    await expectError(await reg.request(`/v2/up/mono-wrong/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: 'sent' }), 400, 'DIGEST_INVALID');
    await expectError(await reg.request(`/v2/up/mono-wrong/blobs/${claimed}`), 404, 'BLOB_UNKNOWN');
    assert.deepEqual(await stagedUploads(server), [], 'no staged leftovers');
  });

  test('PUT without a digest, or with a malformed one, is DIGEST_INVALID', async () => {
    const location = await start('up/nodigest');
    await expectError(await reg.request(location, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    await expectError(await reg.request(`${location}?digest=sha256:1234`, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    await expectError(await reg.request(`/v2/up/nodigest/blobs/uploads/?digest=nope`, { method: 'POST', body: 'x' }), 400, 'DIGEST_INVALID');
  });

  test('sha512 digests are verified too, monolithic and chunked', async () => {
    const data = 'sha512 content';
    const res = await reg.request(`/v2/up/sha512/blobs/uploads/?digest=${sha512(data)}`, { method: 'POST', body: data });
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('docker-content-digest'), sha512(data));
    assert.equal(await readBlob('up/sha512', sha512(data)), data);

    const location = await start('up/sha512');
    assert.equal((await patch(location, 'chunked sha512', '0-13')).status, 202);
    const done = await reg.request(`${location}?digest=${sha512('chunked sha512')}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    await expectError(await reg.request(`/v2/up/sha512/blobs/uploads/?digest=${sha512('other')}`, { method: 'POST', body: data }), 400, 'DIGEST_INVALID');
  });

  test('DELETE cancels an upload; the session is then unknown', async () => {
    const location = await start('up/cancel');
    assert.equal((await patch(location, 'partial', '0-6')).status, 202);
    const res = await reg.request(location, { method: 'DELETE' });
    assert.equal(res.status, 204);
    await expectError(await reg.request(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(location, 'more', '7-10'), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await reg.request(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('an upload session belongs to its repository', async () => {
    const location = await start('up/owner');
    const id = location.split('/').at(-1)!;
    await expectError(await reg.request(`/v2/up/intruder/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await patch(`/v2/up/intruder/blobs/uploads/${id}`, 'x'), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await reg.request(`/v2/up/owner/blobs/uploads/not-a-real-session-id`), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await reg.request(`/v2/up/owner/blobs/uploads/..%2F..%2Fhatoba.db`), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('cross-repository mount: 201 when the source has the blob, 202 and an upload otherwise', async () => {
    const digest = await reg.pushBlob('mount/source', 'mountable layer');
    const res = await reg.request(`/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`, { method: 'POST' });
    assert.equal(res.status, 201, await res.text());
    assert.equal(res.headers.get('location'), `/v2/mount/target/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.equal(await readBlob('mount/target', digest), 'mountable layer');

    const unknown = sha256('not in the source');
    for (const query of [`mount=${unknown}&from=mount/source`, `mount=${digest}&from=mount/empty`, `mount=${digest}&from=Not..Valid`, `mount=bad&from=mount/source`]) {
      const fallback = await reg.request(`/v2/mount/other/blobs/uploads/?${query}`, { method: 'POST' });
      assert.equal(fallback.status, 202, query);
      assert.match(fallback.headers.get('location') ?? '', /^\/v2\/mount\/other\/blobs\/uploads\//);
    }
    await expectError(await reg.request(`/v2/mount/other/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('two clients pushing the same blob at once both succeed and leave one copy', async () => {
    const data = Buffer.alloc(4 * 1024 * 1024, 7);
    const digest = sha256(data);
    const results = await Promise.all(
      ['race/a', 'race/b', 'race/a', 'race/c'].map((name) => reg.request(`/v2/${name}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: data })),
    );
    assert.deepEqual(results.map((r) => r.status), [201, 201, 201, 201]);
    for (const name of ['race/a', 'race/b', 'race/c']) assert.equal((await readBlob(name, digest)).length, data.length);
    const hex = digest.slice('sha256:'.length);
    assert.deepEqual(await blobsNear(server, digest), [hex]);
  });

  test('a client that disconnects mid-chunk loses only that chunk', async () => {
    const location = await start('up/disconnect');
    assert.equal((await patch(location, 'kept', '0-3')).status, 202);
    await new Promise<void>((resolve) => {
      const { hostname, port } = new URL(server.url);
      const req = request({ host: hostname, port, method: 'PATCH', path: location, headers: { 'Content-Length': '1000', 'Content-Range': '4-1003', Authorization: basicAuth(ADMIN) } });
      req.on('error', () => resolve());
      req.write(Buffer.alloc(300, 1));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    // Give the server a moment to notice the reset and roll back.
    let status: Response | undefined;
    for (let i = 0; i < 20; i++) {
      status = await reg.request(location);
      if (status.headers.get('range') === '0-3') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status!.headers.get('range'), '0-3');
    assert.equal((await patch(location, '+more', '4-8')).status, 202);
    const done = await reg.request(`${location}?digest=${sha256('kept+more')}`, { method: 'PUT' });
    assert.equal(done.status, 201, await done.text());
    assert.equal(await readBlob('up/disconnect', sha256('kept+more')), 'kept+more');
  });
});
