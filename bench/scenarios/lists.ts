// Paginated listings: all tags of one big repository, and the catalog.
import { BenchError } from '../client.js';
import { Samples } from '../stats.js';
import type { Scenario } from './types.js';

function checkSorted(items: string[]): boolean {
  for (let i = 1; i < items.length; i++) if (items[i - 1]! >= items[i]!) return false;
  return true;
}

export const tagsList: Scenario = {
  id: 'tags-list',
  title: 'tags list, paginated',
  unit: 'tags/s',
  latencyLabel: 'page',
  seeds: ['tags'],
  enabled: (cfg) => cfg.tags > 0,
  async run({ reg, cfg, fx }) {
    const t = fx.tags;
    const lat = new Samples();
    const notes: string[] = [];
    const t0 = performance.now();
    for (let w = 0; w < cfg.tagWalks; w++) {
      const { items, pages } = await reg.walkList(`/v2/${t.repo}/tags/list?n=${cfg.tagsPage}`, 'tags', (ms) => lat.push(ms));
      if (items.length !== t.count) throw new BenchError(`tags list of ${t.repo}: ${items.length} tags in ${pages} pages, expected ${t.count}`);
      const seen = new Set(items);
      if (seen.size !== items.length) throw new BenchError(`tags list of ${t.repo}: duplicate tags across pages`);
      for (let i = 0; i < t.count; i++) if (!seen.has(t.tag(i))) throw new BenchError(`tags list of ${t.repo}: ${t.tag(i)} missing`);
      if (w === 0) {
        notes.push(`${pages} pages`);
        if (!checkSorted(items)) notes.push('not in lexical order');
        if (pages === 1 && t.count > cfg.tagsPage) notes.push(`n=${cfg.tagsPage} ignored`);
      }
    }
    return { work: t.count * cfg.tagWalks, seconds: (performance.now() - t0) / 1000, latenciesMs: lat.values(), notes };
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
