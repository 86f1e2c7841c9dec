// Reading Linux's /proc: what the harness and the benchmarks need to know about a process.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  /** The command name, as the kernel keeps it (comm, at most 15 characters). */
  comm: string;
  /** R running, S sleeping, Z zombie (ended, not yet reaped by whoever adopted it) … */
  state: string;
  ppid: number;
  /** CPU seconds spent in user and kernel mode. */
  cpuSeconds: number;
}

export const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** /proc/<pid>/stat, parsed; undefined once the process is gone. */
export function procStat(pid: number | string): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command sits in parentheses and may itself contain spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    state: fields[0]!,
    ppid: Number(fields[1]),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND,
  };
}

/** The command line, arguments joined by spaces; undefined once the process is gone. */
export function procCommandLine(pid: number | string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** Every process id there is right now. */
export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}
