// In-memory caches of the registry layer (whole tag lists, small blobs)
// share two mechanisms: a least-recently-used map bounded by the bytes its
// values hold, and one load per key for concurrent misses. Each cache adds
// its own rules (versions, largest entry) on top.

export class ByteBoundedLru<K, V> {
  // A Map iterates in insertion order: re-inserting on use makes the first
  // key the least recently used.
  private readonly entries = new Map<K, V>();
  private held = 0;

  constructor(
    /** All values together stay under this. */
    readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
  ) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value without marking it used. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Replaces any value of `key`; one larger than the whole budget is not kept. Evicts the least recently used. */
  set(key: K, value: V): void {
    this.delete(key);
    const bytes = this.sizeOf(value);
    if (bytes > this.maxBytes) return;
    this.entries.set(key, value);
    this.held += bytes;
    for (const [oldest] of this.entries) {
      if (this.held <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  delete(key: K): void {
    const value = this.entries.get(key);
    if (value === undefined) return;
    this.entries.delete(key);
    this.held -= this.sizeOf(value);
  }

  clear(): void {
    this.entries.clear();
    this.held = 0;
  }
}

/** Concurrent calls for one key share the first call's promise until it settles. */
export class SingleFlight<K, V> {
  private readonly pending = new Map<K, Promise<V>>();

  run(key: K, load: () => Promise<V>): Promise<V> {
    let p = this.pending.get(key);
    if (p === undefined) {
      p = load().finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }
}
