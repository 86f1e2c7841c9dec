// Where the CPU goes during a benchmark: seconds of CPU per process group, from /proc.
import { readdirSync, readFileSync } from 'node:fs';
import { allPids, isNodeProcess, procCommandLine, procStat, TICKS_PER_SECOND } from '../test/harness/proc.js';
import { setPriority } from 'node:os';

/** Node processes are told apart by the script they run (the benchmark itself, an appliance worker …). */
function nodeLabel(pid: number): string {
  const script = procCommandLine(pid)
    ?.split(' ')
    .find((arg) => /\.(ts|js|mjs)$/.test(arg) && !arg.includes('node_modules'));
  return script ? `node ${script.split('/').slice(-2).join('/')}` : 'node';
}

/** The group a process's CPU is reported under. */
function groupOf(pid: number, comm: string): string {
  if (comm.startsWith('postgres')) return 'postgres';
  if (comm.startsWith('kworker')) return 'kworker'; // its name carries the work queue of the moment
  return isNodeProcess(pid) ? nodeLabel(pid) : comm;
}

/** CPU seconds so far, per process, with the group each is reported under. */
function cpuByProcess(): Map<number, { group: string; seconds: number }> {
  const byPid = new Map<number, { group: string; seconds: number }>();
  for (const pid of allPids()) {
    const stat = procStat(pid);
    if (stat) byPid.set(pid, { group: groupOf(pid, stat.comm), seconds: stat.cpuSeconds });
  }
  return byPid;
}

/** Busy and idle CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineCpu(): { busy: number; idle: number } {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields.map(Number) as number[];
  return {
    busy: (user! + nice! + system! + irq! + softirq! + steal!) / TICKS_PER_SECOND,
    idle: (idle! + iowait!) / TICKS_PER_SECOND,
  };
}

/** Starts counting; the returned function gives CPU seconds per command since then (busiest first). */
export function startCpuMeter(): () => { command: string; seconds: number }[] {
  const before = cpuByProcess();
  const machineBefore = machineCpu();
  const started = performance.now();
  return () => {
    const after = cpuByProcess();
    const wall = (performance.now() - started) / 1000;
    // Per process first (a process started meanwhile counts whole), then per group.
    const byGroup = new Map<string, number>();
    for (const [pid, { group, seconds }] of after)
      byGroup.set(group, (byGroup.get(group) ?? 0) + seconds - (before.get(pid)?.seconds ?? 0));
    const rows = [...byGroup].map(([command, seconds]) => ({ command, seconds })).filter((r) => r.seconds > 0.05);
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
