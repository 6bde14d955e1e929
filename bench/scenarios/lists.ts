// Listings: all tags of one big repository (whole, as skopeo asks; in n
// pages, as crane asks; and right after a tag change), and the catalog.
import { BenchError } from '../client.js';
import { ociManifest } from '../data.js';
import type { Registry } from '../oci.js';
import { Samples } from '../stats.js';
import type { Fixture } from './fixture.js';
import type { Scenario } from './types.js';

function checkSorted(items: string[]): boolean {
  for (let i = 1; i < items.length; i++) if (items[i - 1]! >= items[i]!) return false;
  return true;
}

/** Every seeded tag exactly once, or a BenchError saying what is wrong. */
function checkTags(fx: Fixture, items: string[], pages: number): void {
  const t = fx.tags;
  const what = `tags list of ${t.repo} (${items.length} tags in ${pages} request(s))`;
  if (items.length !== t.count) throw new BenchError(`${what}: expected ${t.count} tags`);
  const seen = new Set(items);
  if (seen.size !== items.length) throw new BenchError(`${what}: duplicate tags`);
  for (let i = 0; i < t.count; i++) if (!seen.has(t.tag(i))) throw new BenchError(`${what}: ${t.tag(i)} missing`);
}

/**
 * Follows `Link: <...>; rel="next"` from `firstPath` until there is none,
 * as every client that lists tags does. `seconds` is the time the registry
 * took: the sum of the responses' times, each from request to last byte.
 * The client's JSON parsing of a 1.3 MB list (the same bytes from either
 * server) is left out of it, so that it does not hide the servers'
 * difference; `walkSeconds` has it in, for the notes. `onPage` gets each
 * response's time.
 */
async function walkAll(reg: Registry, fx: Fixture, firstPath: string, onPage?: (ms: number) => void): Promise<{ seconds: number; walkSeconds: number; pages: number; items: string[] }> {
  let fetchMs = 0;
  const t0 = performance.now();
  const { items, pages } = await reg.walkList(firstPath, 'tags', (ms) => {
    fetchMs += ms;
    onPage?.(ms);
  });
  const walkSeconds = (performance.now() - t0) / 1000;
  checkTags(fx, items, pages);
  return { seconds: fetchMs / 1000, walkSeconds, pages, items };
}

/** Full-list walks per --tag-walks: one request each, so a few give a steadier median. */
const FULL_LIST_WALKS = 5;

export const tagsList: Scenario = {
  id: 'tags-list',
  title: 'tags list, as skopeo lists (no n, follow Link)',
  unit: 'tags/s',
  latencyLabel: 'request',
  seeds: ['tags'],
  enabled: (cfg) => cfg.tags > 0,
  async run({ reg, cfg, fx }) {
    const lat = new Samples();
    const notes: string[] = [];
    let seconds = 0;
    let walkSeconds = 0;
    // One untimed walk first, for both servers: this scenario is the steady
    // state of a repository listed more often than it changes. The first
    // listing after a change is tags-list-after-push's row.
    await walkAll(reg, fx, `/v2/${fx.tags.repo}/tags/list`);
    const walks = FULL_LIST_WALKS * cfg.tagWalks;
    for (let w = 0; w < walks; w++) {
      const walk = await walkAll(reg, fx, `/v2/${fx.tags.repo}/tags/list`, (ms) => lat.push(ms));
      seconds += walk.seconds;
      walkSeconds += walk.walkSeconds;
      if (w === 0) {
        notes.push(`${walk.pages} request(s) per walk`);
        if (!checkSorted(walk.items)) notes.push('not in lexical order');
      }
    }
    notes.push(`${((walkSeconds / walks) * 1000).toFixed(1)} ms per walk with the client's JSON parsing`);
    return { work: fx.tags.count * walks, seconds, latenciesMs: lat.values(), notes };
  },
};

export const tagsListPaged: Scenario = {
  id: 'tags-list-paged',
  title: 'tags list, n=1000 pages (as crane lists)',
  unit: 'tags/s',
  latencyLabel: 'page',
  seeds: ['tags'],
  enabled: (cfg) => cfg.tags > 0,
  async run({ reg, cfg, fx }) {
    const lat = new Samples();
    const notes: string[] = [];
    let seconds = 0;
    for (let w = 0; w < cfg.tagWalks; w++) {
      const walk = await walkAll(reg, fx, `/v2/${fx.tags.repo}/tags/list?n=${cfg.tagsPage}`, (ms) => lat.push(ms));
      seconds += walk.seconds;
      if (w === 0) {
        notes.push(`${walk.pages} pages`);
        if (!checkSorted(walk.items)) notes.push('not in lexical order');
        if (walk.pages === 1 && fx.tags.count > cfg.tagsPage) notes.push(`n=${cfg.tagsPage} ignored`);
      }
    }
    return { work: fx.tags.count * cfg.tagWalks, seconds, latenciesMs: lat.values(), notes };
  },
};

/** Full-list walks per --tag-walks in tags-list-after-push, each after a tag move. */
const AFTER_PUSH_WALKS = 3;
let moves = 0;

export const tagsListAfterPush: Scenario = {
  id: 'tags-list-after-push',
  title: 'tags list right after a tag moved (no n)',
  unit: 'tags/s',
  latencyLabel: 'request',
  seeds: ['tags'],
  enabled: (cfg) => cfg.tags > 0,
  async run({ reg, cfg, fx }) {
    const t = fx.tags;
    const lat = new Samples();
    let seconds = 0;
    const walks = AFTER_PUSH_WALKS * cfg.tagWalks;
    for (let w = 0; w < walks; w++) {
      // Untimed: point the first tag at a manifest it never pointed at, so
      // the tag set is the same but any cached list is out of date.
      const moved = ociManifest(fx.base.configDesc, [fx.base.layerDesc], { 'org.hatoba.bench': `tags-move-${++moves}` });
      await reg.putManifest(t.repo, t.tag(0), moved);
      const walk = await walkAll(reg, fx, `/v2/${t.repo}/tags/list`, (ms) => lat.push(ms));
      seconds += walk.seconds;
    }
    return { work: t.count * walks, seconds, latenciesMs: lat.values() };
  },
};

export const catalog: Scenario = {
  id: 'catalog',
  title: 'catalog, paginated',
  unit: 'repos/s',
  latencyLabel: 'page',
  seeds: ['catalog'],
  enabled: (cfg) => cfg.repos > 0,
  async run({ reg, cfg, fx }) {
    const c = fx.catalog;
    const lat = new Samples();
    const notes: string[] = [];
    let work = 0;
    const t0 = performance.now();
    for (let w = 0; w < cfg.catalogWalks; w++) {
      const { items, pages } = await reg.walkList(`/v2/_catalog?n=${cfg.catalogPage}`, 'repositories', (ms) => lat.push(ms));
      const seen = new Set(items);
      if (seen.size !== items.length) throw new BenchError('catalog: duplicate repositories across pages');
      for (let i = 0; i < c.count; i++) if (!seen.has(c.repo(i))) throw new BenchError(`catalog: ${c.repo(i)} missing (${items.length} repositories in ${pages} pages)`);
      work += items.length;
      if (w === 0) {
        notes.push(`${items.length} repos, ${pages} pages`);
        if (!checkSorted(items)) notes.push('not in lexical order');
      }
    }
    return { work, seconds: (performance.now() - t0) / 1000, latenciesMs: lat.values(), notes };
  },
};
