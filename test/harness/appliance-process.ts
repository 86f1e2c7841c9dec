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
  exited: Promise<number | null>;
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
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString().includes('appliance worker polling')) resolve();
    };
    child.stdout?.on('data', onData);
    void exited.then((code) =>
      reject(new Error(`appliance process exited early (code ${code}); see ${options.logFile}`)),
    );
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  return {
    process: child,
    ready,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
