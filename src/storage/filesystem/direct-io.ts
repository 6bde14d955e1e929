// Uploads written with O_DIRECT: the bytes go from an aligned buffer straight
// to the device, skipping the page cache. On a 2-core machine the kernel's
// page-cache copy and writeback cost as much CPU as the whole rest of the
// upload path (measured: 1 GiB written buffered + fsync took 0.3-2.6 CPU-s,
// with O_DIRECT 0.03 CPU-s), and the final fsync has nothing left to flush.
//
// O_DIRECT wants the memory address, the file offset and the length aligned
// to the device's block size. Node gives no way to allocate aligned memory,
// so each pooled buffer is over-allocated and the aligned window inside it is
// found once, by probing: the kernel rejects a misaligned write with EINVAL
// before writing anything. Bytes that do not fill a whole block (the head of
// an append that starts mid-block, and the tail of the last block) go
// through an ordinary buffered write at the same offsets; commit's fsync
// makes those durable.
import { closeSync, constants, fchmodSync, openSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** The 4 KiB file, in the directory given to DirectIo.open, that alignment is probed against. */
export const DIRECT_IO_PROBE_FILE = '.direct-io-probe';
/** File offsets and lengths of direct writes are multiples of this. */
export const DIRECT_BLOCK = 4096;
/** Two of these per upload: one fills from the socket while the other is written. */
const BUFFER_BYTES = 4 * 1024 * 1024;
/** 16 buffers = 64 MiB at most, i.e. 8 uploads at once; more uploads fall back to buffered writes. */
const MAX_BUFFERS = 16;
/** Idle buffers kept for the next upload (8 MiB, one pair); the rest are left to the garbage collector. */
const KEEP_FREE = 2;

export class DirectIo {
  private readonly free: Buffer[] = [];
  private inUse = 0;
  private disabled = false;

  // A plain descriptor, not a FileHandle: it lives as long as the store,
  // and probing with it is synchronous.
  private constructor(private probeFd: number | undefined) {}

  /**
   * Direct I/O for files in `dir`, or undefined when its file system does not
   * do O_DIRECT (tmpfs, some network file systems) or the platform lacks it.
   */
  static open(dir: string): DirectIo | undefined {
    if (constants.O_DIRECT === undefined) return undefined;
    let probe: number;
    try {
      probe = openSync(join(dir, DIRECT_IO_PROBE_FILE), constants.O_RDWR | constants.O_CREAT | constants.O_DIRECT, 0o600);
      fchmodSync(probe, 0o600);
    } catch {
      return undefined;
    }
    const io = new DirectIo(probe);
    const first = io.acquire();
    if (!first) {
      io.close();
      return undefined;
    }
    io.release(first);
    return io;
  }

  /** A 4 MiB aligned buffer, or undefined when MAX_BUFFERS are in use. */
  acquire(): Buffer | undefined {
    if (this.disabled || this.inUse >= MAX_BUFFERS) return undefined;
    const buffer = this.free.pop() ?? this.alignedBuffer();
    if (buffer) this.inUse++;
    else this.disabled = true;
    return buffer;
  }

  release(buffer: Buffer): void {
    this.inUse--;
    if (!this.disabled && this.free.length < KEEP_FREE) this.free.push(buffer);
  }

  /** After a direct write was refused mid-upload: buffered writes from now on. */
  disable(): void {
    this.disabled = true;
    this.free.length = 0;
  }

  get enabled(): boolean {
    return !this.disabled;
  }

  close(): void {
    this.disable();
    if (this.probeFd !== undefined) closeSync(this.probeFd);
    this.probeFd = undefined;
  }

  private alignedBuffer(): Buffer | undefined {
    if (this.probeFd === undefined) return undefined;
    const raw = Buffer.allocUnsafeSlow(BUFFER_BYTES + DIRECT_BLOCK);
    // Address alignment is what the probe finds; 16 is the smallest step
    // any allocator here uses.
    for (let offset = 0; offset < DIRECT_BLOCK; offset += 16) {
      try {
        writeSync(this.probeFd, raw, offset, DIRECT_BLOCK, 0);
        return raw.subarray(offset, offset + BUFFER_BYTES);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EINVAL') return undefined;
      }
    }
    return undefined;
  }
}

/**
 * Appends `body` to the file at `path`, which holds exactly `offset` bytes,
 * with direct writes for whole blocks. `onChunk` sees every byte in order
 * (the running digest). Returns the new size, or undefined without touching
 * the file when no buffers are free (the caller writes buffered instead).
 * On error the file may hold part of the body; the caller truncates it.
 */
export async function appendDirect(
  io: DirectIo,
  path: string,
  offset: number,
  body: AsyncIterable<Buffer>,
  onChunk: (chunk: Buffer) => void,
): Promise<number | undefined> {
  const a = io.acquire();
  const b = a && io.acquire();
  if (!a || !b) {
    if (a) io.release(a);
    return undefined;
  }
  let direct: FileHandle | undefined;
  let buffered: FileHandle | undefined;
  let inflight: Promise<unknown> | undefined;
  try {
    direct = await open(path, constants.O_WRONLY | constants.O_DIRECT);
    buffered = await open(path, 'r+');
    const directFile = direct;
    const bufferedFile = buffered;
    let useDirect = true;
    // Whole buffers go to the device; a refused direct write (EINVAL: a block
    // size above 4 KiB, a file system that changed its mind) is redone
    // buffered, and the rest of the process stays buffered.
    // A short direct write (a full disk) leaves an unaligned rest, which the
    // buffered handle writes or reports.
    const writeBlocks = async (buffer: Buffer, length: number, position: number) => {
      let done = 0;
      if (useDirect) {
        try {
          done = (await directFile.write(buffer, 0, length, position)).bytesWritten;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
          useDirect = false;
          io.disable();
        }
      }
      if (done < length) await writeFully(bufferedFile, buffer, done, length - done, position + done);
    };

    let position = offset; // file offset of filling[0]
    // An append that starts mid-block first fills that block, buffered.
    let head = (DIRECT_BLOCK - (offset % DIRECT_BLOCK)) % DIRECT_BLOCK;
    let filling = a;
    let spare = b;
    let filled = 0;
    for await (const chunk of body) {
      onChunk(chunk);
      let from = 0;
      if (head > 0) {
        const n = Math.min(head, chunk.length);
        await writeFully(bufferedFile, chunk, 0, n, position);
        position += n;
        head -= n;
        from = n;
      }
      while (from < chunk.length) {
        const n = chunk.copy(filling, filled, from);
        filled += n;
        from += n;
        if (filled === filling.length) {
          await inflight;
          inflight = writeBlocks(filling, filled, position);
          position += filled;
          [filling, spare] = [spare, filling];
          filled = 0;
        }
      }
    }
    await inflight;
    inflight = undefined;
    const whole = filled - (filled % DIRECT_BLOCK);
    if (whole > 0) await writeBlocks(filling, whole, position);
    if (filled > whole) await writeFully(bufferedFile, filling, whole, filled - whole, position + whole);
    return position + filled;
  } finally {
    await inflight?.catch(() => {});
    await direct?.close().catch(() => {});
    await buffered?.close().catch(() => {});
    io.release(a);
    io.release(b);
  }
}

/**
 * pwrite until every byte is written: a regular file may take fewer bytes
 * than asked (a full disk), and a silent short write would leave a hole
 * that the running digest, computed from what arrived, would not notice.
 */
async function writeFully(file: FileHandle, buffer: Buffer, offset: number, length: number, position: number): Promise<void> {
  for (let done = 0; done < length; ) {
    const { bytesWritten } = await file.write(buffer, offset + done, length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error('no space left on the device for the upload'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}
