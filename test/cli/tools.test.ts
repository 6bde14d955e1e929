// `hatoba auth configure-docker`, `hatoba k8s pull-secret` and
// `hatoba s3 ls|get`, run as the real CLI.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { formatPullSecret } from '../../src/formats/k8s-pull-secret.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { S3_HINT, s3Endpoint, s3TestOptions } from '../helpers/s3-endpoint.js';
import { cliHome, removeHomes, show, writeHelperWrapper } from './helpers.js';

after(removeHomes);

test('k8s pull-secret prints the Secret kubectl would, for the seed example', async () => {
  const home = await cliHome();
  const args = ['--docker-server=phx.ocir.io', '--docker-username=ansh81vru1zp/jdoe@acme.com', '--docker-password=k]j64r{1sJSSF-;)K8', '--docker-email=jdoe@acme.com'];
  const yaml = await home.run(['k8s', 'pull-secret', 'ocirsecret', ...args]);
  assert.equal(yaml.code, 0, show(yaml));
  assert.equal(yaml.stdout, formatPullSecret({ name: 'ocirsecret', server: 'phx.ocir.io', username: 'ansh81vru1zp/jdoe@acme.com', password: 'k]j64r{1sJSSF-;)K8', email: 'jdoe@acme.com' }));
  assert.match(yaml.stdout, /^apiVersion: v1\ndata:\n  \.dockerconfigjson: [A-Za-z0-9+/=]+\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: ocirsecret\ntype: kubernetes\.io\/dockerconfigjson\n$/);
  const json = await home.run(['k8s', 'pull-secret', 'ocirsecret', '-n', 'apps', '-o', 'json', ...args]);
  assert.equal(json.code, 0, show(json));
  assert.equal(JSON.parse(json.stdout).metadata.namespace, 'apps');
  const stdin = await home.run(['k8s', 'pull-secret', 'ocirsecret', '--docker-server=phx.ocir.io', '--docker-username=u', '--docker-password-stdin'], { input: 'k]j64r{1sJSSF-;)K8\n' });
  assert.equal(stdin.code, 0, show(stdin));
  const missing = await home.run(['k8s', 'pull-secret', 'x', '--docker-server=phx.ocir.io']);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /--docker-username and --docker-password/);
});

describe('with a server', () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.dispose());

  test('k8s pull-secret --from-login never puts the password into a Secret; --new-token mints a pull-only, expiring token', async () => {
    const home = await cliHome();
    const login = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: `${ADMIN.password}\n` });
    assert.equal(login.code, 0, show(login));
    const refused = await home.run(['k8s', 'pull-secret', 'reg', `--docker-server=${server.host}`, '--from-login', '-o', 'json']);
    assert.equal(refused.code, 1, show(refused));
    assert.equal(refused.stdout, '', 'no Secret printed');
    assert.match(refused.stderr, /does not put the stored password/);
    assert.match(refused.stderr, /--new-token/);

    const fresh = await home.run(['k8s', 'pull-secret', 'reg', `--docker-server=${server.host}`, '--from-login', '--new-token', '-o', 'json']);
    assert.equal(fresh.code, 0, show(fresh));
    assert.match(fresh.stderr, /created auth token .*k8s-pull-secret-reg, scope pull/);
    const entry = JSON.parse(Buffer.from(JSON.parse(fresh.stdout).data['.dockerconfigjson'], 'base64').toString()).auths[server.host];
    assert.notEqual(entry.password, ADMIN.password);
    const res = await fetch(`${server.url}/v2/`, { headers: { Authorization: `Basic ${entry.auth}` } });
    assert.equal(res.status, 200, 'the new token signs in');

    const short = await home.run(['k8s', 'pull-secret', 'ci', `--docker-server=${server.host}`, '--from-login', '--new-token', '--expires-in-days', '30']);
    assert.equal(short.code, 0, show(short));
    const admin = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;
    const { tokens } = (await (await fetch(`${server.url}/api/v1/users/admin/tokens`, { headers: { Authorization: admin } })).json()) as { tokens: { name: string; scopes: string[]; expires_at: string | null }[] };
    const days = (name: string) => {
      const t = tokens.find((x) => x.name === name);
      assert.ok(t, `token ${name} exists`);
      assert.deepEqual(t.scopes, ['pull']);
      return Math.round((Date.parse(t.expires_at!) - Date.now()) / 86_400_000);
    };
    assert.equal(days('k8s-pull-secret-reg'), 365);
    assert.equal(days('k8s-pull-secret-ci'), 30);
    const bad = await home.run(['k8s', 'pull-secret', 'x', `--docker-server=${server.host}`, '--from-login', '--new-token', '--expires-in-days', '0']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--expires-in-days 0/);
  });

  test('auth configure-docker adds credHelpers, keeps the rest of config.json and moves the login into the helper', async () => {
    const home = await cliHome();
    const path = { PATH: `${join(home.dir, 'bin')}${delimiter}${process.env.PATH ?? ''}` };
    const login = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: `${ADMIN.password}\n` });
    assert.equal(login.code, 0, show(login));
    await writeFile(home.dockerConfig, JSON.stringify({ ...(await home.readDockerConfig()), proxies: { default: { noProxy: '*.local' } } }));

    // Without docker-credential-hatoba on PATH nothing changes, and it says how to get it there.
    const before = await readFile(home.dockerConfig, 'utf8');
    const missing = await home.run(['auth', 'configure-docker', server.host], { env: { PATH: '/usr/bin:/bin' } });
    assert.equal(missing.code, 1, show(missing));
    assert.match(missing.stderr, /docker-credential-hatoba is not on PATH/);
    assert.match(missing.stderr, /npm install -g \.` \(or `npm link`\)/);
    assert.equal(await readFile(home.dockerConfig, 'utf8'), before);

    await writeHelperWrapper(join(home.dir, 'bin'));
    const r = await home.run(['auth', 'configure-docker', server.host, 'registry.example:5000'], { env: path });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /moved the stored credentials of /);
    assert.match(r.stderr, /no credentials stored for registry\.example:5000/);
    const config = JSON.parse(await readFile(home.dockerConfig, 'utf8'));
    assert.deepEqual(config.credHelpers, { [server.host]: 'hatoba', 'registry.example:5000': 'hatoba' });
    assert.deepEqual(config.proxies, { default: { noProxy: '*.local' } });
    assert.equal(config.auths[server.host], undefined, 'the password left "auths"');
    const whoami = await home.run(['whoami'], { env: path });
    assert.equal(whoami.code, 0, show(whoami));
    const again = await home.run(['auth', 'configure-docker', server.host], { env: path });
    assert.match(again.stdout, /already sends/);

    // logout erases in the helper; whoami is then not logged in.
    const out = await home.run(['logout', server.host], { env: path });
    assert.equal(out.code, 0, show(out));
    const gone = await home.run(['whoami', '--server', server.host], { env: path });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /not logged in/);
  });
});

test('s3 ls and get against Ceph RGW; a wrong secret is refused clearly', s3TestOptions(), async () => {
  const ep = s3Endpoint();
  assert.ok(ep, S3_HINT);
  const bucket = `hatoba-cli-${randomBytes(4).toString('hex')}`;
  const s3 = new S3Client({ endpoint: ep.endpoint, region: ep.region, forcePathStyle: true, credentials: ep, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const body = randomBytes(200_000);
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/oracle_db.tar', Body: body }));
  s3.destroy();

  const home = await cliHome();
  const env = { AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey, AWS_ENDPOINT_URL: ep.endpoint };
  const ls = await home.run(['s3', 'ls', `s3://${bucket}/images/`], { env });
  assert.equal(ls.code, 0, show(ls));
  assert.match(ls.stdout, new RegExp(`200000  s3://${bucket}/images/oracle_db\\.tar\\n$`));
  const target = join(home.dir, 'oracle_db.tar');
  const get = await home.run(['s3', 'get', `s3://${bucket}/images/oracle_db.tar`, target], { env });
  assert.equal(get.code, 0, show(get));
  assert.ok((await readFile(target)).equals(body));
  const again = await home.run(['s3', 'get', `s3://${bucket}/images/oracle_db.tar`, target], { env });
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /already exists/);
  // A destination that cannot be written is the user's to fix: a message, no stack trace.
  const nowhere = await home.run(['s3', 'get', `s3://${bucket}/images/oracle_db.tar`, join(home.dir, 'no-such-dir', 'x.tar')], { env });
  assert.equal(nowhere.code, 1, show(nowhere));
  assert.match(nowhere.stderr, /cannot write .*no-such-dir\/x\.tar: ENOENT.*\nhatoba: check that its directory exists and is writable/, show(nowhere));
  assert.doesNotMatch(nowhere.stderr, /\n\s+at [\w.<]/, 'no stack trace');
  assert.doesNotMatch(ls.stderr + get.stderr, /NodeVersionSupportWarning/, 'the SDK notice is not shown');

  const wrong = await home.run(['s3', 'ls', `s3://${bucket}`], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' } });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /refused the request signature: the secret key for access key \S+ is wrong/);
});
