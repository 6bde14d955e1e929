// CPU time and peak RSS of a server's process tree, from /proc.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

const CLK_TCK = 100; // USER_HZ on Linux

function readStat(pid: number): { ppid: number; cpuTicks: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the ")" of comm: state ppid ... utime(14) stime(15)
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), cpuTicks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/** The pid and all its live descendants (covers `--workers N`). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** utime + stime of the tree, in seconds (exited children are not counted). */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const p of processTree(root)) ticks += readStat(p)?.cpuTicks ?? 0;
  return ticks / CLK_TCK;
}

function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Resets VmHWM of every process of the tree (echo 5 > clear_refs); false if not permitted. */
export function resetPeakRss(root: number): boolean {
  let ok = true;
  for (const p of processTree(root)) {
    try {
      writeFileSync(`/proc/${p}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** Sum over the tree of VmHWM (peak resident set size), in KiB. */
export function peakRssKiB(root: number): number {
  let kib = 0;
  for (const p of processTree(root)) kib += statusKiB(p, 'VmHWM');
  return kib;
}

export function rssKiB(root: number): number {
  let kib = 0;
  for (const p of processTree(root)) kib += statusKiB(p, 'VmRSS');
  return kib;
}

/** Busy CPU seconds of the whole machine since boot (all cores, /proc/stat). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...
  const busy = f[0]! + f[1]! + f[2]! + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / CLK_TCK;
}
