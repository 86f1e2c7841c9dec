// Reading Linux's /proc: what the harness and the benchmarks need to know about a process.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';

export interface ProcStat {
  /**
   * The command name, as the kernel keeps it (comm, at most 15 characters): the main thread's
   * name, which a program may change. Node 20 leaves it "node", Node 24 names it "MainThread",
   * process.title rewrites it: it cannot tell what program runs (see isNodeProcess).
   */
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

/** The program a process runs (/proc/<pid>/exe); undefined once it is gone or when not ours to read. */
export function procExecutable(pid: number | string): string | undefined {
  try {
    // A binary replaced on disk (an upgrade) while it runs reads "… (deleted)".
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    return undefined;
  }
}

/**
 * Whether a process runs Node.js, whatever it calls its main thread and whatever its title:
 * its executable is named node, or, where that link is not ours to read, its first argument is.
 */
export function isNodeProcess(pid: number | string): boolean {
  const program = procExecutable(pid) ?? readArgv0(pid);
  return program !== undefined && basename(program) === 'node';
}

function readArgv0(pid: number | string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] || undefined;
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
