// Starts a real `hatoba serve` process on a free loopback port with a fresh
// data directory, the way integration and interop tests need it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freshS3Storage, removeS3Storage, type S3TestStorage } from './s3-storage.js';

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
  /** The S3 prefix the blobs are on, when not on files (HATOBA_TEST_BACKEND=postgres-s3). */
  storage?: S3TestStorage;
  child: ChildProcess;
  /** Stops the process (SIGTERM) and waits for it; keeps the data dir. */
  stop(): Promise<void>;
  /** Stops the process and removes the data dir. */
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

// HATOBA_TEST_BACKEND=postgres-s3 (or HATOBA_TEST_STORAGE=s3) runs every
// server on a fresh prefix of the test bucket; a server restarted on the
// same data directory gets the same prefix back.
const testStorage = new Map<string, Promise<S3TestStorage>>();
function storageFor(dataDir: string, options: StartOptions): Promise<S3TestStorage> | undefined {
  const onS3 = process.env.HATOBA_TEST_STORAGE === 's3' || /s3/.test(process.env.HATOBA_TEST_BACKEND ?? '');
  if (!onS3 || options.args?.includes('--storage')) return undefined;
  if (!testStorage.has(dataDir)) testStorage.set(dataDir, freshS3Storage());
  return testStorage.get(dataDir);
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'hatoba-test-')));
  const storage = await storageFor(dataDir, options);
  if (storage) options = { ...options, args: [...(options.args ?? []), '--storage', storage.url], env: { ...storage.env, ...options.env } };
  if (options.compiled) await buildOnce();
  const entry = options.compiled ? [join(PROJECT_ROOT, 'dist/cli/hatoba.js')] : ['--import', 'tsx', join(PROJECT_ROOT, 'src/cli/hatoba.ts')];
  const child = spawn(
    process.execPath,
    [...entry, 'serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, '--log-level', 'warn', ...(options.args ?? [])],
    { cwd: PROJECT_ROOT, env: { ...process.env, HATOBA_ADMIN_PASSWORD: ADMIN.password, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
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
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
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
    storage,
    child,
    stop,
    dispose: async () => {
      await stop();
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true });
      if (!options.dataDir && storage) await removeS3Storage(storage).catch(() => {});
    },
  };
}
