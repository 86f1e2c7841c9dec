// The stack that figures 2, 3 and 5 share: the whole product on a fresh PostgreSQL database
// (API, Temporal dev server, control-plane worker), one authentication record over a large
// range, and appliance workers whose vault and technology answer at once (simulated.ts).
// The vault-reads figure splits the range among several records and runs several appliance
// worker sets, each with its own vault adapter.
import { startScanEnvironment, type ScanEnvironment } from '../test/harness/scan-env.js';
import { instantTechnology, instantVault } from '../test/harness/simulated.js';
import type { VaultAdapter } from '../activities/vault/adapter.js';
import type { AuthTechnology } from '../activities/auth/technology.js';
import { freshPostgres, scanFinished } from './common.js';

export interface SimulatedStack {
  env: ScanEnvironment;
  databaseUrl: string;
  applianceId: string;
  profileId: string;
  /** Launches a scan through the API and returns its id. */
  launch(title: string, targets: string): Promise<string>;
  /** Polls GET /scans/:id until the scan finished; throws if it ended otherwise. */
  waitFinished(scanId: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startSimulatedStack(options: {
  range: string;
  parallel: number;
  packagesPerHost?: number;
  /** Authentication records, each a vault item (locator path) over some targets; default one over the range. */
  records?: { targets: string; path: string }[];
  /**
   * One appliance worker set (store, cache, workers: what an appliance process has) per entry,
   * each with its own vault adapter and, if given, technology; default one with instantVault.
   */
  appliances?: { vault: VaultAdapter; technology?: AuthTechnology }[];
}): Promise<SimulatedStack> {
  const pg = await freshPostgres();
  await pg.database.close();
  const env = await startScanEnvironment({ databaseUrl: pg.url });
  try {
    await env.api('POST', '/assets', { name: 'simulated fleet', value: options.range });
    const vault = (
      await env.api('POST', '/vaults', {
        name: 'sim',
        type: 'hashicorp',
        config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
        access: { token: 'sim' },
      })
    ).body;
    for (const [i, record] of (options.records ?? [{ targets: options.range, path: 'x' }]).entries()) {
      const res = await env.api('POST', '/auth-records', {
        name: options.records ? `record ${i + 1}` : 'all',
        technology: 'unix',
        targets: record.targets,
        username: 'scanner',
        vaultId: vault.id,
        locator: { path: record.path },
        fields: { password: 'password' },
      });
      if (res.status !== 201) throw new Error(`creating the bench record failed: ${res.text}`);
    }
    const profile = (
      await env.api('POST', '/option-profiles', {
        name: 'bench',
        technologies: ['unix'],
        maxParallelHosts: options.parallel,
        timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 10_000 },
        retry: { maxAttempts: 1, initialIntervalMs: 0, maxIntervalMs: 0 },
      })
    ).body;
    const appliance = (await env.api('POST', '/appliances', { name: 'bench' })).body;
    const technology = instantTechnology(options.packagesPerHost ?? 0);
    for (const set of options.appliances ?? [{ vault: instantVault }]) {
      await env.startSimulatedAppliance(appliance.id, {
        vaults: () => set.vault,
        technologies: () => set.technology ?? technology,
        maxConcurrentActivities: 400,
      });
    }
    return {
      env,
      databaseUrl: pg.url,
      applianceId: appliance.id,
      profileId: profile.id,
      async launch(title, targets) {
        const res = await env.api('POST', '/scans', {
          title,
          targets,
          optionProfileId: profile.id,
          applianceId: appliance.id,
        });
        if (res.status !== 202) throw new Error(`launching the bench scan failed: ${res.text}`);
        return res.body.id as string;
      },
      async waitFinished(scanId) {
        await scanFinished(env, scanId);
      },
      async stop() {
        await env.stop();
        await pg.dispose();
      },
    };
  } catch (err) {
    await env.stop();
    await pg.dispose();
    throw err;
  }
}

/** The dotted form of a 32-bit address. */
export const ipv4 = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** History events of every workflow run of a scan: the total, and the largest single run. */
export async function historyOf(
  env: ScanEnvironment,
  scanId: string,
): Promise<{ total: number; largestRun: number; runs: number }> {
  let total = 0;
  let largestRun = 0;
  let runs = 0;
  for await (const wf of env.client.workflow.list({ query: `VaultscanScanId = "${scanId}"` })) {
    total += wf.historyLength;
    largestRun = Math.max(largestRun, wf.historyLength);
    runs++;
  }
  return { total, largestRun, runs };
}
