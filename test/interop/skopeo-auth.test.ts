// Interop: the real Debian `skopeo` against a real `hatoba serve`, signing
// in through the Docker token (bearer) flow: `--dest-creds`/`--src-creds`
// with a personal auth token, `skopeo login` with an auth file, and a clean
// denial for a user who may only pull.
//
// Every test starts its own server and uses fresh repository names and a
// per-test layout salt, so skopeo's machine-wide blob-info cache can neither
// make a test pass nor make it fail. skopeo never sees the admin's
// credentials here: REGISTRY_AUTH_FILE points at a per-test file.
//
// Run: node --import tsx --test test/interop/skopeo-auth.test.ts
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { findRef, writeOciLayout, type LayoutIndexJson, type WrittenLayout } from '../helpers/oci-layout.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { Api, call, uniq } from '../auth/access-helpers.js';
import type { Credentials } from '../helpers/registry-client.js';

const SKOPEO_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 300_000;

const { path: SKOPEO, skip } = requireTool('skopeo', 'apt-get install -y skopeo', 'the skopeo interop tests');

// ---------------------------------------------------------------------------
// running skopeo

interface SkopeoRun {
  code: number | null;
  stdout: string;
  stderr: string;
  commandLine: string;
}

function commandLine(args: string[]): string {
  return ['skopeo', ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function tail(text: string, max = 8000): string {
  return text.length <= max ? text : `...(${text.length - max} characters cut)...\n${text.slice(-max)}`;
}

function run(args: string[], env: NodeJS.ProcessEnv, stdin?: string): Promise<SkopeoRun> {
  const fullArgs = ['--insecure-policy', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(SKOPEO!, fullArgs, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), SKOPEO_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) return reject(new Error(`\`${commandLine(fullArgs)}\` was killed (${signal}) after ${SKOPEO_TIMEOUT_MS} ms`));
      resolve({ code, stdout, stderr, commandLine: commandLine(fullArgs) });
    });
    child.stdin.end(stdin ?? '');
  });
}

// ---------------------------------------------------------------------------
// fixtures

interface Fixture {
  server: RunningServer;
  api: Api;
  id: string;
  layout: WrittenLayout;
  layoutDir: string;
  root: string;
  /** the per-test auth file skopeo uses by default (REGISTRY_AUTH_FILE); empty at first */
  authFile: string;
  tempDir(name: string): string;
  docker(repoAndRef: string): string;
  skopeo(args: string[], stdin?: string): Promise<SkopeoRun>;
  skopeoFails(args: string[], stdin?: string): Promise<SkopeoRun>;
}

async function withFixture(t: TestContext, body: (f: Fixture) => Promise<void>): Promise<void> {
  const id = randomBytes(4).toString('hex');
  const root = await mkdtemp(join(tmpdir(), `hatoba-skopeo-auth-${id}-`));
  const layoutDir = join(root, 'layout');
  const layout = writeOciLayout(layoutDir, { salt: `skopeo-auth-${id}` });
  const authFile = join(root, 'default-auth.json');
  const env: NodeJS.ProcessEnv = { ...process.env, REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: join(root, 'docker-config') };
  let server: RunningServer | undefined;
  try {
    server = await startServer();
    const host = server.host;
    await body({
      server,
      api: new Api(server.url),
      id,
      layout,
      layoutDir,
      root,
      authFile,
      tempDir: (name) => join(root, name),
      docker: (repoAndRef) => `docker://${host}/${repoAndRef}`,
      async skopeo(args, stdin) {
        const r = await run(args, env, stdin);
        if (r.code !== 0) assert.fail(`\`${r.commandLine}\` exited with ${r.code}\n--- stderr ---\n${tail(r.stderr)}\n--- stdout ---\n${tail(r.stdout)}`);
        return r;
      },
      async skopeoFails(args, stdin) {
        const r = await run(args, env, stdin);
        if (r.code === 0) assert.fail(`\`${r.commandLine}\` was expected to fail but exited 0\n--- stdout ---\n${tail(r.stdout)}\n--- stderr ---\n${tail(r.stderr)}`);
        return r;
      },
    });
  } catch (err) {
    t.diagnostic(`test id ${id}; temp dir ${root}; server ${server?.url ?? '(not started)'} data dir ${server?.dataDir ?? '-'}`);
    throw err;
  } finally {
    await server?.dispose();
    if (!process.env.HATOBA_TEST_KEEP) await rm(root, { recursive: true, force: true });
  }
}

function creds(c: Credentials): string {
  return `${c.username}:${c.password}`;
}

function readLayoutIndex(dir: string): LayoutIndexJson {
  return JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as LayoutIndexJson;
}

/** What the registry holds, as the admin sees it over HTTP. */
async function tagsOf(f: Fixture, repo: string): Promise<{ status: number; tags?: string[] }> {
  const res = await call(f.server.url, 'GET', `/v2/${repo}/tags/list`);
  return res.status === 200 ? { status: 200, tags: res.json().tags } : { status: res.status };
}

/** Entries of the server's audit log for one principal. */
async function auditOf(f: Fixture, principal: string): Promise<{ action: string; resource: string; result: string }[]> {
  return (await f.api.ok<{ entries: { action: string; resource: string; result: string }[] }>('GET', `/api/v1/audit?limit=1000&principal=${encodeURIComponent(principal)}`)).entries;
}

/** Asserts skopeo went through the token flow (its --debug log). */
function assertBearerFlow(log: string, label: string): void {
  assert.match(log, /\/v2\/token\b/, `${label}: skopeo never asked the token endpoint; debug log:\n${tail(log)}`);
  assert.doesNotMatch(log, /Basic authentication/i, `${label}: skopeo fell back to Basic; debug log:\n${tail(log)}`);
}

const testOptions = { skip, timeout: TEST_TIMEOUT_MS };

// ---------------------------------------------------------------------------
// tests

test('skopeo copy --dest-creds user:<auth token> pushes and --src-creds pulls, through the bearer flow', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multi } = f.layout;
    const user = await f.api.user(uniq('ci-'));
    await f.api.bind('interop', 'artifact-writer', { kind: 'user', name: user.username });
    const token = await f.api.token(user.username, 'skopeo');
    const repo = `interop/creds-${f.id}`;

    const push = await f.skopeo(['--debug', 'copy', '--dest-tls-verify=false', '--dest-creds', creds(token), `oci:${f.layoutDir}:multi`, f.docker(`${repo}:v1`)]);
    assertBearerFlow(push.stderr, 'push');
    assert.deepEqual(await tagsOf(f, repo), { status: 200, tags: ['v1'] });

    const info = JSON.parse((await f.skopeo(['inspect', '--tls-verify=false', '--creds', creds(token), f.docker(`${repo}:v1`)])).stdout) as { Digest: string; Layers: string[] };
    assert.equal(info.Digest, multi.manifestDigest);
    assert.deepEqual(info.Layers, multi.layers.map((l) => l.digest));

    const out = f.tempDir('out');
    const pull = await f.skopeo(['--debug', 'copy', '--src-tls-verify=false', '--src-creds', creds(token), f.docker(`${repo}:v1`), `oci:${out}:v1`]);
    assertBearerFlow(pull.stderr, 'pull');
    assert.equal(findRef(readLayoutIndex(out), 'v1')?.digest, multi.manifestDigest);

    // the server recorded the writes under the user, and the token's last use
    const audit = await auditOf(f, user.username);
    assert.ok(audit.some((e) => e.action === 'manifest.push' && e.resource === `${repo}:v1` && e.result === 'allowed'), JSON.stringify(audit));
    const tokens = (await f.api.ok<{ tokens: { id: string; last_used_at: string | null }[] }>('GET', `/api/v1/users/${user.username}/tokens`)).tokens;
    assert.notEqual(tokens.find((x) => x.id === token.id)?.last_used_at, null);

    // without credentials the private repository is closed to skopeo
    const anon = await f.skopeoFails(['inspect', '--tls-verify=false', '--no-creds', f.docker(`${repo}:v1`)]);
    assert.match(anon.stderr, /unauthorized|authentication required/i, anon.stderr);
  });
});

test('Oracle style: --dest-creds <org>/<user>:<auth token> pushes inside the organization', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multi } = f.layout;
    const org = 'ansh81vru1zp';
    await f.api.ok('POST', '/api/v1/organizations', { name: org }, 201);
    const user = await f.api.user(uniq('tenant-'));
    assert.equal((await f.api.call('PUT', `/api/v1/organizations/${org}/members/${user.username}`)).status, 204);
    await f.api.bind(org, 'organization-system-artifact-management-admin', { kind: 'user', name: user.username });
    const token = await f.api.token(user.username, 'oci');
    const login = { username: `${org}/${user.username}`, password: token.password };
    const repo = `${org}/project01/ngnix-lb-${f.id}`;
    await f.skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds(login), `oci:${f.layoutDir}:multi`, f.docker(`${repo}:1.0`)]);
    const raw = (await f.skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds(login), f.docker(`${repo}:1.0`)])).stdout;
    assert.equal(raw, multi.manifestBytes.toString('utf8'));
    // outside the organization: denied
    const outside = `system/oracle_db-${f.id}`;
    const denied = await f.skopeoFails(['copy', '--dest-tls-verify=false', '--dest-creds', creds(login), `oci:${f.layoutDir}:multi`, f.docker(`${outside}:1.0`)]);
    // skopeo first checks for the blob (HEAD, no body): with no pull right either, that is a bare 403
    assert.match(denied.stderr, /denied|403 \(Forbidden\)/i, denied.stderr);
    assert.equal((await tagsOf(f, outside)).status, 404);
  });
});

test('skopeo login --password-stdin with --authfile, then copy and inspect with that auth file; logout ends it', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multi, multiarch } = f.layout;
    const user = await f.api.user(uniq('dev-'));
    await f.api.bind('interop', 'artifact-writer', { kind: 'user', name: user.username });
    const token = await f.api.token(user.username, 'laptop');
    const authFile = join(f.root, 'auth.json');
    const host = f.server.host;

    // a wrong password: login fails, nothing stored
    const bad = await f.skopeoFails(['login', '--tls-verify=false', '--authfile', authFile, '-u', user.username, '--password-stdin', host], 'not-the-password\n');
    assert.match(bad.stderr, /unauthorized|invalid username\/password|authentication required/i, bad.stderr);
    assert.equal(existsSync(authFile) && JSON.stringify(JSON.parse(readFileSync(authFile, 'utf8')).auths ?? {}).includes(host), false, 'a failed login stores nothing');

    // with the auth token as the password (it may hold ]{;) and other punctuation)
    const ok = await f.skopeo(['login', '--tls-verify=false', '--authfile', authFile, '-u', user.username, '--password-stdin', host], `${token.password}\n`);
    assert.match(ok.stdout + ok.stderr, /Login Succeeded/i);
    const stored = JSON.parse(readFileSync(authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
    assert.equal(Buffer.from(stored.auths[host]!.auth, 'base64').toString('utf8'), `${user.username}:${token.password}`);

    const repo = `interop/login-${f.id}`;
    const push = await f.skopeo(['--debug', 'copy', '--dest-tls-verify=false', '--authfile', authFile, `oci:${f.layoutDir}:multi`, f.docker(`${repo}:v1`)]);
    assertBearerFlow(push.stderr, 'push with the auth file');
    await f.skopeo(['copy', '--all', '--dest-tls-verify=false', '--authfile', authFile, `oci:${f.layoutDir}:multiarch`, f.docker(`${repo}:arch`)]);
    const info = JSON.parse((await f.skopeo(['inspect', '--tls-verify=false', '--authfile', authFile, f.docker(`${repo}:v1`)])).stdout) as { Digest: string };
    assert.equal(info.Digest, multi.manifestDigest);
    const index = (await f.skopeo(['inspect', '--raw', '--tls-verify=false', '--authfile', authFile, f.docker(`${repo}:arch`)])).stdout;
    assert.equal(index, multiarch.indexBytes.toString('utf8'));
    const tags = JSON.parse((await f.skopeo(['list-tags', '--tls-verify=false', '--authfile', authFile, f.docker(repo)])).stdout) as { Tags: string[] };
    assert.deepEqual(tags.Tags.sort(), ['arch', 'v1']);
    const out = f.tempDir('out');
    await f.skopeo(['copy', '--src-tls-verify=false', '--authfile', authFile, f.docker(`${repo}:v1`), `oci:${out}:v1`]);
    assert.equal(findRef(readLayoutIndex(out), 'v1')?.digest, multi.manifestDigest);

    // logout removes the entry; the repository is closed again
    await f.skopeo(['logout', '--authfile', authFile, host]);
    const after = await f.skopeoFails(['inspect', '--tls-verify=false', '--authfile', authFile, f.docker(`${repo}:v1`)]);
    assert.match(after.stderr, /unauthorized|authentication required/i, after.stderr);

    // a revoked token stops working for skopeo too
    await f.skopeo(['login', '--tls-verify=false', '--authfile', authFile, '-u', user.username, '--password-stdin', host], `${token.password}\n`);
    assert.equal((await f.api.call('DELETE', `/api/v1/users/${user.username}/tokens/${token.id}`)).status, 204);
    const revoked = await f.skopeoFails(['inspect', '--tls-verify=false', '--authfile', authFile, f.docker(`${repo}:v1`)]);
    assert.match(revoked.stderr, /unauthorized|authentication required|invalid username\/password/i, revoked.stderr);
  });
});

test('a user with only artifact-reader gets a clean denial on push and can still inspect and pull', testOptions, async (t) => {
  await withFixture(t, async (f) => {
    const { multi, multi2 } = f.layout;
    const repo = `interop/readonly-${f.id}`;
    const writer = await f.api.user(uniq('writer-'));
    const reader = await f.api.user(uniq('reader-'));
    await f.api.bind('interop', 'artifact-writer', { kind: 'user', name: writer.username });
    await f.api.bind('interop', 'artifact-reader', { kind: 'user', name: reader.username });
    await f.skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds(writer), `oci:${f.layoutDir}:multi`, f.docker(`${repo}:v1`)]);
    const before = await tagsOf(f, repo);
    assert.deepEqual(before, { status: 200, tags: ['v1'] });

    for (const [label, source, tag] of [
      ['a new image', `oci:${f.layoutDir}:multi2`, 'v2'],
      ['overwriting an existing tag', `oci:${f.layoutDir}:multi2`, 'v1'],
      ['an image whose blobs are already there', `oci:${f.layoutDir}:multi`, 'v3'],
    ] as const) {
      const denied = await f.skopeoFails(['copy', '--dest-tls-verify=false', '--dest-creds', creds(reader), source, f.docker(`${repo}:${tag}`)]);
      assert.notEqual(denied.code, 0);
      // what skopeo prints for the registry's 403 DENIED
      if (process.env.HATOBA_TEST_VERBOSE) t.diagnostic(`${label}: ${denied.stderr}`);
      assert.match(denied.stderr, /denied/i, `${label}: stderr should say the push was denied:\n${denied.stderr}`);
      assert.match(denied.stderr, new RegExp(`${reader.username} has no push right on ${repo}`), `${label}: the registry's message reaches the user:\n${denied.stderr}`);
      assert.doesNotMatch(denied.stderr, /panic|internal server error|EOF/i, `${label}: a clean denial:\n${denied.stderr}`);
    }
    // nothing changed
    assert.deepEqual(await tagsOf(f, repo), before);
    const head = await call(f.server.url, 'HEAD', `/v2/${repo}/manifests/${multi2.manifestDigest}`);
    assert.equal(head.status, 404, 'the denied manifest is not in the repository');
    const audit = await auditOf(f, reader.username);
    assert.ok(audit.some((e) => e.action === 'push' && e.resource === repo && e.result === 'denied'), JSON.stringify(audit));
    assert.ok(!audit.some((e) => e.result === 'allowed'), `the reader wrote something: ${JSON.stringify(audit)}`);

    // delete is denied as well
    const del = await f.skopeoFails(['delete', '--tls-verify=false', '--creds', creds(reader), f.docker(`${repo}:v1`)]);
    assert.match(del.stderr, /denied/i, del.stderr);

    // the reader can still inspect and pull
    const info = JSON.parse((await f.skopeo(['inspect', '--tls-verify=false', '--creds', creds(reader), f.docker(`${repo}:v1`)])).stdout) as { Digest: string };
    assert.equal(info.Digest, multi.manifestDigest);
    const out = f.tempDir('out');
    const pull = await f.skopeo(['--debug', 'copy', '--src-tls-verify=false', '--src-creds', creds(reader), f.docker(`${repo}:v1`), `oci:${out}:v1`]);
    assertBearerFlow(pull.stderr, 'reader pull');
    assert.equal(findRef(readLayoutIndex(out), 'v1')?.digest, multi.manifestDigest);
    // and a user with no binding at all cannot even do that
    const stranger = await f.api.user(uniq('stranger-'));
    const no = await f.skopeoFails(['inspect', '--tls-verify=false', '--creds', creds(stranger), f.docker(`${repo}:v1`)]);
    assert.match(no.stderr, /denied/i, no.stderr);
  });
});
