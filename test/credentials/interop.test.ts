// Interop: real clients authenticate to a real `hatoba serve` through
// `docker-credential-hatoba`, found on PATH, after configureDocker() wrote
// `credHelpers: {"127.0.0.1:PORT": "hatoba"}` into their config file.
//
// - skopeo (Debian package; required in CI): list-tags and inspect with the
//   admin's credentials stored by the helper's own `store`, and refused
//   before they are stored (so it is the helper that signs skopeo in).
// - docker CLI (client only, when installed): `docker login` stores an
//   identity token through the helper, `docker manifest inspect` reads it
//   back, skopeo uses the same token, `docker logout` erases it.
//
// The helper runs from the TypeScript sources through a small wrapper
// script that also logs each action, and keeps its secrets under a per-test
// HATOBA_CONFIG_DIR. Each test starts its own server and uses fresh
// repository names (skopeo's blob-info cache).
//
// Run: node --import tsx --test test/credentials/interop.test.ts
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { configureDocker } from '../../src/credentials/configure-docker.js';
import { TestRegistry } from '../helpers/registry-client.js';
import { ADMIN, type RunningServer } from '../helpers/server.js';
import { findExecutable, requireTool, runProgram, type ProgramRun } from '../helpers/tools.js';
import { withServerAndDir, writeHelperWrapper } from '../cli/helpers.js';

const RUN_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 300_000;

const skopeoTool = requireTool('skopeo', 'apt-get install -y skopeo', 'the credential-helper interop tests');
const SKOPEO = skopeoTool.path;
const SKOPEO_MISSING = skopeoTool.missing;
const DOCKER = process.env.DOCKER ?? findExecutable('docker');

type Run = ProgramRun;

function run(command: string, args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<Run> {
  return runProgram(command, args, { env, stdin, timeoutMs: RUN_TIMEOUT_MS });
}

interface Fixture {
  server: RunningServer;
  env: NodeJS.ProcessEnv;
  dockerDir: string;
  hatobaDir: string;
  /** The helper actions run so far (from the wrapper's log). */
  calls(): Promise<string[]>;
  helper(args: string[], stdin?: string): Promise<Run>;
  skopeo(args: string[]): Promise<Run>;
  repo: string;
  digest: string;
}

async function withFixture(t: TestContext, body: (f: Fixture) => Promise<void>): Promise<void> {
  const id = randomBytes(4).toString('hex');
  await withServerAndDir(t, `hatoba-helper-interop-${id}-`, async (server, root) => {
    const repo = `interop/helper-${id}`;
    const pushed = await new TestRegistry(server.url).pushImage(repo, 'v1', { layers: [`credential helper interop ${id}`] });

    // docker-credential-hatoba on PATH: a wrapper that runs the TS sources.
    const bin = join(root, 'bin');
    const log = join(root, 'helper-calls.log');
    const wrapper = await writeHelperWrapper(bin, log);

    const dockerDir = join(root, 'docker');
    const hatobaDir = join(root, 'hatoba');
    const configured = await configureDocker(join(dockerDir, 'config.json'), [server.host]);
    assert.deepEqual(configured.added, [server.host]);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
      HATOBA_CONFIG_DIR: hatobaDir,
      DOCKER_CONFIG: dockerDir,
      // skopeo reads this file first; the same one docker reads.
      REGISTRY_AUTH_FILE: join(dockerDir, 'config.json'),
      XDG_RUNTIME_DIR: join(root, 'run'),
    };
    await body({
      server,
      env,
      dockerDir,
      hatobaDir,
      repo,
      digest: pushed.digest as string,
      calls: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean),
      helper: (args, stdin) => run(wrapper, args, env, stdin),
      skopeo: (args) => run(SKOPEO!, ['--insecure-policy', ...args], env),
    });
  });
}

test('skopeo signs in through docker-credential-hatoba (credHelpers)', { skip: SKOPEO ? false : SKOPEO_MISSING, timeout: TEST_TIMEOUT_MS }, async (t) => {
  await withFixture(t, async (f) => {
    const listTags = ['list-tags', '--tls-verify=false', `docker://${f.server.host}/${f.repo}`];

    // Nothing stored yet: the helper says "not found" and the registry refuses.
    const refused = await f.skopeo(listTags);
    assert.notEqual(refused.code, 0, `list-tags without credentials should fail:\n${refused.stdout}`);
    assert.match(refused.stderr, /unauthorized|authentication required/i);
    assert.ok((await f.calls()).includes('get'), 'skopeo asked the helper');

    const stored = await f.helper(['store'], JSON.stringify({ ServerURL: f.server.host, Username: ADMIN.username, Secret: ADMIN.password }));
    assert.equal(stored.code, 0, stored.stdout);

    const tags = await f.skopeo(listTags);
    assert.equal(tags.code, 0, tags.stderr);
    assert.deepEqual(JSON.parse(tags.stdout).Tags, ['v1']);

    const inspected = await f.skopeo(['inspect', '--tls-verify=false', `docker://${f.server.host}/${f.repo}:v1`]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal(JSON.parse(inspected.stdout).Digest, f.digest);

    // Erased: refused again.
    assert.equal((await f.helper(['erase'], f.server.host)).code, 0);
    assert.notEqual((await f.skopeo(listTags)).code, 0);
  });
});

test('docker login stores an identity token through the helper; docker and skopeo use it', { skip: !DOCKER ? 'the docker CLI is not installed' : !SKOPEO ? SKOPEO_MISSING : false, timeout: TEST_TIMEOUT_MS }, async (t) => {
  await withFixture(t, async (f) => {
    const login = await run(DOCKER!, ['--config', f.dockerDir, 'login', '-u', ADMIN.username, '--password-stdin', f.server.host], f.env, ADMIN.password);
    assert.equal(login.code, 0, login.stderr);
    assert.ok((await f.calls()).includes('store'), 'docker login stored through the helper');

    const saved = JSON.parse(await readFile(join(f.hatobaDir, 'credentials.json'), 'utf8'));
    const entry = saved.credentials[f.server.host];
    assert.ok(entry, `an entry for ${f.server.host}`);
    // Hatoba's token service hands docker a refresh token; docker keeps it as an identity token.
    assert.equal(entry.username, '<token>');
    assert.ok(entry.secret.length > 20 && entry.secret !== ADMIN.password);
    const config = JSON.parse(await readFile(join(f.dockerDir, 'config.json'), 'utf8'));
    assert.equal(config.credHelpers[f.server.host], 'hatoba');
    assert.equal(JSON.stringify(config.auths ?? {}).includes(ADMIN.password), false, 'no secret in config.json');

    const manifest = await run(DOCKER!, ['--config', f.dockerDir, 'manifest', 'inspect', '--insecure', `${f.server.host}/${f.repo}:v1`], f.env);
    assert.equal(manifest.code, 0, manifest.stderr);
    assert.equal(JSON.parse(manifest.stdout).schemaVersion, 2);

    const tags = await f.skopeo(['list-tags', '--tls-verify=false', `docker://${f.server.host}/${f.repo}`]);
    assert.equal(tags.code, 0, `skopeo with docker's identity token: ${tags.stderr}`);
    assert.deepEqual(JSON.parse(tags.stdout).Tags, ['v1']);

    const logout = await run(DOCKER!, ['--config', f.dockerDir, 'logout', f.server.host], f.env);
    assert.equal(logout.code, 0, logout.stderr);
    assert.equal((await f.helper(['get'], f.server.host)).stdout, 'credentials not found in native keychain\n');
  });
});
