// The admin commands on a server whose metadata is in PostgreSQL:
// `reset-password --db URL` works (also with the password in PGPASSWORD
// rather than the URL), and `backup` refuses, pointing to pg_dump, instead
// of copying a data directory that does not hold the database. Neither
// shows the database password.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Api, call, uniq } from '../auth/access-helpers.js';
import { createTestDatabase, pgTestOptions, type TestDatabase } from '../helpers/postgres.js';
import { startServer, type RunningServer } from '../helpers/server.js';
import { cliHome, removeHomes, type CliHome } from './helpers.js';

const options = pgTestOptions();
let database: TestDatabase;
let server: RunningServer;
let api: Api;
let home: CliHome;

before(async () => {
  if (options.skip) return;
  database = await createTestDatabase();
  server = await startServer({ env: { HATOBA_DB: database.url } });
  api = new Api(server.url);
  home = await cliHome();
});
after(async () => {
  await server?.dispose();
  await database?.drop();
  await removeHomes();
});

test('reset-password --db postgres://... sets the password in the database the server uses', options, async () => {
  const user = await api.user(uniq('pg-reset-'));
  let run = await home.run(['admin', 'reset-password', user.username, '--db', database.url, '--password-stdin'], { input: 'a postgres password\n' });
  assert.equal(run.code, 0, run.stderr);
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: { username: user.username, password: 'a postgres password' } })).status, 200);

  // libpq's variables fill in what the URL leaves out.
  const url = new URL(database.url);
  const password = url.password;
  url.password = '';
  run = await home.run(['admin', 'reset-password', user.username, '--password-stdin'], { input: 'from the environment\n', env: { HATOBA_DB: url.toString(), PGPASSWORD: password } });
  assert.equal(run.code, 0, run.stderr);
  assert.equal((await call(server.url, 'GET', '/v2/', { auth: { username: user.username, password: 'from the environment' } })).status, 200);

  run = await home.run(['admin', 'reset-password', 'nobody-here', '--db', database.url, '--password-stdin'], { input: 'a postgres password\n' });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /no user nobody-here/);
});

test('a database that cannot be reached is named without its password', options, async () => {
  const wrong = new URL(database.url);
  wrong.password = 'not-the-password';
  const run = await home.run(['admin', 'reset-password', 'admin', '--db', wrong.toString(), '--password-stdin'], { input: 'a postgres password\n' });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /cannot connect to the database postgres:\/\/[^:]+:\*\*\*@/);
  assert.ok(!run.stderr.includes('not-the-password'), run.stderr);
});

test('backup of a PostgreSQL server refuses and points to pg_dump, writing nothing', options, async () => {
  const run = await home.run(['admin', 'backup', `${server.dataDir}-backup`, '--data-dir', server.dataDir, '--db', database.url]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /pg_dump/);
  assert.match(run.stderr, /docs\/backup\.md/);
  assert.ok(!run.stderr.includes(new URL(database.url).password + '@'), 'no password in the message');
});
