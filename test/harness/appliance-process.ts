// Runs a real appliance worker as its own process, as production does, so a test can
// SIGKILL it while it holds a secret. Its output is kept in a file for the secret search.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../scripts/tools.mjs';

export interface ApplianceProcess {
  process: ChildProcess;
  /** Resolves once the worker logs that it polls. */
  ready: Promise<void>;
  /** Known once ready: the queue only this process polls, and when it was spawned and ready (ms since the epoch). */
  ownQueue: string | undefined;
  spawnedAt: number;
  readyAt: number | undefined;
  /** Where its output goes. */
  logFile: string;
  exited: Promise<number | null>;
  /** The signal that ended the process, once it has ended of one. */
  exitSignal(): NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface SpawnApplianceOptions {
  temporalAddress: string;
  applianceId: string;
  codecKeys: string;
  logFile: string;
  /** The appliance's data folder: its key file lives there. */
  dataDir: string;
  /** For a first start: the one-time code and the API to enrol with. */
  enrolment?: { code: string; apiUrl: string };
  /** More environment, e.g. Temporal's TLS variables. */
  env?: Record<string, string>;
}

export function spawnAppliance(options: SpawnApplianceOptions): ApplianceProcess {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'workers/appliance/main.ts')], {
    cwd: projectRoot,
    env: {
      ...process.env,
      TEMPORAL_ADDRESS: options.temporalAddress,
      VAULTSCAN_APPLIANCE_ID: options.applianceId,
      VAULTSCAN_CODEC_KEYS: options.codecKeys,
      VAULTSCAN_DATA_DIR: options.dataDir,
      VAULTSCAN_LOG_LEVEL: 'debug',
      ...(options.enrolment && {
        VAULTSCAN_ENROLMENT_CODE: options.enrolment.code,
        VAULTSCAN_API_URL: options.enrolment.apiUrl,
      }),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawnedAt = Date.now();
  let exitSignal: NodeJS.Signals | null = null;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exitSignal = signal;
      resolve(code);
    }),
  );
  const self: ApplianceProcess = {
    process: child,
    ready: Promise.resolve(),
    ownQueue: undefined,
    spawnedAt,
    readyAt: undefined,
    logFile: options.logFile,
    exited,
    exitSignal: () => exitSignal,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  self.ready = new Promise<void>((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4000);
      // A whole line: one followed by its newline.
      const line = seen
        .split('\n')
        .slice(0, -1)
        .find((l) => l.includes('appliance worker polling'));
      if (!line) return;
      child.stdout?.off('data', onData);
      try {
        self.ownQueue = (JSON.parse(line) as { ownQueue?: string }).ownQueue;
      } catch {
        /* not JSON (a pretty-printing logger): the queue stays unknown */
      }
      self.readyAt = Date.now();
      resolve();
    };
    child.stdout?.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`appliance process exited early (code ${code}); see ${options.logFile}`)),
    );
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  return self;
}
