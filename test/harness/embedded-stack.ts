// `npm start`'s whole stack as a test sees it from outside: started the way a person starts it
// (npm start, tsx, or node), on spare ports and a data folder of its own, with its processes
// found through /proc so a test can signal any one of them and check that none is left.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/tools.mjs';
import { freePort, listenError } from '../../runtime/net.js';
import { allPids, procCommandLine, procStat } from './proc.js';

export interface StackPorts {
  api: number;
  temporal: number;
  temporalUi: number;
}

export async function spareStackPorts(): Promise<StackPorts> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  const [api, temporal, temporalUi] = [...ports] as [number, number, number];
  return { api, temporal, temporalUi };
}

/** The ways a person starts the embedded stack. */
export const LAUNCHERS = {
  npm: ['npm', ['start']],
  tsx: [join(projectRoot, 'node_modules/.bin/tsx'), ['workers/embedded/main.ts']],
} as const satisfies Record<string, readonly [string, readonly string[]]>;

export interface LaunchedStack {
  /** The process the test started (npm, tsx, …): the root of the stack's process tree. */
  root: ChildProcess;
  /** Everything printed so far, stdout and stderr together. */
  output(): string;
  /** Resolves once the stack says it runs and the appliance polls; rejects if the root exits first. */
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function launchStack(
  launcher: keyof typeof LAUNCHERS,
  dataDir: string,
  ports: StackPorts,
  env: Record<string, string> = {},
): LaunchedStack {
  const [command, args] = LAUNCHERS[launcher];
  const { TEMPORAL_ADDRESS: _cluster, DATABASE_URL: _database, ...inherited } = process.env;
  const root = spawn(command, [...args], {
    cwd: projectRoot,
    env: {
      ...inherited,
      VAULTSCAN_DATA_DIR: dataDir,
      VAULTSCAN_API_PORT: String(ports.api),
      VAULTSCAN_TEMPORAL_PORT: String(ports.temporal),
      VAULTSCAN_TEMPORAL_UI_PORT: String(ports.temporalUi),
      ...env,
    },
    // A session of its own: a signal the test sends reaches only the process it names.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    root.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const check = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('vaultscan is running') && output.includes('appliance worker polling')) resolve();
    };
    root.stdout!.on('data', check);
    root.stderr!.on('data', check);
    void exited.then(({ code, signal }) =>
      reject(new Error(`the stack exited before it was ready (${signal ?? `code ${code}`}):\n${output}`)),
    );
  });
  ready.catch(() => undefined);
  return { root, output: () => output, ready, exited };
}

/** Every live descendant of a process, found through /proc. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const parent = procStat(pid)?.ppid;
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const found: number[] = [];
  const visit = (pid: number) => {
    for (const child of children.get(pid) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(root);
  return found;
}

/** The stack's processes by role, found under its root. */
export function stackProcesses(root: number): { all: number[]; main?: number; temporal?: number; appliance?: number } {
  const all = [root, ...descendantsOf(root)];
  const find = (text: string) => all.find((pid) => procCommandLine(pid)?.includes(text));
  return {
    all,
    main: find('workers/embedded/main.ts'),
    temporal: find('temporal server start-dev'),
    appliance: find('workers/appliance/main.ts'),
  };
}

/** Running: not gone, and not a zombie waiting for whoever adopted it to reap it. */
export const isRunning = (pid: number) => ![undefined, 'Z'].includes(procStat(pid)?.state);

/** The pids among these that are still running after timeoutMs (none, when all went). */
export async function stillRunningAfter(pids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(isRunning);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The stack's ports that something still listens on. */
export async function portsInUse(ports: StackPorts): Promise<number[]> {
  const inUse: number[] = [];
  for (const port of Object.values(ports)) if (await listenError('127.0.0.1', port)) inUse.push(port);
  return inUse;
}

/**
 * PostgreSQL's own record of how its cluster was left (pg_control's DBState, after the 64-bit
 * system identifier and two 32-bit versions): 1 is "shut down", 6 "in production" (not closed).
 */
export function pgliteState(dataDir: string): number {
  return readFileSync(join(dataDir, 'pglite', 'global', 'pg_control')).readUInt32LE(16);
}
export const PG_SHUT_DOWN = 1;

/** Kills whatever of a stack a failed test left, by pid. */
export function killLeftovers(pids: number[]): void {
  for (const pid of pids.filter(isRunning)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}
