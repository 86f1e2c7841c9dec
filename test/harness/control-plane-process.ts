// Runs the real control-plane worker (workers/control-plane/main.ts: workflows, database
// activities, scan reconciler) as its own process, as production does, so a test can SIGKILL it
// mid-scan and start another. It needs PostgreSQL (DATABASE_URL): PGlite lives in one process.
// Its output is kept in a file, for the secret search.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/tools.mjs';

export interface ControlPlaneProcess {
  process: ChildProcess;
  /** When the process was spawned, and when it logged that it polls (ms since the epoch). */
  spawnedAt: number;
  /** Resolves, with the time it did, once the worker logs that it polls. */
  ready: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnControlPlaneOptions {
  temporalAddress: string;
  databaseUrl: string;
  codecKeys: string;
  masterKeys: string;
  logFile: string;
  env?: Record<string, string>;
}

export function spawnControlPlane(options: SpawnControlPlaneOptions): ControlPlaneProcess {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'workers/control-plane/main.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: options.temporalAddress,
      DATABASE_URL: options.databaseUrl,
      VAULTSCAN_CODEC_KEYS: options.codecKeys,
      VAULTSCAN_MASTER_KEYS: options.masterKeys,
      VAULTSCAN_LOG_LEVEL: 'debug',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ready = new Promise<number>((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-1000);
      if (seen.includes('control-plane worker polling')) {
        child.stdout?.off('data', onData);
        resolve(Date.now());
      }
    };
    child.stdout?.on('data', onData);
    void exited.then(({ code, signal }) =>
      reject(new Error(`control-plane process exited early (${signal ?? code}); see ${options.logFile}`)),
    );
  });
  ready.catch(() => undefined);
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  return {
    process: child,
    spawnedAt,
    ready,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
