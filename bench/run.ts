// npm run bench [-- --quick] : Hatoba side by side with CNCF distribution.
// See bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HttpClient, parseBearerChallenge, TokenAuth } from './client.js';
import { parseConfig, USAGE, type BenchConfig } from './config.js';
import { durableWrite, measureMachine, type MachineInfo } from './machine.js';
import { Registry } from './oci.js';
import { cpuSeconds, machineBusySeconds, peakRssKiB, resetPeakRss, rssKiB } from './procstat.js';
import { errorLines, fmt, machineTable, noteLines, resultsTable, seedTable, summarize, type RoundResult, type SeedRecord } from './report.js';
import { buildFixture, SEED_ORDER, SEEDS } from './scenarios/fixture.js';
import { SCENARIOS } from './scenarios/index.js';
import { percentile } from './stats.js';
import { prepareBackend } from './backends.js';
import { checkDistribution, REPO_ROOT, startDistribution, startHatoba, type RunningServer } from './servers.js';

const log = (msg: string) => process.stderr.write(`${msg}\n`);

interface Target {
  server: RunningServer;
  reg: Registry;
  rssResettable: boolean;
}

/** Starts the servers into `out` (so that a failure half-way still stops the ones that run). */
async function startAll(cfg: BenchConfig, out: Target[]): Promise<void> {
  const backend = await prepareBackend(cfg.backend);
  log(`backend ${backend.name}: ${backend.describe}`);
  for (const name of cfg.servers) {
    log(`starting ${name} ...`);
    const server = name === 'distribution' ? await startDistribution(cfg.keep, backend) : await startHatoba(cfg.keep, cfg.hatobaArgs, backend);
    log(`  ${server.version} at ${server.baseUrl} (pid ${server.pid}, data ${server.dataDir})`);
    const http = new HttpClient(server.baseUrl, 64);
    const target: Target = { server, reg: new Registry(name, http), rssResettable: resetPeakRss(server.pid) };
    out.push(target);
    // Does it challenge? Then use the Docker token protocol, as real clients do.
    const probe = await http.raw({ method: 'GET', path: '/v2/', expect: [200, 401] });
    if (probe.status === 401) {
      const ch = parseBearerChallenge(probe.headers['www-authenticate'] as string | undefined);
      if (!ch) throw new Error(`${name}: GET /v2/ -> 401 without a Bearer challenge (${String(probe.headers['www-authenticate'])})`);
      if (!server.credentials) throw new Error(`${name}: asks for credentials, but no first-user password was printed; set BENCH_HATOBA_USER / BENCH_HATOBA_PASSWORD`);
      http.auth = new TokenAuth(ch.realm, ch.service, server.credentials);
      await http.request({ method: 'GET', path: '/v2/', expect: 200 });
      log(`  auth: bearer tokens from ${ch.realm} (service ${ch.service}) as ${server.credentials.username}`);
    }
  }
}

async function main(): Promise<number> {
  let cfg: BenchConfig;
  try {
    cfg = parseConfig(process.argv.slice(2));
  } catch (err) {
    log(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (cfg.servers.includes('distribution')) {
    const hint = checkDistribution();
    if (hint) {
      log(hint);
      return 3;
    }
  }
  const scenarios = SCENARIOS.filter((s) => s.enabled(cfg) && (!cfg.scenarios || cfg.scenarios.includes(s.id)));
  if (cfg.scenarios) for (const id of cfg.scenarios) if (!SCENARIOS.some((s) => s.id === id)) log(`warning: unknown scenario ${id}`);
  const started = new Date();
  log(`hatoba bench ${cfg.quick ? '(quick)' : '(full)'}: ${scenarios.map((s) => s.id).join(', ')}; ${cfg.rounds} round(s); servers ${cfg.servers.join(', ')}`);

  log('measuring machine limits ...');
  const machine: MachineInfo = await measureMachine(os.tmpdir(), cfg.quick);
  log(`  sha256 ${fmt(machine.sha256MBps)} MB/s/core, durable write ${fmt(machine.durableWriteMBps)} MB/s (O_DIRECT ${fmt(machine.directWriteMBps)}), loopback ${fmt(machine.loopbackMBps)} MB/s`);

  const targets: Target[] = [];
  const stopAll = async () => {
    for (const t of targets) {
      t.reg.http.close();
      await t.server.stop().catch(() => undefined);
    }
  };
  const cleanupAll = () => {
    for (const t of targets) t.server.cleanup();
  };
  const onSignal = () => {
    log('interrupted, stopping servers ...');
    void stopAll().then(() => {
      cleanupAll();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await startAll(cfg, targets);
  } catch (err) {
    log(`could not start a server: ${(err as Error).message}`);
    await stopAll();
    cleanupAll();
    return 4;
  }

  const fx = buildFixture(cfg);
  const seeds: SeedRecord[] = [];
  const failedSeeds = new Map<string, Set<string>>(); // server -> seeds
  const neededSeeds = SEED_ORDER.filter((s) => scenarios.some((sc) => sc.seeds.includes(s)));
  for (const t of targets) {
    const name = t.server.name;
    failedSeeds.set(name, new Set());
    if (cfg.mono === 'auto') {
      try {
        log(`${name}: monolithic upload mode: ${await t.reg.probeMonolithic()}`);
      } catch (err) {
        log(`${name}: monolithic probe failed (${(err as Error).message}); using POST + PUT`);
        t.reg.mono = 'post-put';
      }
    } else t.reg.mono = cfg.mono;
    for (const seed of neededSeeds) {
      log(`${name}: seeding ${seed} ...`);
      const r0 = t.reg.http.requests;
      const c0 = cpuSeconds(t.server.pid);
      const t0 = performance.now();
      let error: string | undefined;
      try {
        await SEEDS[seed]!(t.reg, fx, cfg);
      } catch (err) {
        error = (err as Error).message;
        failedSeeds.get(name)!.add(seed);
        log(`  FAILED: ${error}`);
      }
      const rec: SeedRecord = { server: name, seed, requests: t.reg.http.requests - r0, seconds: (performance.now() - t0) / 1000, cpuSec: cpuSeconds(t.server.pid) - c0, error };
      seeds.push(rec);
      log(`  ${rec.requests} requests in ${fmt(rec.seconds)} s`);
    }
  }

  const results: RoundResult[] = [];
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const sc of scenarios) {
      if (sc.onlyRound !== undefined && sc.onlyRound !== round) continue;
      for (const t of targets) {
        const name = t.server.name;
        const base = { scenario: sc.id, server: name, round };
        const missing = sc.seeds.filter((s) => failedSeeds.get(name)!.has(s));
        const dead = t.server.exited();
        if (missing.length > 0 || dead) {
          results.push({ ...base, ok: false, error: dead ? `server exited (${dead})` : `seeding failed: ${missing.join(', ')}`, cpuSec: 0, peakRssMiB: 0 });
          continue;
        }
        const pid = t.server.pid;
        if (t.rssResettable) resetPeakRss(pid);
        const rssStartMiB = rssKiB(pid) / 1024;
        const others0 = targets.reduce((a, o) => a + cpuSeconds(o.server.pid), 0);
        const m0 = machineBusySeconds();
        const u0 = process.cpuUsage();
        const c0 = cpuSeconds(pid);
        let rec: RoundResult;
        try {
          const m = await sc.run({ reg: t.reg, cfg, fx, round });
          const lat = m.latenciesMs && m.latenciesMs.length > 0 ? m.latenciesMs : undefined;
          rec = {
            ...base, ok: true, value: m.work / m.seconds, work: m.work, seconds: m.seconds,
            p50Ms: lat ? percentile(lat, 50) : undefined, p99Ms: lat ? percentile(lat, 99) : undefined,
            cpuSec: 0, peakRssMiB: 0, notes: m.notes,
          };
        } catch (err) {
          const why = t.server.exited();
          rec = { ...base, ok: false, error: (err as Error).message + (why ? ` [server ${why}]` : ''), cpuSec: 0, peakRssMiB: 0 };
        }
        rec.cpuSec = cpuSeconds(pid) - c0;
        rec.peakRssMiB = peakRssKiB(pid) / 1024;
        rec.startRssMiB = rssStartMiB;
        const u = process.cpuUsage(u0);
        rec.clientCpuSec = (u.user + u.system) / 1e6;
        const others = targets.reduce((a, o) => a + cpuSeconds(o.server.pid), 0) - others0;
        rec.foreignCpuSec = Math.max(0, machineBusySeconds() - m0 - others - rec.clientCpuSec);
        results.push(rec);
        log(`round ${round} ${sc.id.padEnd(18)} ${name.padEnd(12)} ${rec.ok ? `${fmt(rec.value)} ${sc.unit}` : `ERRORS: ${rec.error}`}` +
          `${rec.p50Ms !== undefined ? `  p50 ${fmt(rec.p50Ms)} ms p99 ${fmt(rec.p99Ms)} ms` : ''}  cpu ${fmt(rec.cpuSec)} s  rss ${fmt(rec.peakRssMiB)} MiB  client cpu ${fmt(rec.clientCpuSec)} s  other cpu ${fmt(rec.foreignCpuSec)} s` +
          `${rec.notes?.length ? `  (${rec.notes.join('; ')})` : ''}`);
      }
    }
  }

  const serverNames = targets.map((t) => t.server.name);
  const summary = summarize(scenarios, serverNames, results);
  const finished = new Date();
  const versions = Object.fromEntries(targets.map((t) => [t.server.name, t.server.version]));
  const deviations = Object.fromEntries(targets.map((t) => [t.server.name, [...t.reg.deviations]]));
  const stderrTails = Object.fromEntries(targets.map((t) => [t.server.name, t.server.stderrTail().slice(-3000)]));
  const mono = Object.fromEntries(targets.map((t) => [t.server.name, t.reg.mono]));
  await stopAll();
  // the disk of a shared VM varies: measure the durable write again at the end
  machine.durableWriteMBpsAfter = await durableWrite(os.tmpdir(), machine.durableWriteBytes);
  machine.directWriteMBpsAfter = await durableWrite(os.tmpdir(), machine.durableWriteBytes, 'direct');

  const lines: string[] = [];
  lines.push(`# Hatoba benchmark ${cfg.quick ? '(quick)' : '(full)'} — ${finished.toISOString()}`);
  lines.push('');
  lines.push(`versions: ${Object.entries(versions).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
  lines.push(`rounds: ${cfg.rounds} (A/B alternated per scenario; medians), took ${fmt((finished.getTime() - started.getTime()) / 60000)} min`);
  lines.push(`monolithic upload: ${Object.entries(mono).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  lines.push('');
  lines.push(machineTable(machine));
  lines.push('');
  lines.push(resultsTable(summary));
  lines.push('');
  for (const t of targets) if (t.reg.http.auth) lines.push(`- ${t.server.name} ran with its authentication on: bearer token per scope (${t.reg.http.auth.fetched} token requests in the whole run), checked on every request; distribution ran without auth`);
  const monoRow = summary.find((s) => s.id === 'blob-push-mono');
  for (const [s, v] of Object.entries(monoRow?.servers ?? {})) {
    const mbps = (v.median ?? 0) * 2 ** 20 / 1e6;
    // The machine's durable write speed: the faster of the two ways of writing, before and after.
    const best = [
      Math.max(machine.durableWriteMBps, machine.directWriteMBps ?? 0),
      Math.max(machine.durableWriteMBpsAfter ?? machine.durableWriteMBps, machine.directWriteMBpsAfter ?? machine.directWriteMBps ?? 0),
    ];
    if (v.median !== undefined) lines.push(`- ${s} monolithic push = ${fmt(mbps)} MB/s = ${fmt((mbps / Math.max(...best)) * 100)} to ${fmt((mbps / Math.min(...best)) * 100)} % of the best durable write speed measured before / after (${fmt(best[0])} / ${fmt(best[1])} MB/s, buffered or O_DIRECT)`);
  }
  const big = summary.find((s) => s.id === 'blob-push-big');
  for (const [s, v] of Object.entries(big?.servers ?? {})) {
    if (v.status !== 'not run') lines.push(`- ${s} peak RSS while pushing one ${cfg.bigLayerMiB} MiB layer: ${fmt(v.peakRssMiB)} MiB (RSS before it: ${fmt(v.startRssMiB)} MiB)`);
  }
  const timed = results.filter((r) => r.seconds !== undefined);
  const wall = timed.reduce((a, r) => a + (r.seconds ?? 0), 0);
  const foreign = results.reduce((a, r) => a + (r.foreignCpuSec ?? 0), 0);
  lines.push(`- other processes on the machine used ${fmt(foreign)} CPU-s during the measured scenarios (about ${fmt((foreign / Math.max(wall, 1e-9) / machine.cpus) * 100, 2)} % of the machine); the client used ${fmt(results.reduce((a, r) => a + (r.clientCpuSec ?? 0), 0))} CPU-s`);
  if (targets.some((t) => !t.rssResettable)) lines.push('- peak RSS could not be reset per scenario (clear_refs refused): RSS is the lifetime peak');
  lines.push('');
  lines.push(seedTable(seeds, serverNames));
  const errs = [...errorLines(summary), ...seeds.filter((s) => s.error).map((s) => `- seed ${s.seed} on ${s.server}: ${s.error}`)];
  if (errs.length) lines.push('', 'Errors (these scenarios are not counted):', ...errs);
  const notes = noteLines(summary);
  if (notes.length) lines.push('', 'Notes:', ...notes);
  const devs = Object.entries(deviations).flatMap(([s, list]) => list.map((d) => `- ${s}: ${d}`));
  if (devs.length) lines.push('', 'Protocol deviations noticed:', ...devs);
  const report = lines.join('\n');
  console.log(`\n${report}\n`);

  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const out = cfg.out ?? path.join(REPO_ROOT, 'bench', 'results', `bench-${cfg.quick ? 'quick-' : ''}${stamp}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({
    started: started.toISOString(), finished: finished.toISOString(), quick: cfg.quick, config: cfg, machine, versions,
    monolithicMode: mono, summary, rounds: results, seeds, deviations, serverStderrTail: stderrTails,
  }, null, 2));
  writeFileSync(out.replace(/\.json$/, '.md'), `${report}\n`);
  log(`wrote ${out} (and .md)`);
  log('removing data directories ...');
  cleanupAll();
  return errs.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
