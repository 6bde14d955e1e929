// Medians, ratios and the printed / saved tables.
import type { MachineInfo } from './machine.js';
import type { Scenario } from './scenarios/types.js';
import { median } from './stats.js';

export interface RoundResult {
  scenario: string;
  server: string;
  round: number;
  ok: boolean;
  error?: string;
  value?: number; // work / second
  seconds?: number;
  work?: number;
  p50Ms?: number;
  p99Ms?: number;
  cpuSec: number;
  peakRssMiB: number;
  startRssMiB?: number; // RSS when the scenario started (heap left over from earlier ones)
  clientCpuSec?: number; // the benchmark process itself
  foreignCpuSec?: number; // everything else on the machine (noise)
  notes?: string[];
}

export interface SeedRecord {
  server: string;
  seed: string;
  requests: number;
  seconds: number;
  cpuSec: number;
  error?: string;
}

export interface ServerSummary {
  status: 'ok' | 'errors' | 'not run';
  rounds: number;
  median?: number;
  p50Ms?: number;
  p99Ms?: number;
  cpuSec?: number;
  peakRssMiB?: number;
  startRssMiB?: number;
  error?: string;
  notes?: string[];
}

export interface ScenarioSummary {
  id: string;
  title: string;
  unit: string;
  latencyLabel?: string;
  servers: Record<string, ServerSummary>;
  ratio?: number; // hatoba / distribution of the medians (higher is better)
}

export function summarize(scenarios: Scenario[], servers: string[], results: RoundResult[]): ScenarioSummary[] {
  return scenarios.map((sc) => {
    const out: ScenarioSummary = { id: sc.id, title: sc.title, unit: sc.unit, latencyLabel: sc.latencyLabel, servers: {} };
    for (const s of servers) {
      const rs = results.filter((r) => r.scenario === sc.id && r.server === s);
      if (rs.length === 0) {
        out.servers[s] = { status: 'not run', rounds: 0 };
        continue;
      }
      const bad = rs.find((r) => !r.ok);
      const num = (f: (r: RoundResult) => number | undefined) => {
        const v = rs.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
        return v.length ? median(v) : undefined;
      };
      out.servers[s] = {
        status: bad ? 'errors' : 'ok',
        rounds: rs.length,
        median: bad ? undefined : num((r) => r.value),
        p50Ms: bad ? undefined : num((r) => r.p50Ms),
        p99Ms: bad ? undefined : num((r) => r.p99Ms),
        cpuSec: num((r) => r.cpuSec),
        peakRssMiB: num((r) => r.peakRssMiB),
        startRssMiB: num((r) => r.startRssMiB),
        error: bad?.error,
        notes: [...new Set(rs.flatMap((r) => r.notes ?? []))],
      };
    }
    const d = out.servers.distribution?.median;
    const h = out.servers.hatoba?.median;
    if (d !== undefined && h !== undefined && d > 0) out.ratio = h / d;
    return out;
  });
}

export function fmt(n: number | undefined, digits = 3): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  if (n === 0) return '0';
  const abs = Math.abs(n);
  if (abs >= 10 ** digits) return Math.round(n).toString();
  return Number(n.toPrecision(digits)).toString();
}

function mdTable(header: string[], rows: string[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((h, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

function cell(s: ServerSummary | undefined): string {
  if (!s || s.status === 'not run') return 'not run';
  if (s.status === 'errors') return '**errors**';
  return fmt(s.median);
}

function lat(s: ServerSummary | undefined): string {
  if (!s || s.status !== 'ok' || s.p50Ms === undefined) return '';
  return `${fmt(s.p50Ms)} / ${fmt(s.p99Ms)}`;
}

export function resultsTable(summary: ScenarioSummary[]): string {
  const rows = summary.map((sc) => {
    const d = sc.servers.distribution;
    const h = sc.servers.hatoba;
    return [
      `${sc.id}`,
      sc.unit,
      cell(d),
      cell(h),
      sc.ratio === undefined ? '–' : `**${fmt(sc.ratio)}x**`,
      sc.latencyLabel ? `${sc.latencyLabel}: ${lat(d)}` : '',
      sc.latencyLabel ? lat(h) : '',
      `${fmt(d?.cpuSec)} / ${fmt(h?.cpuSec)}`,
      `${fmt(d?.peakRssMiB)} (${fmt(d?.startRssMiB)}) / ${fmt(h?.peakRssMiB)} (${fmt(h?.startRssMiB)})`,
    ];
  });
  return mdTable(
    ['scenario', 'unit', 'distribution', 'hatoba', 'hatoba/distribution', 'distribution p50 / p99 ms', 'hatoba p50 / p99 ms', 'server CPU s (D / H)', 'peak RSS MiB (at start) D / H'],
    rows,
  );
}

export function seedTable(seeds: SeedRecord[], servers: string[]): string {
  const names = [...new Set(seeds.map((s) => s.seed))];
  const rows = names.map((n) => {
    const row = [n];
    for (const s of servers) {
      const r = seeds.find((x) => x.seed === n && x.server === s);
      row.push(!r ? 'not run' : r.error ? '**errors**' : `${r.requests} req in ${fmt(r.seconds)} s (${fmt(r.requests / r.seconds)} req/s, server CPU ${fmt(r.cpuSec)} s)`);
    }
    return row;
  });
  return mdTable(['seed (setup, not in the table above)', ...servers], rows);
}

export function machineTable(m: MachineInfo): string {
  return mdTable(['machine limit', 'value'], [
    ['CPU', `${m.cpus} x ${m.cpuModel}`],
    ['memory', `${m.memoryGiB} GiB`],
    ['Node / kernel', `${m.node} / ${m.kernel}`],
    ['sha256, one core (node:crypto)', `${fmt(m.sha256MBps)} MB/s`],
    [`durable write (new ${m.durableWriteBytes / 2 ** 20} MiB file + fsync), before / after the run`, `${fmt(m.durableWriteMBps)} / ${fmt(m.durableWriteMBpsAfter)} MB/s`],
    [`durable write with O_DIRECT (same file, 4 MiB writes + fsync), before / after`, m.directWriteMBps === undefined ? 'not supported here' : `${fmt(m.directWriteMBps)} / ${fmt(m.directWriteMBpsAfter)} MB/s`],
    ['loopback TCP, one connection', `${fmt(m.loopbackMBps)} MB/s`],
  ]);
}

export function errorLines(summary: ScenarioSummary[]): string[] {
  const out: string[] = [];
  for (const sc of summary) {
    for (const [s, v] of Object.entries(sc.servers)) {
      if (v.status === 'errors') out.push(`- ${sc.id} on ${s}: ${v.error}`);
    }
  }
  return out;
}

export function noteLines(summary: ScenarioSummary[]): string[] {
  const out: string[] = [];
  for (const sc of summary) {
    for (const [s, v] of Object.entries(sc.servers)) {
      if (v.notes?.length) out.push(`- ${sc.id} on ${s}: ${v.notes.join('; ')}`);
    }
  }
  return out;
}
