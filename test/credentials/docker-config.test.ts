// Unit tests: the Docker config file (keys kept, 0600, atomic, symlinks
// kept) and server addresses (docker's host[:port] keys, http on loopback).
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { dockerKey, parseServerAddress, sameServer } from '../../src/client/server-address.js';
import { dockerConfigPath, getAuth, readDockerConfig, removeAuth, setAuth, updateDockerConfig, writeDockerConfig } from '../../src/credentials/docker-config.js';
import { age, table } from '../../src/cli/output.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-docker-config-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

test('dockerConfigPath: $DOCKER_CONFIG, else ~/.docker', () => {
  assert.equal(dockerConfigPath({ DOCKER_CONFIG: '/x/y', HOME: '/home/a' }), '/x/y/config.json');
  assert.equal(dockerConfigPath({ HOME: '/home/a' }), '/home/a/.docker/config.json');
});

test('update keeps every other key, writes 0600 atomically, keeps a symlink', async () => {
  const dir = await tempDir();
  const real = join(dir, 'dotfiles', 'docker.json');
  await mkdir(join(dir, 'dotfiles'));
  const original = {
    auths: { 'https://index.docker.io/v1/': { auth: 'eDp5' }, 'quay.io': { auth: 'YTpi', email: 'a@b.c' } },
    credsStore: 'desktop',
    credHelpers: { 'gcr.io': 'gcloud' },
    proxies: { default: { httpProxy: 'http://proxy:3128' } },
    currentContext: 'rootless',
  };
  await writeFile(real, JSON.stringify(original), { mode: 0o644 });
  const file = join(dir, 'config.json');
  await symlink(real, file);

  await updateDockerConfig((c) => setAuth(c, 'http://registry.local:5000/v2/', 'jdoe', 'k]j64r{1sJSSF-;)K8'), file);
  assert.ok((await lstat(file)).isSymbolicLink(), 'the link is kept');
  assert.equal((await stat(real)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(join(dir, 'dotfiles')), ['docker.json'], 'no temp file left');
  const updated = JSON.parse(await readFile(real, 'utf8'));
  assert.deepEqual(updated, {
    ...original,
    auths: { ...original.auths, 'registry.local:5000': { auth: Buffer.from('jdoe:k]j64r{1sJSSF-;)K8').toString('base64') } },
  });
  assert.deepEqual(getAuth(updated, 'registry.local:5000'), { key: 'registry.local:5000', username: 'jdoe', password: 'k]j64r{1sJSSF-;)K8' });

  const config = await readDockerConfig(file);
  assert.equal(removeAuth(config, 'https://REGISTRY.local:5000'), 1);
  await writeDockerConfig(config, file);
  assert.deepEqual(JSON.parse(await readFile(real, 'utf8')), original);
});

test('getAuth finds credentials under any spelling of the server, and username/password entries', () => {
  const config = { auths: { 'http://a.example:5000': { auth: Buffer.from('u:p:q').toString('base64') }, 'b.example': { username: 'x', password: 'y' } } };
  assert.deepEqual(getAuth(config, 'a.example:5000'), { key: 'http://a.example:5000', username: 'u', password: 'p:q' });
  assert.deepEqual(getAuth(config, 'b.example'), { key: 'b.example', username: 'x', password: 'y' });
  assert.equal(getAuth(config, 'c.example'), undefined);
});

test('a missing or empty file is an empty config; bad JSON is a clear error', async () => {
  const dir = await tempDir();
  assert.deepEqual(await readDockerConfig(join(dir, 'none.json')), {});
  await writeFile(join(dir, 'empty.json'), '');
  assert.deepEqual(await readDockerConfig(join(dir, 'empty.json')), {});
  await writeFile(join(dir, 'bad.json'), '{"auths":');
  await assert.rejects(readDockerConfig(join(dir, 'bad.json')), /is not valid JSON.*fix or move it/);
});

test('server addresses: docker keys, http on loopback, https elsewhere', () => {
  assert.deepEqual(parseServerAddress('127.0.0.1:5000'), { key: '127.0.0.1:5000', url: 'http://127.0.0.1:5000', explicitScheme: false });
  assert.deepEqual(parseServerAddress('localhost:5000'), { key: 'localhost:5000', url: 'http://localhost:5000', explicitScheme: false });
  assert.deepEqual(parseServerAddress('[::1]:5000'), { key: '[::1]:5000', url: 'http://[::1]:5000', explicitScheme: false });
  assert.deepEqual(parseServerAddress('registry.example'), { key: 'registry.example', url: 'https://registry.example', explicitScheme: false });
  assert.deepEqual(parseServerAddress('registry.example:5000', { insecure: true }), { key: 'registry.example:5000', url: 'http://registry.example:5000', explicitScheme: false });
  assert.deepEqual(parseServerAddress('https://127.0.0.1:5443/v2/'), { key: '127.0.0.1:5443', url: 'https://127.0.0.1:5443', explicitScheme: true });
  assert.deepEqual(parseServerAddress('http://registry.example'), { key: 'registry.example', url: 'http://registry.example', explicitScheme: true });
  assert.throws(() => parseServerAddress('ftp://x'), /unsupported scheme/);
  assert.throws(() => parseServerAddress('https://u:p@x'), /credentials/);
  assert.equal(dockerKey('https://phx.ocir.io/'), 'phx.ocir.io');
  assert.ok(sameServer('HTTP://Phx.OCIR.io', 'phx.ocir.io'));
});

test('tables align columns; ages read like kubectl', () => {
  const out = table([{ a: 'x', b: 'long value' }, { a: 'longer', b: 'y' }], [
    { header: 'name', value: (r) => r.a },
    { header: 'value', value: (r) => r.b },
  ]);
  assert.equal(out, 'NAME     VALUE\nx        long value\nlonger   y\n');
  const now = Date.parse('2026-01-10T00:00:00Z');
  const ago = (s: number) => new Date(now - s * 1000).toISOString();
  assert.equal(age(ago(5), now), '5s');
  assert.equal(age(ago(185), now), '3m5s');
  assert.equal(age(ago(3600 * 5 + 120), now), '5h2m');
  assert.equal(age(ago(86_400 * 3), now), '3d');
  assert.equal(age(ago(86_400 * 30), now), '30d');
});
