// A 1 GiB blob pushed in chunks and pulled back: bytes stream from the
// socket through the hash to disk and back, so the server's memory does not
// grow with the blob. The peak RSS (VmHWM) is printed and held under 200 MB.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { ADMIN, startServer } from '../helpers/server.js';
import { basicAuth } from '../helpers/registry-client.js';

const GiB = 1024 * 1024 * 1024;
const CHUNK = 64 * 1024 * 1024;
const PIECE = 1024 * 1024;

/** Deterministic, non-repeating-per-MiB bytes without holding them all. */
function piece(index: number): Buffer {
  const b = Buffer.alloc(PIECE, index & 0xff);
  b.writeUInt32BE(index, 0);
  return b;
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]);
  return kb / 1024;
}

function send(agent: Agent, url: URL, method: string, path: string, headers: Record<string, string | number>, body?: Readable) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ agent, host: url.hostname, port: url.port, method, path, headers: { Authorization: basicAuth(ADMIN), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

test('1 GiB chunked push and pull keep the server under 200 MB RSS', { timeout: 600_000 }, async (t) => {
  const server = await startServer({ compiled: true });
  const agent = new Agent({ keepAlive: true });
  try {
    const url = new URL(server.url);
    const baseline = peakRssMiB(server.pid);
    const hash = createHash('sha256');
    const started = performance.now();
    const post = await send(agent, url, 'POST', '/v2/big/blob/blobs/uploads/', {});
    assert.equal(post.status, 202);
    let location = post.headers.location as string;
    for (let offset = 0; offset < GiB; offset += CHUNK) {
      const first = offset / PIECE;
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < CHUNK / PIECE; i++) {
            const p = piece(first + i);
            hash.update(p);
            yield p;
          }
        })(),
      );
      const res = await send(agent, url, 'PATCH', location, { 'Content-Length': CHUNK, 'Content-Range': `${offset}-${offset + CHUNK - 1}` }, body);
      assert.equal(res.status, 202, res.body);
      location = res.headers.location as string;
    }
    const digest = `sha256:${hash.digest('hex')}`;
    const put = await send(agent, url, 'PUT', `${location}?digest=${digest}`, {});
    assert.equal(put.status, 201, put.body);
    const pushSeconds = (performance.now() - started) / 1000;
    const afterPush = peakRssMiB(server.pid);

    const pullStarted = performance.now();
    const pulled = await new Promise<{ digest: string; size: number }>((resolve, reject) => {
      const req = request({ agent, host: url.hostname, port: url.port, path: `/v2/big/blob/blobs/${digest}`, headers: { Authorization: basicAuth(ADMIN) } }, (res) => {
        assert.equal(res.statusCode, 200);
        const h = createHash('sha256');
        let size = 0;
        res.on('data', (c: Buffer) => {
          h.update(c);
          size += c.length;
        });
        res.on('end', () => resolve({ digest: `sha256:${h.digest('hex')}`, size }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    const pullSeconds = (performance.now() - pullStarted) / 1000;
    assert.equal(pulled.size, GiB);
    assert.equal(pulled.digest, digest);
    const peak = peakRssMiB(server.pid);
    t.diagnostic(`server peak RSS: ${baseline.toFixed(0)} MiB at start, ${afterPush.toFixed(0)} MiB after the 1 GiB push, ${peak.toFixed(0)} MiB after the pull`);
    t.diagnostic(`push ${pushSeconds.toFixed(1)} s (${(1024 / pushSeconds).toFixed(0)} MiB/s, 16 x 64 MiB chunks), pull ${pullSeconds.toFixed(1)} s (${(1024 / pullSeconds).toFixed(0)} MiB/s)`);
    assert.ok(peak < 200, `server peak RSS ${peak.toFixed(0)} MiB is not under 200 MiB`);
  } finally {
    agent.destroy();
    await server.dispose();
  }
});
