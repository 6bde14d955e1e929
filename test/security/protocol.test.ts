// Protocol correctness (issue 9): only the OCI spec's 14 error codes on
// /v2/, the JSON envelope on every error (also those made before a route
// runs: Node's HTTP parser, fastify's 404 and its own errors, bodies cut
// short or over a limit), and a manifest tag that cannot exist is unknown.
//
// The malformed framing cases go over raw sockets (node:net): fetch would
// refuse to send them.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { openServerDatabase } from '../helpers/backend.js';
import { basicAuth, expectError, sha256, TestRegistry } from '../helpers/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';

const AUTH = basicAuth(ADMIN);

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server closed the connection after answering. */
  closed: boolean;
}

/**
 * Writes `request` (bytes exactly as given) on a fresh connection and
 * reads one answer; `end` half-closes our side after writing (a client that
 * stops sending).
 */
function raw(server: RunningServer, request: string | Buffer, options: { end?: boolean; waitMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
    let data = Buffer.alloc(0);
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      const text = data.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split >= 0 ? text.slice(0, split) : text;
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0);
      let body = split >= 0 ? text.slice(split + 4) : '';
      if (headers['content-length'] !== undefined) body = body.slice(0, Number(headers['content-length']));
      socket.destroy();
      resolve({ status, headers, body, closed });
    };
    // A kept-alive connection is not closed by the server: stop waiting once
    // a whole answer is in.
    const timer = setTimeout(finish, options.waitMs ?? 3000);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? ((closed = true), finish()) : reject(err)));
    socket.write(request, () => {
      if (options.end) socket.end();
    });
  });
}

function assertEnvelope(answer: RawAnswer, status: number, code: string, label: string): void {
  assert.equal(answer.status, status, `${label}: status ${answer.status}, body ${JSON.stringify(answer.body)}`);
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/, `${label}: content type ${answer.headers['content-type']}`);
  const body = JSON.parse(answer.body) as { errors: { code: string; message: string }[] };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `${label}: no errors array in ${answer.body}`);
  assert.equal(body.errors[0]!.code, code, `${label}: ${answer.body}`);
  assert.equal(typeof body.errors[0]!.message, 'string');
}

/** A framing error: the envelope, `Connection: close`, and the server closes the socket. */
function assertFramingError(answer: RawAnswer, status: number, code: string, label: string): void {
  assertEnvelope(answer, status, code, label);
  assert.equal(answer.headers.connection?.toLowerCase(), 'close', `${label}: Connection header ${answer.headers.connection}`);
  assert.ok(answer.closed, `${label}: the server kept the connection open`);
}

function print(label: string, answer: RawAnswer): void {
  console.log(`${label}: ${answer.status} ${answer.body.slice(0, 160)} (Connection: ${answer.headers.connection ?? '-'}, closed: ${answer.closed})`);
}

describe('protocol correctness', () => {
  let server: RunningServer;
  let registry: TestRegistry;

  before(async () => {
    server = await startServer({ env: { HATOBA_MANIFEST_MAX_BYTES: '4096' } });
    registry = new TestRegistry(server.url);
  });
  after(async () => server?.dispose());

  async function imageManifest(name: string): Promise<string> {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const digest = await registry.pushBlob(name, config);
    return JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: Buffer.byteLength(config) },
      layers: [],
    });
  }

  async function tags(name: string): Promise<string[]> {
    const res = await registry.request(`/v2/${name}/tags/list`);
    if (res.status === 404) return [];
    return ((await res.json()) as { tags: string[] }).tags;
  }

  // --------------------------------------------------------------- item 1

  test('only the spec codes: invalid tag on PUT, bad n, unsatisfiable range', async () => {
    const name = 'proto/codes';
    const manifest = await imageManifest(name);
    const put = await registry.putManifest(name, '.hidden', manifest);
    const putText = await put.clone().text();
    console.log(`PUT manifests/.hidden: ${put.status} ${putText}`);
    await expectError(put, 400, 'MANIFEST_INVALID');
    assert.deepEqual(await tags(name), [], 'no tag was created');

    assert.equal((await registry.putManifest(name, 'v1', manifest)).status, 201);
    for (const path of [`/v2/${name}/tags/list?n=abc`, '/v2/_catalog?n=-1']) {
      const res = await registry.request(path);
      console.log(`GET ${path}: ${res.status} ${await res.clone().text()}`);
      await expectError(res, 400, 'UNSUPPORTED');
    }

    const blob = 'twelve bytes';
    const digest = await registry.pushBlob(name, blob);
    const range = await registry.request(`/v2/${name}/blobs/${digest}`, { headers: { range: 'bytes=100-200' } });
    console.log(`GET blob Range bytes=100-200: ${range.status} ${await range.clone().text()} Content-Range: ${range.headers.get('content-range')}`);
    await expectError(range, 416, 'SIZE_INVALID');
    assert.equal(range.headers.get('content-range'), `bytes */${blob.length}`);
    assert.equal(sha256(blob), digest);
  });

  // --------------------------------------------------------------- item 2

  test('every error has the envelope: framing errors, 404, limits and cut-short bodies', async () => {
    const uploadsBefore = await openUploads();
    const cases: [string, string | Buffer, number, string][] = [
      ['malformed Content-Length', `POST /v2/proto/frame/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: abc\r\n\r\n`, 400, 'SIZE_INVALID'],
      ['duplicate Content-Length', `POST /v2/proto/frame/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab`, 400, 'SIZE_INVALID'],
      ['Transfer-Encoding with Content-Length', `POST /v2/proto/frame/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, 'SIZE_INVALID'],
      ['headers too large', `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'UNSUPPORTED'],
      // Node counts the request line with the headers: a URI too large is a 431 as well.
      ['URI too large', `GET /v2/${'a/'.repeat(10_000)}tags/list HTTP/1.1\r\nHost: x\r\n\r\n`, 431, 'UNSUPPORTED'],
    ];
    for (const [label, request, status, code] of cases) {
      const answer = await raw(server, request);
      print(label, answer);
      assertFramingError(answer, status, code, label);
    }
    assert.equal(await openUploads(), uploadsBefore, 'no upload session was opened');

    // Routes that do not exist, on /v2/ and elsewhere: fastify's 404.
    const unknown = await raw(server, 'GET /no/such/page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    print('unknown route', unknown);
    assertEnvelope(unknown, 404, 'UNSUPPORTED', 'unknown route');
    const unknownApi = await raw(server, `GET /api/v1/no-such-thing HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: close\r\n\r\n`);
    print('unknown /api/v1 route', unknownApi);
    assertEnvelope(unknownApi, 404, 'NOT_FOUND', 'unknown /api/v1 route');
    // fastify's own error: a path that is not valid percent-encoding.
    const badUrl = await raw(server, 'GET /v2/%zz/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    print('bad percent-encoding', badUrl);
    assertEnvelope(badUrl, 400, 'UNSUPPORTED', 'bad percent-encoding');

    // Bodies over a limit: 413 with the envelope.
    const token = await raw(server, `POST /v2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${70 * 1024}\r\nConnection: close\r\n\r\n${'a'.repeat(70 * 1024)}`);
    print('POST /v2/token over 64 KiB', token);
    assertEnvelope(token, 413, 'SIZE_INVALID', 'token body over 64 KiB');
    const big = JSON.stringify({ schemaVersion: 2, pad: 'x'.repeat(5000) });
    const manifest = await raw(server, `PUT /v2/proto/frame/manifests/big HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: ${big.length}\r\nConnection: close\r\n\r\n${big}`);
    print('manifest over manifest_max_bytes', manifest);
    assertEnvelope(manifest, 413, 'MANIFEST_INVALID', 'manifest over the limit');

    // A body shorter than its Content-Length: the client stops sending and
    // half-closes; the answer is still an envelope, and nothing is tagged.
    const short = await raw(server, `PUT /v2/proto/frame/manifests/short HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000\r\n\r\n{"schemaVersion":2`, { end: true });
    print('body shorter than Content-Length', short);
    assertFramingError(short, 400, 'SIZE_INVALID', 'body cut short');
    assert.deepEqual(await tags('proto/frame'), [], 'no tag was created');
  });

  // --------------------------------------------------------------- item 3

  test('a manifest tag that cannot exist is unknown on GET and HEAD, after authorization', async () => {
    const name = 'proto/unknown-tags';
    const manifest = await imageManifest(name);
    assert.equal((await registry.putManifest(name, 'v1', manifest)).status, 201);
    for (const tag of ['.hidden', '-rc1', 'a'.repeat(129)]) {
      const get = await registry.request(`/v2/${name}/manifests/${tag}`);
      console.log(`GET manifests/${tag.slice(0, 12)}: ${get.status} ${await get.clone().text()}`);
      await expectError(get, 404, 'MANIFEST_UNKNOWN');
      const head = await registry.request(`/v2/${name}/manifests/${tag}`, { method: 'HEAD' });
      assert.equal(head.status, 404, `HEAD ${tag}`);
      const anonymous = await registry.as(null).request(`/v2/${name}/manifests/${tag}`);
      await expectError(anonymous, 401, 'UNAUTHORIZED');
      assert.ok(anonymous.headers.get('www-authenticate')?.startsWith('Bearer '), 'a 401 carries the challenge');
      await expectError(await registry.putManifest(name, tag, manifest), 400, 'MANIFEST_INVALID');
    }
    assert.deepEqual(await tags(name), ['v1']);
  });

  /** Open upload sessions, read from the server's database. */
  async function openUploads(): Promise<number> {
    const db = await openServerDatabase(server);
    try {
      return Number((await db.selectFrom('uploads').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    } finally {
      await db.destroy();
    }
  }
});
