import type { BenchConfig } from '../config.js';
import type { Registry } from '../oci.js';
import type { Fixture } from './fixture.js';
import { BenchError } from '../client.js';
import { Samples } from '../stats.js';

export interface Measurement {
  work: number; // units of work done in `seconds` (bytes are reported in MiB)
  seconds: number;
  latenciesMs?: ArrayLike<number>;
  notes?: string[];
}

export interface Ctx {
  reg: Registry;
  cfg: BenchConfig;
  fx: Fixture;
  round: number; // 1-based
}

export interface Scenario {
  id: string;
  title: string;
  unit: string; // of work / second, higher is better
  latencyLabel?: string; // what p50/p99 are of, when recorded
  seeds: string[]; // fixture parts it needs (see fixture.ts)
  onlyRound?: number;
  enabled: (cfg: BenchConfig) => boolean;
  run: (ctx: Ctx) => Promise<Measurement>;
}

/**
 * Runs task(0..total-1) on `concurrency` workers. The first failure stops the
 * others from taking new tasks; the error names how many tasks failed.
 * Per-task latency (ms) goes to `lat` when given.
 */
export async function pool(total: number, concurrency: number, task: (i: number) => Promise<void>, lat?: Samples): Promise<number> {
  let next = 0;
  const errors: string[] = [];
  let failed = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (failed === 0) {
      const i = next++;
      if (i >= total) return;
      const s = performance.now();
      try {
        await task(i);
        lat?.push(performance.now() - s);
      } catch (err) {
        failed++;
        if (errors.length < 3) errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, total)) }, worker));
  if (failed > 0) throw new BenchError(`${failed} failed request(s); first: ${errors.join(' | ')}`);
  return (performance.now() - t0) / 1000;
}

export const MiB = 1 << 20;
