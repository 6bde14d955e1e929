// `hatoba auth configure-docker`, `hatoba k8s pull-secret` and
// `hatoba s3 ls|get`, run as the real CLI.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { formatPullSecret } from '../../src/formats/k8s-pull-secret.js';
import { ADMIN, startServer, type RunningServer } from '../helpers/server.js';
import { S3_HINT, s3Endpoint, s3TestOptions } from '../helpers/s3-endpoint.js';
import { cliHome, removeHomes, show } from './helpers.js';

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

  test('k8s pull-secret --from-login uses the stored login, or a fresh auth token that works', async () => {
    const home = await cliHome();
    const login = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: `${ADMIN.password}\n` });
    assert.equal(login.code, 0, show(login));
    const stored = await home.run(['k8s', 'pull-secret', 'reg', `--docker-server=${server.host}`, '--from-login', '-o', 'json']);
    assert.equal(stored.code, 0, show(stored));
    const data = JSON.parse(Buffer.from(JSON.parse(stored.stdout).data['.dockerconfigjson'], 'base64').toString());
    assert.deepEqual(data.auths[server.host], { username: 'admin', password: ADMIN.password, auth: Buffer.from(`admin:${ADMIN.password}`).toString('base64') });

    const fresh = await home.run(['k8s', 'pull-secret', 'reg', `--docker-server=${server.host}`, '--from-login', '--new-token', '-o', 'json']);
    assert.equal(fresh.code, 0, show(fresh));
    assert.match(fresh.stderr, /created auth token/);
    const entry = JSON.parse(Buffer.from(JSON.parse(fresh.stdout).data['.dockerconfigjson'], 'base64').toString()).auths[server.host];
    assert.notEqual(entry.password, ADMIN.password);
    const res = await fetch(`${server.url}/v2/`, { headers: { Authorization: `Basic ${entry.auth}` } });
    assert.equal(res.status, 200, 'the new token signs in');
  });

  test('auth configure-docker adds credHelpers and keeps the rest of config.json', async () => {
    const home = await cliHome();
    const login = await home.run(['login', server.host, '-u', ADMIN.username, '--password-stdin'], { input: `${ADMIN.password}\n` });
    assert.equal(login.code, 0, show(login));
    const r = await home.run(['auth', 'configure-docker', server.host, 'registry.example:5000']);
    assert.equal(r.code, 0, show(r));
    const config = JSON.parse(await readFile(home.dockerConfig, 'utf8'));
    assert.deepEqual(config.credHelpers, { [server.host]: 'hatoba', 'registry.example:5000': 'hatoba' });
    assert.ok(config.auths[server.host], 'the login is kept');
    const again = await home.run(['auth', 'configure-docker', server.host]);
    assert.match(again.stdout, /already sends/);
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

  const wrong = await home.run(['s3', 'ls', `s3://${bucket}`], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'not-the-secret' } });
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /refused the request signature: the secret key for access key \S+ is wrong/);
});
