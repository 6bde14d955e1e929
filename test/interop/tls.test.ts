// Interop over TLS with a CA made in the test, as a cluster's nodes reach
// the registry: skopeo with --cert-dir/--dest-cert-dir and
// --tls-verify=true, containerd's ctr with a hosts.toml naming the CA
// (--hosts-dir), and podman with --cert-dir. Each also refuses the
// registry when given another CA; all with HTTP/2 offered and not (the
// server's request log says which version every /v2/ request came in).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';

import { Api, uniq } from '../auth/access-helpers.js';
import { containerd, ctr, runCtr, startContainerd } from '../helpers/containerd.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import type { Credentials } from '../helpers/registry-client.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { makeCa, makeLeaf, openssl, type Ca, type Leaf } from '../helpers/tls.js';
import { requireTool, runProgram, type ProgramRun } from '../helpers/tools.js';

const skopeo = requireTool('skopeo', 'apt-get install -y skopeo', 'the TLS interop tests');
const podman = requireTool('podman', 'apt-get install -y podman', 'the TLS interop tests');
const testOptions = { timeout: 180_000 };

let dir: string;
let ca: Ca;
let otherCa: Ca;
let server: RunningServer;
let api: Api;
/** Directories in the layout skopeo and podman read with --cert-dir: ca.crt inside. */
let goodCertDir: string;
let wrongCertDir: string;
let writer: Credentials;
let ns: string;
let layoutDir: string;

let leaf: Leaf;

before(async () => {
  if (openssl.skip) return;
  dir = await mkdtemp(join(tmpdir(), 'hatoba-tls-interop-'));
  ca = makeCa(dir, 'ca');
  otherCa = makeCa(dir, 'other-ca');
  leaf = makeLeaf(ca, dir, 'registry');
  goodCertDir = join(dir, 'certs-good');
  wrongCertDir = join(dir, 'certs-wrong');
  mkdirSync(goodCertDir);
  mkdirSync(wrongCertDir);
  copyFileSync(ca.cert, join(goodCertDir, 'ca.crt'));
  copyFileSync(otherCa.cert, join(wrongCertDir, 'ca.crt'));
  layoutDir = join(dir, 'layout');
  writeOciLayout(layoutDir, { salt: `tls-${randomBytes(4).toString('hex')}` });
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Starts the registry (HTTP/2 on or off) with a writer in a fresh namespace. */
async function startRegistry(http2: boolean): Promise<void> {
  requestVersions.length = 0;
  // At info level the server logs each request with its HTTP version.
  server = await startServer({ args: ['--tls-cert', leaf.cert, '--tls-key', leaf.key, '--log-level', 'info', http2 ? '--http2' : '--no-http2'] });
  let partial = '';
  server.child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const entry = JSON.parse(line) as { msg?: string; url?: string; http?: string };
      if (entry.msg === 'request' && entry.url?.startsWith('/v2/')) requestVersions.push(entry.http!);
    }
  });
  // The management API over TLS, through Node's fetch: NODE_EXTRA_CA_CERTS is read at start only,
  // so the admin's calls here go through an https agent that knows the CA.
  api = new HttpsApi(server.url, ca.pem);
  ns = uniq('tls');
  writer = await api.user(uniq('tls-writer-'));
  await api.bind(ns, 'artifact-writer', { kind: 'user', name: writer.username });
}

/** The HTTP version of every /v2/ request the server has logged, in order. */
const requestVersions: string[] = [];

/** The HTTP versions of the /v2/ requests logged since `mark` (a length of requestVersions). */
async function versionsSince(mark: number): Promise<string[]> {
  await new Promise((r) => setTimeout(r, 300)); // the last log lines are still in the pipe
  return [...new Set(requestVersions.slice(mark))];
}

/** Api over https with a private CA (the shared helper speaks plain http). */
class HttpsApi extends Api {
  constructor(
    url: string,
    private readonly caPem: string,
  ) {
    super(url);
  }
  override call(method: string, path: string, body?: unknown): ReturnType<Api['call']> {
    return new Promise((resolve, reject) => {
      const req = https.request(`${this.url}${path}`, { method, ca: this.caPem, headers: { authorization: `Basic ${Buffer.from(`admin:hatoba-test-admin-password`).toString('base64')}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text, json: () => JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }
}

type Run = ProgramRun;
const run = (program: string, args: string[], env?: NodeJS.ProcessEnv) => runProgram(program, args, { env });

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what} exited with ${r.code}\n--- stderr ---\n${r.stderr}\n--- stdout ---\n${r.stdout}`);
  return r;
}

const creds = (c: Credentials) => `${c.username}:${c.password}`;
const X509 = /x509|certificate signed by unknown authority|certificate/i;

// Each client against the server with HTTP/2 on and off (the default).
// Offered h2, skopeo, podman and ctr still choose HTTP/1.1: each builds its
// own Go transport with the CA, which does not attempt HTTP/2. So the
// server with HTTP/2 on serves them over its HTTP/1.1 side, and the log
// shows it.
const version = '1.1';
for (const http2 of [true, false]) {
  const label = http2 ? 'HTTP/2 on' : 'HTTP/2 off';
  describe(label, () => {
    before(async () => {
      if (!openssl.skip) await startRegistry(http2);
    });
    after(async () => {
      await server?.dispose();
    });

    test(`${label}: a client that offers h2 ${http2 ? 'gets it' : 'gets HTTP/1.1'}`, { skip: openssl.skip }, async () => {
      const socket = tlsConnect({ host: '127.0.0.1', port: server.port, ca: ca.pem, ALPNProtocols: ['h2', 'http/1.1'] });
      await once(socket, 'secureConnect');
      assert.equal(socket.alpnProtocol, http2 ? 'h2' : 'http/1.1');
      socket.destroy();
    });

    test(`${label}: skopeo copies in and inspects with --cert-dir and --tls-verify=true; another CA is refused`, { ...testOptions, skip: openssl.skip || skopeo.skip }, async () => {
      const ref = `docker://${server.host}/${ns}/skopeo:1`;
      const mark = requestVersions.length;
      ok(await run(skopeo.path!, ['--insecure-policy', 'copy', '--dest-cert-dir', goodCertDir, '--dest-tls-verify=true', '--dest-creds', creds(writer), `oci:${layoutDir}:multi`, ref]), 'skopeo copy');
      const inspected = ok(await run(skopeo.path!, ['inspect', '--cert-dir', goodCertDir, '--tls-verify=true', '--creds', creds(writer), ref]), 'skopeo inspect');
      assert.equal(JSON.parse(inspected.stdout).Name, `${server.host}/${ns}/skopeo`);
      assert.deepEqual(await versionsSince(mark), [version], `skopeo spoke HTTP/${version} for every request`);
      const refused = await run(skopeo.path!, ['inspect', '--cert-dir', wrongCertDir, '--tls-verify=true', '--creds', creds(writer), ref]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, X509);
    });

    test(`${label}: ctr pulls and pushes with a hosts.toml that names the CA (--hosts-dir); another CA is refused`, { ...testOptions, skip: openssl.skip || skopeo.skip || containerd.skip || ctr.skip }, async () => {
      ok(await run(skopeo.path!, ['--insecure-policy', 'copy', '--dest-cert-dir', goodCertDir, '--dest-creds', creds(writer), `oci:${layoutDir}:multi`, `docker://${server.host}/${ns}/ctr-source:1`]), 'seed with skopeo');
      const ctrDir = await mkdtemp(join(tmpdir(), 'hatoba-ctr-tls-'));
      const daemon = await startContainerd(ctrDir);
      try {
        const hostsDir = (caFile: string, name: string) => {
          const hosts = join(ctrDir, name);
          mkdirSync(join(hosts, server.host), { recursive: true });
          writeFileSync(
            join(hosts, server.host, 'hosts.toml'),
            `server = "${server.url}"\n\n[host."${server.url}"]\n  capabilities = ["pull", "resolve", "push"]\n  ca = "${caFile}"\n`,
          );
          return hosts;
        };
        const good = hostsDir(ca.cert, 'hosts-good');
        const wrong = hostsDir(otherCa.cert, 'hosts-wrong');
        const source = `${server.host}/${ns}/ctr-source:1`;
        const refused = await runCtr(daemon.socket, ['images', 'pull', '--hosts-dir', wrong, '--user', creds(writer), source]);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, X509);
        const mark = requestVersions.length;
        ok(await runCtr(daemon.socket, ['images', 'pull', '--hosts-dir', good, '--user', creds(writer), source]), 'ctr pull');
        const target = `${server.host}/${ns}/ctr-pushed:1`;
        ok(await runCtr(daemon.socket, ['images', 'tag', source, target]), 'ctr tag');
        ok(await runCtr(daemon.socket, ['images', 'push', '--hosts-dir', good, '--user', creds(writer), target]), 'ctr push');
        assert.deepEqual(await versionsSince(mark), [version], `ctr spoke HTTP/${version} for every request`);
        const inspected = ok(await run(skopeo.path!, ['inspect', '--cert-dir', goodCertDir, '--creds', creds(writer), `docker://${target}`]), 'skopeo inspect of the ctr push');
        assert.equal(JSON.parse(inspected.stdout).Name, `${server.host}/${ns}/ctr-pushed`);
      } finally {
        await daemon.stop();
        await rm(ctrDir, { recursive: true, force: true });
      }
    });

    test(`${label}: podman pulls and pushes with --cert-dir; another CA is refused`, { ...testOptions, skip: openssl.skip || skopeo.skip || podman.skip }, async () => {
      ok(await run(skopeo.path!, ['--insecure-policy', 'copy', '--dest-cert-dir', goodCertDir, '--dest-creds', creds(writer), `oci:${layoutDir}:multi`, `docker://${server.host}/${ns}/podman-source:1`]), 'seed with skopeo');
      const root = await mkdtemp(join(tmpdir(), 'hatoba-podman-'));
      // podman's runroot must stay short (a socket path lives in it).
      const runroot = await mkdtemp('/tmp/hp-');
      const env = { ...process.env, REGISTRY_AUTH_FILE: join(root, 'auth.json'), CONTAINERS_REGISTRIES_CONF: join(root, 'registries.conf') };
      writeFileSync(env.CONTAINERS_REGISTRIES_CONF, 'unqualified-search-registries = []\n');
      writeFileSync(env.REGISTRY_AUTH_FILE, '{}\n');
      const podmanArgs = (...args: string[]) => ['--root', join(root, 'storage'), '--runroot', runroot, '--storage-driver', 'vfs', '--events-backend', 'none', '--cgroup-manager', 'cgroupfs', ...args];
      try {
        const source = `${server.host}/${ns}/podman-source:1`;
        const refused = await run(podman.path!, podmanArgs('pull', '--cert-dir', wrongCertDir, '--creds', creds(writer), source), env);
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, X509);
        const mark = requestVersions.length;
        ok(await run(podman.path!, podmanArgs('pull', '--cert-dir', goodCertDir, '--creds', creds(writer), source), env), 'podman pull');
        const target = `${server.host}/${ns}/podman-pushed:1`;
        ok(await run(podman.path!, podmanArgs('push', '--cert-dir', goodCertDir, '--creds', creds(writer), source, `docker://${target}`), env), 'podman push');
        assert.deepEqual(await versionsSince(mark), [version], `podman spoke HTTP/${version} for every request`);
        const inspected = ok(await run(skopeo.path!, ['inspect', '--cert-dir', goodCertDir, '--creds', creds(writer), `docker://${target}`]), 'skopeo inspect of the podman push');
        assert.equal(JSON.parse(inspected.stdout).Name, `${server.host}/${ns}/podman-pushed`);
      } finally {
        await rm(root, { recursive: true, force: true });
        await rm(runroot, { recursive: true, force: true });
      }
    });
  });
}
