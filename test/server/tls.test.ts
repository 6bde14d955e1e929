// `hatoba serve --tls-cert --tls-key [--tls-client-ca]` with a CA made in
// the test: the token realm is https, a wrong CA is refused, SIGHUP swaps
// the certificate without dropping open connections, a broken reload keeps
// the old one, mutual TLS refuses clients without a certificate, and a
// start with an unusable certificate stops before creating anything.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { basicAuth } from '../helpers/registry-client.js';
import { ADMIN, PROJECT_ROOT, startServer } from '../helpers/server.js';
import { makeCa, makeLeaf, openssl, type Ca, type Leaf } from '../helpers/tls.js';

const skip = openssl.skip;
let dir: string;
let ca1: Ca;
let ca2: Ca;
let server1: Leaf;
let server2: Leaf;
let client: Leaf;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'hatoba-tls-'));
  ca1 = makeCa(dir, 'ca1');
  ca2 = makeCa(dir, 'ca2');
  server1 = makeLeaf(ca1, dir, 'server1');
  server2 = makeLeaf(ca2, dir, 'server2');
  client = makeLeaf(ca1, dir, 'client1', 'client');
});
after(() => dir && rm(dir, { recursive: true, force: true }));

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  reusedSocket: boolean;
}

function get(url: string, options: https.RequestOptions & { path?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'GET', ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedSocket: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Copies a certificate and key over the files the server was started with. */
function install(leaf: Leaf, cert: string, key: string): void {
  copyFileSync(leaf.cert, cert);
  copyFileSync(leaf.key, key);
}

test('HTTPS with a private CA: the challenge names an https realm and the token flow works; a wrong CA is refused', { skip }, async () => {
  const server = await startServer({ args: ['--tls-cert', server1.cert, '--tls-key', server1.key] });
  try {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const challenge = await get(`${server.url}/v2/`, { ca: ca1.pem });
    assert.equal(challenge.status, 401);
    assert.equal(challenge.headers['www-authenticate'], `Bearer realm="${server.url}/v2/token",service="hatoba"`);
    const token = await get(`${server.url}/v2/token?service=hatoba&scope=repository:tls/app:pull`, { ca: ca1.pem, headers: { authorization: basicAuth(ADMIN) } });
    assert.equal(token.status, 200, token.body);
    const base = await get(`${server.url}/v2/`, { ca: ca1.pem, headers: { authorization: `Bearer ${JSON.parse(token.body).token}` } });
    assert.equal(base.status, 200);

    await assert.rejects(get(`${server.url}/v2/`, { ca: ca2.pem }), (err: NodeJS.ErrnoException) => err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    await assert.rejects(get(`${server.url}/v2/`), (err: NodeJS.ErrnoException) => err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'the system CAs do not know a private CA');
  } finally {
    await server.dispose();
  }
});

test('SIGHUP swaps the certificate for new connections; an open connection keeps working; a broken reload keeps the old one', { skip }, async (t) => {
  const cert = join(dir, 'live.crt');
  const key = join(dir, 'live.key');
  install(server1, cert, key);
  const server = await startServer({ args: ['--tls-cert', cert, '--tls-key', key] });
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca1.pem });
  try {
    assert.equal((await get(`${server.url}/v2/`, { agent: keepAlive })).status, 401);

    install(server2, cert, key);
    process.kill(server.pid, 'SIGHUP');
    const deadline = Date.now() + 10_000;
    for (;;) {
      const fresh = await get(`${server.url}/v2/`, { ca: ca2.pem, agent: false }).catch((err: Error) => err);
      if (!(fresh instanceof Error)) break;
      if (Date.now() > deadline) assert.fail(`the new certificate was not served within 10 s of SIGHUP: ${fresh.message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await assert.rejects(get(`${server.url}/v2/`, { ca: ca1.pem, agent: false }), 'new connections no longer get the old certificate');
    const reused = await get(`${server.url}/v2/`, { agent: keepAlive });
    assert.equal(reused.status, 401);
    assert.ok(reused.reusedSocket, 'the connection opened before the reload was kept and served');

    writeFileSync(cert, 'not a certificate\n');
    process.kill(server.pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 500));
    const still = await get(`${server.url}/v2/`, { ca: ca2.pem, agent: false });
    assert.equal(still.status, 401, 'after a failed reload the previous certificate is still served');
    t.diagnostic('reload: new certificate on new connections, kept-alive socket reused, broken files ignored');
  } finally {
    keepAlive.destroy();
    await server.dispose();
  }
});

test('mutual TLS: --tls-client-ca refuses clients without a certificate from that CA', { skip }, async () => {
  const server = await startServer({ args: ['--tls-cert', server1.cert, '--tls-key', server1.key, '--tls-client-ca', ca1.cert] });
  try {
    await assert.rejects(get(`${server.url}/v2/`, { ca: ca1.pem, agent: false }), 'no client certificate');
    const wrongClient = makeLeaf(ca2, dir, 'client2', 'client');
    await assert.rejects(get(`${server.url}/v2/`, { ca: ca1.pem, agent: false, cert: readPem(wrongClient.cert), key: readPem(wrongClient.key) }), 'a client certificate from another CA');
    const ok = await get(`${server.url}/v2/`, { ca: ca1.pem, agent: false, cert: readPem(client.cert), key: readPem(client.key) });
    assert.equal(ok.status, 401, 'with a client certificate the registry answers (and still asks for credentials)');
  } finally {
    await server.dispose();
  }
});

test('over TLS the connection cap answers 429 too (the TLS socket is the one a request sees)', { skip }, async () => {
  const server = await startServer({ args: ['--tls-cert', server1.cert, '--tls-key', server1.key], env: { HATOBA_MAX_CONNECTIONS: '2' } });
  const held = new https.Agent({ keepAlive: true, maxSockets: 2, ca: ca1.pem });
  try {
    const first = await Promise.all([get(`${server.url}/v2/`, { agent: held }), get(`${server.url}/v2/`, { agent: held })]);
    assert.deepEqual(first.map((a) => a.status), [401, 401]);
    const third = await get(`${server.url}/v2/`, { ca: ca1.pem, agent: false });
    assert.equal(third.status, 429, third.body);
    assert.equal(JSON.parse(third.body).errors[0].code, 'TOOMANYREQUESTS');
    assert.equal(third.headers.connection, 'close');
  } finally {
    held.destroy();
    await server.dispose();
  }
});

test('a start with an unusable certificate exits 2 with the reason and creates nothing', { skip }, async () => {
  const data = await mkdtemp(join(tmpdir(), 'hatoba-tls-data-'));
  try {
    const serve = (args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts'), 'serve', '--listen', '127.0.0.1:0', '--data-dir', data, ...args], { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 30_000 });
    let run = serve(['--tls-cert', server1.cert, '--tls-key', server2.key]);
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /server2\.key is not the key of .*server1\.crt/);
    assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
    run = serve(['--tls-cert', join(dir, 'missing.crt'), '--tls-key', server1.key]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /cannot read the TLS certificate .*missing\.crt/);
    run = serve(['--tls-cert', server1.cert]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /tls_cert and tls_key go together/);
    assert.deepEqual(readdirSync(data), [], 'no database, key or blob directory was created');
  } finally {
    await rm(data, { recursive: true, force: true });
  }
});

function readPem(path: string): Buffer {
  return readFileSync(path);
}
