// What the scenarios read: deterministic from the config, identical for both
// registries, pushed once per registry before the timed rounds ("seeding").
import type { BenchConfig } from '../config.js';
import { configBlob, ociManifest, OCI_CONFIG, OCI_LAYER, prngBuffer, prngDigest, sha256, type BuiltManifest, type Descriptor } from '../data.js';
import type { Registry } from '../oci.js';
import { MiB, pool } from './types.js';

export interface Fixture {
  pull: { repo: string; blobs: { seed: string; size: number; digest: string }[] };
  base: { config: Buffer; layer: Buffer; configDesc: Descriptor; layerDesc: Descriptor };
  hot: { repo: string; tags: string[]; manifests: BuiltManifest[] };
  mput: { repo: string };
  tags: { repo: string; count: number; tag: (i: number) => string; manifests: BuiltManifest[] };
  catalog: { count: number; repo: (i: number) => string; manifest: BuiltManifest };
  pod: { repo: string; tag: string; config: Buffer; configDesc: Descriptor; layers: { seed: string; size: number; digest: string }[]; manifest: BuiltManifest };
}

export function buildFixture(cfg: BenchConfig): Fixture {
  const config = configBlob('base');
  const layer = prngBuffer('base-layer', 64 * 1024);
  const configDesc = { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length };
  const layerDesc = { mediaType: OCI_LAYER, digest: sha256(layer), size: layer.length };
  const variant = (label: string) => ociManifest(configDesc, [layerDesc], { 'org.hatoba.bench': label });

  const pullBlobs = Array.from({ length: cfg.blobCount }, (_, i) => {
    const seed = `pull-${i}`;
    const size = Math.round(cfg.blobMiB * MiB);
    return { seed, size, digest: '' };
  });
  const hotTags = Array.from({ length: cfg.hotTags }, (_, i) => `h${String(i).padStart(4, '0')}`);
  const tagManifests = Array.from({ length: 100 }, (_, i) => variant(`tags-${i}`));
  const podConfig = configBlob('pod');
  const podConfigDesc = { mediaType: OCI_CONFIG, digest: sha256(podConfig), size: podConfig.length };
  const podLayers = cfg.stormLayersKiB.map((kib, i) => ({ seed: `pod-layer-${i}`, size: kib * 1024, digest: '' }));
  for (const l of podLayers) l.digest = prngDigest(l.seed, l.size);
  const podManifest = ociManifest(podConfigDesc, podLayers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })));
  return {
    pull: { repo: 'bench/pull', blobs: pullBlobs },
    base: { config, layer, configDesc, layerDesc },
    hot: { repo: 'bench/hot', tags: hotTags, manifests: hotTags.map((t) => variant(`hot-${t}`)) },
    mput: { repo: 'bench/mput' },
    tags: { repo: 'bench/tags', count: cfg.tags, tag: (i) => `v${String(i).padStart(6, '0')}`, manifests: tagManifests },
    catalog: { count: cfg.repos, repo: (i) => `bench/cat/r${String(i).padStart(4, '0')}`, manifest: variant('catalog') },
    pod: { repo: 'bench/pod', tag: 'v1', config: podConfig, configDesc: podConfigDesc, layers: podLayers, manifest: podManifest },
  };
}

export interface SeedResult {
  seed: string;
  requests: number;
  seconds: number;
  error?: string;
}

async function pushBase(reg: Registry, fx: Fixture, repo: string): Promise<void> {
  await reg.uploadBuffer(repo, fx.base.config);
  await reg.uploadBuffer(repo, fx.base.layer);
}

/** Seeds, run in SEED_ORDER; the runner counts their requests and time. */
export const SEEDS: Record<string, (reg: Registry, fx: Fixture, cfg: BenchConfig) => Promise<void>> = {
  async pull(reg, fx, cfg) {
    for (const b of fx.pull.blobs) b.digest = prngDigest(b.seed, b.size);
    await pool(fx.pull.blobs.length, cfg.blobConcurrency, async (i) => {
      const b = fx.pull.blobs[i]!;
      await reg.uploadPrngMonolithic(fx.pull.repo, b.seed, b.size);
    });
  },
  async hot(reg, fx) {
    await pushBase(reg, fx, fx.hot.repo);
    await pool(fx.hot.tags.length, 8, async (i) => reg.putManifest(fx.hot.repo, fx.hot.tags[i]!, fx.hot.manifests[i]!));
  },
  async mput(reg, fx) {
    await pushBase(reg, fx, fx.mput.repo);
  },
  async tags(reg, fx, cfg) {
    await pushBase(reg, fx, fx.tags.repo);
    const t = fx.tags;
    let done = 0;
    const t0 = performance.now();
    await pool(t.count, cfg.seedConcurrency, async (i) => {
      await reg.putManifest(t.repo, t.tag(i), t.manifests[i % t.manifests.length]!);
      if (++done % 10000 === 0) process.stderr.write(`  ${done} tags (${Math.round(done / ((performance.now() - t0) / 1000))} PUT/s)\n`);
    });
  },
  async catalog(reg, fx, cfg) {
    const c = fx.catalog;
    await pool(c.count, cfg.seedConcurrency, async (i) => {
      await pushBase(reg, fx, c.repo(i));
      await reg.putManifest(c.repo(i), 'latest', c.manifest);
    });
  },
  async pod(reg, fx) {
    const p = fx.pod;
    await reg.uploadBuffer(p.repo, p.config);
    for (const l of p.layers) await reg.uploadPrngMonolithic(p.repo, l.seed, l.size);
    await reg.putManifest(p.repo, p.tag, p.manifest);
  },
};

export const SEED_ORDER = ['pull', 'hot', 'mput', 'pod', 'catalog', 'tags'];
