// Manifest PUT (new tags), manifest GET and HEAD by tag.
import { ociManifest } from '../data.js';
import { Samples } from '../stats.js';
import { pool, type Scenario } from './types.js';

export const manifestPut: Scenario = {
  id: 'manifest-put',
  title: 'manifest PUT by new tag',
  unit: 'req/s',
  latencyLabel: 'PUT',
  seeds: ['mput'],
  enabled: (cfg) => cfg.manifestPuts > 0,
  async run({ reg, cfg, fx, round }) {
    const { configDesc, layerDesc } = fx.base;
    const n = cfg.manifestPuts;
    // distinct manifests (an annotation differs), built before the clock starts
    const ms = Array.from({ length: n }, (_, i) => ociManifest(configDesc, [layerDesc], { 'org.hatoba.bench': `mput-r${round}-${i}` }));
    const lat = new Samples();
    const seconds = await pool(n, cfg.putConcurrency, (i) => reg.putManifest(fx.mput.repo, `r${round}-${String(i).padStart(5, '0')}`, ms[i]!), lat);
    return { work: n, seconds, latenciesMs: lat.values() };
  },
};

export const manifestGet: Scenario = {
  id: 'manifest-get',
  title: 'manifest GET by tag',
  unit: 'req/s',
  latencyLabel: 'GET',
  seeds: ['hot'],
  enabled: (cfg) => cfg.getRequests > 0,
  async run({ reg, cfg, fx }) {
    const { repo, tags, manifests } = fx.hot;
    const lat = new Samples();
    const seconds = await pool(cfg.getRequests, cfg.getConcurrency, (i) => reg.getManifest(repo, tags[i % tags.length]!, manifests[i % tags.length]!), lat);
    return { work: cfg.getRequests, seconds, latenciesMs: lat.values() };
  },
};

export const manifestHead: Scenario = {
  id: 'manifest-head',
  title: 'manifest HEAD by tag',
  unit: 'req/s',
  latencyLabel: 'HEAD',
  seeds: ['hot'],
  enabled: (cfg) => cfg.getRequests > 0,
  async run({ reg, cfg, fx }) {
    const { repo, tags, manifests } = fx.hot;
    const lat = new Samples();
    const seconds = await pool(cfg.getRequests, cfg.getConcurrency, (i) => reg.headManifest(repo, tags[i % tags.length]!, manifests[i % tags.length]!), lat);
    return { work: cfg.getRequests, seconds, latenciesMs: lat.values() };
  },
};
