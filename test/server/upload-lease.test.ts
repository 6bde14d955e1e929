// An upload session is held by one request at a time across processes,
// not only within one: two servers on one data directory (as --workers
// processes are, and as nodes on one database and bucket will be) take
// turns on a session, and a holder that dies frees it when its lease ends.
import assert from 'node:assert/strict';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { TestRegistry, basicAuth, sha256 } from '../helpers/registry-client.js';

/** A PATCH whose body is written by the test, piece by piece. */
function openPatch(server: RunningServer, location: string): { req: ClientRequest; response: Promise<{ status: number; range: string | undefined; at: number }> } {
  const url = new URL(location, server.url);
  const req = httpRequest(url, {
    method: 'PATCH',
    headers: { authorization: basicAuth(ADMIN), 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
  });
  const response = new Promise<{ status: number; range: string | undefined; at: number }>((resolve, reject) => {
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode!, range: res.headers.range, at: Date.now() }));
    });
    req.once('error', reject);
  });
  req.flushHeaders();
  return { req, response };
}

async function twoServers(t: { after: (fn: () => Promise<void>) => void }): Promise<[RunningServer, RunningServer]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'hatoba-lease-'));
  const a = await startServer({ dataDir });
  const b = await startServer({ dataDir });
  t.after(async () => {
    await a.stop();
    await b.stop();
    await rm(dataDir, { recursive: true, force: true });
  });
  return [a, b];
}

test('a PATCH on another process waits for the one in flight, then appends after it', { timeout: 60_000 }, async (t) => {
  const [a, b] = await twoServers(t);
  const regA = new TestRegistry(a.url);
  const started = await regA.request('/v2/lease/app/blobs/uploads/', { method: 'POST' });
  assert.equal(started.status, 202);
  const location = started.headers.get('location')!;

  const first = Buffer.alloc(256 * 1024, 'a');
  const second = Buffer.alloc(100 * 1024, 'b');
  const slow = openPatch(a, location);
  slow.req.write(first.subarray(0, 1024));
  await sleep(300); // A holds the session now

  // B's streamed PATCH (no Content-Range, as docker sends) must not write
  // beside A's: it waits, then appends where A ended.
  const sentB = Date.now();
  const other = new TestRegistry(b.url).request(location, { method: 'PATCH', body: second, headers: { 'content-type': 'application/octet-stream' } }).then((res) => ({ status: res.status, range: res.headers.get('range'), at: Date.now() }));
  await sleep(1000);
  slow.req.end(first.subarray(1024));
  const [doneA, doneB] = await Promise.all([slow.response, other]);
  assert.equal(doneA.status, 202);
  assert.equal(doneA.range, `0-${first.length - 1}`);
  assert.equal(doneB.status, 202);
  assert.ok(doneB.at >= doneA.at, 'B answered before A finished: the session was not held');
  assert.ok(doneB.at - sentB >= 900, `B was answered after ${doneB.at - sentB} ms, without waiting for A`);
  assert.equal(doneB.range, `0-${first.length + second.length - 1}`);

  const whole = Buffer.concat([first, second]);
  const put = await regA.request(`${location}?digest=${sha256(whole)}`, { method: 'PUT' });
  assert.equal(put.status, 201, await put.text());
  const blob = await new TestRegistry(b.url).request(`/v2/lease/app/blobs/${sha256(whole)}`);
  assert.ok(Buffer.from(await blob.arrayBuffer()).equals(whole));
});

test('a server killed during a PATCH: another one finishes the upload once the lease runs out', { timeout: 60_000 }, async (t) => {
  const [a, b] = await twoServers(t);
  const regA = new TestRegistry(a.url);
  const regB = new TestRegistry(b.url);
  const started = await regA.request('/v2/lease/killed/blobs/uploads/', { method: 'POST' });
  const location = started.headers.get('location')!;
  const part1 = Buffer.alloc(64 * 1024, 'x');
  assert.equal((await regA.request(location, { method: 'PATCH', body: part1, headers: { 'content-range': `0-${part1.length - 1}` } })).status, 202);

  // A dies with half a chunk received: staged bytes beyond the accepted offset.
  const dying = openPatch(a, location);
  dying.response.catch(() => {});
  dying.req.on('error', () => {});
  // More than the 4 MiB O_DIRECT buffers, so some of it reaches the file.
  dying.req.write(Buffer.alloc(9 * 1024 * 1024, 'z'));
  await sleep(1000);
  a.child.kill('SIGKILL');
  await a.stop();

  const status = await regB.request(location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), `0-${part1.length - 1}`, 'the half-received chunk must not count');

  // B takes over when the dead holder's lease ends (at most a few seconds),
  // drops the half chunk, and appends from the accepted offset.
  const part2 = Buffer.alloc(32 * 1024, 'y');
  const whole = Buffer.concat([part1, part2]);
  const resumed = await regB.request(location, { method: 'PATCH', body: part2, headers: { 'content-range': `${part1.length}-${whole.length - 1}` } });
  assert.equal(resumed.status, 202, await resumed.text());
  const put = await regB.request(`${location}?digest=${sha256(whole)}`, { method: 'PUT' });
  assert.equal(put.status, 201, await put.text());
  const blob = await regB.request(`/v2/lease/killed/blobs/${sha256(whole)}`);
  assert.ok(Buffer.from(await blob.arrayBuffer()).equals(whole));
});
