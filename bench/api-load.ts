// Figure 5: GET /api/v1/scans/:id at a fixed 200 requests/s for 30 s while a scan runs.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { parseKeyring } from '../workers/temporal/keyring.js';
import { createDataConverter } from '../workers/temporal/data-converter.js';
import { connectWorkerConnection } from '../workers/temporal/connection.js';
import { createApplianceWorkers } from '../workers/appliance/create-workers.js';
import { startScanEnvironment } from '../test/harness/scan-env.js';
import { freshPostgres } from './common.js';
import { instantTechnology, instantVault } from '../test/harness/simulated.js';

export interface ApiLoadResult {
  requests: number;
  errors: number;
  non2xx: number;
  p50: number;
  p99: number;
  max: number;
  text: string;
}

export async function benchApiLoad(options: { rate: number; seconds: number }): Promise<ApiLoadResult> {
  const pg = await freshPostgres();
  await pg.database.close();
  const env = await startScanEnvironment({ databaseUrl: pg.url });
  try {
    await env.api('POST', '/assets', { name: 'load', value: '10.80.0.0/16' });
    const vault = (await env.api('POST', '/vaults', { name: 'sim', type: 'hashicorp', config: { url: 'http://127.0.0.1:1', authMethod: 'token' }, access: { token: 'sim' } })).body;
    await env.api('POST', '/auth-records', { name: 'all', technology: 'unix', targets: '10.80.0.0/16', username: 'scanner', vaultId: vault.id, locator: { path: 'x' }, fields: { password: 'password' } });
    const appliance = (await env.api('POST', '/appliances', { name: 'load' })).body;
    const dataConverter = createDataConverter(parseKeyring(env.codecKeys, 'bench'));
    const connection = await connectWorkerConnection({ address: env.temporal.address, namespace: 'default', dataConverter });
    const workers = await createApplianceWorkers({ connection, namespace: 'default', dataConverter, applianceId: appliance.id, vaults: () => instantVault, technologies: () => instantTechnology(1_500) });
    const running = workers.run();
    try {
      // The load comes from another process, as wrk would: not from the API's own event loop.
      const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
      const load = async (scanId: string) => {
        const { stdout } = await promisify(execFile)(process.execPath, [
          cli, '--json', '-c', '20', '--overallRate', String(options.rate), '-d', String(options.seconds),
          '-H', `authorization=Bearer ${env.apiToken}`, `${env.apiUrl}/api/v1/scans/${scanId}`,
        ], { maxBuffer: 64 * 1024 * 1024 });
        return JSON.parse(stdout) as { requests: { total: number }; errors: number; timeouts: number; non2xx: number; latency: { p50: number; p99: number; max: number } };
      };
      // Baseline: the same load on a finished scan with nothing else running.
      const small = (await env.api('POST', '/scans', { title: 'baseline', targets: '10.80.255.1-10.80.255.4', applianceId: appliance.id })).body;
      while ((await env.api('GET', `/scans/${small.id}`)).body.status !== 'FINISHED') await new Promise((r) => setTimeout(r, 100));
      const idle = await load(small.id);
      // A scan big enough to keep running (and publishing 1,500-package inventories) throughout.
      const scan = (await env.api('POST', '/scans', { title: 'under load', targets: '10.80.0.0/20', applianceId: appliance.id })).body;
      const result = await load(scan.id);
      const status = (await env.api('GET', `/scans/${scan.id}`)).body;
      if (status.status !== 'RUNNING') throw new Error(`the scan was not running throughout the load (${status.status})`);
      const out = {
        requests: result.requests.total, errors: result.errors + result.timeouts, non2xx: result.non2xx,
        p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max,
      };
      const baseline = `idle baseline p50 ${idle.latency.p50} ms, p99 ${idle.latency.p99} ms, ${idle.errors + idle.timeouts} errors`;
      return { ...out, text: `${baseline}; ${options.rate} req/s for ${options.seconds} s during a running scan (${status.progress.doneHosts} hosts published meanwhile): ${out.requests} requests, p50 ${out.p50} ms, p99 ${out.p99} ms, max ${out.max} ms, ${out.errors} errors, ${out.non2xx} non-2xx` };
    } finally {
      workers.shutdown();
      await running;
      await connection.close();
    }
  } finally {
    await env.stop();
    await pg.dispose();
  }
}
