// `hatoba admin reset-password USER --data-dir DIR`: offline, on the
// server's machine, for when nobody can sign in. It works while the server
// runs, revokes the user's auth tokens on request, generates and prints a
// password when none is given, audits itself, and refuses an unknown user
// or a directory that is not a data directory.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Api, call, uniq } from '../auth/access-helpers.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { cliHome, removeHomes, type CliHome } from './helpers.js';

let server: RunningServer;
let api: Api;
let home: CliHome;
before(async () => {
  server = await startServer();
  api = new Api(server.url);
  home = await cliHome();
});
after(async () => {
  await server.dispose();
  await removeHomes();
});

test('reset-password with --password-stdin --revoke-tokens while the server runs: the new password works, the tokens do not', async () => {
  const user = await api.user(uniq('reset-'));
  const token = await api.token(user.username);
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: token })).status, 200);

  const run = await home.run(['admin', 'reset-password', user.username, '--data-dir', server.dataDir, '--db', server.database, '--password-stdin', '--revoke-tokens'], { input: 'a brand new password\n' });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, '', 'a password given is not printed');
  assert.match(run.stderr, /reset and their auth tokens revoked/);
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: { username: user.username, password: 'a brand new password' } })).status, 200);
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: token })).status, 401, 'the revoked token is refused');

  const audit = await api.ok<{ entries: { action: string; resource: string; principal: string }[] }>('GET', `/api/v1/audit?limit=50`);
  const entry = audit.entries.find((e) => e.action === 'user.reset-password' && e.resource === user.username);
  assert.ok(entry, 'the reset is in the audit log');
  assert.match(entry.principal, /^local:/);
});

test('reset-password without a password and no terminal generates one and prints it once', async () => {
  const user = await api.user(uniq('reset-'));
  const run = await home.run(['admin', 'reset-password', user.username, '--data-dir', server.dataDir, '--db', server.database]);
  assert.equal(run.code, 0, run.stderr);
  const password = run.stdout.trim();
  assert.equal(password.length, 24, `a generated password on stdout: ${run.stdout}`);
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: { username: user.username, password } })).status, 200);
  assert.ok(!run.stderr.includes(password));
});

test('reset-password refuses an unknown user and a directory that is not a data directory', async () => {
  let run = await home.run(['admin', 'reset-password', 'nobody-here', '--data-dir', server.dataDir, '--db', server.database, '--password-stdin'], { input: 'a brand new password' });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /no user nobody-here/);
  const empty = await mkdtemp(join(tmpdir(), 'hatoba-not-data-'));
  try {
    run = await home.run(['admin', 'reset-password', 'admin', '--data-dir', empty, '--password-stdin'], { input: 'a brand new password' });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /not a Hatoba data directory/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
  run = await home.run(['admin', 'reset-password', 'admin', '--data-dir', server.dataDir, '--db', server.database, '--password-stdin'], { input: 'short' });
  assert.equal(run.code, 1, 'a password the server would refuse is refused here too');
  assert.match(run.stderr, /password must be/);
});
