// Figure 2: hosts/s through the whole workflow (API → Temporal → appliance → PostgreSQL) with a
// vault and a technology that answer at once, so only the orchestration is measured.
import { parseKeyring } from '../workers/temporal/keyring.js';
import { createDataConverter } from '../workers/temporal/data-converter.js';
import { connectWorkerConnection } from '../workers/temporal/connection.js';
import { createApplianceWorkers } from '../workers/appliance/create-workers.js';
import { startScanEnvironment } from '../test/harness/scan-env.js';
import { describeStats, freshPostgres, stats, type Stats } from './common.js';
import { instantTechnology, instantVault } from '../test/harness/simulated.js';
import { describeCpu, startCpuMeter } from './cpu.js';

export async function benchOrchestration(options: { hosts: number; parallel: number; runs: number }): Promise<{ hostsPerSecond: Stats; text: string; cpu: string }> {
  const pg = await freshPostgres();
  await pg.database.close();
  const env = await startScanEnvironment({ databaseUrl: pg.url });
  try {
    await env.api('POST', '/assets', { name: 'bench', value: '10.64.0.0/12' });
    const vault = (await env.api('POST', '/vaults', { name: 'sim', type: 'hashicorp', config: { url: 'http://127.0.0.1:1', authMethod: 'token' }, access: { token: 'sim' } })).body;
    await env.api('POST', '/auth-records', { name: 'all', technology: 'unix', targets: '10.64.0.0/12', username: 'scanner', vaultId: vault.id, locator: { path: 'x' }, fields: { password: 'password' } });
    const profile = (await env.api('POST', '/option-profiles', {
      name: 'bench', technologies: ['unix'], maxParallelHosts: options.parallel,
      timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 10_000 }, retry: { maxAttempts: 1, initialIntervalMs: 0, maxIntervalMs: 0 },
    })).body;
    const appliance = (await env.api('POST', '/appliances', { name: 'bench' })).body;
    const dataConverter = createDataConverter(parseKeyring(env.codecKeys, 'bench'));
    const connection = await connectWorkerConnection({ address: env.temporal.address, namespace: 'default', dataConverter });
    const workers = await createApplianceWorkers({
      connection, namespace: 'default', dataConverter, applianceId: appliance.id, maxConcurrentActivities: 400,
      vaults: () => instantVault, technologies: () => instantTechnology(),
    });
    const running = workers.run();
    const rates: number[] = [];
    let cpu = '';
    let eventsPerHost = 0;
    try {
      for (let run = 0; run < options.runs; run++) {
        const first = 0x0a400000 + run * options.hosts;
        const ip = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
        const started = performance.now();
        const meter = startCpuMeter();
        const scan = (await env.api('POST', '/scans', { title: `bench ${run}`, targets: `${ip(first)}-${ip(first + options.hosts - 1)}`, optionProfileId: profile.id, applianceId: appliance.id })).body;
        for (;;) {
          const s = (await env.api('GET', `/scans/${scan.id}`)).body;
          if (s.status === 'FINISHED') break;
          if (s.status !== 'RUNNING' && s.status !== 'QUEUED') throw new Error(`bench scan ended ${s.status}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        rates.push(options.hosts / ((performance.now() - started) / 1000));
        cpu = describeCpu(meter());
        // History events per host: what the Temporal server had to persist for each one.
        let events = 0;
        for await (const wf of env.client.workflow.list({ query: `VaultscanScanId = "${scan.id}"` })) events += wf.historyLength;
        eventsPerHost = events / options.hosts;
      }
    } finally {
      workers.shutdown();
      await running;
      await connection.close();
    }
    const hostsPerSecond = stats(rates);
    return { hostsPerSecond, cpu, text: `${options.hosts} hosts a scan, ${options.parallel} in parallel: ${describeStats(hostsPerSecond, 'hosts/s')}; ${eventsPerHost.toFixed(1)} history events per host (parent runs included)` };
  } finally {
    await env.stop();
    await pg.dispose();
  }
}
