#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner on the
// TypeScript sources (through tsx). Arguments narrow the run to files whose
// path contains one of them: `npm test -- skopeo uploads`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const filters = process.argv.slice(2);

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

const files = find(join(root, 'test'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// A backend switch (HATOBA_TEST_BACKEND=postgres-s3) whose services are not
// running: skipped with the hint outside CI, a failure in CI (no suite may
// skip there).
if (process.env.HATOBA_TEST_BACKEND) {
  const check = spawnSync(process.execPath, ['--import', 'tsx', 'test/helpers/backend-check.ts'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (check.status !== 0) {
    if (process.env.CI === 'true' || check.status !== 3) process.exit(1);
    console.error(`skipping all tests: HATOBA_TEST_BACKEND=${process.env.HATOBA_TEST_BACKEND} is not available here`);
    process.exit(0);
  }
}
const reporter = process.stdout.isTTY && !process.env.CI ? 'spec' : 'tap';
const result = spawnSync(
  process.execPath,
  // --test-force-exit: a test that timed out while waiting on a server must
  // not keep its file (and CI) running; the servers it started are killed
  // when the file exits (test/helpers/server.ts). Tests without a timeout of
  // their own get 5 minutes.
  ['--import', 'tsx', '--test', `--test-reporter=${reporter}`, '--test-concurrency=2', '--test-force-exit', '--test-timeout=300000', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
