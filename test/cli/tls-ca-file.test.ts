// The Hatoba CLI against a registry with a private CA: `--ca-file FILE`
// (or SSL_CERT_FILE) makes login, the admin commands and the registry
// commands trust it; without it, or with another CA, they refuse with a
// message that says it is about the certificate.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { basicAuth } from '../helpers/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { makeCa, makeLeaf, openssl, type Ca } from '../helpers/tls.js';
import { cliHome, removeHomes } from './helpers.js';

const skip = openssl.skip;
let dir: string;
let ca: Ca;
let otherCa: Ca;
let server: RunningServer;

function put(path: string, method: string, body: string, contentType?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${server.url}${path}`, { method, ca: ca.pem, headers: { authorization: basicAuth(ADMIN), ...(contentType ? { 'content-type': contentType } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const digest = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'hatoba-cli-tls-'));
  ca = makeCa(dir, 'ca');
  otherCa = makeCa(dir, 'other-ca');
  const leaf = makeLeaf(ca, dir, 'registry');
  server = await startServer({ args: ['--tls-cert', leaf.cert, '--tls-key', leaf.key] });
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const layer = 'a layer over TLS';
  for (const blob of [config, layer]) assert.equal(await put(`/v2/tls/app/blobs/uploads/?digest=${digest(blob)}`, 'POST', blob), 201);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(layer), size: layer.length }],
  });
  assert.equal(await put('/v2/tls/app/manifests/v1', 'PUT', manifest, 'application/vnd.oci.image.manifest.v1+json'), 201);
});
after(async () => {
  await server?.dispose();
  await removeHomes();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('--ca-file: login over https, then admin and registry commands; without it or with another CA they refuse', { skip }, async () => {
  const home = await cliHome();
  const login = (extra: string[], env: Record<string, string> = {}) => home.run([...extra, 'login', server.url, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password, env });

  const untrusted = await login([]);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /certificate|TLS/i);
  const wrong = await login(['--ca-file', otherCa.cert]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /certificate|TLS/i);

  const ok = await login(['--ca-file', ca.cert]);
  assert.equal(ok.code, 0, ok.stderr);
  const users = await home.run(['user', 'get', '-o', 'json', '--ca-file', ca.cert]);
  assert.equal(users.code, 0, users.stderr);
  assert.ok(JSON.parse(users.stdout).some((u: { username: string }) => u.username === 'admin'));
  const tags = await home.run(['tag', 'ls', `${server.host}/tls/app`, '-o', 'json', '--ca-file', ca.cert]);
  assert.equal(tags.code, 0, tags.stderr);
  assert.deepEqual(JSON.parse(tags.stdout).tags, ['v1']);

  // The same through SSL_CERT_FILE; and a CA file that is not one is named.
  const viaEnv = await home.run(['tag', 'ls', `${server.host}/tls/app`, '-o', 'json'], { env: { SSL_CERT_FILE: ca.cert } });
  assert.equal(viaEnv.code, 0, viaEnv.stderr);
  const refused = await home.run(['tag', 'ls', `${server.host}/tls/app`]);
  assert.equal(refused.code, 1, 'without the CA the stored https server is refused');
  assert.match(refused.stderr, /certificate|TLS/i);
  const notPem = await home.run(['user', 'get', '--ca-file', join(dir, 'ca.key')]);
  assert.equal(notPem.code, 1);
  assert.match(notPem.stderr, /holds no PEM certificate/);
});
