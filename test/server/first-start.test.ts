// The first start of `hatoba serve`: a start that fails (port taken, bad
// flag) leaves no data directory behind, so the next start is a first start
// and shows the generated admin password; the password is also kept in
// DATA_DIR/initial-admin-password (0600), and the sign-in line printed
// works as printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { call } from '../auth/access-helpers.js';
import { runCli } from '../cli/helpers.js';
import { PROJECT_ROOT } from '../helpers/server.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'hatoba-first-start-'));
});
after(() => rm(root, { recursive: true, force: true }));

interface Serve {
  code: number | null;
  output: string;
  url?: string;
  stop(): Promise<void>;
}

/** Runs `hatoba serve ARGS` without HATOBA_ADMIN_PASSWORD until it listens or exits. */
function serve(args: string[]): Promise<Serve> {
  const env = { ...process.env };
  delete env.HATOBA_ADMIN_PASSWORD;
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts'), 'serve', '--log-level', 'warn', ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve) => {
    const onData = (c: Buffer) => {
      output += c.toString();
      const m = /listening on (https?:\/\/[0-9.]+:\d+)/.exec(output);
      if (m) resolve({ code: null, output, url: m[1], stop });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => resolve({ code, output, stop }));
  });
}

async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

function passwordIn(output: string): string {
  const m = /created the first user "admin" with password: (\S+)/.exec(output);
  assert.ok(m, `no password in:\n${output}`);
  return m[1]!;
}

test('a first start on a taken port leaves no data directory; the next start prints the password and keeps it in a 0600 file', async () => {
  const data = join(root, 'fresh');
  const { port, server } = await takenPort();
  const failed = await serve(['--listen', `127.0.0.1:${port}`, '--data-dir', data]);
  server.close();
  assert.equal(failed.code, 1, failed.output);
  assert.match(failed.output, /another process uses that port/);
  assert.ok(!existsSync(data), 'the failed first start took back the data directory it made');

  const started = await serve(['--listen', '127.0.0.1:0', '--data-dir', data]);
  try {
    assert.ok(started.url, started.output);
    const password = passwordIn(started.output);
    const file = join(data, 'initial-admin-password');
    assert.equal(readFileSync(file, 'utf8'), `${password}\n`);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const host = started.url!.replace('http://', '');
    assert.match(started.output, new RegExp(`sign in with: skopeo login --tls-verify=false -u admin ${host.replace(/\./g, '\\.')}`), 'the printed command works on plain HTTP');
    assert.equal((await call(started.url!, 'GET', '/v2/', { auth: { username: 'admin', password } })).status, 200);
  } finally {
    await started.stop();
  }

  // A later start does not print the password again, but says where it still is;
  // once the admin changes the password, the file is gone.
  const again = await serve(['--listen', '127.0.0.1:0', '--data-dir', data]);
  try {
    assert.doesNotMatch(again.output, /created the first user/);
    assert.match(again.output, /generated password is still in .*initial-admin-password/);
    const password = readFileSync(join(data, 'initial-admin-password'), 'utf8').trim();
    const changed = await call(again.url!, 'PATCH', '/api/v1/users/admin', {
      auth: { username: 'admin', password },
      body: JSON.stringify({ password: 'the admin chose this one' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(changed.status, 200, changed.text);
    assert.ok(!existsSync(join(data, 'initial-admin-password')), 'the file goes when the admin changes the password');
  } finally {
    await again.stop();
  }
});

test('a failed first start in a data directory that already existed keeps the password file for the next start', async () => {
  const data = join(root, 'made-by-operator');
  mkdirSync(data);
  const { port, server } = await takenPort();
  const failed = await serve(['--listen', `127.0.0.1:${port}`, '--data-dir', data]);
  server.close();
  assert.equal(failed.code, 1, failed.output);
  assert.ok(existsSync(data), 'a directory the operator made is not removed');
  // The admin was made before the listen failed: its password was kept.
  const password = readFileSync(join(data, 'initial-admin-password'), 'utf8').trim();

  const next = await serve(['--listen', '127.0.0.1:0', '--data-dir', data]);
  try {
    assert.match(next.output, /generated password is still in .*initial-admin-password/);
    assert.equal((await call(next.url!, 'GET', '/v2/', { auth: { username: 'admin', password } })).status, 200);
  } finally {
    await next.stop();
  }
  // An offline reset of the admin's password also removes the file.
  const reset = await runCli(['admin', 'reset-password', 'admin', '--data-dir', data, '--password-stdin'], {}, 'the operator reset this');
  assert.equal(reset.code, 0, reset.stderr);
  assert.ok(!existsSync(join(data, 'initial-admin-password')));
});

test('a bad flag or setting creates nothing', async () => {
  for (const args of [['--listen', 'nonsense'], ['--workers', '0'], ['--log-level', 'loud'], ['--no-such-flag']]) {
    const data = join(root, `bad-${args[0]!.replace(/-/g, '')}`);
    const run = await serve([...args, '--data-dir', data]);
    assert.notEqual(run.code, 0, `${args.join(' ')}: ${run.output}`);
    assert.ok(run.code === 1 || run.code === 2, `${args.join(' ')} exits 1 or 2, not ${run.code}`);
    assert.ok(!existsSync(data), `${args.join(' ')} created ${data}`);
    assert.doesNotMatch(run.output, /\n\s+at /, `${args.join(' ')} printed a stack trace`);
  }
});
