// The hot-path counters and histograms render exactly as prom-client's own
// do, and sum across workers the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AggregatorRegistry, Counter, Histogram, Registry } from 'prom-client';
import { LeanCounter, LeanHistogram } from '../../src/server/lean-metrics.js';

const BOUNDS = [0.01, 0.1, 1];
const OBSERVED: [string, number][] = [['a', 0.005], ['a', 0.01], ['b', 0.5], ['a', 7], ['b', 0.1]];

test('same text as prom-client for the same observations', async () => {
  const ours = new Registry();
  const theirs = new Registry();
  const lean = new LeanHistogram('x_seconds', 'help', ['op'], BOUNDS, ours);
  const reference = new Histogram({ name: 'x_seconds', help: 'help', labelNames: ['op'], buckets: BOUNDS, registers: [theirs] });
  const leanCount = new LeanCounter('x_total', 'help', ['op', 'status'], ours);
  const referenceCount = new Counter({ name: 'x_total', help: 'help', labelNames: ['op', 'status'], registers: [theirs] });
  for (const [op, v] of OBSERVED) {
    lean.series({ op }).observe(v);
    reference.observe({ op }, v);
    leanCount.series({ op, status: 200 }).inc();
    referenceCount.inc({ op, status: 200 });
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('summed across workers like prom-client metrics', async () => {
  const workers = [new Registry(), new Registry()];
  workers.forEach((r, i) => {
    const h = new LeanHistogram('y_seconds', 'help', ['op'], BOUNDS, r);
    for (let n = 0; n <= i; n++) h.series({ op: 'a' }).observe(0.05);
  });
  const merged = AggregatorRegistry.aggregate(await Promise.all(workers.map((r) => r.getMetricsAsJSON())));
  const text = await merged.metrics();
  assert.match(text, /y_seconds_bucket\{le="0.1",op="a"\} 3/);
  assert.match(text, /y_seconds_count\{op="a"\} 3/);
});
