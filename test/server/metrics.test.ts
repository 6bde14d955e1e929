// /metrics on metrics_listen: counts that follow known requests, route
// templates as labels (never a repository name, digest or upload id), and
// with --workers N one scrape that sums the whole process group.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { test } from 'node:test';
import { scrape, total, type Sample } from '../helpers/metrics.js';
import { TestRegistry, sha256 } from '../helpers/registry-client.js';
import { startServer } from '../helpers/server.js';

const UPLOAD_ROUTE = '/v2/{name}/blobs/uploads/{id}';

test('metrics count requests by route template, bytes, uploads, storage and database calls', { timeout: 60_000 }, async () => {
  const server = await startServer({ args: ['--metrics-listen', '127.0.0.1:0'] });
  try {
    assert.ok(server.metricsUrl, 'the server says where the metrics are');
    const reg = new TestRegistry(server.url);
    const name = 'secret-team/payroll';
    const blob = Buffer.alloc(300_000, 7);
    const digest = sha256(blob);

    // A chunked push: POST, one PATCH of the whole blob, PUT.
    const post = await reg.request(`/v2/${name}/blobs/uploads/`, { method: 'POST' });
    assert.equal(post.status, 202);
    const location = post.headers.get('location')!;
    const uploadId = location.split('/').at(-1)!;
    const patch = await reg.request(location, { method: 'PATCH', body: blob, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(patch.status, 202);
    const put = await reg.request(`${patch.headers.get('location')}?digest=${digest}`, { method: 'PUT' });
    assert.equal(put.status, 201);
    const pulled = await reg.request(`/v2/${name}/blobs/${digest}`);
    assert.ok(Buffer.from(await pulled.arrayBuffer()).equals(blob));
    assert.equal((await reg.request(`/v2/${name}/manifests/v1`)).status, 404);
    // One more session, left open.
    assert.equal((await reg.request(`/v2/${name}/blobs/uploads/`, { method: 'POST' })).status, 202);

    const samples = await scrape(server.metricsUrl);
    const requests = (labels: Record<string, string>) => total(samples, 'hatoba_http_requests_total', labels);
    assert.equal(requests({ method: 'PATCH', route: UPLOAD_ROUTE, status: '202' }), 1);
    assert.equal(requests({ method: 'PUT', route: UPLOAD_ROUTE, status: '201' }), 1);
    assert.equal(requests({ method: 'POST', route: '/v2/{name}/blobs/uploads/', status: '202' }), 2);
    assert.equal(requests({ method: 'GET', route: '/v2/{name}/manifests/{reference}', status: '404' }), 1);
    // fetch keeps its connection open: counted at the scrape, not only when it closes.
    assert.ok(total(samples, 'hatoba_http_received_bytes_total') >= blob.length, 'the pushed bytes are counted in');
    assert.ok(total(samples, 'hatoba_http_sent_bytes_total') >= blob.length, 'the pulled bytes are counted out');
    assert.equal(total(samples, 'hatoba_upload_duration_seconds_count'), 1);
    assert.ok(total(samples, 'hatoba_storage_operation_duration_seconds_count', { operation: 'commit' }) >= 1);
    assert.ok(total(samples, 'hatoba_storage_operation_duration_seconds_count', { operation: 'append' }) >= 1);
    assert.ok(total(samples, 'hatoba_db_operation_duration_seconds_count', { operation: 'linkBlob' }) >= 1);
    assert.equal(total(samples, 'hatoba_upload_sessions_open'), 1);
    assert.equal(total(samples, 'hatoba_storage_used_bytes'), blob.length);
    assert.ok(total(samples, 'hatoba_process_resident_memory_bytes') > 0, 'process metrics too');

    // Bounded labels: nothing a client chose appears in any series.
    for (const s of samples) {
      for (const value of Object.values(s.labels)) {
        for (const secret of ['secret-team', 'payroll', uploadId, digest.slice(7, 20)]) assert.ok(!value.includes(secret), `${s.name} carries ${value}`);
      }
    }

    // Not on the registry's own address, where anyone can ask.
    const onMain = await fetch(`${server.url}/metrics`);
    assert.equal(onMain.status, 404);
    assert.doesNotMatch(await onMain.text(), /hatoba_http/);
    // The metrics address serves nothing else.
    assert.equal((await fetch(server.metricsUrl.replace(/\/metrics$/, '/v2/'))).status, 404);

    // A metrics address that is taken stops the start, with the key named.
    const taken = new URL(server.metricsUrl).port;
    await assert.rejects(startServer({ args: ['--metrics-listen', `127.0.0.1:${taken}`] }), /cannot listen on metrics_listen 127\.0\.0\.1:\d+/);
  } finally {
    await server.dispose();
  }
});

/** GET on a fresh connection, so that the kernel may give it to any worker. */
function freshGet(url: string, path: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, agent: new Agent({ keepAlive: false }) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

test('with --workers 2, one scrape of the primary sums both workers', { timeout: 90_000 }, async () => {
  const server = await startServer({ args: ['--workers', '2', '--metrics-listen', '127.0.0.1:0'] });
  try {
    assert.ok(server.metricsUrl);
    const reg = new TestRegistry(server.url);
    const count = 40;
    for (let i = 0; i < count; i++) assert.equal(await freshGet(server.url, '/v2/'), 401);
    assert.equal((await reg.request('/v2/workers/app/blobs/uploads/', { method: 'POST' })).status, 202);

    const samples: Sample[] = await scrape(server.metricsUrl);
    assert.equal(total(samples, 'hatoba_http_requests_total', { method: 'GET', route: '/v2/', status: '401' }), count, 'every request, whichever worker answered it');
    // Those connections are closed: their bytes were counted when they closed.
    assert.ok(total(samples, 'hatoba_http_received_bytes_total') >= count * 'GET /v2/ HTTP/1.1\r\n'.length);
    assert.ok(total(samples, 'hatoba_http_sent_bytes_total') >= count * 'HTTP/1.1 401 Unauthorized\r\n'.length);
    // Read from the shared database by each worker: the same number, not a sum.
    assert.equal(total(samples, 'hatoba_upload_sessions_open'), 1);
  } finally {
    await server.dispose();
  }
});
