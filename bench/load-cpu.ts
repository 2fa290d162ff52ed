/**
 * CPU use during a phase of `npm run bench load`, from /proc (Linux): cores used by the machine as
 * a whole and by each labelled group of processes, so a throughput ratio can be read against what
 * the workers actually got. Elsewhere every figure is 0.
 */
import * as fs from "node:fs";

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const HZ = 100;

/** A reading: wall time, the machine's busy and total ticks, ticks per label. */
export interface CpuSnapshot {
  at: number;
  busy: number;
  ticks: Record<string, number>;
}

/** Cores used between two snapshots: the machine's, each label's, and the rest (the broker, other tenants). */
export interface CpuUse {
  machineBusyCores: number;
  cores: Record<string, number>;
}

function machineBusy(): number {
  try {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    return f.slice(0, 8).reduce((a, v, i) => (i === 3 || i === 4 ? a : a + v), 0);
  } catch {
    return 0;
  }
}

function processTicks(pid: number): number {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Reads the machine's and each label's processes' CPU ticks now. */
export function cpuSnapshot(pids: Record<string, number[]>): CpuSnapshot {
  const ticks: Record<string, number> = {};
  for (const [label, list] of Object.entries(pids)) ticks[label] = list.reduce((a, p) => a + processTicks(p), 0);
  return { at: Date.now(), busy: machineBusy(), ticks };
}

/** Cores used between `a` and `b` (labels of `a`); "other" is the machine's busy time not in any label. */
export function cpuUse(a: CpuSnapshot, b: CpuSnapshot): CpuUse {
  const secs = Math.max(1e-3, (b.at - a.at) / 1000);
  const cores: Record<string, number> = {};
  let labelled = 0;
  for (const label of Object.keys(a.ticks)) {
    const c = ((b.ticks[label] ?? 0) - (a.ticks[label] ?? 0)) / HZ / secs;
    cores[label] = +c.toFixed(2);
    labelled += c;
  }
  const machineBusyCores = (b.busy - a.busy) / HZ / secs;
  if (Object.keys(cores).length > 0) cores.other = +(machineBusyCores - labelled).toFixed(2);
  return { machineBusyCores: +machineBusyCores.toFixed(2), cores };
}
