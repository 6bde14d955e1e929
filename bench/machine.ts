// The machine's limits, printed for context: single-core sha256, durable
// sequential write of a new file (+ fsync; through the page cache, and with
// O_DIRECT as Hatoba writes uploads) and loopback TCP throughput.
import { createHash, randomFillSync } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DIRECT_IO_PROBE_FILE, DirectIo } from '../src/storage/filesystem/direct-io.js';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  kernel: string;
  sha256MBps: number;
  durableWriteMBps: number;
  durableWriteBytes: number;
  durableWriteMBpsAfter?: number; // measured again after the servers stopped
  /** The same file written with O_DIRECT from an aligned 4 MiB buffer; undefined where the file system refuses it. */
  directWriteMBps?: number;
  directWriteMBpsAfter?: number;
  loopbackMBps: number;
}

const MB = 1e6;

export function sha256Throughput(bytes: number): number {
  const buf = randomFillSync(Buffer.alloc(1 << 20));
  const h0 = createHash('sha256');
  h0.update(buf); // warm-up
  const t0 = performance.now();
  const h = createHash('sha256');
  for (let done = 0; done < bytes; done += buf.length) h.update(buf);
  h.digest();
  return bytes / MB / ((performance.now() - t0) / 1000);
}

/**
 * A new file of `bytes` written in 4 MiB pieces, then fsync: through the
 * page cache ('buffered'), or with O_DIRECT ('direct'; undefined when the
 * file system refuses it). MB/s.
 */
export async function durableWrite(dir: string, bytes: number, mode: 'buffered' | 'direct' = 'buffered'): Promise<number | undefined> {
  const file = path.join(dir, `hatoba-bench-write-${process.pid}.tmp`);
  const io = mode === 'direct' ? DirectIo.open(dir) : undefined;
  const buf = mode === 'direct' ? io?.acquire() : Buffer.alloc(4 << 20);
  if (!buf) {
    io?.close();
    return undefined;
  }
  randomFillSync(buf);
  const t0 = performance.now();
  const flags = mode === 'direct' ? constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT : 'wx';
  const fh = await open(file, flags, 0o600);
  try {
    for (let done = 0; done < bytes; done += buf.length) await fh.write(buf, 0, buf.length);
    await fh.sync();
  } finally {
    await fh.close();
    io?.close();
  }
  const secs = (performance.now() - t0) / 1000;
  await rm(file, { force: true });
  await rm(path.join(dir, DIRECT_IO_PROBE_FILE), { force: true });
  return bytes / MB / secs;
}

/**
 * One TCP connection over 127.0.0.1: the sender runs here, the receiver in a
 * worker thread (so each side has its own core, as client and server do).
 */
export async function loopbackTcp(bytes: number): Promise<number> {
  const receiver = new Worker(
    `const net = require('node:net'); const { parentPort } = require('node:worker_threads');
     const server = net.createServer((sock) => { let n = 0; sock.on('data', (c) => { n += c.length; if (n >= ${bytes}) { parentPort.postMessage({ done: performance.timeOrigin + performance.now() }); } }); });
     server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
     parentPort.on('message', () => { server.close(); process.exit(0); });`,
    { eval: true },
  );
  try {
    const port = await new Promise<number>((resolve) => receiver.once('message', (m: { port: number }) => resolve(m.port)));
    const buf = randomFillSync(Buffer.alloc(1 << 20));
    const client = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => client.once('connect', () => r()));
    const finished = new Promise<number>((resolve) => receiver.once('message', (m: { done: number }) => resolve(m.done)));
    const t0 = performance.now() + performance.timeOrigin;
    for (let sent = 0; sent < bytes; sent += buf.length) {
      if (!client.write(buf)) await new Promise<void>((r) => client.once('drain', () => r()));
    }
    const doneAt = await finished; // both sides use timeOrigin + now(), comparable across threads
    client.destroy();
    return bytes / MB / ((doneAt - t0) / 1000);
  } finally {
    receiver.postMessage('stop');
    await receiver.terminate();
  }
}

export async function measureMachine(dir: string, quick: boolean): Promise<MachineInfo> {
  const writeBytes = (quick ? 256 : 1024) * 2 ** 20;
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    sha256MBps: sha256Throughput((quick ? 512 : 2048) * 2 ** 20),
    durableWriteMBps: (await durableWrite(dir, writeBytes))!,
    durableWriteBytes: writeBytes,
    directWriteMBps: await durableWrite(dir, writeBytes, 'direct'),
    loopbackMBps: await loopbackTcp((quick ? 1024 : 4096) * 2 ** 20),
  };
}
