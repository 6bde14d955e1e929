// The seeds' credential story for real (gdcloud auth login + gdcloud auth
// configure-docker + docker push): `hatoba login`, `hatoba auth
// configure-docker`, then the docker CLI (`docker manifest inspect`; no
// engine needed), skopeo and podman sign in without --creds; and the other
// way round, `docker login` through the helper, then `hatoba whoami`,
// `hatoba tag ls` and an admin command.
//
// Each test has its own HOME / DOCKER_CONFIG / XDG_CONFIG_HOME and a bin
// directory on PATH with docker-credential-hatoba (a wrapper running the
// TypeScript sources, as `npm link` would put the package's bin there),
// its own server and fresh repository names (skopeo's blob-info cache).
//
// Run: node --import tsx --test test/credentials/seeds-sequence.test.ts
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { ADMIN, type RunningServer } from '../helpers/server.js';
import { requireTool, runProgram, type ProgramRun } from '../helpers/tools.js';
import { runCli, show, withServerAndDir, writeHelperWrapper, type CliResult } from '../cli/helpers.js';

const TIMEOUT = 300_000;
const skopeo = requireTool('skopeo', 'apt-get install -y skopeo', 'the seeds\' credential sequence');
const podman = requireTool('podman', 'apt-get install -y podman', 'the seeds\' credential sequence');
const docker = requireTool('docker', 'install the docker CLI (client only) into /usr/local/bin', 'the seeds\' credential sequence');
const DOCKER = docker.path;

interface Seq {
  server: RunningServer;
  root: string;
  env: Record<string, string>;
  dockerConfig: string;
  repo: string;
  hatoba(args: string[], input?: string): Promise<CliResult>;
  run(command: string, args: string[], input?: string): Promise<ProgramRun>;
  /** Actions docker-credential-hatoba was run with so far. */
  helperCalls(): Promise<string[]>;
}

async function withSequence(t: TestContext, body: (s: Seq) => Promise<void>): Promise<void> {
  const id = randomBytes(4).toString('hex');
  await withServerAndDir(t, `hatoba-seeds-${id}-`, async (server, root) => {
    const repo = `seeds/app-${id}`;
    // A real image (tar layers podman can apply), seeded with explicit credentials.
    const layout = join(root, 'layout');
    writeOciLayout(layout, { salt: `seeds-${id}` });
    const seeded = await runProgram(skopeo.path!, ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-creds', `${ADMIN.username}:${ADMIN.password}`, `oci:${layout}:multi`, `docker://${server.host}/${repo}:v1`]);
    assert.equal(seeded.code, 0, seeded.stderr);

    const bin = join(root, 'bin');
    const log = join(root, 'helper-calls.log');
    await writeHelperWrapper(bin, log);
    const home = join(root, 'home');
    await mkdir(join(home, 'run'), { recursive: true });
    const env: Record<string, string> = {
      HOME: home,
      DOCKER_CONFIG: join(home, '.docker'),
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_RUNTIME_DIR: join(home, 'run'),
      PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`,
    };
    const fullEnv = { ...process.env, ...env };
    delete fullEnv.REGISTRY_AUTH_FILE;
    delete fullEnv.HATOBA_CONFIG_DIR;
    await body({
      server,
      root,
      env,
      dockerConfig: join(home, '.docker', 'config.json'),
      repo,
      hatoba: (args, input) => runCli(args, env, input),
      run: (command, args, input) => runProgram(command, args, { env: fullEnv, stdin: input, timeoutMs: 120_000 }),
      helperCalls: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean),
    });
  });
}

function ok(r: CliResult | ProgramRun, what: string): void {
  assert.equal(r.code, 0, `${what}\n${show(r)}`);
}

const skip = skopeo.skip || podman.skip || docker.skip;

test('hatoba login + hatoba auth configure-docker: docker, skopeo and podman sign in without --creds', { skip, timeout: TIMEOUT }, async (t) => {
  await withSequence(t, async (s) => {
    const host = s.server.host;
    const image = `${host}/${s.repo}:v1`;
    // Before: nothing stored, every client is refused.
    const refused = await s.run(skopeo.path!, ['inspect', '--tls-verify=false', `docker://${image}`]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /unauthorized|authentication required/i);

    ok(await s.hatoba(['login', host, '-u', ADMIN.username, '--password-stdin'], ADMIN.password), 'hatoba login');
    const configured = await s.hatoba(['auth', 'configure-docker', host]);
    ok(configured, 'configure-docker');
    assert.match(configured.stdout, /moved the stored credentials/);
    const config = JSON.parse(await readFile(s.dockerConfig, 'utf8')) as { auths?: Record<string, unknown>; credHelpers?: Record<string, string> };
    assert.deepEqual(config.credHelpers, { [host]: 'hatoba' });
    assert.equal(config.auths?.[host], undefined, 'the password left "auths"');

    const manifest = await s.run(DOCKER!, ['manifest', 'inspect', '--insecure', image]);
    ok(manifest, 'docker manifest inspect');
    assert.equal(JSON.parse(manifest.stdout).schemaVersion, 2);

    const inspected = await s.run(skopeo.path!, ['inspect', '--tls-verify=false', `docker://${image}`]);
    ok(inspected, 'skopeo inspect');
    assert.match(JSON.parse(inspected.stdout).Digest, /^sha256:/);

    // podman's runroot holds a socket path: keep it short.
    const runroot = await mkdtemp('/tmp/hs-');
    try {
      const pulled = await s.run(podman.path!, ['--storage-driver', 'vfs', '--root', join(s.root, 'podman'), '--runroot', runroot, '--events-backend', 'none', '--cgroup-manager', 'cgroupfs', 'pull', '-q', '--tls-verify=false', image]);
      ok(pulled, 'podman pull');
    } finally {
      await rm(runroot, { recursive: true, force: true });
    }
    assert.ok((await s.helperCalls()).includes('get'), 'the clients asked docker-credential-hatoba');

    // Hatoba's own commands read the helper too.
    const whoami = await s.hatoba(['whoami']);
    ok(whoami, 'whoami');
    assert.match(whoami.stdout, /^admin \(user, signed in with a password\)/);
    ok(await s.hatoba(['get', 'users']), 'an admin command');

    // hatoba logout erases in the helper: the clients are refused again.
    ok(await s.hatoba(['logout', host]), 'logout');
    assert.notEqual((await s.run(skopeo.path!, ['inspect', '--tls-verify=false', `docker://${image}`])).code, 0);
  });
});

test('hatoba login stores in the helper once credHelpers names it', { skip, timeout: TIMEOUT }, async (t) => {
  await withSequence(t, async (s) => {
    const host = s.server.host;
    ok(await s.hatoba(['auth', 'configure-docker', host]), 'configure-docker first');
    ok(await s.hatoba(['login', host, '-u', ADMIN.username, '--password-stdin'], ADMIN.password), 'hatoba login');
    const config = JSON.parse(await readFile(s.dockerConfig, 'utf8')) as { auths?: Record<string, unknown> };
    assert.equal(config.auths?.[host], undefined, 'nothing in "auths"');
    const got = await s.run('docker-credential-hatoba', ['get'], host);
    ok(got, 'helper get');
    assert.equal(JSON.parse(got.stdout).Username, ADMIN.username);
    ok(await s.run(skopeo.path!, ['inspect', '--tls-verify=false', `docker://${host}/${s.repo}:v1`]), 'skopeo inspect');
  });
});

test('docker login through the helper, then hatoba whoami, tag ls and an admin command', { skip, timeout: TIMEOUT }, async (t) => {
  await withSequence(t, async (s) => {
    const host = s.server.host;
    ok(await s.hatoba(['auth', 'configure-docker', host]), 'configure-docker');
    const login = await s.run(DOCKER!, ['login', '-u', ADMIN.username, '--password-stdin', host], ADMIN.password);
    ok(login, 'docker login');
    const stored = await s.run('docker-credential-hatoba', ['get'], host);
    assert.equal(JSON.parse(stored.stdout).Username, '<token>', 'docker login kept an identity token');

    const whoami = await s.hatoba(['whoami', '--server', host]);
    ok(whoami, 'whoami');
    assert.equal(whoami.stdout, `admin (signed in with an identity token from docker login) at ${host}\n`);

    const tags = await s.hatoba(['tag', 'ls', `${host}/${s.repo}`]);
    ok(tags, 'tag ls with the identity token');
    assert.match(tags.stdout, /\bv1\b/);

    // Admin commands too: the CLI trades the identity token at /v2/token for
    // a bearer token for the management API, with token rights.
    const project = `seeds-admin-${s.repo.split('-').at(-1)}`;
    ok(await s.hatoba(['project', 'create', project, '--server', host]), 'an admin command after docker login');
    const projects = await s.hatoba(['get', 'projects', '--server', host]);
    ok(projects, 'get projects after docker login');
    assert.match(projects.stdout, new RegExp(`^${project}\\b`, 'm'));
    ok(await s.hatoba(['get', 'users', '--server', host]), 'get users after docker login');
    // Not the password's rights: changing it needs the password itself.
    const passwd = await s.hatoba(['user', 'passwd', '--server', host, '--password-stdin'], 'a-new-Pa55word');
    assert.equal(passwd.code, 1, show(passwd));
    assert.match(passwd.stderr, /needs your current password, not the identity token docker login stored/);
    assert.doesNotMatch(passwd.stderr, /not logged in|at .*\.ts:\d+/);

    // hatoba login over it: the same helper entry, now with the password's rights.
    ok(await s.hatoba(['login', host, '-u', ADMIN.username, '--password-stdin'], ADMIN.password), 'hatoba login');
    assert.match((await s.hatoba(['whoami', '--server', host])).stdout, /signed in with a password/);
    ok(await s.hatoba(['get', 'users', '--server', host]), 'admin command after hatoba login');
    ok(await s.run(DOCKER!, ['manifest', 'inspect', '--insecure', `${host}/${s.repo}:v1`]), 'docker still signs in');
  });
});
