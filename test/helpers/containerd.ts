// A private containerd for interop tests: its own config, root, state and
// socket (the CRI plugin off), and `ctr` pointed at it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool, runProgram, type ProgramRun } from './tools.js';

const CTR_TIMEOUT_MS = 60_000;

export const containerd = requireTool('containerd', 'apt-get install -y containerd', 'the containerd interop tests');
export const ctr = requireTool('ctr', 'apt-get install -y containerd', 'the containerd interop tests');

export type CtrRun = ProgramRun;

export function runCtr(socket: string, args: string[]): Promise<CtrRun> {
  return runProgram(ctr.path!, ['--address', socket, ...args], { timeoutMs: CTR_TIMEOUT_MS });
}

export async function startContainerd(dir: string): Promise<{ socket: string; child: ChildProcess; stop(): Promise<void> }> {
  const socket = join(dir, 'c.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${join(dir, 'c.ttrpc.sock')}"`,
      '',
    ].join('\n'),
  );
  const child = spawn(containerd.path!, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (c: Buffer) => (log = (log + c.toString('utf8')).slice(-8000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 20_000;
  while (!existsSync(socket) || (await runCtr(socket, ['version'])).code !== 0) {
    if (child.exitCode !== null) throw new Error(`containerd exited with ${child.exitCode}:\n${log}`);
    if (Date.now() > deadline) throw new Error(`containerd did not serve ${socket} within 20 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket,
    child,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

