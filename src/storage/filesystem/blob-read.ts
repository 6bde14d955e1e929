// Blob files opened for the server's send path (BlobStore.openFile): a plain
// descriptor with positioned reads, the cheapest way Node has to read a
// file — no stream, no FileHandle, no buffer allocated per read.
import { close, open, read } from 'node:fs';
import type { Digest } from '../../formats/digest.js';
import { BlobNotFoundError, type BlobFile } from '../blob-store.js';

export function openBlobFile(path: string, digest: Digest): Promise<BlobFile> {
  return new Promise((resolve, reject) => {
    open(path, 'r', (err, fd) => {
      if (!err) resolve(new DescriptorBlobFile(fd));
      else reject((err as NodeJS.ErrnoException).code === 'ENOENT' ? new BlobNotFoundError(digest) : err);
    });
  });
}

class DescriptorBlobFile implements BlobFile {
  private reading = 0;
  private closed = false;

  constructor(private readonly fd: number) {}

  read(buffer: Buffer, length: number, position: number): Promise<number> {
    if (this.closed) return Promise.reject(new Error('read from a closed blob file'));
    this.reading++;
    return new Promise((resolve, reject) => {
      read(this.fd, buffer, 0, length, position, (err, bytesRead) => {
        this.reading--;
        if (this.closed && this.reading === 0) this.release();
        if (err) reject(err);
        else resolve(bytesRead);
      });
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // A read still queued on the thread pool keeps the descriptor: closed
    // now, its number could be reused by the next open() and the read would
    // fill the buffer from someone else's file.
    if (this.reading === 0) this.release();
  }

  private release(): void {
    close(this.fd, () => {});
  }
}
