// Interop: Debian's containerd and its `ctr` against a real `hatoba serve`.
// containerd signs in with the OAuth2 password grant (POST /v2/token) and
// asks for several scopes on one repository in one token request (e.g.
// `repository:R:pull` and `repository:R:pull,push`): the token's rights
// on R are the union of its entries, or `ctr images push` fails with
// insufficient_scope.
//
// Each test starts its own containerd (own config, root, state and
// socket, the CRI plugin off) and stops it afterwards.
//
// Run: node --import tsx --test test/interop/containerd.test.ts
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';

import { Api, call, uniq } from '../auth/access-helpers.js';
import { makeTar } from '../helpers/oci-layout.js';
import { sha256, TestRegistry, type Credentials } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { containerd, ctr, runCtr, startContainerd, type CtrRun } from '../helpers/containerd.js';

const testOptions = { timeout: 180_000 };
const skip = containerd.skip || ctr.skip;

interface Fixture {
  server: RunningServer;
  api: Api;
  /** Runs `ctr --address SOCKET args...`; fails the test unless it exits 0. */
  ctr(args: string[]): Promise<CtrRun>;
  ctrFails(args: string[]): Promise<CtrRun>;
}

async function withFixture(t: TestContext, body: (f: Fixture) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-ctr-'));
  let server: RunningServer | undefined;
  let daemon: Awaited<ReturnType<typeof startContainerd>> | undefined;
  try {
    server = await startServer();
    daemon = await startContainerd(dir);
    const socket = daemon.socket;
    await body({
      server,
      api: new Api(server.url),
      async ctr(args) {
        const r = await runCtr(socket, args);
        if (r.code !== 0) assert.fail(`ctr ${args.join(' ')} exited with ${r.code}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`);
        return r;
      },
      async ctrFails(args) {
        const r = await runCtr(socket, args);
        if (r.code === 0) assert.fail(`ctr ${args.join(' ')} was expected to fail\n--- stdout ---\n${r.stdout}`);
        return r;
      },
    });
  } catch (err) {
    t.diagnostic(`temp dir ${dir}; server ${server?.url ?? '(not started)'}`);
    throw err;
  } finally {
    await daemon?.stop();
    await server?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

/** An image with two real gzip'd tar layers, pushed over HTTP as the admin. */
async function seedImage(server: RunningServer, repository: string, tag: string) {
  const salt = randomBytes(8).toString('hex');
  const tars = [
    makeTar([{ path: 'etc' }, { path: 'etc/hostname', content: `containerd-test ${salt}\n` }]),
    makeTar([{ path: 'bin' }, { path: 'bin/hello', content: `#!/bin/sh\necho ${salt}\n`, mode: 0o755 }]),
  ];
  // A real image: gzip'd tar layers and their diff_ids, so that ctr can unpack it.
  return new TestRegistry(server.url).pushImage(repository, tag, {
    layers: tars.map((tar) => gzipSync(tar)),
    config: JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: tars.map(sha256) }, config: { Env: [`SALT=${salt}`] } }),
  });
}

const user = (c: Credentials) => `${c.username}:${c.password}`;

test('ctr images pull, tag and push with --user: the password grant and several scopes on one repository', { ...testOptions, skip }, async (t) => {
  await withFixture(t, async (f) => {
    const ns = uniq('ctr');
    const writer = await f.api.user(uniq('ctr-writer-'));
    await f.api.bind(ns, 'artifact-writer', { kind: 'user', name: writer.username });
    const source = `${ns}/source`;
    const seeded = await seedImage(f.server, source, 'v1');

    const host = f.server.host;
    await f.ctr(['images', 'pull', '--plain-http', '--user', user(writer), `${host}/${source}:v1`]);
    const listed = await f.ctr(['images', 'ls', '-q']);
    assert.match(listed.stdout, new RegExp(`${host}/${source}:v1`));

    const target = `${ns}/pushed`;
    await f.ctr(['images', 'tag', `${host}/${source}:v1`, `${host}/${target}:v2`]);
    await f.ctr(['images', 'push', '--plain-http', '--user', user(writer), `${host}/${target}:v2`]);

    const head = await call(f.server.url, 'HEAD', `/v2/${target}/manifests/v2`);
    assert.equal(head.status, 200, `manifest of ${target}:v2 after ctr push: ${head.status}`);
    assert.equal(head.headers['docker-content-digest'], seeded.digest, 'ctr pushed the same manifest bytes');
    for (const digest of [seeded.configDigest, ...seeded.layerDigests]) {
      assert.equal((await call(f.server.url, 'HEAD', `/v2/${target}/blobs/${digest}`)).status, 200, `blob ${digest} in ${target}`);
    }
  });
});

test('ctr images push with a personal auth token; a reader is refused and nothing is written', { ...testOptions, skip }, async (t) => {
  await withFixture(t, async (f) => {
    const ns = uniq('ctr');
    const writer = await f.api.user(uniq('ctr-writer-'));
    const reader = await f.api.user(uniq('ctr-reader-'));
    await f.api.bind(ns, 'artifact-writer', { kind: 'user', name: writer.username });
    await f.api.bind(ns, 'artifact-reader', { kind: 'user', name: reader.username });
    const token = await f.api.token(writer.username);
    const source = `${ns}/source`;
    await seedImage(f.server, source, 'v1');
    const host = f.server.host;

    await f.ctr(['images', 'pull', '--plain-http', '--user', user(reader), `${host}/${source}:v1`]);
    await f.ctr(['images', 'tag', `${host}/${source}:v1`, `${host}/${ns}/by-token:v1`, `${host}/${ns}/by-reader:v1`]);

    const refused = await f.ctrFails(['images', 'push', '--plain-http', '--user', user(reader), `${host}/${ns}/by-reader:v1`]);
    assert.match(refused.stderr, /denied|403|insufficient_scope|unauthorized/i);
    assert.equal((await call(f.server.url, 'GET', `/v2/${ns}/by-reader/tags/list`)).status, 404, 'the refused push created nothing');

    await f.ctr(['images', 'push', '--plain-http', '--user', user(token), `${host}/${ns}/by-token:v1`]);
    const tags = await call(f.server.url, 'GET', `/v2/${ns}/by-token/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(tags.json().tags, ['v1']);
  });
});
