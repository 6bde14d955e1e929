// Graceful shutdown: on SIGTERM the listener closes at once, requests in
// flight finish (a slow upload completes), and the process exits 0; a
// request still running when shutdown_grace_seconds is over is cut, and its
// upload session resumes from the offset it had before that chunk.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { request } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestRegistry, basicAuth, sha256 } from '../helpers/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';

interface SlowBody {
  chunk: Buffer;
  count: number;
  intervalMs: number;
}

/** A PATCH or PUT whose body arrives `count` chunks apart (chunked transfer), as docker streams a layer. */
function slowUpload(url: string, method: 'PATCH' | 'PUT', path: string, body: SlowBody): Promise<{ status: number; headers: Record<string, unknown> }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers: { Authorization: basicAuth(ADMIN), 'Content-Type': 'application/octet-stream' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    });
    req.on('error', reject);
    let sent = 0;
    const next = () => {
      if (req.destroyed) return;
      if (sent === body.count) return void req.end();
      sent += 1;
      req.write(body.chunk, () => setTimeout(next, body.intervalMs));
    };
    next();
  });
}

function exitOf(server: RunningServer): Promise<{ code: number | null; signal: string | null; at: number }> {
  return new Promise((resolve) => server.child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
}

/** Whether a new TCP connection to the server's port is refused. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function startSession(reg: TestRegistry, name: string): Promise<string> {
  const post = await reg.request(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(post.status, 202);
  return post.headers.get('location')!;
}

for (const workers of [1, 2]) {
  test(`SIGTERM lets a slow streamed upload finish, refuses new connections, exits 0 (workers: ${workers})`, { timeout: 90_000 }, async () => {
    const server = await startServer({ args: ['--workers', String(workers), '--shutdown-grace-seconds', '20'] });
    try {
      const reg = new TestRegistry(server.url);
      const chunk = Buffer.alloc(64 * 1024, 5);
      const count = 25; // about 2.5 s of body
      const whole = Buffer.concat(Array.from({ length: count }, () => chunk));
      const location = await startSession(reg, 'drain/app');
      const patch = slowUpload(server.url, 'PATCH', location, { chunk, count: 10, intervalMs: 100 });
      await sleep(400);
      const exited = exitOf(server);
      server.child.kill('SIGTERM');
      await sleep(300);
      assert.equal(await refused(server.port), true, 'a new connection after SIGTERM is refused');
      const patched = await patch;
      const answeredAt = Date.now();
      assert.equal(patched.status, 202, 'the PATCH in flight completed');
      assert.equal(patched.headers.range, `0-${10 * chunk.length - 1}`);
      const { code, at } = await exited;
      assert.equal(code, 0);
      // Its keep-alive connection was closed after the answer, not left to idle out.
      assert.ok(at - answeredAt < 3000, `exited ${at - answeredAt} ms after the last answer`);

      // Nothing was lost: a restarted server finishes the session with a slow PUT.
      const again = await startServer({ dataDir: server.dataDir, args: ['--shutdown-grace-seconds', '20'] });
      try {
        const putPath = `${patched.headers.location}?digest=${sha256(whole)}`;
        const put = slowUpload(again.url, 'PUT', putPath, { chunk, count: count - 10, intervalMs: 100 });
        await sleep(300);
        const exitedAgain = exitOf(again);
        again.child.kill('SIGTERM');
        assert.equal((await put).status, 201, 'a completing PUT in flight gets its 201');
        assert.equal((await exitedAgain).code, 0);
      } finally {
        await again.dispose();
      }
      const last = await startServer({ dataDir: server.dataDir });
      try {
        const blob = await new TestRegistry(last.url).request(`/v2/drain/app/blobs/${sha256(whole)}`);
        assert.equal(blob.status, 200);
        assert.ok(Buffer.from(await blob.arrayBuffer()).equals(whole));
      } finally {
        await last.stop();
      }
    } finally {
      await server.dispose();
    }
  });
}

test('a request longer than the grace is cut at the grace; its upload resumes after the restart', { timeout: 90_000 }, async () => {
  const graceSeconds = 1;
  const server = await startServer({ args: ['--shutdown-grace-seconds', String(graceSeconds)] });
  try {
    const reg = new TestRegistry(server.url);
    const first = Buffer.alloc(100_000, 1);
    const location = await startSession(reg, 'cut/app');
    const patch = await reg.request(location, { method: 'PATCH', body: first });
    assert.equal(patch.status, 202);

    // 30 s of body: far longer than the grace.
    const chunk = Buffer.alloc(16 * 1024, 2);
    const endless = slowUpload(server.url, 'PATCH', patch.headers.get('location')!, { chunk, count: 300, intervalMs: 100 }).then(
      (r) => ({ cut: false, status: r.status }),
      () => ({ cut: true, status: 0 }),
    );
    await sleep(500);
    const exited = exitOf(server);
    const signalledAt = Date.now();
    server.child.kill('SIGTERM');
    const result = await endless;
    const cutAfter = Date.now() - signalledAt;
    assert.equal(result.cut, true, `the request was cut, not answered (${result.status})`);
    assert.ok(cutAfter >= graceSeconds * 1000 - 100, `cut after the grace (${cutAfter} ms)`);
    assert.ok(cutAfter < graceSeconds * 1000 + 3000, `cut at the grace (${cutAfter} ms)`);
    const { code, at } = await exited;
    assert.equal(code, 0);
    assert.ok(at - signalledAt < graceSeconds * 1000 + 8000, `exited soon after the grace (${at - signalledAt} ms)`);

    // The session holds what it had before the cut chunk, and takes the rest.
    const again = await startServer({ dataDir: server.dataDir });
    try {
      const reg2 = new TestRegistry(again.url);
      const status = await reg2.request(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${first.length - 1}`);
      const rest = Buffer.alloc(5000, 3);
      const resumed = await reg2.request(location, { method: 'PATCH', body: rest, headers: { 'Content-Range': `${first.length}-${first.length + rest.length - 1}` } });
      assert.equal(resumed.status, 202, await resumed.text());
      const whole = Buffer.concat([first, rest]);
      const put = await reg2.request(`${resumed.headers.get('location')}?digest=${sha256(whole)}`, { method: 'PUT' });
      assert.equal(put.status, 201, await put.text());
    } finally {
      await again.stop();
    }
  } finally {
    await server.dispose();
  }
});
