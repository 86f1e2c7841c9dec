// Figure 1: the whole pipeline (API → Temporal → appliance process → OpenBao → sshd →
// PostgreSQL) against a bare loop (one vault read, then ssh2 over the same targets at the
// same parallelism with the same commands), over real sshd processes on loopback addresses.
import { randomBytes } from 'node:crypto';
import { hashicorpVault } from '../activities/vault/hashicorp.js';
import { unixTechnology } from '../activities/auth/unix.js';
import { startScanEnvironment } from '../test/harness/scan-env.js';
import { startOpenBao } from '../test/harness/openbao.js';
import { cleanupAll, createTestUser, startSshd, type SshdServer } from '../test/harness/ssh-targets.js';
import { freePort } from '../runtime/net.js';
import { describeStats, fmt, freshPostgres, scanFinished, stats, type Stats } from './common.js';
import { describeCpu, startCpuMeter } from './cpu.js';

const address = (i: number) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;

async function pool<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

export async function benchPipeline(options: {
  targets: number;
  parallel: number;
  runs: number;
}): Promise<{ pipeline: Stats; bare: Stats; ratio: number; text: string }> {
  await cleanupAll();
  const password = `bench-${randomBytes(8).toString('hex')}`;
  const user = 'vstest-bench';
  await createTestUser({ name: user, password, sudo: 'password' });
  const bao = await startOpenBao();
  const pg = await freshPostgres();
  await pg.database.close();
  const env = await startScanEnvironment({ databaseUrl: pg.url });
  const sshds: SshdServer[] = [];
  try {
    await bao.writeKv2('secret', 'fleet/linux', { password });
    const token = await bao.createToken(['bench'], 'path "secret/data/fleet/*" { capabilities = ["read"] }');
    const port = await freePort(address(0));
    for (let i = 0; i < options.targets; i += 20) {
      sshds.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(20, options.targets - i) }, (_, k) =>
            startSshd({ address: address(i + k), port }),
          ),
        )),
      );
    }
    const ips = sshds.map((s) => s.address);
    const targets = `${ips[0]}-${ips.at(-1)}`;
    await env.api('POST', '/assets', { name: 'fleet', value: targets });
    const vault = (
      await env.api('POST', '/vaults', {
        name: 'bao',
        type: 'hashicorp',
        config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
        access: { token },
      })
    ).body;
    await env.api('POST', '/auth-records', {
      name: 'fleet',
      technology: 'unix',
      targets,
      username: user,
      port,
      vaultId: vault.id,
      locator: { path: 'fleet/linux' },
      fields: { password: 'password' },
    });
    const profile = (
      await env.api('POST', '/option-profiles', {
        name: 'bench',
        technologies: ['unix'],
        maxParallelHosts: options.parallel,
        timeouts: { connectMs: 30_000, commandMs: 60_000, vaultMs: 10_000 },
        retry: { maxAttempts: 1, initialIntervalMs: 0, maxIntervalMs: 0 },
      })
    ).body;
    const appliance = (await env.api('POST', '/appliances', { name: 'bench' })).body;
    await env.startAppliance(appliance.id);

    const pipelineRates: number[] = [];
    const bareRates: number[] = [];
    let pipelineCpu = '';
    let bareCpu = '';
    for (let run = 0; run < options.runs; run++) {
      // (a) through the product
      let started = performance.now();
      let meter = startCpuMeter();
      const scan = (
        await env.api('POST', '/scans', {
          title: `bench ${run}`,
          targets,
          optionProfileId: profile.id,
          applianceId: appliance.id,
        })
      ).body;
      const status = await scanFinished(env, scan.id);
      pipelineRates.push(options.targets / ((performance.now() - started) / 1000));
      pipelineCpu = describeCpu(meter());
      if (status.progress.counts.PASSED !== options.targets)
        throw new Error(`pipeline run: ${JSON.stringify(status.progress.counts)}`);

      // (b) the bare loop
      started = performance.now();
      meter = startCpuMeter();
      const { credential } = await hashicorpVault.fetch({
        config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
        access: { token },
        locator: { path: 'fleet/linux' },
        fields: { password: 'password' },
        reason: 'bench',
      });
      let passed = 0;
      await pool(ips, options.parallel, async (ip) => {
        const session = await unixTechnology.connect(
          { ip, port },
          { username: user, ...credential },
          { connectTimeoutMs: 30_000, commandTimeoutMs: 60_000 },
        );
        try {
          if ((await session.checkPrivileges()).ok) passed++;
          await session.collect({ commandTimeoutMs: 60_000 });
        } finally {
          await session.close();
        }
      });
      bareRates.push(options.targets / ((performance.now() - started) / 1000));
      bareCpu = describeCpu(meter());
      if (passed !== options.targets) throw new Error(`bare loop: ${passed} passed`);
    }
    const pipeline = stats(pipelineRates);
    const bare = stats(bareRates);
    const ratio = pipeline.median / bare.median;
    const text = `${options.targets} sshd targets, ${options.parallel} in parallel. (a) pipeline: ${describeStats(pipeline, 'hosts/s')}. (b) bare ssh2 loop: ${describeStats(bare, 'hosts/s')}. Ratio a/b of medians: ${fmt(ratio, 2)}. CPU during the last pipeline run: ${pipelineCpu}; during the last bare run: ${bareCpu}`;
    return { pipeline, bare, ratio, text };
  } finally {
    await env.stop();
    await Promise.all(sshds.map((s) => s.stop()));
    await bao.stop();
    await pg.dispose();
    await cleanupAll();
  }
}
