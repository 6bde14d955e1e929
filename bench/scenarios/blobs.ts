// Blob push (monolithic, chunked), blob pull with sha256 verification, and
// one very large monolithic push (memory use must not grow with blob size).
import { prngDigest } from '../data.js';
import { MiB, pool, type Scenario } from './types.js';

function roundBlobs(kind: string, round: number, count: number, mib: number) {
  return Array.from({ length: count }, (_, i) => {
    const seed = `${kind}-r${round}-${i}`;
    const size = Math.round(mib * MiB);
    prngDigest(seed, size); // computed before the clock starts, cached for the other server
    return { seed, size };
  });
}

export const pushMonolithic: Scenario = {
  id: 'blob-push-mono',
  title: 'blob push, monolithic',
  unit: 'MiB/s',
  seeds: [],
  enabled: (cfg) => cfg.blobCount > 0,
  async run({ reg, cfg, round }) {
    const blobs = roundBlobs('push-mono', round, cfg.blobCount, cfg.blobMiB);
    const seconds = await pool(blobs.length, cfg.blobConcurrency, async (i) => {
      await reg.uploadPrngMonolithic('bench/push-mono', blobs[i]!.seed, blobs[i]!.size);
    });
    return { work: (blobs.length * blobs[0]!.size) / MiB, seconds, notes: [`mode ${reg.mono}`] };
  },
};

export const pushChunked: Scenario = {
  id: 'blob-push-chunked',
  title: 'blob push, chunked',
  unit: 'MiB/s',
  seeds: [],
  enabled: (cfg) => cfg.blobCount > 0,
  async run({ reg, cfg, round }) {
    const blobs = roundBlobs('push-chunked', round, cfg.blobCount, cfg.blobMiB);
    const seconds = await pool(blobs.length, cfg.blobConcurrency, async (i) => {
      await reg.uploadPrngChunked('bench/push-chunked', blobs[i]!.seed, blobs[i]!.size, cfg.chunkMiB * MiB);
    });
    return { work: (blobs.length * blobs[0]!.size) / MiB, seconds };
  },
};

export const pull: Scenario = {
  id: 'blob-pull',
  title: 'blob pull (+sha256 check)',
  unit: 'MiB/s',
  seeds: ['pull'],
  enabled: (cfg) => cfg.blobCount > 0,
  async run({ reg, cfg, fx }) {
    const blobs = fx.pull.blobs;
    const total = blobs.length * cfg.pullPasses;
    let bytes = 0;
    const seconds = await pool(total, cfg.blobConcurrency, async (i) => {
      const b = blobs[i % blobs.length]!;
      const n = await reg.pullBlob(fx.pull.repo, b.digest, b.size);
      bytes += n;
    });
    return { work: bytes / MiB, seconds };
  },
};

export const bigLayer: Scenario = {
  id: 'blob-push-big',
  title: 'one big layer, monolithic',
  unit: 'MiB/s',
  seeds: [],
  onlyRound: 1,
  enabled: (cfg) => cfg.bigLayerMiB > 0,
  async run({ reg, cfg }) {
    const seed = 'big-layer';
    const size = Math.round(cfg.bigLayerMiB * MiB);
    prngDigest(seed, size);
    const t0 = performance.now();
    await reg.uploadPrngMonolithic('bench/big', seed, size);
    return { work: size / MiB, seconds: (performance.now() - t0) / 1000, notes: [`${cfg.bigLayerMiB} MiB, mode ${reg.mono}`] };
  },
};
