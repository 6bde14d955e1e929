// Runs the real `hatoba` CLI (TypeScript sources through tsx) as a child
// process with HOME, DOCKER_CONFIG and XDG_CONFIG_HOME in a temp dir, so
// no test touches the user's own Docker config.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { PROJECT_ROOT, startServer, type RunningServer } from '../helpers/server.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliHome {
  dir: string;
  dockerConfig: string;
  env: Record<string, string>;
  /** Runs `hatoba ARGS...`; `input` is written to stdin (then closed). */
  run(args: string[], options?: { input?: string; env?: Record<string, string> }): Promise<CliResult>;
  readDockerConfig(): Promise<Record<string, unknown> & { auths?: Record<string, { auth?: string }> }>;
}

const homes: string[] = [];

/** Removes every home made by cliHome() (call from `after`). */
export async function removeHomes(): Promise<void> {
  await Promise.all(homes.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

export async function cliHome(): Promise<CliHome> {
  const dir = await mkdtemp(join(tmpdir(), 'hatoba-cli-test-'));
  homes.push(dir);
  const dockerDir = join(dir, 'docker');
  const env: Record<string, string> = { HOME: dir, DOCKER_CONFIG: dockerDir, XDG_CONFIG_HOME: join(dir, 'xdg') };
  const dockerConfig = join(dockerDir, 'config.json');
  return {
    dir,
    dockerConfig,
    env,
    run: (args, options = {}) => runCli(args, { ...env, ...options.env }, options.input),
    readDockerConfig: async () => JSON.parse(await readFile(dockerConfig, 'utf8')),
  };
}

export function runCli(args: string[], env: Record<string, string>, input?: string): Promise<CliResult> {
  const base = { ...process.env };
  for (const key of ['HATOBA_SERVER', 'HATOBA_CONFIG_DIR', 'DOCKER_CONFIG', 'XDG_CONFIG_HOME']) delete base[key];
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts'), ...args], {
    cwd: PROJECT_ROOT,
    env: { ...base, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** For assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/**
 * Writes `docker-credential-hatoba` into `binDir` (made if missing): a
 * wrapper that runs the TypeScript sources, standing in for the package's
 * bin that `npm link` / `npm install -g .` put on PATH. With `log`, each
 * action (get, store, erase...) is appended to that file. Returns the
 * wrapper's path.
 */
export async function writeHelperWrapper(binDir: string, log?: string): Promise<string> {
  await mkdir(binDir, { recursive: true });
  const wrapper = join(binDir, 'docker-credential-hatoba');
  const logLine = log ? `printf '%s\\n' "$1" >> '${log}'\n` : '';
  await writeFile(wrapper, `#!/bin/sh\n${logLine}cd '${PROJECT_ROOT}' && exec '${process.execPath}' --import tsx '${join(PROJECT_ROOT, 'src/cli/docker-credential-hatoba.ts')}' "$@"\n`);
  await chmod(wrapper, 0o755);
  return wrapper;
}

/**
 * Runs `body` with a fresh server and a temp dir named after `prefix`;
 * disposes the server, and removes the dir when the body passed (a failed
 * one keeps it for inspection and says where).
 */
export async function withServerAndDir(t: TestContext, prefix: string, body: (server: RunningServer, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  let server: RunningServer | undefined;
  try {
    server = await startServer();
    await body(server, dir);
  } catch (err) {
    t.diagnostic(`kept ${dir} for inspection`);
    throw err;
  } finally {
    await server?.dispose();
  }
  await rm(dir, { recursive: true, force: true });
}
