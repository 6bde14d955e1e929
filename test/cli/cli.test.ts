// The `hatoba` CLI end to end: login/logout against a real server and the
// Docker config file, admin commands, output formats and error messages.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { cliHome, removeHomes, show, type CliHome } from './helpers.js';

let server: RunningServer;
/** The admin's home: logged in once in `before`. */
let admin: CliHome;

const JDOE = { username: 'jdoe', password: 'jdoe has a long password' };
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

before(async () => {
  server = await startServer();
  admin = await cliHome();
  const r = await admin.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: `${ADMIN.password}\n` });
  assert.equal(r.code, 0, show(r));
});

after(async () => {
  await server?.dispose();
  await removeHomes();
});

describe('login and logout', () => {
  const existing = {
    auths: { 'other.example:5000': { auth: b64('someone:secret') } },
    credHelpers: { 'gcr.io': 'gcloud' },
    psFormat: 'table {{.ID}}',
    HttpHeaders: { 'User-Agent': 'Docker-Client' },
  };

  test('a wrong password fails with a clear message and stores nothing', async () => {
    const home = await cliHome();
    await mkdir(home.env.DOCKER_CONFIG!, { recursive: true });
    await writeFile(home.dockerConfig, JSON.stringify(existing));
    const r = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: 'not the password\n' });
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /invalid username or password/, show(r));
    assert.match(r.stderr, /check the user name and password/, show(r));
    assert.doesNotMatch(r.stdout, /Login Succeeded/);
    assert.deepEqual(await home.readDockerConfig(), existing);
  });

  test('the right password stores auths[host:port] and keeps the other keys', async () => {
    const home = await cliHome();
    await mkdir(home.env.DOCKER_CONFIG!, { recursive: true });
    await writeFile(home.dockerConfig, JSON.stringify(existing), { mode: 0o644 });
    const r = await home.run(['login', server.url, '-u', ADMIN.username, '--password-stdin'], { input: `${ADMIN.password}\n` });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /Login Succeeded/);
    const config = await home.readDockerConfig();
    assert.deepEqual(config, {
      ...existing,
      auths: { ...existing.auths, [server.host]: { auth: b64(`${ADMIN.username}:${ADMIN.password}`) } },
    });
    assert.equal((await stat(home.dockerConfig)).mode & 0o777, 0o600);
    // The stored credentials work for the admin commands, with no --server.
    const who = await home.run(['whoami']);
    assert.equal(who.code, 0, show(who));
    assert.match(who.stdout, /^admin \(user/);
  });

  test('no config file yet: ~/.docker/config.json is created (DOCKER_CONFIG unset)', async () => {
    const home = await cliHome();
    const r = await home.run(['login', server.host, '-u', ADMIN.username, '-p', ADMIN.password], { env: { DOCKER_CONFIG: '' } });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stderr, /--password-stdin/, 'warns about -p');
    const config = JSON.parse(await readFile(`${home.dir}/.docker/config.json`, 'utf8'));
    assert.deepEqual(config, { auths: { [server.host]: { auth: b64(`${ADMIN.username}:${ADMIN.password}`) } } });
  });

  test('logout removes only that server', async () => {
    const home = await cliHome();
    await mkdir(home.env.DOCKER_CONFIG!, { recursive: true });
    await writeFile(home.dockerConfig, JSON.stringify(existing));
    let r = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password });
    assert.equal(r.code, 0, show(r));
    r = await home.run(['logout', server.host]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, new RegExp(`Removing login credentials for ${server.host}`));
    assert.deepEqual(await home.readDockerConfig(), existing);
    r = await home.run(['get', 'users']);
    assert.notEqual(r.code, 0, show(r));
    assert.match(r.stderr, /run: hatoba login/, show(r));
  });

  test('admin commands without a login say how to log in', async () => {
    const home = await cliHome();
    const r = await home.run(['user', 'get']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /not logged in/);
    assert.match(r.stderr, /run: hatoba login SERVER/);
  });
});

describe('admin commands', () => {
  let jdoe: CliHome;

  before(async () => {
    const r = await admin.run(['user', 'create', JDOE.username, '--password-stdin', '--email', 'jdoe@acme.com'], { input: JDOE.password });
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, 'user/jdoe created\n');
    jdoe = await cliHome();
    const login = await jdoe.run(['login', server.host, '-u', JDOE.username, '--password-stdin'], { input: `${JDOE.password}\n` });
    assert.equal(login.code, 0, show(login));
  });

  test('user get: a table with headers, one user, and JSON', async () => {
    let r = await admin.run(['user', 'get']);
    assert.equal(r.code, 0, show(r));
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^USERNAME\s{3,}EMAIL\s{3,}DISABLED\s{3,}AGE$/);
    assert.ok(lines.some((l) => /^jdoe\s+jdoe@acme\.com\s+false\s+\d+s$/.test(l)), r.stdout);
    // Columns are aligned: every row starts its second column where the header does.
    const col = lines[0]!.indexOf('EMAIL');
    for (const line of lines.slice(1)) {
      assert.equal(line[col - 1], ' ', r.stdout);
      assert.notEqual(line[col], ' ', r.stdout);
    }

    r = await admin.run(['user', 'get', 'jdoe', '-o', 'json']);
    assert.equal(r.code, 0, show(r));
    const user = JSON.parse(r.stdout);
    assert.equal(user.username, 'jdoe');
    assert.equal(user.email, 'jdoe@acme.com');
    assert.equal(user.disabled, false);

    r = await admin.run(['get', 'users', '-o', 'yaml']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(parseYaml(r.stdout).map((u: { username: string }) => u.username).sort(), ['admin', 'jdoe']);
  });

  test('token create prints the secret once; it works as a password', async () => {
    const r = await jdoe.run(['token', 'create', 'ci']);
    assert.equal(r.code, 0, show(r));
    const secret = r.stdout.trimEnd();
    assert.equal(r.stdout.split('\n').length, 2, 'only the secret on stdout');
    assert.ok(secret.length >= 24, secret);
    assert.match(r.stderr, /shown only now/);
    assert.ok(!r.stderr.includes(secret), 'the secret is printed once, on stdout');

    const list = await jdoe.run(['token', 'get', '-o', 'json']);
    assert.equal(list.code, 0, show(list));
    assert.ok(!list.stdout.includes(secret), 'listing never shows the secret');
    const tokens = JSON.parse(list.stdout) as { name: string; revoked: boolean }[];
    assert.deepEqual(tokens.map((t) => [t.name, t.revoked]), [['ci', false]]);

    // A fresh machine logs in with the token as the password.
    const laptop = await cliHome();
    const login = await laptop.run(['login', server.host, '-u', 'jdoe', '--password-stdin'], { input: secret });
    assert.equal(login.code, 0, show(login));
    assert.deepEqual((await laptop.readDockerConfig()).auths, { [server.host]: { auth: b64(`jdoe:${secret}`) } });
    const who = await laptop.run(['whoami']);
    assert.match(who.stdout, /^jdoe \(user, signed in with an auth token\)/, show(who));

    // Revoked, it no longer signs in, and the stored credentials say to log in again.
    const revoke = await jdoe.run(['token', 'revoke', 'ci']);
    assert.equal(revoke.code, 0, show(revoke));
    const after = await laptop.run(['whoami']);
    assert.equal(after.code, 1, show(after));
    assert.match(after.stderr, /unauthorized/);
    assert.match(after.stderr, new RegExp(`run: hatoba login ${server.host.replace(/\./g, '\\.')}`));
  });

  test('create rolebinding with kubectl syntax; get rolebindings as JSON, YAML and a table', async () => {
    let r = await admin.run(['create', 'rolebinding', 'jdoe-writes-system', '--role=artifact-writer', '--user=jdoe', '-n', 'system']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^rolebinding\/jdoe-writes-system created/);

    r = await admin.run(['get', 'rolebindings', '-n', 'system', '-o', 'json']);
    assert.equal(r.code, 0, show(r));
    const bindings = JSON.parse(r.stdout) as { name: string; namespace: string; role: string; subject: { kind: string; name: string } }[];
    assert.deepEqual(
      bindings.map(({ name, namespace, role, subject }) => ({ name, namespace, role, subject })),
      [{ name: 'jdoe-writes-system', namespace: 'system', role: 'artifact-writer', subject: { kind: 'user', name: 'jdoe' } }],
    );

    r = await admin.run(['get', 'rolebindings', '-o', 'yaml']);
    assert.equal(r.code, 0, show(r));
    const all = parseYaml(r.stdout) as { name: string; namespace: string }[];
    assert.ok(all.some((b) => b.name === 'admin' && b.namespace === ''), 'the instance binding of admin');
    assert.ok(all.some((b) => b.name === 'jdoe-writes-system' && b.namespace === 'system'));

    r = await admin.run(['get', 'rolebindings']);
    assert.equal(r.code, 0, show(r));
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    assert.match(header!, /^NAME\s+NAMESPACE\s+ROLE\s+SUBJECT\s+AGE$/);
    assert.ok(rows.some((l) => /^jdoe-writes-system\s+system\s+artifact-writer\s+user:jdoe\s+\S+$/.test(l)), r.stdout);
    assert.ok(rows.some((l) => /^admin\s+<instance>\s+system-artifact-management-admin\s+user:admin/.test(l)), r.stdout);

    // Noun first, and deleting it again.
    r = await admin.run(['rolebinding', 'get', 'jdoe-writes-system', '-n', 'system', '-o', 'json']);
    assert.equal(JSON.parse(r.stdout).role, 'artifact-writer', show(r));
    r = await admin.run(['delete', 'rolebinding', 'jdoe-writes-system', '-n', 'system']);
    assert.equal(r.code, 0, show(r));
    r = await admin.run(['get', 'rolebindings', '-n', 'system']);
    assert.equal(r.code, 0, show(r));
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /No rolebindings found/);
  });

  test('a user without the admin right is denied, with what to do next', async () => {
    const r = await jdoe.run(['user', 'create', 'mallory', '-p', 'mallory password']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /denied: you need the admin right on the instance/, show(r));
    assert.match(r.stderr, /ask an administrator for a role binding/, show(r));
    assert.equal(r.stdout, '');
    const check = await admin.run(['user', 'get', 'mallory']);
    assert.equal(check.code, 1, show(check));
    assert.match(check.stderr, /not found: no user mallory/);
  });

  test('projects, roles, groups, organizations and robots', async () => {
    const ok = async (args: string[]) => {
      const r = await admin.run(args);
      assert.equal(r.code, 0, show(r));
      return r.stdout;
    };
    await ok(['project', 'create', 'acme/project01']);
    await ok(['project', 'set-public', 'acme/project01']);
    const projects = JSON.parse(await ok(['get', 'projects', '-o', 'json'])) as { name: string; public: boolean }[];
    assert.deepEqual(projects.find((p) => p.name === 'acme/project01')?.public, true);

    await ok(['role', 'create', 'puller-pusher', '--verb=pull', '--verb=push']);
    assert.deepEqual(JSON.parse(await ok(['role', 'get', 'puller-pusher', '-o', 'json'])).verbs, ['pull', 'push']);

    await ok(['org', 'create', 'acme']);
    await ok(['org', 'add-member', 'acme', 'jdoe']);
    await ok(['group', 'create', 'devs']);
    await ok(['group', 'add-member', 'devs', 'jdoe']);
    assert.deepEqual(JSON.parse(await ok(['group', 'get', 'devs', '-o', 'json'])).members, ['jdoe']);

    const robot = await admin.run(['robot', 'create', 'builder', '-n', 'acme/project01']);
    assert.equal(robot.code, 0, show(robot));
    const robotSecret = robot.stdout.trimEnd();
    await ok(['create', 'rolebinding', 'builder-pushes', '--role=puller-pusher', '--robot=robot$acme/project01+builder', '-n', 'acme/project01']);
    await ok(['create', 'rolebinding', 'devs-read', '--role=artifact-reader', '--group=devs', '-n', 'acme']);
    // The robot signs in with its secret.
    const ci = await cliHome();
    const login = await ci.run(['login', server.host, '-u', 'robot$acme/project01+builder', '--password-stdin'], { input: robotSecret });
    assert.equal(login.code, 0, show(login));

    // Still bound: the server refuses, and the CLI passes that on.
    const busy = await admin.run(['role', 'delete', 'puller-pusher']);
    assert.equal(busy.code, 1, show(busy));
    assert.match(busy.stderr, /still bound/);
    await ok(['delete', 'rolebinding', 'builder-pushes', '-n', 'acme/project01']);
    await ok(['role', 'delete', 'puller-pusher']);
    await ok(['robot', 'delete', 'robot$acme/project01+builder']);
    await ok(['user', 'disable', 'jdoe']);
    assert.equal(JSON.parse(await ok(['user', 'get', 'jdoe', '-o', 'json'])).disabled, true);
    await ok(['user', 'enable', 'jdoe']);
  });

  test('user passwd changes your own password and keeps the stored login working', async () => {
    const r = await jdoe.run(['user', 'passwd', '--password-stdin'], { input: 'jdoe has a new long password\n' });
    assert.equal(r.code, 0, show(r));
    assert.equal((await jdoe.readDockerConfig()).auths![server.host]!.auth, b64('jdoe:jdoe has a new long password'));
    const who = await jdoe.run(['whoami']);
    assert.match(who.stdout, /^jdoe \(user, signed in with a password\)/, show(who));
  });

  test('token create --scope; a token without api makes no tokens; passwd --revoke-tokens revokes them all', async () => {
    const r = await jdoe.run(['token', 'create', 'puller', '--scope', 'pull', '-o', 'json']);
    assert.equal(r.code, 0, show(r));
    const puller = JSON.parse(r.stdout) as { secret: string; scopes: string[] };
    assert.deepEqual(puller.scopes, ['pull']);
    const bad = await jdoe.run(['token', 'create', 'x', '--scope', 'pull,everything']);
    assert.notEqual(bad.code, 0, show(bad));
    assert.match(bad.stderr, /token scopes/);

    const laptop = await cliHome();
    assert.equal((await laptop.run(['login', server.host, '-u', 'jdoe', '--password-stdin'], { input: puller.secret })).code, 0);
    const mint = await laptop.run(['token', 'create', 'successor']);
    assert.equal(mint.code, 1, show(mint));
    assert.match(mint.stderr, /denied: .*api scope/);

    const passwd = await jdoe.run(['user', 'passwd', '--revoke-tokens', '--password-stdin'], { input: 'jdoe has a third long password\n' });
    assert.equal(passwd.code, 0, show(passwd));
    assert.match(passwd.stdout, /auth tokens revoked/);
    const listed = await admin.run(['token', 'get', '--user', 'jdoe', '-o', 'json']);
    assert.equal(listed.code, 0, show(listed));
    const list = JSON.parse(listed.stdout) as { name: string; revoked: boolean }[];
    assert.ok(list.length >= 2 && list.every((t) => t.revoked), JSON.stringify(list));
    const gone = await laptop.run(['whoami']);
    assert.notEqual(gone.code, 0, 'the revoked token no longer signs in');
  });

  test('audit: the writes, filtered by principal', async () => {
    const r = await admin.run(['audit', '--principal', 'admin', '--since', '1h', '--limit', '500', '-o', 'json']);
    assert.equal(r.code, 0, show(r));
    const entries = JSON.parse(r.stdout) as { principal: string; action: string; resource: string }[];
    assert.ok(entries.length > 0);
    assert.ok(entries.every((e) => e.principal === 'admin'));
    assert.ok(entries.some((e) => e.action === 'user.create' && e.resource === 'jdoe'), r.stdout);
    const table = await admin.run(['audit', '--limit', '3']);
    assert.match(table.stdout.split('\n')[0]!, /^TIME\s+PRINCIPAL\s+ACTION\s+RESOURCE\s+RESULT\s+FROM$/, show(table));
    const denied = await jdoe.run(['audit']);
    assert.equal(denied.code, 1, show(denied));
    assert.match(denied.stderr, /denied: .*read-audit/);
  });
});
