// The bytes of small blobs (image configs, signatures, small layers), kept
// in memory so that a GET of one costs what a HEAD costs: reading a file
// takes three trips through the thread pool (open, read, close), which is
// about half the CPU of a small blob GET (measured: 0.29 ms a GET against
// 0.14 ms a HEAD). Blobs are content addressed and verified when pushed, so
// an entry never goes stale; who may see a blob is still asked of the
// database on every request.
import type { Digest } from '../formats/digest.js';

export class SmallBlobCache {
  private readonly entries = new Map<Digest, Buffer>();
  private readonly loading = new Map<Digest, Promise<Buffer>>();
  private bytes = 0;

  constructor(
    /** Largest blob kept. */
    readonly maxBlobBytes: number,
    /** All entries together stay under this. */
    readonly maxTotalBytes: number,
  ) {}

  /**
   * The cached bytes, or those `load` reads (once for concurrent callers),
   * then kept, least recently used first out.
   */
  async get(digest: Digest, load: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.entries.get(digest);
    if (hit) {
      this.entries.delete(digest);
      this.entries.set(digest, hit);
      return hit;
    }
    let pending = this.loading.get(digest);
    if (!pending) {
      pending = load()
        .then((data) => {
          this.keep(digest, data);
          return data;
        })
        .finally(() => this.loading.delete(digest));
      this.loading.set(digest, pending);
    }
    return pending;
  }

  private keep(digest: Digest, data: Buffer): void {
    if (data.length > this.maxBlobBytes || this.entries.has(digest)) return;
    this.entries.set(digest, data);
    this.bytes += data.length;
    for (const [oldest, old] of this.entries) {
      if (this.bytes <= this.maxTotalBytes) break;
      this.entries.delete(oldest);
      this.bytes -= old.length;
    }
  }
}
