// Security: resource limits (issue 9). Each limit is bounded and answered
// plainly: slow clients are cut off by idle (never total) timeouts, a
// refused body is not read, connections, upload sessions and token scopes
// are capped with 429 TOOMANYREQUESTS, the audit log cannot grow without
// bound, the data directory is private, and the Host header is never
// echoed unescaped. Slow-client tests use raw sockets and 1-2 s timeouts.
//
// Run: npm test -- security/limits
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { chmod, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql, type RawBuilder } from 'kysely';
import { openServerDatabase, testBackend } from '../helpers/backend.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { basicAuth, sha256 } from '../helpers/registry-client.js';
import { call, expectErr, postToken, tokenUrl } from '../auth/access-helpers.js';

const basic = basicAuth(ADMIN);

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** What the server sent until it closed the socket, or `closed: false` after `ms`. */
function untilClosed(socket: Socket, ms: number): Promise<{ closed: boolean; ms: number; text: string }> {
  const started = Date.now();
  let text = '';
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
  socket.on('error', () => {}); // a reset after the answer is a close too
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ closed: false, ms: Date.now() - started, text }), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, ms: Date.now() - started, text });
    });
  });
}

/** The one number a query of the server's database gives (on whichever backend it runs). */
async function count(server: RunningServer, query: RawBuilder<unknown>): Promise<number> {
  const db = await openServerDatabase(server);
  try {
    return Number(Object.values((await query.execute(db)).rows[0] as Record<string, unknown>)[0]);
  } finally {
    await db.destroy();
  }
}

let server: RunningServer;

before(async () => {
  server = await startServer({
    env: {
      HATOBA_HEADER_TIMEOUT_SECONDS: '1',
      HATOBA_BODY_IDLE_TIMEOUT_SECONDS: '1',
      HATOBA_MAX_UPLOAD_SESSIONS_PER_PRINCIPAL: '3',
    },
  });
});

after(async () => {
  await server?.dispose();
});

test('slow clients: header timeout, idle body timeout keeping the staged offset, and a refused body is not read', async (t) => {
  // Headers that never end: cut after the header timeout (was 60 s).
  const stalled = await openSocket(server.port);
  stalled.write('GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  const headers = await untilClosed(stalled, 8000);
  t.diagnostic(`stalled headers: closed=${headers.closed} after ${headers.ms} ms`);
  assert.ok(headers.closed, 'a client that never finishes its headers is disconnected');

  // 1 GB announced without credentials: 401, Connection: close, and the
  // connection is closed without reading the rest (was kept for ever).
  const unauth = await openSocket(server.port);
  unauth.write('PATCH /v2/limits/slow/blobs/uploads/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n');
  unauth.write(Buffer.alloc(64 * 1024));
  const refused = await untilClosed(unauth, 5000);
  t.diagnostic(`unauthenticated 1 GB PATCH: closed=${refused.closed} after ${refused.ms} ms, ${refused.text.split('\r\n')[0]}`);
  assert.match(refused.text, /^HTTP\/1\.1 401 /);
  assert.match(refused.text, /\r\nconnection: close\r\n/i);
  assert.match(refused.text, /"code":"UNAUTHORIZED"/);
  assert.ok(refused.closed, 'the connection of a refused body is closed');

  // An authenticated chunk that stalls mid-body ends after the idle timeout;
  // the session keeps the offset before it, in the database and on disk,
  // and the client resumes from there.
  const started = await call(server.url, 'POST', '/v2/limits/slow/blobs/uploads/');
  assert.equal(started.status, 202);
  const location = String(started.headers.location);
  const id = location.split('/').at(-1)!;
  const first = Buffer.from('0123456789');
  assert.equal((await call(server.url, 'PATCH', location, { body: first })).status, 202);
  const idle = await openSocket(server.port);
  idle.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic}\r\nContent-Length: 1048576\r\n\r\n`);
  idle.write(Buffer.alloc(100 * 1024, 1));
  const cut = await untilClosed(idle, 8000);
  t.diagnostic(`authenticated PATCH stalled after 100 KiB of 1 MiB: closed=${cut.closed} after ${cut.ms} ms`);
  assert.ok(cut.closed, 'a body that stalls is ended');
  await new Promise((r) => setTimeout(r, 200)); // the rollback runs as the socket closes
  const status = await call(server.url, 'GET', location);
  assert.equal(status.status, 204);
  assert.equal(status.headers.range, '0-9', 'the session keeps the offset before the stalled chunk');
  assert.equal(await count(server, sql`select size from uploads where id = ${id}`), 10);
  // (On S3 the session's state object is simply not rewritten: the status above shows it.)
  if (!server.storage) assert.equal((await stat(join(server.dataDir, 'uploads', id))).size, 10, 'the staged file is rolled back to the same offset');
  // Idle, not total: a body that is slow but steady (a byte every 0.4 s
  // for 2.4 s, with a 1 s idle limit) is not cut.
  const steady = await openSocket(server.port);
  steady.write(`PATCH ${location} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic}\r\nContent-Length: 6\r\nConnection: close\r\n\r\n`);
  const answered = untilClosed(steady, 8000);
  for (const byte of 'abcdef') {
    await new Promise((r) => setTimeout(r, 400));
    steady.write(byte);
  }
  const slow = await answered;
  t.diagnostic(`slow but steady 6-byte PATCH over 2.4 s: ${slow.text.split('\r\n')[0]}`);
  assert.match(slow.text, /^HTTP\/1\.1 202 /);
  assert.match(slow.text, /\r\nrange: 0-15\r\n/i);
  const rest = Buffer.from('ghijkl');
  const digest = sha256(Buffer.concat([first, Buffer.from('abcdef'), rest]));
  const resumed = await call(server.url, 'PUT', `${location}?digest=${digest}`, { body: rest, headers: { 'content-range': '16-21' } });
  assert.equal(resumed.status, 201, resumed.text);
});

test('caps: upload sessions per principal and scopes per token request are 429 TOOMANYREQUESTS', async () => {
  const open: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await call(server.url, 'POST', '/v2/limits/caps/blobs/uploads/');
    assert.equal(res.status, 202);
    open.push(String(res.headers.location));
  }
  const before = await count(server, sql`select count(*) from uploads where owner = 'admin'`);
  const over = await call(server.url, 'POST', '/v2/limits/caps/blobs/uploads/');
  expectErr(over, 429, 'TOOMANYREQUESTS', 'the session over the cap');
  assert.match(String(over.headers['retry-after']), /^\d+$/);
  assert.equal(await count(server, sql`select count(*) from uploads where owner = 'admin'`), before, 'no session row was created');
  // cancelling one frees a place
  assert.equal((await call(server.url, 'DELETE', open.pop()!)).status, 204);
  const again = await call(server.url, 'POST', '/v2/limits/caps/blobs/uploads/');
  assert.equal(again.status, 202);
  await call(server.url, 'DELETE', String(again.headers.location));
  for (const location of open) await call(server.url, 'DELETE', location);

  const scopes = (n: number) => Array.from({ length: n }, (_, i) => `repository:limits/r${i}:pull`);
  assert.equal((await call(server.url, 'GET', tokenUrl(scopes(50)))).status, 200, '50 scopes are fine');
  const tooMany = await call(server.url, 'GET', tokenUrl(scopes(51)));
  expectErr(tooMany, 429, 'TOOMANYREQUESTS', 'GET /v2/token with 51 scopes');
  assert.match(String(tooMany.headers['retry-after']), /^\d+$/);
  const form = { grant_type: 'password', username: ADMIN.username, password: ADMIN.password, scope: scopes(51) };
  expectErr(await postToken(server.url, form), 429, 'TOOMANYREQUESTS', 'POST /v2/token with 51 scopes');
});

test('caps: over max_connections a connection is answered 429 TOOMANYREQUESTS and closed', async (t) => {
  const small = await startServer({ env: { HATOBA_MAX_CONNECTIONS: '5' } });
  const held: Socket[] = [];
  try {
    held.push(...(await Promise.all(Array.from({ length: 5 }, () => openSocket(small.port)))));
    const extra = await openSocket(small.port);
    extra.write(`GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic}\r\n\r\n`);
    const answer = await untilClosed(extra, 5000);
    t.diagnostic(`6th connection with 5 open: ${answer.text.split('\r\n')[0]}, closed=${answer.closed}`);
    assert.match(answer.text, /^HTTP\/1\.1 429 /);
    assert.match(answer.text, /\r\nretry-after: \d+\r\n/i);
    assert.match(answer.text, /"code":"TOOMANYREQUESTS"/);
    assert.ok(answer.closed);
    // a place freed is usable again
    held.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const next = await openSocket(small.port);
    next.write(`GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic}\r\nConnection: close\r\n\r\n`);
    assert.match((await untilClosed(next, 5000)).text, /^HTTP\/1\.1 200 /);
  } finally {
    for (const s of held) s.destroy();
    await small.dispose();
  }
});

test('audit: repeated failures are one counted row a minute, long values are cut, old rows are pruned', async (t) => {
  const from = '127.0.0.77';
  const rowsBefore = await count(server, sql`select count(*) from audit_log`);
  const path = `/v2/limits/${'p'.repeat(200)}/manifests/latest`;
  const burst = 200;
  const statuses = new Map<number, number>();
  for (let i = 0; i < burst / 20; i++) {
    const batch = await Promise.all(Array.from({ length: 20 }, (_, j) => call(server.url, 'GET', path, { auth: `Bearer junk-${i}-${j}-${'x'.repeat(1000)}`, from })));
    for (const r of batch) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
  }
  const added = (await count(server, sql`select count(*) from audit_log`)) - rowsBefore;
  const counted = await count(server, sql`select sum(count) from audit_log where remote_addr = ${from}`);
  t.diagnostic(`${burst} junk bearer tokens: statuses ${JSON.stringify([...statuses])}, audit rows +${added}, counted ${counted}`);
  assert.deepEqual([...statuses], [[401, burst]]);
  assert.ok(added >= 1 && added <= 2, `one row per minute (two if the burst crossed one), not ${added}`);
  assert.equal(counted, burst, 'every failure is counted');
  assert.ok((await count(server, sql`select max(length(resource)) from audit_log where remote_addr = ${from}`)) <= 256, 'resources are cut');

  // retention: a row past audit_retention_days is gone after a restart
  await server.stop();
  const conn = await openServerDatabase(server);
  await sql`insert into audit_log (at, principal, action, resource, result, remote_addr, detail, count) values (${Date.now() - 91 * 86_400_000}, 'old', 'x', 'y', 'allowed', null, null, 1)`.execute(conn);
  await conn.destroy();
  const dataDir = server.dataDir;
  server = await startServer({ dataDir, env: { HATOBA_HEADER_TIMEOUT_SECONDS: '1', HATOBA_BODY_IDLE_TIMEOUT_SECONDS: '1', HATOBA_MAX_UPLOAD_SESSIONS_PER_PRINCIPAL: '3' } });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await count(server, sql`select count(*) from audit_log where principal = 'old'`), 0, 'the old row is pruned');
  assert.ok((await count(server, sql`select count(*) from audit_log where remote_addr = ${from}`)) >= 1, 'recent rows are kept');
});

// The data directory's own files: blobs and staged uploads on files whatever
// the backend (the metadata follows it: on PostgreSQL there is no hatoba.db).
const ON_FILES = { HATOBA_STORAGE: '' };

test('files are private whatever the umask; a missing or wrong master key stops the start', async () => {
  const umask = process.umask(0); // the server inherits it
  let fresh: RunningServer | undefined;
  try {
    fresh = await startServer({ env: ON_FILES });
    await chmod(fresh.dataDir, 0o755);
    await fresh.stop();
    fresh = await startServer({ dataDir: fresh.dataDir, env: ON_FILES });
    const started = await call(fresh.url, 'POST', '/v2/limits/files/blobs/uploads/');
    const location = String(started.headers.location);
    await call(fresh.url, 'PATCH', location, { body: 'staged' });
    const blob = Buffer.from('published');
    assert.equal((await call(fresh.url, 'POST', `/v2/limits/files/blobs/uploads/?digest=${sha256(blob)}`, { body: blob })).status, 201);
  } finally {
    process.umask(umask);
  }
  const dir = fresh.dataDir;
  const mode = async (p: string) => ((await stat(join(dir, p))).mode & 0o777).toString(8);
  const staged = (await readdir(join(dir, 'uploads'))).filter((f) => !f.startsWith('.'));
  const hex = sha256(Buffer.from('published')).slice('sha256:'.length);
  // The SQLite files are in the data directory only when the metadata is (not on PostgreSQL).
  const sqlite = testBackend() === 'sqlite-file';
  const sqliteModes = async () => (sqlite ? { db: await mode('hatoba.db'), wal: await mode('hatoba.db-wal'), shm: await mode('hatoba.db-shm') } : {});
  assert.deepEqual(
    {
      dir: await mode(''),
      ...(await sqliteModes()),
      key: await mode('master.key'),
      blobs: await mode('blobs'),
      uploads: await mode('uploads'),
      staged: await mode(join('uploads', staged[0]!)),
      blob: await mode(join('blobs', 'sha256', hex.slice(0, 2), hex)),
    },
    { dir: '700', ...(sqlite ? { db: '600', wal: '600', shm: '600' } : {}), key: '600', blobs: '700', uploads: '700', staged: '600', blob: '600' },
  );
  await fresh.stop();

  const key = join(dir, 'master.key');
  const saved = readFileSync(key);
  await rm(key);
  await assert.rejects(startServer({ dataDir: dir, env: ON_FILES }), /master\.key is missing.*restore master\.key or set HATOBA_MASTER_KEY/s);
  await assert.rejects(stat(key), 'no new master.key was written');
  await assert.rejects(startServer({ dataDir: dir, env: { ...ON_FILES, HATOBA_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') } }), /HATOBA_MASTER_KEY does not open the keys.*restore master\.key or set HATOBA_MASTER_KEY/s);
  writeFileSync(key, saved);
  const restored = await startServer({ dataDir: dir, env: ON_FILES });
  assert.equal((await call(restored.url, 'GET', '/v2/')).status, 200, 'the restored key works');
  await restored.dispose();
  await rm(dir, { recursive: true, force: true });
});

test('the Host header is never echoed unescaped into WWW-Authenticate; an invalid one is 400', async () => {
  for (const host of ['evil.example",error="x', 'a b<script>', 'x\\"y']) {
    const res = await call(server.url, 'GET', '/v2/', { auth: null, headers: { host } });
    expectErr(res, 400, 'UNSUPPORTED', `Host ${host}`);
    assert.equal(res.headers['www-authenticate'], undefined, `Host ${host}`);
  }
  const ok = await call(server.url, 'GET', '/v2/', { auth: null, headers: { host: 'registry.example:5000' } });
  assert.equal(ok.status, 401);
  assert.equal(ok.headers['www-authenticate'], 'Bearer realm="http://registry.example:5000/v2/token",service="hatoba"');
});
