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
