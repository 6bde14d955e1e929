// The programs interop suites drive (skopeo, docker...): found on PATH, and
// required in CI. Outside CI a missing program skips its suite with an
// install hint; with CI=true it is a failing test instead.
import { spawn } from 'node:child_process';
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

export interface ProgramRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end, collecting stdout and stderr; `stdin` is
 * written and closed. A program still running after `timeoutMs` is killed
 * and the promise rejects, naming the command.
 */
export function runProgram(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number } = {}): Promise<ProgramRun> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (signal) return reject(new Error(`${command} ${args.join(' ')} was killed (${signal}) after ${timeoutMs} ms\n--- stderr ---\n${stderr}`));
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}
