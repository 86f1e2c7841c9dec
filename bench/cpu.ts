// Where the CPU goes during a benchmark: seconds of CPU per process group, from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

const TICKS = 100; // USER_HZ on Linux

/** Node processes are told apart by the script they run (the benchmark itself, an appliance worker …). */
function nodeLabel(pid: string): string {
  const script = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').find((arg) => /\.(ts|js|mjs)$/.test(arg) && !arg.includes('node_modules'));
  return script ? `node ${script.split('/').slice(-2).join('/')}` : 'node';
}

function cpuByCommand(): Map<string, number> {
  const totals = new Map<string, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / TICKS;
      const group = comm.startsWith('postgres') ? 'postgres' : comm === 'node' ? nodeLabel(pid) : comm;
      totals.set(group, (totals.get(group) ?? 0) + seconds);
    } catch {
      /* the process ended meanwhile */
    }
  }
  return totals;
}

/** Busy and idle CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineCpu(): { busy: number; idle: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number) as number[];
  return { busy: (user! + nice! + system! + irq! + softirq! + steal!) / TICKS, idle: (idle! + iowait!) / TICKS };
}

/** Starts counting; the returned function gives CPU seconds per command since then (busiest first). */
export function startCpuMeter(): () => { command: string; seconds: number }[] {
  const before = cpuByCommand();
  const machineBefore = machineCpu();
  const started = performance.now();
  return () => {
    const after = cpuByCommand();
    const wall = (performance.now() - started) / 1000;
    const rows = [...after].map(([command, s]) => ({ command, seconds: s - (before.get(command) ?? 0) })).filter((r) => r.seconds > 0.05);
    rows.sort((a, b) => b.seconds - a.seconds);
    // Short-lived processes (ssh sessions, sudo, dpkg) are gone before they can be read; the
    // machine's busy and idle totals count them.
    const machine = machineCpu();
    return [
      { command: '(wall clock)', seconds: wall },
      { command: '(machine busy)', seconds: machine.busy - machineBefore.busy },
      { command: '(machine idle)', seconds: machine.idle - machineBefore.idle },
      ...rows,
    ];
  };
}

export function describeCpu(rows: { command: string; seconds: number }[]): string {
  return rows.map((r) => `${r.command} ${r.seconds.toFixed(1)} s`).join(', ');
}

/** Sets the nice value of every thread of a process (Linux keeps one per thread). */
export function reniceProcess(pid: number, nice: number): void {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      /* the thread ended meanwhile */
    }
  }
}
