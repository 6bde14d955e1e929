// An upload session is a database row plus staged bytes, not process
// memory: a chunked upload started before a restart finishes after it (the
// digest is then recomputed from the staged bytes).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startServer } from '../helpers/server.js';
import { TestRegistry, expectError, sha256 } from '../helpers/registry-client.js';

test('PATCH, restart the server, PATCH, PUT: the blob is complete and verified', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'hatoba-restart-'));
  try {
    const first = await startServer({ dataDir });
    const reg1 = new TestRegistry(first.url);
    const part1 = Buffer.alloc(3 * 1024 * 1024, 'a');
    const part2 = Buffer.alloc(2 * 1024 * 1024 + 17, 'b');
    const whole = Buffer.concat([part1, part2]);
    const started = await reg1.request('/v2/restart/app/blobs/uploads/', { method: 'POST' });
    assert.equal(started.status, 202);
    const location = started.headers.get('location')!;
    const res1 = await reg1.request(location, { method: 'PATCH', body: part1, headers: { 'Content-Range': `0-${part1.length - 1}` } });
    assert.equal(res1.status, 202);
    await first.stop();

    const second = await startServer({ dataDir });
    try {
      const reg2 = new TestRegistry(second.url);
      const status = await reg2.request(location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${part1.length - 1}`);
      const res2 = await reg2.request(location, {
        method: 'PATCH',
        body: part2,
        headers: { 'Content-Range': `${part1.length}-${whole.length - 1}` },
      });
      assert.equal(res2.status, 202, await res2.text());
      // A wrong digest is still caught without the in-memory hash ...
      const wrongLocation = await (async () => {
        const s = await reg2.request('/v2/restart/app/blobs/uploads/', { method: 'POST' });
        const loc = s.headers.get('location')!;
        await reg2.request(loc, { method: 'PATCH', body: 'xyz' });
        return loc;
      })();
      await second.stop();
      const third = await startServer({ dataDir });
      try {
        const reg3 = new TestRegistry(third.url);
        await expectError(await reg3.request(`${wrongLocation}?digest=${sha256('abc')}`, { method: 'PUT' }), 400, 'DIGEST_INVALID');
        // ... and the right one is accepted from the staged bytes alone.
        const done = await reg3.request(`${location}?digest=${sha256(whole)}`, { method: 'PUT' });
        assert.equal(done.status, 201, await done.text());
        const blob = await reg3.request(`/v2/restart/app/blobs/${sha256(whole)}`);
        assert.equal(blob.status, 200);
        assert.ok(Buffer.from(await blob.arrayBuffer()).equals(whole));
      } finally {
        await third.stop();
      }
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
