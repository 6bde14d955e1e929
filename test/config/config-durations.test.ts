// The duration keys (`header_timeout: 45s`) beside the older *_seconds and
// *_days keys, which keep working; a later source overrides either form.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const dir = mkdtempSync(join(tmpdir(), 'hatoba-config-durations-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

test('the duration forms, from the file and the environment', () => {
  const path = file('a.yaml', 'header_timeout: 45s\nbody_idle_timeout: 2m\nupload_idle_timeout: 12h\naudit_retention: 30d\n');
  const c = loadConfig({ file: path, env: {} });
  assert.deepEqual([c.headerTimeoutMs, c.bodyIdleTimeoutMs, c.uploadIdleTimeoutMs, c.auditRetentionDays], [45_000, 120_000, 43_200_000, 30]);
  const e = loadConfig({ env: { HATOBA_HEADER_TIMEOUT: '1m', HATOBA_BODY_IDLE_TIMEOUT: '90s', HATOBA_UPLOAD_IDLE_TIMEOUT: '1h30m', HATOBA_AUDIT_RETENTION: '36h' } });
  assert.deepEqual([e.headerTimeoutMs, e.bodyIdleTimeoutMs, e.uploadIdleTimeoutMs, e.auditRetentionDays], [60_000, 90_000, 5_400_000, 1.5]);
});

test('the older keys keep working, with the same defaults', () => {
  const d = loadConfig({ env: {} });
  assert.deepEqual([d.headerTimeoutMs, d.bodyIdleTimeoutMs, d.uploadIdleTimeoutMs, d.auditRetentionDays], [30_000, 60_000, 86_400_000, 90]);
  const old = loadConfig({ file: file('old.yaml', 'header_timeout_seconds: 10\naudit_retention_days: 7\n'), env: { HATOBA_UPLOAD_IDLE_TIMEOUT_SECONDS: '600' } });
  assert.deepEqual([old.headerTimeoutMs, old.auditRetentionDays, old.uploadIdleTimeoutMs], [10_000, 7, 600_000]);
});

test('a later source overrides the other form; one source giving both is refused', () => {
  const path = file('b.yaml', 'header_timeout_seconds: 10\naudit_retention: 2d\n');
  const c = loadConfig({ file: path, env: { HATOBA_HEADER_TIMEOUT: '20s', HATOBA_AUDIT_RETENTION_DAYS: '5' } });
  assert.equal(c.headerTimeoutMs, 20_000);
  assert.equal(c.auditRetentionDays, 5);
  const both = file('both.yaml', 'header_timeout: 20s\nheader_timeout_seconds: 10\n');
  assert.throws(
    () => loadConfig({ file: both, env: {} }),
    (err: unknown) => err instanceof ConfigError && err.message.includes('give one of header_timeout and header_timeout_seconds') && err.message.includes(both),
  );
});

test('a bad duration names the key, the accepted forms and where it was set', () => {
  assert.throws(
    () => loadConfig({ env: { HATOBA_BODY_IDLE_TIMEOUT: '60' } }),
    (err: unknown) => err instanceof ConfigError && /body_idle_timeout: "60" is not a duration; write 90s, 15m, 2h, 7d/.test(err.message) && err.message.includes('(from the environment variable HATOBA_BODY_IDLE_TIMEOUT)'),
  );
  const path = file('c.yaml', 'header_timeout: 2h\n');
  assert.throws(
    () => loadConfig({ file: path, env: {} }),
    (err: unknown) => err instanceof ConfigError && err.message.includes(`header_timeout: must be from 1s to 1h (from header_timeout in the config file ${path})`),
  );
  assert.throws(() => loadConfig({ file: file('d.yaml', 'upload_idle_timeout: 900\n'), env: {} }), (err: unknown) => err instanceof ConfigError && /upload_idle_timeout: 900 is not a duration/.test(err.message));
});
