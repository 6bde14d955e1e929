// The complete tag list of recently listed repositories, kept in memory as
// the serialized response body (and, once a page needs it, the sorted
// array), so that
// `GET /v2/<name>/tags/list` of a repository with 100,000 tags is one
// indexed query and a Buffer write instead of reading and serializing
// 100,000 rows.
//
// It is only a cache (DESIGN.md: nothing a request needs lives only in one
// process's memory). Each entry carries the repository's `tags_version`
// read from the database *before* its tags were read; every tag change
// increments that version in its own transaction. An entry is served only
// while the database still holds its version, so a list changed by this
// process, another `--workers` process or another node is never served
// stale. Memory is bounded by an estimate of the bytes held, least recently
// used first out.

import { ByteBoundedLru, SingleFlight } from './byte-bounded-lru.js';

/** Total estimated bytes kept by default. */
export const DEFAULT_TAG_LIST_CACHE_BYTES = 32 * 1024 * 1024;

/** One repository's complete tag list at one version. */
export class TagList {
  private parsed: readonly string[] | undefined;

  constructor(
    /** The repository's tags_version this list is the state of. */
    readonly version: number,
    /** `{"name":...,"tags":[...]}` of every tag, in byte order (SQL `ORDER BY name`). */
    readonly body: Buffer,
    /** Estimated memory held by this entry, the parsed array included. */
    readonly bytes: number,
  ) {}

  /** The tags as an array, parsed from the body the first time they are asked for. */
  get tags(): readonly string[] {
    return (this.parsed ??= (JSON.parse(this.body.toString('utf8')) as { tags: string[] }).tags);
  }

  /** The array if it is at hand; otherwise undefined, and it is parsed after this turn of the event loop. */
  tagsIfParsed(): readonly string[] | undefined {
    if (this.parsed === undefined) setImmediate(() => this.tags);
    return this.parsed;
  }
}

/**
 * A list from the JSON array of tag names the database built (no row
 * objects: for 100,000 tags about 20 ms instead of 60). Its size estimate
 * counts the array it may be parsed into: a short tag costs V8 about three
 * times its JSON bytes.
 */
export function tagListFromJson(name: string, version: number, tagsJson: string): TagList {
  const body = Buffer.from(`{"name":${JSON.stringify(name)},"tags":${tagsJson}}`);
  return new TagList(version, body, body.byteLength * 4);
}

/** Index of the first tag sorting after `last` (tags.length if none). */
export function indexAfter(tags: readonly string[], last: string): number {
  let lo = 0;
  let hi = tags.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (tags[mid]! <= last) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class TagListCache {
  private readonly entries: ByteBoundedLru<number, TagList>;
  private readonly loads = new SingleFlight<string, TagList>();

  constructor(readonly maxBytes: number = DEFAULT_TAG_LIST_CACHE_BYTES) {
    this.entries = new ByteBoundedLru(maxBytes, (list) => list.bytes);
  }

  /** Estimated bytes held now. */
  get bytes(): number {
    return this.entries.bytes;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The repository's list if it is cached at exactly `version`. */
  get(repositoryId: number, version: number): TagList | undefined {
    const entry = this.entries.peek(repositoryId);
    if (entry === undefined) return undefined;
    if (entry.version !== version) {
      // An older entry can never be served again. (A newer one can be
      // seen by a request that read the version just before a change.)
      if (entry.version < version) this.entries.delete(repositoryId);
      return undefined;
    }
    return this.entries.get(repositoryId);
  }

  /**
   * The cached list at `version`, or the one `read` returns, which is then
   * kept. Concurrent misses for the same version share one read.
   * `read` must read the tags after `version` was read.
   */
  async load(repositoryId: number, version: number, read: () => Promise<TagList>): Promise<TagList> {
    return (
      this.get(repositoryId, version) ??
      this.loads.run(`${repositoryId}:${version}`, async () => {
        const list = await read();
        this.put(repositoryId, list);
        return list;
      })
    );
  }

  /** Keeps `list` unless a newer version of the repository's list is cached. */
  put(repositoryId: number, list: TagList): void {
    const existing = this.entries.peek(repositoryId);
    if (existing !== undefined && existing.version > list.version) return;
    this.entries.set(repositoryId, list);
  }

  clear(): void {
    this.entries.clear();
  }
}
