// Reading objects from a real S3 endpoint (Ceph RGW): listing, streaming,
// and errors that say what to do (a wrong secret is refused by SigV4).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3Error, S3Source, parseS3Url, resolveS3Settings } from '../../src/client/s3.js';
import { S3_HINT, s3Endpoint, s3TestOptions } from '../helpers/s3-endpoint.js';

test('s3:// URLs', () => {
  assert.deepEqual(parseS3Url('s3://bucket/dir/oracle_db.tar'), { bucket: 'bucket', key: 'dir/oracle_db.tar' });
  assert.deepEqual(parseS3Url('s3://my.bucket'), { bucket: 'my.bucket', key: '' });
  for (const bad of ['http://bucket/key', 's3://', 's3://UPPER/key', 's3://a/key']) assert.throws(() => parseS3Url(bad), S3Error, bad);
});

test('settings: flags, then AWS_* env, then ~/.aws files, then ~/.s3cfg', () => {
  const files = {
    awsCredentials: '[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = filesecret\n[other]\naws_access_key_id = OTHERKEY\naws_secret_access_key = othersecret\n',
    awsConfig: '[default]\nregion = eu-west-1\nendpoint_url = http://aws-config:9000\n[profile other]\nregion = ap-south-1\n',
    s3cfg: '[default]\naccess_key = S3CFGKEY\nsecret_key = s3cfgsecret\nhost_base = objects.example:8080\nuse_https = False\n',
  };
  const flags = resolveS3Settings({ accessKey: 'FLAGKEY', secretKey: 'flagsecret', endpoint: 'http://flag:1' }, { AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: 'envsecret' }, files);
  assert.deepEqual([flags.accessKeyId, flags.secretAccessKey, flags.endpoint], ['FLAGKEY', 'flagsecret', 'http://flag:1']);
  const env = resolveS3Settings({}, { AWS_ACCESS_KEY_ID: 'ENVKEY', AWS_SECRET_ACCESS_KEY: 'envsecret', AWS_ENDPOINT_URL: 'http://env:2/' }, files);
  assert.deepEqual([env.accessKeyId, env.endpoint, env.region], ['ENVKEY', 'http://env:2', 'eu-west-1']);
  const awsFiles = resolveS3Settings({}, {}, files);
  assert.deepEqual([awsFiles.accessKeyId, awsFiles.endpoint, awsFiles.source], ['FILEKEY', 'http://aws-config:9000', '~/.aws/credentials [default]']);
  const profile = resolveS3Settings({ profile: 'other' }, {}, files);
  assert.deepEqual([profile.accessKeyId, profile.region], ['OTHERKEY', 'ap-south-1']);
  const s3cfg = resolveS3Settings({}, {}, { s3cfg: files.s3cfg });
  assert.deepEqual([s3cfg.accessKeyId, s3cfg.secretAccessKey, s3cfg.endpoint, s3cfg.source], ['S3CFGKEY', 's3cfgsecret', 'http://objects.example:8080', '~/.s3cfg']);
  const none = resolveS3Settings({}, {}, {});
  assert.equal(none.accessKeyId, undefined);
  assert.equal(none.region, 'us-east-1');
});

test('against Ceph RGW: list, stream, and clear errors', s3TestOptions(), async () => {
  const ep = s3Endpoint();
  assert.ok(ep, S3_HINT);
  const bucket = `hatoba-s3-${randomBytes(4).toString('hex')}`;
  const admin = new S3Client({ endpoint: ep.endpoint, region: ep.region, forcePathStyle: true, credentials: ep, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  const big = randomBytes(3 * 1024 * 1024 + 5);
  await admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/oracle_db.tar', Body: big }));
  await admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/other.tar', Body: 'x' }));
  await admin.send(new PutObjectCommand({ Bucket: bucket, Key: 'readme.txt', Body: 'hello' }));
  admin.destroy();

  const s3 = new S3Source(resolveS3Settings({}, { S3_ENDPOINT: ep.endpoint, AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: ep.secretAccessKey }, {}));
  try {
    const all = [];
    for await (const o of s3.list({ bucket, key: '' })) all.push(o.key);
    assert.deepEqual(all, ['images/oracle_db.tar', 'images/other.tar', 'readme.txt']);
    const images = [];
    for await (const o of s3.list({ bucket, key: 'images/' })) images.push([o.key, o.size]);
    assert.deepEqual(images, [['images/oracle_db.tar', big.length], ['images/other.tar', 1]]);

    assert.equal(await s3.size({ bucket, key: 'images/oracle_db.tar' }), big.length);
    const { body, size } = await s3.open({ bucket, key: 'images/oracle_db.tar' });
    assert.equal(size, big.length);
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk as Buffer);
    assert.equal(hash.digest('hex'), createHash('sha256').update(big).digest('hex'));

    await assert.rejects(s3.open({ bucket, key: 'images/missing.tar' }), (err: Error) => err instanceof S3Error && /no such object/.test(err.message));
    await assert.rejects(s3.open({ bucket: `${bucket}-nope`, key: 'x' }), (err: Error) => err instanceof S3Error && /no such bucket/.test(err.message));
  } finally {
    s3.destroy();
  }

  const wrong = new S3Source(resolveS3Settings({}, { S3_ENDPOINT: ep.endpoint, AWS_ACCESS_KEY_ID: ep.accessKeyId, AWS_SECRET_ACCESS_KEY: `${ep.secretAccessKey}x` }, {}));
  try {
    await assert.rejects(wrong.open({ bucket, key: 'readme.txt' }), (err: Error) => err instanceof S3Error && /refused the request signature: the secret key for access key .* is wrong \(taken from AWS_ACCESS_KEY_ID/.test(err.message));
  } finally {
    wrong.destroy();
  }
});
