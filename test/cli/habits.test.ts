// The habits users bring from docker, podman, skopeo and kubectl, run as
// the real CLI against a real server: the current server when none is
// given, -A, -o name, whoami -o json, one duration syntax, an explicit
// --instance for instance-wide bindings, audit -o json as one array.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { TestRegistry } from '../helpers/registry-client.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { cliHome, removeHomes, show, type CliHome, type CliResult } from './helpers.js';

let server: RunningServer;
let admin: CliHome;

before(async () => {
  server = await startServer();
  admin = await cliHome();
  const r = await admin.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: ADMIN.password });
  assert.equal(r.code, 0, show(r));
  const registry = new TestRegistry(server.url);
  await registry.pushImage('system/oracle_db', '19c');
  await registry.pushImage('system/oracle_db', '21c');
  await registry.pushImage('acme/web', 'v1');
});

after(async () => {
  await server?.dispose();
  await removeHomes();
});

async function ok(home: CliHome, args: string[], input?: string): Promise<CliResult> {
  const r = await home.run(args, { input });
  assert.equal(r.code, 0, show(r));
  return r;
}

describe('repo ls and tag ls', () => {
  test('use the current server (the last hatoba login) when none is given', async () => {
    const repos = await ok(admin, ['repo', 'ls']);
    assert.match(repos.stdout, /^REPOSITORY\n/);
    assert.deepEqual(repos.stdout.trimEnd().split('\n').slice(1), ['acme/web', 'system/oracle_db']);
    // The same as naming the server.
    assert.equal((await ok(admin, ['repo', 'ls', server.host])).stdout, repos.stdout);

    const tags = await ok(admin, ['tag', 'ls', 'system/oracle_db', '-o', 'json']);
    assert.deepEqual(JSON.parse(tags.stdout), { name: 'system/oracle_db', tags: ['19c', '21c'] });
    assert.equal((await ok(admin, ['tag', 'ls', `${server.host}/system/oracle_db`, '-o', 'json'])).stdout, tags.stdout);
  });

  test('-o name prints kind/name per line', async () => {
    assert.equal((await ok(admin, ['repo', 'ls', '-o', 'name'])).stdout, 'repository/acme/web\nrepository/system/oracle_db\n');
    assert.equal((await ok(admin, ['tag', 'ls', 'system/oracle_db', '-o', 'name'])).stdout, 'tag/system/oracle_db:19c\ntag/system/oracle_db:21c\n');
  });

  test('an unknown repository suggests repo ls, not tag ls again', async () => {
    const r = await admin.run(['tag', 'ls', 'system/no_such_repo']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /not found: no repository system\/no_such_repo on /, show(r));
    assert.match(r.stderr, new RegExp(`list the repositories you may see with: hatoba repo ls ${server.host.replace(/\./g, '\\.')}`), show(r));
    assert.doesNotMatch(r.stderr, /hatoba tag ls/, 'no circular hint');
  });

  test('without a login and without a server, they say what to give', async () => {
    const home = await cliHome();
    const repo = await home.run(['repo', 'ls']);
    assert.equal(repo.code, 1, show(repo));
    assert.match(repo.stderr, /no server given, and not logged in to any/);
    assert.match(repo.stderr, /hatoba repo ls HOST\[:PORT\]/);
    const tag = await home.run(['tag', 'ls', 'system/oracle_db']);
    assert.equal(tag.code, 1, show(tag));
    assert.match(tag.stderr, /hatoba tag ls HOST\[:PORT\]\/system\/oracle_db/);
  });
});

describe('role bindings', () => {
  test('create rolebinding without -n refuses and asks for --instance; nothing is bound', async () => {
    await ok(admin, ['user', 'create', 'carol', '--password-stdin'], 'carol has a long password');
    const refused = await admin.run(['create', 'rolebinding', 'carol-everywhere', '--role=artifact-reader', '--user=carol']);
    assert.equal(refused.code, 1, show(refused));
    assert.match(refused.stderr, /No -n NAMESPACE was given/);
    assert.match(refused.stderr, /add -n NAMESPACE .* or --instance to bind on the whole instance/);
    const all = JSON.parse((await ok(admin, ['get', 'rolebindings', '-A', '-o', 'json'])).stdout) as { name: string }[];
    assert.ok(!all.some((b) => b.name === 'carol-everywhere'), 'no binding was made');

    const both = await admin.run(['create', 'rolebinding', 'x', '--role=artifact-reader', '--user=carol', '-n', 'system', '--instance']);
    assert.equal(both.code, 1, show(both));
    assert.match(both.stderr, /-n NAMESPACE and --instance contradict each other/);

    const instance = await ok(admin, ['create', 'rolebinding', 'carol-everywhere', '--role=artifact-reader', '--user=carol', '--instance']);
    assert.match(instance.stdout, /^rolebinding\/carol-everywhere created \(artifact-reader for user carol on the whole instance\)/);
    const named = await ok(admin, ['create', 'rolebinding', 'carol-system', '--role=artifact-writer', '--user=carol', '-n', 'system', '-o', 'name']);
    assert.equal(named.stdout, 'rolebinding/carol-system\n');
  });

  test('get rolebindings -A lists every namespace; -A with -n is refused', async () => {
    const all = JSON.parse((await ok(admin, ['get', 'rolebindings', '-A', '-o', 'json'])).stdout) as { name: string; namespace: string }[];
    assert.ok(all.some((b) => b.name === 'carol-everywhere' && b.namespace === ''), JSON.stringify(all));
    assert.ok(all.some((b) => b.name === 'carol-system' && b.namespace === 'system'), JSON.stringify(all));
    const table = await ok(admin, ['get', 'rolebindings', '--all-namespaces']);
    assert.match(table.stdout, /^NAME\s+NAMESPACE\s+ROLE/);
    assert.match(table.stdout, /carol-system\s+system\s+artifact-writer/);
    const noun = await ok(admin, ['rolebinding', 'get', '-A', '-o', 'name']);
    assert.ok(noun.stdout.split('\n').includes('rolebinding/carol-system'), noun.stdout);

    const both = await admin.run(['get', 'rolebindings', '-A', '-n', 'system']);
    assert.equal(both.code, 1, show(both));
    assert.match(both.stderr, /-A \(all namespaces\) and -n NAMESPACE contradict each other/);
  });
});

describe('-o name, whoami -o json, audit -o json', () => {
  test('-o name on listings and on one resource', async () => {
    const users = (await ok(admin, ['get', 'users', '-o', 'name'])).stdout.trimEnd().split('\n');
    assert.ok(users.includes('user/admin') && users.every((l) => /^user\/\S+$/.test(l)), users.join('\n'));
    assert.equal((await ok(admin, ['user', 'get', 'admin', '-o', 'name'])).stdout, 'user/admin\n');
    assert.equal((await ok(admin, ['project', 'create', 'acme', '-o', 'name'])).stdout, 'project/acme\n');
    await ok(admin, ['robot', 'create', 'builder', '-n', 'acme']);
    assert.equal((await ok(admin, ['get', 'robots', '-n', 'acme', '-o', 'name'])).stdout, 'robot/robot$acme+builder\n');
    const roles = (await ok(admin, ['get', 'roles', '-o', 'name'])).stdout;
    assert.match(roles, /^role\/artifact-reader$/m);
  });

  test('whoami -o json and -o name', async () => {
    const who = JSON.parse((await ok(admin, ['whoami', '-o', 'json'])).stdout);
    assert.deepEqual(who, { kind: 'user', name: 'admin', via: 'password', server: server.host });
    assert.equal((await ok(admin, ['whoami', '-o', 'name'])).stdout, 'user/admin\n');
    assert.match((await ok(admin, ['whoami', '-o', 'yaml'])).stdout, /^kind: user\nname: admin\n/);
  });

  test('audit -o json is one array of entries, as the README says', async () => {
    const r = await ok(admin, ['audit', '--since', '1h', '--limit', '2', '-o', 'json']);
    const entries = JSON.parse(r.stdout) as { id: number; action: string }[];
    assert.ok(Array.isArray(entries), r.stdout);
    assert.equal(entries.length, 2);
    assert.match(r.stderr, /\(more: add --before \d+\)/, 'the next page is told on stderr');
    const names = (await ok(admin, ['audit', '--limit', '2', '-o', 'name'])).stdout;
    assert.deepEqual(names.trimEnd().split('\n'), entries.map((e) => `audit/${e.id}`));
  });
});

describe('durations', () => {
  const inDays = (iso: string) => (Date.parse(iso) - Date.now()) / 86_400_000;

  test('token create --expires-in 7d, and the older --expires-in-days', async () => {
    const week = JSON.parse((await ok(admin, ['token', 'create', 'week', '--expires-in', '7d', '-o', 'json'])).stdout) as { expires_at: string };
    assert.ok(Math.abs(inDays(week.expires_at) - 7) < 0.01, week.expires_at);
    const two = JSON.parse((await ok(admin, ['token', 'create', 'two', '--expires-in-days', '2', '-o', 'json'])).stdout) as { expires_at: string };
    assert.ok(Math.abs(inDays(two.expires_at) - 2) < 0.01, two.expires_at);
    const robot = JSON.parse((await ok(admin, ['robot', 'create', 'nightly', '-n', 'acme', '--expires-in', '30d', '-o', 'json'])).stdout) as { expires_at: string };
    assert.ok(Math.abs(inDays(robot.expires_at) - 30) < 0.01, robot.expires_at);
  });

  test('bad durations are refused before anything is made, naming the accepted forms', async () => {
    const before = (JSON.parse((await ok(admin, ['token', 'get', '-o', 'json'])).stdout) as unknown[]).length;
    for (const [args, message] of [
      [['--expires-in', '30'], /--expires-in 30: not a duration\nhatoba: write 90s, 15m, 2h, 7d/],
      [['--expires-in', '12h'], /expire after whole days.*\nhatoba: give a number of days, e.g. --expires-in 1d/],
      [['--expires-in', '7d', '--expires-in-days', '7'], /--expires-in and --expires-in-days say the same thing/],
      [['--expires-in-days', 'soon'], /--expires-in-days soon: not a whole number of days/],
      [['--expires-in', '4000d'], /--expires-in 4000d: give from 1 to 3650 days/],
    ] as const) {
      const r = await admin.run(['token', 'create', 'bad', ...args]);
      assert.equal(r.code, 1, show(r));
      assert.match(r.stderr, message, show(r));
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    assert.equal((JSON.parse((await ok(admin, ['token', 'get', '-o', 'json'])).stdout) as unknown[]).length, before);
  });

  test('k8s pull-secret --expires-in and audit --since take the same syntax', async () => {
    const r = await ok(admin, ['k8s', 'pull-secret', 'weekly', `--docker-server=${server.host}`, '--from-login', '--new-token', '--expires-in', '7d']);
    assert.match(r.stderr, /created auth token .*k8s-pull-secret-weekly/);
    const token = (JSON.parse((await ok(admin, ['token', 'get', 'k8s-pull-secret-weekly', '-o', 'json'])).stdout)) as { expires_at: string };
    assert.ok(Math.abs(inDays(token.expires_at) - 7) < 0.01, token.expires_at);

    const recent = JSON.parse((await ok(admin, ['audit', '--since', '1h30m', '-o', 'json'])).stdout) as unknown[];
    assert.ok(recent.length > 0);
    const bad = await admin.run(['audit', '--since', '2w']);
    assert.equal(bad.code, 1, show(bad));
    assert.match(bad.stderr, /--since 2w: not a time\nhatoba: use ISO 8601 .* or a duration ago: 90s, 15m, 2h, 7d/);
  });
});

describe('error messages', () => {
  test('a robot is told the namespace it is confined to', async () => {
    const created = await ok(admin, ['robot', 'create', 'pusher', '-n', 'acme']);
    const robot = await cliHome();
    await ok(robot, ['login', server.host, '-u', 'robot$acme+pusher', '--password-stdin'], created.stdout.trim());
    const who = await ok(robot, ['whoami']);
    assert.match(who.stdout, /^robot\$acme\+pusher \(robot of namespace acme, which is the only one it can act in\) at /);
    assert.deepEqual(JSON.parse((await ok(robot, ['whoami', '-o', 'json'])).stdout), { kind: 'robot', name: 'robot$acme+pusher', namespace: 'acme', server: server.host });
    const denied = await robot.run(['get', 'users']);
    assert.equal(denied.code, 1, show(denied));
    assert.match(denied.stderr, /denied: you need the admin right on the instance/);
    assert.match(denied.stderr, /robot\$acme\+pusher is a robot account of namespace acme: it can act only in acme and below, and no role binding changes that/);
    assert.doesNotMatch(denied.stderr, /ask an administrator for a role binding/, 'a binding would not help');
  });

  test('expected failures print a message and what to do, never a stack trace', async () => {
    const nobody = await cliHome();
    // Logged in to a server that is not running (any more).
    const stale = await cliHome();
    await mkdir(stale.env.DOCKER_CONFIG!, { recursive: true });
    await writeFile(stale.dockerConfig, JSON.stringify({ auths: { '127.0.0.1:1': { auth: Buffer.from('admin:x').toString('base64') } } }));
    const cases: [CliHome, string[], RegExp][] = [
      [stale, ['get', 'users', '--server', '127.0.0.1:1'], /cannot reach http:\/\/127\.0\.0\.1:1: connection refused\nhatoba: is hatoba serve running there/],
      [nobody, ['get', 'users'], /not logged in to any with hatoba login\nhatoba: run: hatoba login SERVER/],
      [nobody, ['whoami', '--server', server.host], /not logged in to 127\.0\.0\.1:\d+ .*\nhatoba: run: hatoba login/],
      [admin, ['get', 'gadgets'], /unknown resource type "gadgets"\nhatoba: use one of: users, tokens/],
      [admin, ['get', 'user', 'nobody-here'], /not found: no user nobody-here/],
      [admin, ['delete', 'rolebinding', 'nothing-like-it', '-n', 'system'], /not found: no role binding nothing-like-it in system/],
      [admin, ['audit', '--limit', 'lots'], /"lots" is not a whole number above 0/],
      [admin, ['get', 'users', '-o', 'xml'], /option '-o, --output <format>' argument 'xml' is invalid/],
      [admin, ['get', 'users', '--server', '127.0.0.1:1'], /not logged in to 127\.0\.0\.1:1 .*\nhatoba: run: hatoba login 127\.0\.0\.1:1/],
      [admin, ['repo', 'ls', 'http://127.0.0.1:1'], /cannot reach http:\/\/127\.0\.0\.1:1: connection refused/],
      [admin, ['tag', 'ls', 'Bad Name'], /is not a valid repository name/],
    ];
    for (const [home, args, message] of cases) {
      const r = await home.run(args);
      assert.notEqual(r.code, 0, show(r));
      assert.match(r.stderr, message, show(r));
      assert.doesNotMatch(r.stderr, /\n\s+at [\w.<]/, `no stack trace: hatoba ${args.join(' ')}`);
    }
  });

  test('hatoba serve with a bad setting names the flag, variable or file and exits 2', async () => {
    const home = await cliHome();
    const viaEnv = await home.run(['serve', '--data-dir', `${home.dir}/data`], { env: { HATOBA_BODY_IDLE_TIMEOUT: 'a minute', HATOBA_ADMIN_PASSWORD: ADMIN.password } });
    assert.equal(viaEnv.code, 2, show(viaEnv));
    assert.match(viaEnv.stderr, /body_idle_timeout: "a minute" is not a duration; write 90s, 15m, 2h, 7d .*\(from the environment variable HATOBA_BODY_IDLE_TIMEOUT\)/);
    const viaFlag = await home.run(['serve', '--data-dir', `${home.dir}/data`, '--workers', 'two']);
    assert.equal(viaFlag.code, 2, show(viaFlag));
    assert.match(viaFlag.stderr, /workers: must be a whole number \(from the flag --workers\)/);
    for (const r of [viaEnv, viaFlag]) assert.doesNotMatch(r.stderr, /\n\s+at [\w.<]/, 'no stack trace');
  });
});
