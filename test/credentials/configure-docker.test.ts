// `configureDocker`: adds credHelpers entries for hatoba to the Docker
// config file and keeps everything else in it.
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkHelperRunnable, ConfigureDockerError, configureDocker, credHelperKey, moveAuthsToHelper } from '../../src/credentials/configure-docker.js';
import { credentialsFor } from '../../src/credentials/credentials-for.js';
import { CredentialStore } from '../../src/credentials/store.js';
import { dockerConfigFile } from '../../src/credentials/files.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-configure-docker-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const ORIGINAL = {
  auths: { 'https://index.docker.io/v1/': { auth: 'eDp5' }, 'quay.io': { auth: 'YTpi', email: 'a@b.c' } },
  credsStore: 'desktop',
  credHelpers: { 'gcr.io': 'gcloud', 'old.example': 'pass' },
  proxies: { default: { httpProxy: 'http://proxy:3128', noProxy: '*.local' } },
  currentContext: 'rootless',
  'x-unknown': [1, { nested: true }, null],
  detachKeys: 'ctrl-e,e',
};

test('adds credHelpers and keeps every other key; idempotent', async () => {
  const dir = await tempDir();
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify(ORIGINAL, null, 2), { mode: 0o644 });

  const first = await configureDocker(file, ['registry.example:5000', 'https://old.example/v2/', 'registry.example:5000']);
  assert.deepEqual(first, {
    path: file,
    servers: ['registry.example:5000', 'old.example'],
    added: ['registry.example:5000'],
    replaced: [{ server: 'old.example', previous: 'pass' }],
    unchanged: [],
    created: false,
    changed: true,
  });
  const text = await readFile(file, 'utf8');
  assert.deepEqual(JSON.parse(text), {
    ...ORIGINAL,
    credHelpers: { 'gcr.io': 'gcloud', 'old.example': 'hatoba', 'registry.example:5000': 'hatoba' },
  });
  assert.deepEqual(Object.keys(JSON.parse(text)), Object.keys(ORIGINAL), 'top-level key order kept');
  assert.ok(text.startsWith('{\n\t"auths"'), 'tab-indented, as docker writes it');
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.deepEqual(await readdir(dir), ['config.json'], 'no temp or lock file left');

  const before = await readFile(file, 'utf8');
  const second = await configureDocker(file, ['registry.example:5000', 'old.example']);
  assert.equal(second.changed, false);
  assert.deepEqual(second.unchanged, ['registry.example:5000', 'old.example']);
  assert.equal(await readFile(file, 'utf8'), before, 'second run leaves the file byte for byte');
});

test('creates a missing file (and directory) with only credHelpers, 0600', async () => {
  const dir = await tempDir();
  const file = join(dir, 'docker', 'config.json');
  const result = await configureDocker(file, ['127.0.0.1:5000']);
  assert.equal(result.created, true);
  assert.equal(result.changed, true);
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { credHelpers: { '127.0.0.1:5000': 'hatoba' } });
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, 'docker'))).mode & 0o777, 0o700);

  const empty = join(dir, 'empty.json');
  await writeFile(empty, '');
  await configureDocker(empty, ['r.example']);
  assert.deepEqual(JSON.parse(await readFile(empty, 'utf8')), { credHelpers: { 'r.example': 'hatoba' } });
});

test('a symlinked config.json: the target is updated, the link kept', async () => {
  const dir = await tempDir();
  await mkdir(join(dir, 'dotfiles'));
  const real = join(dir, 'dotfiles', 'docker.json');
  await writeFile(real, JSON.stringify({ auths: {} }));
  const link = join(dir, 'config.json');
  await symlink(real, link);
  await configureDocker(link, ['r.example']);
  assert.ok((await lstat(link)).isSymbolicLink());
  assert.deepEqual(JSON.parse(await readFile(real, 'utf8')), { auths: {}, credHelpers: { 'r.example': 'hatoba' } });
});

test('refuses bad input and damaged files without touching them', async () => {
  const dir = await tempDir();
  const file = join(dir, 'config.json');
  await assert.rejects(configureDocker(file, []), ConfigureDockerError);
  await assert.rejects(configureDocker(file, ['has space']), /not a registry address/);
  await assert.rejects(configureDocker(file, ['']), ConfigureDockerError);
  await writeFile(file, '{"auths": ');
  await assert.rejects(configureDocker(file, ['r.example']), /not valid JSON/);
  assert.equal(await readFile(file, 'utf8'), '{"auths": ');
  await writeFile(file, '{"credHelpers": ["x"]}');
  await assert.rejects(configureDocker(file, ['r.example']), /"credHelpers" .* must be an object/);
  await writeFile(file, '[]');
  await assert.rejects(configureDocker(file, ['r.example']), /must hold a JSON object/);
});

test('credHelperKey and dockerConfigFile', () => {
  assert.equal(credHelperKey('https://registry.example:5000/v2/'), 'registry.example:5000');
  assert.equal(credHelperKey('http://127.0.0.1:5000'), '127.0.0.1:5000');
  assert.equal(credHelperKey('phx.ocir.io'), 'phx.ocir.io');
  assert.equal(dockerConfigFile({ DOCKER_CONFIG: '/d', HOME: '/h' }), '/d/config.json');
  assert.equal(dockerConfigFile({ HOME: '/h' }), '/h/.docker/config.json');
});

test('moveAuthsToHelper moves passwords and identity tokens of the named servers into the store, and nothing else', async () => {
  const dir = await tempDir();
  const file = join(dir, 'config.json');
  const store = new CredentialStore(join(dir, 'hatoba', 'credentials.json'));
  await writeFile(
    file,
    JSON.stringify({
      auths: {
        'a.example:5000': { auth: Buffer.from('jdoe:k]j64r{1sJSSF-;)K8').toString('base64') },
        'http://b.example': { auth: Buffer.from('admin:').toString('base64'), identitytoken: 'refresh-b' },
        'other.example': { auth: 'eDp5' },
      },
      credHelpers: { 'a.example:5000': 'hatoba', 'b.example': 'hatoba' },
    }),
  );
  assert.deepEqual(await moveAuthsToHelper(file, ['a.example:5000', 'b.example', 'c.example'], store), ['a.example:5000', 'b.example']);
  assert.deepEqual(await store.get('a.example:5000'), { serverURL: 'a.example:5000', username: 'jdoe', secret: 'k]j64r{1sJSSF-;)K8' });
  assert.deepEqual(await store.get('b.example'), { serverURL: 'b.example', username: '<token>', secret: 'refresh-b' });
  const config = JSON.parse(await readFile(file, 'utf8'));
  assert.deepEqual(config.auths, { 'other.example': { auth: 'eDp5' } });
  // Found where docker looks now: the helper.
  const found = await credentialsFor('b.example', { configFile: file, store });
  assert.deepEqual(found?.secret, { identityToken: 'refresh-b' });
  assert.equal(found?.source, 'helper');
  assert.deepEqual(await moveAuthsToHelper(file, ['a.example:5000'], store), [], 'a second run moves nothing');
});

test('checkHelperRunnable says when docker-credential-hatoba is not on PATH', async () => {
  const result = await checkHelperRunnable({ PATH: await tempDir() });
  assert.deepEqual(result, { ok: false, reason: 'docker-credential-hatoba is not on PATH' });
});
