// The scavenge uploads ask for must really happen: V8's gc() extension is
// reached through a flag set at run time, which a Node upgrade could break.
import { strict as assert } from 'node:assert';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { test } from 'node:test';
import { BodyGarbage, collectYoungGarbage, SCAVENGE_EVERY_BYTES } from '../../src/runtime/young-garbage.js';

async function minorCollections(work: () => void): Promise<number> {
  const seen: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()));
  observer.observe({ entryTypes: ['gc'] });
  work();
  await new Promise((resolve) => setTimeout(resolve, 50)); // gc entries are delivered asynchronously
  observer.disconnect();
  return seen.filter((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR).length;
}

test('collectYoungGarbage runs a scavenge', async () => {
  assert.ok((await minorCollections(() => collectYoungGarbage())) >= 1);
});

test('BodyGarbage scavenges once per SCAVENGE_EVERY_BYTES of body, not per chunk', async () => {
  const garbage = new BodyGarbage();
  const chunk = 64 * 1024;
  const chunks = (3 * SCAVENGE_EVERY_BYTES) / chunk;
  const n = await minorCollections(() => {
    for (let i = 0; i < chunks; i++) garbage.add(chunk);
  });
  assert.ok(n >= 3 && n < 10, `${n} scavenges for 3 x ${SCAVENGE_EVERY_BYTES} bytes`);
});
