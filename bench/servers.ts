// Starting and stopping the two registries on free loopback ports with fresh
// data directories.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from './backends.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DISTRIBUTION_BIN = process.env.BENCH_DISTRIBUTION_BIN ?? '/usr/bin/docker-registry';

export type ServerName = 'distribution' | 'hatoba';

export interface RunningServer {
  name: ServerName;
  version: string;
  baseUrl: string;
  pid: number;
  dataDir: string;
  exited: () => string | undefined; // why it stopped, if it did
  stderrTail: () => string;
  stop: () => Promise<void>;
  cleanup: () => void; // removes the data directory unless --keep
  credentials?: { username: string; password: string };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Returns an install hint if distribution is not available, else undefined. */
export function checkDistribution(): string | undefined {
  if (existsSync(DISTRIBUTION_BIN)) return undefined;
  return [
    `CNCF distribution (the reference registry) is not installed: ${DISTRIBUTION_BIN} is missing.`,
    'Install the Debian package and run the benchmark again:',
    '    apt-get install -y docker-registry',
    '(or set BENCH_DISTRIBUTION_BIN to a registry binary, or run with --servers hatoba).',
  ].join('\n');
}

export function distributionVersion(): string {
  const r = spawnSync(DISTRIBUTION_BIN, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return (r.stdout || r.stderr || '').trim() || 'unknown';
}

export function hatobaVersion(): string {
  let v = 'unknown';
  try {
    v = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  } catch { /* keep unknown */ }
  const git = spawnSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', timeout: 5000 });
  const dirty = spawnSync('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8', timeout: 5000 });
  const rev = git.status === 0 ? git.stdout.trim() : 'no-commit';
  return `hatoba ${v} (${rev}${dirty.stdout?.trim() ? ', uncommitted src/' : ''})`;
}

class Tail {
  private buf = '';
  add(s: string): void {
    this.buf = (this.buf + s).slice(-8000);
  }
  get(): string {
    return this.buf;
  }
}

async function waitReady(baseUrl: string, child: ChildProcess, exited: () => string | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const why = exited();
    if (why) throw new Error(`server exited during start-up: ${why}`);
    try {
      const res = await fetch(`${baseUrl}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
      last = `GET /v2/ -> ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`server at ${baseUrl} not ready after ${timeoutMs} ms (${last})`);
}

function track(child: ChildProcess, tail: Tail) {
  let why: string | undefined;
  const done = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      why = `exit code ${code ?? '-'} signal ${signal ?? '-'}`;
      resolve();
    });
    child.on('error', (err) => {
      why = `spawn error: ${err.message}`;
      resolve();
    });
  });
  child.stderr?.on('data', (c: Buffer) => tail.add(c.toString('utf8')));
  child.stdout?.on('data', (c: Buffer) => tail.add(c.toString('utf8')));
  const stop = async () => {
    if (why === undefined) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    }
  };
  return { exited: () => why, stop };
}

export async function startDistribution(keep: boolean, backend: Backend): Promise<RunningServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hatoba-bench-distribution-'));
  const dataDir = path.join(dir, 'data');
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  cache:',
    '    blobdescriptor: inmemory', // as in Debian's default /etc/docker/registry/config.yml
    ...backend.distributionStorage(dataDir),
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
  const configPath = path.join(dir, 'config.yml');
  writeFileSync(configPath, config);
  const tail = new Tail();
  const child = spawn(DISTRIBUTION_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...backend.distributionEnv } });
  const t = track(child, tail);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitReady(baseUrl, child, t.exited, 30_000).catch((err: Error) => {
    throw new Error(`distribution: ${err.message}; its output:\n${tail.get()}`);
  });
  return {
    name: 'distribution', version: distributionVersion(), baseUrl, pid: child.pid!, dataDir: dir,
    exited: t.exited, stderrTail: () => tail.get(),
    stop: t.stop,
    cleanup: () => {
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startHatoba(keep: boolean, extraArgs: string[], backend: Backend): Promise<RunningServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hatoba-bench-hatoba-'));
  const tail = new Tail();
  // The compiled server, as users run it (tsx would add its own ~50 MB and
  // a transpiler to the measured process).
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
  // Node flags as the installed `hatoba` runs with them (its shebang line),
  // plus BENCH_HATOBA_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = [...installedNodeFlags(), ...(process.env.BENCH_HATOBA_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)];
  const args = [...nodeArgs, 'dist/cli/hatoba.js', 'serve', '--listen', '127.0.0.1:0', '--data-dir', dir, '--log-level', 'warn', ...backend.hatobaArgs, ...extraArgs];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...backend.hatobaEnv } });
  const t = track(child, tail);
  const baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hatoba did not print "listening on" within 60 s; output:\n${tail.get()}`)), 60_000);
    const onData = () => {
      const m = /listening on (https?:\/\/[\d.]+:\d+)/.exec(tail.get());
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stderr!.on('data', onData);
    child.stdout!.on('data', onData);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`hatoba exited during start-up (${t.exited()}); output:\n${tail.get()}`));
    });
  });
  // Over https (bench/http2.ts) fetch would not know the private CA; the "listening on" line is readiness enough.
  if (baseUrl.startsWith('http:')) await waitReady(baseUrl, child, t.exited, 30_000);
  // `hatoba serve` creates the first user and prints its password once
  const pw = /created the first user "([^"]+)" with password: (.+)$/m.exec(tail.get());
  const credentials = process.env.BENCH_HATOBA_PASSWORD
    ? { username: process.env.BENCH_HATOBA_USER ?? 'admin', password: process.env.BENCH_HATOBA_PASSWORD }
    : pw ? { username: pw[1]!, password: pw[2]!.trim() } : undefined;
  return {
    credentials,
    name: 'hatoba', version: hatobaVersion(), baseUrl, pid: child.pid!, dataDir: dir,
    exited: t.exited, stderrTail: () => tail.get(),
    stop: t.stop,
    cleanup: () => {
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The node flags on bin/hatoba.js's `#!/usr/bin/env -S node ...` line. */
function installedNodeFlags(): string[] {
  const first = readFileSync(path.join(REPO_ROOT, 'bin', 'hatoba.js'), 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env\s+(?:-S\s+)?node\b(.*)$/.exec(first);
  return m ? m[1]!.split(/\s+/).filter(Boolean) : [];
}
