// Blob GET through the file fast path (src/server/blob-send.ts): bytes and
// headers across read-chunk boundaries, ranges, keep-alive framing, many
// transfers at once sharing the buffer pool, clients that leave mid-transfer
// (no descriptor may leak, the server must go on), files that are missing or
// shorter than the database says, and the request log line.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { removeStoredBlob, truncateStoredBlob } from '../helpers/stored-blobs.js';
import { TestRegistry, basicAuth, expectError, sha256 } from '../helpers/registry-client.js';

const MiB = 1024 * 1024;

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(server: RunningServer, path: string, options: { method?: string; headers?: Record<string, string>; agent?: Agent } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: server.port, method: options.method ?? 'GET', path, agent: options.agent, headers: { authorization: basicAuth(ADMIN), ...options.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error('response aborted')));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function openDescriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}


async function eventually(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a GET on a raw socket, reads `bytes` of the response and closes the connection. */
function abandon(server: RunningServer, path: string, bytes: number, how: 'end' | 'reset'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, '127.0.0.1');
    let seen = 0;
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${basicAuth(ADMIN)}\r\n\r\n`);
    });
    socket.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen >= bytes) {
        if (how === 'reset') socket.resetAndDestroy();
        else socket.destroy();
        resolve(seen);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(seen));
  });
}

describe('blob GET', () => {
  let server: RunningServer;
  let reg: TestRegistry;
  // 3.5 MiB: three whole 1 MiB reads and a partial one.
  const big = randomBytes(3.5 * MiB);
  let bigDigest: string;
  let bigPath: string;

  before(async () => {
    server = await startServer({ args: ['--log-level', 'info'] });
    reg = new TestRegistry(server.url);
    bigDigest = await reg.pushBlob('get/big', big);
    bigPath = `/v2/get/big/blobs/${bigDigest}`;
  });
  after(() => server.dispose());

  test('a multi-chunk blob comes back whole, with every blob header', async () => {
    const res = await get(server, bigPath);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(big.length));
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.headers['docker-content-digest'], bigDigest);
    assert.equal(res.headers['etag'], `"${bigDigest}"`);
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.equal(res.headers['cache-control'], 'max-age=31536000');
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.body.length, big.length);
    assert.equal(sha256(res.body), bigDigest);
  });

  test('HEAD gives the same headers and no body', async () => {
    const res = await get(server, bigPath, { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], String(big.length));
    assert.equal(res.headers['docker-content-digest'], bigDigest);
    assert.equal(res.body.length, 0);
  });

  test('ranges across read-chunk boundaries', async () => {
    const cases: [string, number, number][] = [
      [`bytes=${MiB - 10}-${2 * MiB + 9}`, MiB - 10, 2 * MiB + 9],
      [`bytes=${3 * MiB}-`, 3 * MiB, big.length - 1],
      ['bytes=-5', big.length - 5, big.length - 1],
      ['bytes=0-0', 0, 0],
      [`bytes=${MiB}-${MiB}`, MiB, MiB],
    ];
    for (const [range, start, end] of cases) {
      const res = await get(server, bigPath, { headers: { range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${big.length}`, range);
      assert.equal(res.headers['content-length'], String(end - start + 1), range);
      assert.ok(res.body.equals(big.subarray(start, end + 1)), range);
    }
  });

  test('responses on one keep-alive connection stay framed', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const small = await reg.pushBlob('get/big', 'small blob on the same connection');
      let reused = 0;
      for (let i = 0; i < 3; i++) {
        const a = await get(server, bigPath, { agent });
        assert.equal(sha256(a.body), bigDigest);
        const b = await get(server, `/v2/get/big/blobs/${small}`, { agent });
        assert.equal(b.body.toString(), 'small blob on the same connection');
        const c = await get(server, bigPath, { agent, headers: { range: 'bytes=5-9' } });
        assert.ok(c.body.equals(big.subarray(5, 10)));
        reused += 1;
      }
      assert.equal(reused, 3);
    } finally {
      agent.destroy();
    }
  });

  test('transfers at once do not mix their bytes', async () => {
    const blobs = Array.from({ length: 6 }, (_, i) => randomBytes(MiB + 1000 * i + 1));
    const digests = await Promise.all(blobs.map((b) => reg.pushBlob('get/many', b)));
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, i) => get(server, `/v2/get/many/blobs/${digests[i % blobs.length]}`)),
    );
    results.forEach((res, i) => {
      assert.equal(res.status, 200);
      assert.equal(sha256(res.body), digests[i % blobs.length], `transfer ${i}`);
    });
  });

  test('clients that leave mid-transfer leak no descriptor and the server goes on', async () => {
    const large = randomBytes(24 * MiB);
    const digest = await reg.pushBlob('get/abandoned', large);
    const path = `/v2/get/abandoned/blobs/${digest}`;
    await get(server, path); // warm: the page cache, the buffer pool
    const baseline = openDescriptors(server.pid);
    for (let i = 0; i < 10; i++) {
      await Promise.all([abandon(server, path, 64 * 1024, 'end'), abandon(server, path, 2 * MiB, 'reset'), abandon(server, path, 1, 'reset')]);
    }
    await eventually('descriptors back to the baseline', () => openDescriptors(server.pid) <= baseline);
    const res = await get(server, path);
    assert.equal(res.status, 200);
    assert.equal(createHash('sha256').update(res.body).digest('hex'), digest.slice(7));
  });

  test('a blob whose file is gone is BLOB_UNKNOWN', async () => {
    const digest = await reg.pushBlob('get/lost', 'bytes that will vanish from the disk');
    await removeStoredBlob(server, digest);
    await expectError(await reg.request(`/v2/get/lost/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('a file shorter than recorded ends the connection, not the server', async () => {
    const data = randomBytes(2 * MiB + 123);
    const digest = await reg.pushBlob('get/short', data);
    await truncateStoredBlob(server, digest, MiB + 5);
    const baseline = openDescriptors(server.pid);
    await assert.rejects(get(server, `/v2/get/short/blobs/${digest}`));
    await eventually('descriptors back to the baseline', () => openDescriptors(server.pid) <= baseline);
    const res = await get(server, bigPath);
    assert.equal(sha256(res.body), bigDigest);
  });

  test('small blobs (served from memory) and the sizes around the limit', async () => {
    for (const size of [1, 1000, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 128 * 1024]) {
      const data = randomBytes(size);
      const digest = await reg.pushBlob('get/small', data);
      const path = `/v2/get/small/blobs/${digest}`;
      const all = await Promise.all(Array.from({ length: 8 }, () => get(server, path)));
      for (const res of all) {
        assert.equal(res.status, 200, `size ${size}`);
        assert.equal(res.headers['content-length'], String(size));
        assert.equal(res.headers['docker-content-digest'], digest);
        assert.equal(res.headers['etag'], `"${digest}"`);
        assert.equal(res.headers['cache-control'], 'max-age=31536000');
        assert.ok(res.body.equals(data), `size ${size}`);
      }
      const again = await get(server, path);
      assert.ok(again.body.equals(data), `size ${size}, again`);
      if (size > 2) {
        const part = await get(server, path, { headers: { range: `bytes=1-${size - 2}` } });
        assert.equal(part.status, 206);
        assert.equal(part.headers['content-range'], `bytes 1-${size - 2}/${size}`);
        assert.ok(part.body.equals(data.subarray(1, size - 1)), `size ${size}, range`);
      }
    }
  });

  test('a blob in memory is still only visible where it is linked', async () => {
    const digest = await reg.pushBlob('get/tenant-a', 'small secret of tenant a');
    assert.equal((await get(server, `/v2/get/tenant-a/blobs/${digest}`)).status, 200);
    await expectError(await reg.request(`/v2/get/tenant-b/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    assert.equal((await reg.request(`/v2/get/tenant-a/blobs/${digest}`, { method: 'DELETE' })).status, 202);
    await expectError(await reg.request(`/v2/get/tenant-a/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
  });

  test('a small blob file shorter than recorded is an error, not a short body', async () => {
    const data = randomBytes(5000);
    const digest = await reg.pushBlob('get/short-small', data);
    await truncateStoredBlob(server, digest, 4000);
    for (let i = 0; i < 2; i++) await expectError(await reg.request(`/v2/get/short-small/blobs/${digest}`), 500, 'UNSUPPORTED');
  });

  test('each GET writes its request log line', async () => {
    let log = '';
    const onData = (c: Buffer) => (log += c.toString());
    server.child.stdout!.on('data', onData);
    try {
      await get(server, bigPath);
      await get(server, bigPath, { headers: { range: 'bytes=0-9' } });
      await eventually('two log lines', () => log.includes('"status":200') && log.includes('"status":206'));
      const lines = log.split('\n').filter((l) => l.includes(bigDigest)).map((l) => JSON.parse(l) as { msg: string; method: string; status: number; ms: number });
      assert.ok(lines.some((l) => l.msg === 'request' && l.method === 'GET' && l.status === 200 && typeof l.ms === 'number'));
      assert.ok(lines.some((l) => l.msg === 'request' && l.status === 206));
    } finally {
      server.child.stdout!.off('data', onData);
    }
  });
});
