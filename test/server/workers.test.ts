// `hatoba serve --workers N`: several processes on one port share the data
// directory, tokens and upload sessions; a dead worker is replaced.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { test } from 'node:test';
import { startServer } from '../helpers/server.js';
import { TestRegistry, sha256 } from '../helpers/registry-client.js';

function workerPids(primary: number): number[] {
  try {
    // Only node processes running hatoba (tsx also starts an esbuild helper).
    return execFileSync('pgrep', ['-P', String(primary), '-f', 'hatoba'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** A request on a fresh connection, so the kernel may hand it to any worker. */
function fresh(url: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path, headers, agent: new Agent({ keepAlive: false }) }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('two workers serve one registry: tokens, chunked uploads and restarts', { timeout: 120_000 }, async () => {
  const server = await startServer({ args: ['--workers', '2'] });
  try {
    const pids = workerPids(server.pid);
    assert.equal(pids.length, 2, `two worker processes under ${server.pid}`);

    // A token from one connection is accepted on many others (the signing key is shared).
    const tokenRes = await fresh(server.url, 'GET', '/v2/token?service=hatoba&scope=repository:workers/app:pull,push', { Authorization: `Basic ${Buffer.from('admin:hatoba-test-admin-password').toString('base64')}` });
    assert.equal(tokenRes.status, 200, tokenRes.body);
    const auth = { Authorization: `Bearer ${JSON.parse(tokenRes.body).token}` };
    for (let i = 0; i < 20; i++) assert.equal((await fresh(server.url, 'GET', '/v2/workers/app/tags/list', auth)).status, 404);

    // An upload started on one connection continues on others.
    const parts = [Buffer.alloc(100_000, 1), Buffer.alloc(50_000, 2), Buffer.alloc(7, 3)];
    const whole = Buffer.concat(parts);
    const post = await fresh(server.url, 'POST', '/v2/workers/app/blobs/uploads/', auth);
    assert.equal(post.status, 202);
    let location = post.headers.location as string;
    let offset = 0;
    for (const part of parts) {
      const res = await fresh(server.url, 'PATCH', location, { ...auth, 'Content-Range': `${offset}-${offset + part.length - 1}`, 'Content-Length': String(part.length) }, part);
      assert.equal(res.status, 202, res.body);
      offset += part.length;
      location = res.headers.location as string;
    }
    const put = await fresh(server.url, 'PUT', `${location}?digest=${sha256(whole)}`, auth);
    assert.equal(put.status, 201, put.body);

    // A worker that dies is replaced, and the registry keeps answering.
    process.kill(pids[0]!, 'SIGKILL');
    let replaced: number[] = [];
    for (let i = 0; i < 50 && replaced.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 200));
      replaced = workerPids(server.pid).filter((p) => p !== pids[0]);
    }
    assert.equal(replaced.length, 2, 'a new worker took its place');
    const reg = new TestRegistry(server.url);
    const blob = await reg.request(`/v2/workers/app/blobs/${sha256(whole)}`);
    assert.equal(blob.status, 200);
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(whole));
  } finally {
    await server.dispose();
  }
  assert.deepEqual(workerPids(server.pid), [], 'no worker outlives the server');
});
