// A configuration error says, in plain words, which flag, environment
// variable or config-file key gave the bad value.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, type ConfigSources } from '../../src/config/config.js';

const dir = mkdtempSync(join(tmpdir(), 'hatoba-config-errors-'));

function message(sources: ConfigSources): string {
  try {
    loadConfig(sources);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail('the configuration was accepted');
}

test('a flag is named as --flag', () => {
  assert.match(message({ env: {}, flags: { listen: 'nonsense' } }), /listen: listen must be HOST:PORT, e\.g\. 127\.0\.0\.1:5000 \(from the flag --listen\)/);
  assert.match(message({ env: {}, flags: { workers: 'many' as never } }), /workers: .* \(from the flag --workers\)/);
  assert.match(message({ env: {}, flags: { listen: '127.0.0.1:70000' } }), /listen port 70000 is above 65535 \(from the flag --listen\)/);
});

test('an environment variable is named', () => {
  assert.match(message({ env: { HATOBA_LOG_LEVEL: 'loud' } }), /log_level: .* \(from the environment variable HATOBA_LOG_LEVEL\)/);
  assert.match(message({ env: { HATOBA_MAX_CONNECTIONS: '0' } }), /max_connections: .* \(from the environment variable HATOBA_MAX_CONNECTIONS\)/);
});

test('a file key is named with the file', () => {
  const path = join(dir, 'a.yaml');
  writeFileSync(path, 'public_url: not a url\nlistne: 127.0.0.1:5000\n');
  const text = message({ file: path, env: {} });
  assert.match(text, new RegExp(`public_url: .* \\(from public_url in the config file ${path}\\)`));
  assert.match(text, new RegExp(`listne: not a configuration key \\(in the config file ${path}\\); the keys are listed in docs/configuration\\.md`));
});

test('a later source is the one named', () => {
  const path = join(dir, 'b.yaml');
  writeFileSync(path, 'log_level: debug\n');
  assert.match(message({ file: path, env: { HATOBA_LOG_LEVEL: 'loud' } }), /\(from the environment variable HATOBA_LOG_LEVEL\)/);
});

test('a config file that cannot be read is named with what named it', () => {
  const missing = join(dir, 'missing.yaml');
  assert.equal(message({ file: missing, env: {} }), `cannot read config file ${missing} (named by the flag --config): there is no such file`);
  assert.equal(message({ env: { HATOBA_CONFIG: dir } }), `cannot read config file ${dir} (named by the environment variable HATOBA_CONFIG): it is a directory`);
});

test('a rule across keys names where the key that was given came from', () => {
  assert.match(message({ env: { HATOBA_TLS_KEY: '/etc/hatoba/key.pem' } }), /tls_cert: tls_cert and tls_key go together: give both \(or neither, for plain HTTP\) \(from the environment variable HATOBA_TLS_KEY\)/);
});
