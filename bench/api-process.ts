// The API as production runs it, for the benchmarks: its own Node process (api/main.ts) on a
// given database and Temporal, so what it costs (latency, memory) is measured apart from the
// benchmark's own process.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { projectRoot } from '../scripts/tools.mjs';
import { freePort, waitForPort } from '../runtime/net.js';

export interface ApiProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function spawnApiProcess(options: {
  databaseUrl: string;
  temporalAddress: string;
  codecKeys: string;
  /** Where a first start (a database without API keys) writes the first admin key. */
  firstAdminKeyFile?: string;
  /** Options for its Node.js (--max-old-space-size=…). */
  nodeArgs?: string[];
}): Promise<ApiProcess> {
  const port = await freePort();
  const args = [...(options.nodeArgs ?? []), '--import', 'tsx', join(projectRoot, 'api/main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: projectRoot,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      TEMPORAL_ADDRESS: options.temporalAddress,
      VAULTSCAN_CODEC_KEYS: options.codecKeys,
      VAULTSCAN_MASTER_KEYS: `bench:${randomBytes(32).toString('base64')}`,
      VAULTSCAN_API_PORT: String(port),
      ...(options.firstAdminKeyFile && { VAULTSCAN_FIRST_ADMIN_KEY_FILE: options.firstAdminKeyFile }),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitForPort('127.0.0.1', port, 60_000, () => child.exitCode === null);
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
