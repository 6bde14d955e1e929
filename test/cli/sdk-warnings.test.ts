// The AWS SDK's Node-version notice (process.emitWarning
// "NodeVersionSupportWarning: ...") is not printed by hatoba; every other
// warning still is.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { PROJECT_ROOT } from '../helpers/server.js';
import { isSdkNodeVersionWarning } from '../../src/cli/sdk-warnings.js';
import { cliHome, removeHomes, show } from './helpers.js';

test.after(removeHomes);

/** Runs a module body in a fresh Node (so the SDK has not warned yet); returns stderr. */
function stderrOf(body: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { cwd: PROJECT_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', () => resolve(stderr)));
}

// The SDK's own emitter, told it runs on an old Node: it warns whatever Node runs the test.
const SDK_WARNS = `import { emitWarningIfUnsupportedVersion } from '@aws-sdk/core/client';
emitWarningIfUnsupportedVersion('v18.0.0');
process.emitWarning('an unrelated warning', 'DeprecationWarning');`;

test('without the filter the SDK warns (so the test below can fail)', async () => {
  const stderr = await stderrOf(SDK_WARNS);
  assert.match(stderr, /NodeVersionSupportWarning/);
  assert.match(stderr, /an unrelated warning/);
});

test('with the filter only the SDK notice is gone', async () => {
  const stderr = await stderrOf(`import { silenceSdkNodeVersionWarning } from '${join(PROJECT_ROOT, 'src/cli/sdk-warnings.ts')}';
silenceSdkNodeVersionWarning();
${SDK_WARNS}`);
  assert.doesNotMatch(stderr, /NodeVersionSupportWarning|AWS SDK/);
  assert.match(stderr, /DeprecationWarning: an unrelated warning/);
});

test('isSdkNodeVersionWarning matches the notice by its text or its type, nothing else', () => {
  assert.ok(isSdkNodeVersionWarning('NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published after ... will require node >=22.'));
  assert.ok(isSdkNodeVersionWarning('The AWS SDK for JavaScript (v3) will no longer support Node.js 18.x', 'Warning'));
  assert.ok(isSdkNodeVersionWarning('anything', 'NodeVersionSupportWarning'));
  assert.ok(!isSdkNodeVersionWarning('Buffer() is deprecated', 'DeprecationWarning'));
  assert.ok(!isSdkNodeVersionWarning(new Error('Possible EventEmitter memory leak detected')));
});

test('hatoba s3 ls prints its own error, not the SDK notice', async () => {
  const home = await cliHome();
  const r = await home.run(['s3', 'ls', 's3://bucket/prefix', '--endpoint', 'http://127.0.0.1:1', '--access-key', 'a', '--secret-key', 'b'], { env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' } });
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, /cannot list s3:\/\/bucket\/prefix: cannot reach http:\/\/127\.0\.0\.1:1/);
  assert.doesNotMatch(r.stderr, /NodeVersionSupportWarning|will require node|will no longer support/, show(r));
  assert.doesNotMatch(r.stderr, /\n\s+at [\w.<]/, 'no stack trace');
});
