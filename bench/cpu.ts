// Where the CPU goes during a benchmark: seconds of CPU per process group, from /proc.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

function cpuByCommand(): Map<string, number> {
  const totals = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
      const group = comm.startsWith('postgres') ? 'postgres' : comm;
      totals.set(group, (totals.get(group) ?? 0) + seconds);
    } catch {
      /* the process ended meanwhile */
    }
  }
  return totals;
}

/** Starts counting; the returned function gives CPU seconds per command since then (busiest first). */
export function startCpuMeter(): () => { command: string; seconds: number }[] {
  const before = cpuByCommand();
  const started = performance.now();
  return () => {
    const after = cpuByCommand();
    const wall = (performance.now() - started) / 1000;
    const rows = [...after].map(([command, s]) => ({ command, seconds: s - (before.get(command) ?? 0) })).filter((r) => r.seconds > 0.05);
    rows.sort((a, b) => b.seconds - a.seconds);
    return [{ command: '(wall clock)', seconds: wall }, ...rows];
  };
}

export function describeCpu(rows: { command: string; seconds: number }[]): string {
  return rows.map((r) => `${r.command} ${r.seconds.toFixed(1)} s`).join(', ');
}
