// Configuration precedence (defaults < YAML file < HATOBA_* env < flags)
// and clear errors for bad values.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const dir = mkdtempSync(join(tmpdir(), 'hatoba-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('defaults: 127.0.0.1:5000, ./data, 4 MiB manifests', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 5000);
  assert.equal(c.dataDir, resolve('data'));
  assert.equal(c.manifestMaxBytes, 4 * 1024 * 1024);
  assert.equal(c.logLevel, 'info');
});

test('a YAML file, then env, then flags, each overriding the one before', () => {
  const path = file('a.yaml', 'listen: 0.0.0.0:6000\ndata_dir: /srv/hatoba\nmanifest_max_bytes: 1000\nlog_level: debug\n');
  const fromFile = loadConfig({ file: path, env: {} });
  assert.deepEqual([fromFile.host, fromFile.port, fromFile.dataDir, fromFile.manifestMaxBytes, fromFile.logLevel], ['0.0.0.0', 6000, '/srv/hatoba', 1000, 'debug']);
  const fromEnv = loadConfig({ file: path, env: { HATOBA_LISTEN: '127.0.0.1:7000', HATOBA_MANIFEST_MAX_BYTES: '2000' } });
  assert.deepEqual([fromEnv.port, fromEnv.manifestMaxBytes, fromEnv.dataDir], [7000, 2000, '/srv/hatoba']);
  const fromFlags = loadConfig({ file: path, env: { HATOBA_LISTEN: '127.0.0.1:7000' }, flags: { listen: '127.0.0.1:0', data_dir: '/tmp/x' } });
  assert.deepEqual([fromFlags.port, fromFlags.dataDir], [0, '/tmp/x']);
});

test('HATOBA_CONFIG names the file when no flag does', () => {
  const path = file('b.yaml', 'listen: 127.0.0.1:6100\n');
  assert.equal(loadConfig({ env: { HATOBA_CONFIG: path } }).port, 6100);
});

test('an IPv6 listen address', () => {
  const c = loadConfig({ env: {}, flags: { listen: '[::1]:5000' } });
  assert.equal(c.host, '::1');
  assert.equal(c.port, 5000);
});

test('bad values are refused with the key and what is wrong', () => {
  const cases: [Parameters<typeof loadConfig>[0], RegExp][] = [
    [{ env: {}, flags: { listen: 'nonsense' } }, /listen must be HOST:PORT/],
    [{ env: {}, flags: { listen: '127.0.0.1:70000' } }, /port 70000/],
    [{ env: { HATOBA_MANIFEST_MAX_BYTES: '-5' } }, /manifest_max_bytes/],
    [{ env: { HATOBA_LOG_LEVEL: 'loud' } }, /log_level/],
    [{ file: file('c.yaml', 'listne: 127.0.0.1:5000\n'), env: {} }, /listne|Unrecognized/i],
    [{ file: file('d.yaml', '- a\n- b\n'), env: {} }, /must be a YAML mapping/],
    [{ file: file('e.yaml', 'listen: [unclosed\n'), env: {} }, /not valid YAML/],
    [{ file: join(dir, 'missing.yaml'), env: {} }, /cannot read config file/],
  ];
  for (const [sources, message] of cases) {
    assert.throws(() => loadConfig(sources), (err: unknown) => err instanceof ConfigError && message.test(err.message), String(message));
  }
});

test('trusted_proxies: none by default; a YAML list or a comma-separated HATOBA_TRUSTED_PROXIES; bad entries named', () => {
  assert.deepEqual(loadConfig({ env: {} }).trustedProxies, []);
  const path = file('proxies.yaml', 'trusted_proxies:\n  - 10.0.0.0/8\n  - 2001:db8::/32\n  - 192.0.2.7\n');
  assert.deepEqual(loadConfig({ file: path, env: {} }).trustedProxies, ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
  assert.deepEqual(loadConfig({ env: { HATOBA_TRUSTED_PROXIES: '10.1.0.0/16, 127.0.0.1' } }).trustedProxies, ['10.1.0.0/16', '127.0.0.1']);
  for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
    assert.throws(() => loadConfig({ env: { HATOBA_TRUSTED_PROXIES: `10.0.0.0/8,${bad}` } }), (e: unknown) => e instanceof ConfigError && /trusted_proxies\.1: must be an IP address or a CIDR/.test(e.message), bad);
  }
});

test('db: sqlite:DATA_DIR/hatoba.db by default; sqlite:PATH, postgres:// and postgresql:// from the file, HATOBA_DB or --db; anything else refused without its password', () => {
  assert.deepEqual(loadConfig({ env: {}, flags: { data_dir: '/srv/h' } }).db, { engine: 'sqlite', path: '/srv/h/hatoba.db' });
  assert.deepEqual(loadConfig({ env: { HATOBA_DB: 'sqlite:meta/h.db' } }).db, { engine: 'sqlite', path: resolve('meta/h.db') });
  assert.deepEqual(loadConfig({ env: {}, flags: { db: 'sqlite:/var/lib/h.db' } }).db, { engine: 'sqlite', path: '/var/lib/h.db' });
  const path = file('db.yaml', 'db: postgres://reg:pw@db.example:5433/hatoba?sslmode=require\ndb_pool_size: 25\n');
  assert.deepEqual(loadConfig({ file: path, env: {} }).db, { engine: 'postgres', url: 'postgres://reg:pw@db.example:5433/hatoba?sslmode=require', poolSize: 25 });
  assert.deepEqual(loadConfig({ file: path, env: { HATOBA_DB: 'postgresql://db/h', HATOBA_DB_POOL_SIZE: '3' } }).db, { engine: 'postgres', url: 'postgresql://db/h', poolSize: 3 });
  assert.equal(loadConfig({ env: { HATOBA_DB: 'postgres:///hatoba' } }).db.engine, 'postgres', 'host, user and password may all come from PG* variables');
  for (const bad of ['mysql://u:hunter2@h/db', 'sqlite:', 'postgres://u:hunter2@[bad/db']) {
    assert.throws(
      () => loadConfig({ env: { HATOBA_DB: bad } }),
      (e: unknown) => e instanceof ConfigError && /db/.test(e.message) && !e.message.includes('hunter2'),
      bad,
    );
  }
  assert.throws(() => loadConfig({ env: { HATOBA_DB_POOL_SIZE: '0' } }), /db_pool_size/);
});

test('storage: file: by default; s3:// from the file, HATOBA_STORAGE or the flag; credentials in it refused', () => {
  assert.equal(loadConfig({ env: {} }).storage, undefined);
  const s3 = 's3://blobs/prod?endpoint=http://127.0.0.1:5080&region=us-east-1';
  assert.equal(loadConfig({ file: file('s.yaml', `storage: "${s3}"\n`), env: {} }).storage, s3);
  assert.equal(loadConfig({ env: { HATOBA_STORAGE: 'file:/srv/blobs' } }).storage, 'file:/srv/blobs');
  assert.equal(loadConfig({ env: { HATOBA_STORAGE: 'file:/srv/blobs' }, flags: { storage: s3 } }).storage, s3);
  assert.throws(() => loadConfig({ env: { HATOBA_STORAGE: 's3://AKIAEXAMPLE:secret@blobs/prod' } }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /storage: the storage URL must not carry credentials/);
    assert.doesNotMatch(err.message, /secret@/, 'the secret is not echoed');
    return true;
  });
  assert.throws(() => loadConfig({ env: { HATOBA_STORAGE: 's3://blobs?secret_key=x' } }), /never from the URL/);
  assert.throws(() => loadConfig({ env: { HATOBA_STORAGE: '/srv/blobs' } }), /storage must be file:PATH or s3:\/\/BUCKET/);
});

test('http2: off by default; HATOBA_HTTP2 takes true/false, on/off, yes/no, 1/0; anything else is refused', () => {
  assert.equal(loadConfig({ env: {} }).http2, false);
  for (const off of ['false', 'off', 'no', '0', 'FALSE']) assert.equal(loadConfig({ env: { HATOBA_HTTP2: off } }).http2, false, off);
  for (const on of ['true', 'on', 'yes', '1']) assert.equal(loadConfig({ env: { HATOBA_HTTP2: on } }).http2, true, on);
  assert.equal(loadConfig({ file: file('h2.yaml', 'http2: false\n'), env: {} }).http2, false);
  assert.equal(loadConfig({ env: { HATOBA_HTTP2: 'true' }, flags: { http2: false } }).http2, false, 'the flag (--no-http2) wins');
  assert.equal(loadConfig({ file: file('h2-on.yaml', 'http2: true\n'), env: {}, flags: { http2: true } }).http2, true);
  assert.throws(() => loadConfig({ env: { HATOBA_HTTP2: 'maybe' } }), (err: Error) => err instanceof ConfigError && /http2: must be true or false/.test(err.message));
});

test('shutdown grace (default 30 s) and the metrics address (off unless set)', () => {
  const defaults = loadConfig({ env: {} });
  assert.equal(defaults.shutdownGraceMs, 30_000);
  assert.equal(defaults.metricsListen, undefined);
  const fromEnv = loadConfig({ env: { HATOBA_SHUTDOWN_GRACE_SECONDS: '5', HATOBA_METRICS_LISTEN: '[::1]:9090' } });
  assert.equal(fromEnv.shutdownGraceMs, 5000);
  assert.deepEqual(fromEnv.metricsListen, { host: '::1', port: 9090 });
  assert.throws(() => loadConfig({ env: {}, flags: { metrics_listen: '127.0.0.1:99999' } }), /metrics_listen port 99999/);
  assert.throws(() => loadConfig({ env: {}, flags: { shutdown_grace_seconds: -1 } }), /shutdown_grace_seconds/);
});
