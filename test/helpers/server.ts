// Starts a real `hatoba serve` process on a free loopback port with a fresh
// data directory, the way integration and interop tests need it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serverBackend } from './backend.js';
import type { S3TestStorage } from './s3-storage.js';

export const PROJECT_ROOT = resolve(import.meta.dirname, '..', '..');

/** The first user every test server creates (HATOBA_ADMIN_PASSWORD). */
export const ADMIN = { username: 'admin', password: 'hatoba-test-admin-password' } as const;

export interface RunningServer {
  /** e.g. http://127.0.0.1:39123 */
  url: string;
  /** e.g. 127.0.0.1:39123 (what skopeo and friends want) */
  host: string;
  port: number;
  pid: number;
  dataDir: string;
  /** Where /metrics is served, when started with --metrics-listen. */
  metricsUrl?: string;
  /** Its --db: sqlite:DATA_DIR/hatoba.db, or a postgres:// URL under HATOBA_TEST_BACKEND=postgres-s3 (see backend.ts). */
  database: string;
  /** The S3 prefix the blobs are on, when not on files (HATOBA_TEST_BACKEND=postgres-s3, see backend.ts). */
  storage?: S3TestStorage;
  child: ChildProcess;
  /** Stops the process (SIGTERM) and waits for it; keeps the data dir. */
  stop(): Promise<void>;
  /** Stops the process and removes the data dir (and the database made for it). */
  dispose(): Promise<void>;
}

export interface StartOptions {
  /** Reuse a data directory (e.g. to restart a server on the same data). */
  dataDir?: string;
  /** Extra `hatoba serve` arguments. */
  args?: string[];
  env?: Record<string, string>;
  /**
   * Run the compiled server (dist/, built here on first use) instead of the
   * TypeScript sources through tsx: what users run, and without tsx's own
   * ~50 MB in the process, for tests that measure memory.
   */
  compiled?: boolean;
}

let built: Promise<void> | undefined;
function buildOnce(): Promise<void> {
  built ??= new Promise((resolveBuild, reject) => {
    const tsc = spawn(process.execPath, [join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
    tsc.once('exit', (code) => (code === 0 ? resolveBuild() : reject(new Error(`tsc -p tsconfig.build.json failed with ${code}`))));
  });
  return built;
}

// A test file that ends (or is forced to exit after a timeout) takes its servers with it.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'hatoba-test-')));
  if (options.compiled) await buildOnce();
  const backend = await serverBackend(dataDir);
  // A test that names its own storage (or pins the embedded one) is not on the backend's prefix.
  const storage = options.args?.includes('--storage') || options.env?.HATOBA_STORAGE !== undefined ? undefined : backend.storage;
  const entry = options.compiled ? [join(PROJECT_ROOT, 'dist/cli/hatoba.js')] : ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts')];
  const child = spawn(
    process.execPath,
    [...entry, 'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn', ...(options.args ?? [])],
    { cwd: PROJECT_ROOT, env: { ...process.env, HATOBA_ADMIN_PASSWORD: ADMIN.password, ...backend.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on (https?:\/\/[0-9.]+:\d+)/.exec(output);
      if (m) resolveUrl(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`hatoba serve exited with ${code} before listening:\n${output}`)));
    setTimeout(() => reject(new Error(`hatoba serve did not start within 20 s:\n${output}`)), 20_000).unref();
  });
  // Keep draining so the child never blocks on a full pipe; echo warnings.
  child.stdout!.on('data', (c: Buffer) => process.env.HATOBA_TEST_VERBOSE && process.stderr.write(c));
  child.stderr!.on('data', (c: Buffer) => process.stderr.write(c));
  const port = Number(new URL(url).port);
  const metricsUrl = /metrics on (http:\/\/[0-9.]+:\d+\/metrics)/.exec(output)?.[1];
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  running.add(child);
  void exited.then(() => running.delete(child));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return {
    url,
    host: `127.0.0.1:${port}`,
    port,
    pid: child.pid!,
    dataDir,
    metricsUrl,
    database: backend.database,
    storage,
    child,
    stop,
    dispose: async () => {
      await stop();
      if (options.dataDir) return;
      await rm(dataDir, { recursive: true, force: true });
      await backend.dispose();
    },
  };
}
