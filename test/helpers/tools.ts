// The programs interop suites drive (skopeo, docker...): found on PATH, and
// required in CI. Outside CI a missing program skips its suite with an
// install hint; with CI=true it is a failing test instead.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';

export function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

export interface Tool {
  /** Absolute path, or undefined when the program is missing. */
  path: string | undefined;
  /** For node:test's `skip` option: false, or why the suite is skipped. */
  skip: string | false;
  missing: string;
}

/**
 * Looks a program up (an environment variable named like it, upper case,
 * overrides PATH) and, when it is missing in CI, registers a failing test.
 */
export function requireTool(name: string, install: string, purpose: string): Tool {
  const path = process.env[name.toUpperCase()] ?? findExecutable(name);
  const missing = `${name} is not installed: run \`${install}\` to run ${purpose}`;
  if (!path && process.env.CI === 'true') {
    test(`${name} is installed (required in CI)`, () => {
      throw new Error(missing);
    });
  }
  return { path, skip: path ? false : missing, missing };
}
