// Two servers on one store, as nodes behind a load balancer are: on the
// embedded default they share a data directory (as --workers processes
// do); with HATOBA_TEST_BACKEND=postgres-s3 they share one database and one
// bucket. Any node continues any request of another.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { TestRegistry, sha256 } from '../helpers/registry-client.js';
import { requireTool, runProgram } from '../helpers/tools.js';

const skopeo = requireTool('skopeo', 'apt-get install -y skopeo', 'the two-node skopeo test');

let dataDir: string;
let a: RunningServer;
let b: RunningServer;
let regA: TestRegistry;
let regB: TestRegistry;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'hatoba-nodes-'));
  a = await startServer({ dataDir });
  b = await startServer({ dataDir });
  regA = new TestRegistry(a.url);
  regB = new TestRegistry(b.url);
});

after(async () => {
  await a?.stop();
  await b?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('a chunked upload whose PATCHes alternate between the nodes completes on either', async () => {
  const chunks = [Buffer.alloc(700_000, 1), Buffer.alloc(1, 2), Buffer.alloc(6 * 1024 * 1024 + 3, 3), Buffer.alloc(12_345, 4)];
  const whole = Buffer.concat(chunks);
  const nodes = [regA, regB];
  let location = (await regA.request('/v2/nodes/chunked/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
  let offset = 0;
  for (const [i, chunk] of chunks.entries()) {
    const res = await nodes[i % 2]!.request(location, { method: 'PATCH', body: chunk, headers: { 'content-range': `${offset}-${offset + chunk.length - 1}` } });
    assert.equal(res.status, 202, `chunk ${i} on node ${i % 2 ? 'B' : 'A'}: ${await res.text()}`);
    offset += chunk.length;
    assert.equal(res.headers.get('range'), `0-${offset - 1}`);
    location = res.headers.get('location')!;
  }
  const status = await regA.request(location);
  assert.equal(status.headers.get('range'), `0-${whole.length - 1}`);
  const put = await regB.request(`${location}?digest=${sha256(whole)}`, { method: 'PUT' });
  assert.equal(put.status, 201, await put.text());
  for (const reg of nodes) {
    const blob = await reg.request(`/v2/nodes/chunked/blobs/${sha256(whole)}`);
    assert.equal(blob.status, 200);
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(whole));
  }
});

test('a manifest pushed on one node is pulled on the other, and a moved tag is seen at once', async () => {
  const first = await regA.pushImage('nodes/app', 'v1', { layers: ['first layer'] });
  const got = await regB.request('/v2/nodes/app/manifests/v1', { headers: { accept: first.manifest.mediaType } });
  assert.equal(got.status, 200);
  assert.equal(got.headers.get('docker-content-digest'), first.digest);
  assert.equal(await got.text(), first.bytes);
  assert.deepEqual((await (await regB.request('/v2/nodes/app/tags/list')).json()).tags, ['v1']);

  const second = await regB.pushImage('nodes/app', 'v1', { layers: ['second layer'] });
  await regB.pushImage('nodes/app', 'v2', { layers: ['third layer'] });
  const moved = await regA.request('/v2/nodes/app/manifests/v1', { method: 'HEAD', headers: { accept: second.manifest.mediaType } });
  assert.equal(moved.headers.get('docker-content-digest'), second.digest);
  assert.deepEqual((await (await regA.request('/v2/nodes/app/tags/list')).json()).tags, ['v1', 'v2'], 'the tag list cache of A is not stale');
});

test('the same blob pushed through both nodes at once is stored once and readable from both', async () => {
  const data = Buffer.alloc(5 * 1024 * 1024 + 77, 9);
  const digest = sha256(data);
  const push = async (reg: TestRegistry) => {
    const location = (await reg.request('/v2/nodes/same/blobs/uploads/', { method: 'POST' })).headers.get('location')!;
    return reg.request(`${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  };
  const results = await Promise.all([push(regA), push(regB), push(regA), push(regB)]);
  for (const res of results) assert.equal(res.status, 201, await res.text());
  for (const reg of [regA, regB]) {
    const head = await reg.request(`/v2/nodes/same/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(data.length));
  }
});

test('skopeo copies an image in through one node and out through the other with identical digests', { skip: skopeo.skip }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'hatoba-nodes-skopeo-'));
  try {
    const layout = writeOciLayout(join(root, 'in'), { salt: `two-nodes-${Date.now()}` });
    const creds = `${ADMIN.username}:${ADMIN.password}`;
    const run = async (args: string[]) => {
      const result = await runProgram(skopeo.path!, ['--insecure-policy', ...args]);
      assert.equal(result.code, 0, `skopeo ${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    await run(['copy', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout.dir}:multiarch`, `docker://${a.host}/nodes/skopeo:multiarch`, '--all']);
    await run(['copy', '--src-tls-verify=false', '--src-creds', creds, '--all', `docker://${b.host}/nodes/skopeo:multiarch`, `oci:${join(root, 'out')}:multiarch`]);
    const rawA = await run(['inspect', '--raw', '--tls-verify=false', '--creds', creds, `docker://${a.host}/nodes/skopeo:multiarch`]);
    const rawB = await run(['inspect', '--raw', '--tls-verify=false', '--creds', creds, `docker://${b.host}/nodes/skopeo:multiarch`]);
    assert.equal(sha256(rawA), layout.multiarch.indexDigest);
    assert.equal(sha256(rawB), layout.multiarch.indexDigest);
    const out = layoutIndexDigest(join(root, 'out'));
    assert.equal(out, layout.multiarch.indexDigest, 'the index pulled through B is the one pushed through A');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

/** The digest of the one manifest an OCI layout's index.json names. */
function layoutIndexDigest(dir: string): string {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  return index.manifests[0]!.digest;
}
