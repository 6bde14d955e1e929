// Command-line / environment knobs. Every option `--foo-bar N` can also be
// given as BENCH_FOO_BAR=N; `--quick` switches the defaults to a 1-2 minute smoke run.
import { parseArgs } from 'node:util';
import { BACKENDS, type BackendName } from './backends.js';

export interface BenchConfig {
  quick: boolean;
  rounds: number;
  servers: ('distribution' | 'hatoba')[];
  scenarios?: string[]; // ids to run; all when undefined
  blobCount: number;
  blobMiB: number;
  blobConcurrency: number;
  chunkMiB: number;
  pullPasses: number;
  manifestPuts: number;
  putConcurrency: number;
  getRequests: number;
  getConcurrency: number;
  hotTags: number;
  tags: number;
  tagsPage: number;
  tagWalks: number;
  repos: number;
  catalogPage: number;
  catalogWalks: number;
  seedConcurrency: number;
  stormPods: number;
  stormLayersKiB: number[];
  stormLayerConcurrency: number;
  bigLayerMiB: number;
  mono: 'auto' | 'single-post' | 'post-put';
  hatobaArgs: string[];
  backend: BackendName;
  out?: string;
  keep: boolean;
}

const FULL = {
  rounds: 5, blobCount: 8, blobMiB: 64, blobConcurrency: 4, chunkMiB: 16, pullPasses: 2,
  manifestPuts: 2000, putConcurrency: 16, getRequests: 20000, getConcurrency: 32, hotTags: 100,
  tags: 100000, tagsPage: 1000, tagWalks: 1, repos: 1000, catalogPage: 100, catalogWalks: 3, seedConcurrency: 32,
  stormPods: 200, stormLayers: '8192,4096,2048,1024,512', stormLayerConcurrency: 3, bigLayerMiB: 4096,
};
const QUICK: typeof FULL = {
  rounds: 2, blobCount: 4, blobMiB: 16, blobConcurrency: 4, chunkMiB: 4, pullPasses: 1,
  manifestPuts: 300, putConcurrency: 16, getRequests: 2000, getConcurrency: 32, hotTags: 20,
  tags: 3000, tagsPage: 1000, tagWalks: 1, repos: 100, catalogPage: 50, catalogWalks: 1, seedConcurrency: 32,
  stormPods: 30, stormLayers: '2048,1024,512,256,128', stormLayerConcurrency: 3, bigLayerMiB: 0,
};

export const USAGE = `usage: npm run bench -- [options]

  --quick                     smoke run (~1-2 min) with small sizes
  --rounds N                  A/B rounds per scenario (full: ${FULL.rounds}, quick: ${QUICK.rounds})
  --servers a,b               distribution,hatoba (default both)
  --scenarios a,b             only these scenario ids (see bench/README.md)
  --blob-count N --blob-mib N --blob-concurrency N --chunk-mib N --pull-passes N
  --manifest-puts N --put-concurrency N --get-requests N --get-concurrency N --hot-tags N
  --tags N --tags-page N --tag-walks N --repos N --catalog-page N --catalog-walks N --seed-concurrency N
  --storm-pods N --storm-layers KiB,KiB,... --storm-layer-concurrency N
  --big-layer-mib N           one N MiB monolithic push in round 1 (0 = skip; full: ${FULL.bigLayerMiB})
  --mono auto|single-post|post-put   how monolithic uploads are sent (auto: probe each server)
  --hatoba-args "..."         extra arguments for \`hatoba serve\` (e.g. "--workers 2")
  --backend file|postgres-s3  where both keep their data (default file; postgres-s3 needs
                              scripts/postgres/pg-up.sh and scripts/s3/ceph-up.sh running)
  --out FILE                  JSON result path (default bench/results/bench-<time>.json)
  --keep                      keep the servers' data directories
Every option also reads BENCH_<NAME> from the environment (e.g. BENCH_ROUNDS=5).`;

export function parseConfig(argv: string[]): BenchConfig {
  const numeric = ['rounds', 'blob-count', 'blob-mib', 'blob-concurrency', 'chunk-mib', 'pull-passes', 'manifest-puts',
    'put-concurrency', 'get-requests', 'get-concurrency', 'hot-tags', 'tags', 'tags-page', 'tag-walks', 'repos',
    'catalog-page', 'catalog-walks', 'seed-concurrency', 'storm-pods', 'storm-layer-concurrency', 'big-layer-mib'] as const;
  const strings = ['servers', 'scenarios', 'storm-layers', 'mono', 'hatoba-args', 'backend', 'out'] as const;
  const options: Record<string, { type: 'string' | 'boolean' }> = { quick: { type: 'boolean' }, keep: { type: 'boolean' }, help: { type: 'boolean' } };
  for (const k of [...numeric, ...strings]) options[k] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const env = (k: string) => process.env[`BENCH_${k.toUpperCase().replace(/-/g, '_')}`];
  const get = (k: string): string | undefined => (values[k] as string | undefined) ?? env(k);
  const flag = (k: string): boolean => (values[k] as boolean | undefined) ?? ['1', 'true', 'yes'].includes(env(k) ?? '');
  const quick = flag('quick');
  const base = quick ? QUICK : FULL;
  const camel = (k: string) => k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  const num = (k: (typeof numeric)[number]): number => {
    const v = get(k);
    const d = (base as unknown as Record<string, number>)[camel(k).replace('Mib', 'MiB')]!;
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${k}: not a number: ${v}`);
    return n;
  };
  const servers = (get('servers') ?? 'distribution,hatoba').split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of servers) if (s !== 'distribution' && s !== 'hatoba') throw new Error(`--servers: unknown server ${s}`);
  const backend = get('backend') ?? 'file';
  if (!(BACKENDS as string[]).includes(backend)) throw new Error(`--backend: ${backend} (one of ${BACKENDS.join(', ')})`);
  const mono = get('mono') ?? 'auto';
  if (!['auto', 'single-post', 'post-put'].includes(mono)) throw new Error(`--mono: ${mono}`);
  const cfg: BenchConfig = {
    quick,
    rounds: Math.max(1, num('rounds')),
    servers: servers as BenchConfig['servers'],
    scenarios: get('scenarios')?.split(',').map((s) => s.trim()).filter(Boolean),
    blobCount: num('blob-count'), blobMiB: num('blob-mib'), blobConcurrency: Math.max(1, num('blob-concurrency')),
    chunkMiB: Math.max(1, Math.round(num('chunk-mib'))), pullPasses: Math.max(1, num('pull-passes')),
    manifestPuts: num('manifest-puts'), putConcurrency: Math.max(1, num('put-concurrency')),
    getRequests: num('get-requests'), getConcurrency: Math.max(1, num('get-concurrency')), hotTags: Math.max(1, num('hot-tags')),
    tags: num('tags'), tagsPage: Math.max(1, num('tags-page')), tagWalks: Math.max(1, num('tag-walks')),
    repos: num('repos'), catalogPage: Math.max(1, num('catalog-page')), catalogWalks: Math.max(1, num('catalog-walks')),
    seedConcurrency: Math.max(1, num('seed-concurrency')),
    stormPods: num('storm-pods'),
    stormLayersKiB: (get('storm-layers') ?? base.stormLayers).split(',').map((s) => Number(s.trim())).filter((n) => n > 0),
    stormLayerConcurrency: Math.max(1, num('storm-layer-concurrency')),
    bigLayerMiB: num('big-layer-mib'),
    mono: mono as BenchConfig['mono'],
    hatobaArgs: (get('hatoba-args') ?? '').split(/\s+/).filter(Boolean),
    backend: backend as BackendName,
    out: get('out'),
    keep: flag('keep'),
  };
  return cfg;
}
