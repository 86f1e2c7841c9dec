// Figure 7: vault reads with the appliance's credential cache. A real scan (API → Temporal dev
// server → control plane → appliance workers → PostgreSQL) of many simulated hosts whose
// authentication records read a few items of ONE vault record, served by several appliance
// worker sets, each with its own secret store and credential cache as an appliance process has.
// Reads are counted inside each set's vault adapter (the vault's side), not by the cache. The
// run fails if any set read the vault more often than there are credentials, if any set read
// one item twice, or if the audit trail's vault reads disagree with the vault's count.
import { cpus, loadavg } from 'node:os';
import postgres from 'postgres';
import type { AuthTechnology } from '../activities/auth/technology.js';
import { countingVault, instantTechnology } from '../test/harness/simulated.js';
import { describeStats, fmt, stats, type Stats } from './common.js';
import { describeCpu, startCpuMeter } from './cpu.js';
import { ipv4, startSimulatedStack } from './simulated-stack.js';

interface ProcessRun {
  reads: number;
  readsByPath: Record<string, number>;
  /** Hosts this set logged in to (counted by its simulated technology). */
  hosts: number;
}

interface VaultReadsRun {
  seconds: number;
  /** CPU seconds of the whole machine during the scan, and of this stack's processes. */
  cpu: { busy: number; stack: number; rows: string };
  /** The 1-minute load average when the scan ended (other agents share the machine). */
  load: number;
  processes: ProcessRun[];
  /** From the audit trail: batches' uses of a vault read, and the hosts they served. */
  audit: { reads: number; readHosts: number; cachedUses: number; cachedHosts: number };
}

export async function benchVaultReads(options: {
  hosts: number;
  credentials: number;
  processes: number;
  parallel: number;
  runs: number;
}): Promise<{ runs: VaultReadsRun[]; hostsPerSecond: Stats; text: string }> {
  const first = 0x0a400000;
  const per = Math.ceil(options.hosts / options.credentials);
  const records = Array.from({ length: options.credentials }, (_, i) => ({
    targets: `${ipv4(first + i * per)}-${ipv4(first + Math.min(options.hosts, (i + 1) * per) - 1)}`,
    path: `bench/credential-${i + 1}`,
  }));
  const technology = instantTechnology();
  const sets = Array.from({ length: options.processes }, () => {
    const counter = { hosts: 0 };
    const counted: AuthTechnology = {
      ...technology,
      connect: (...args) => (counter.hosts++, technology.connect(...args)),
    };
    return { vault: countingVault(), technology: counted, counter };
  });
  const stack = await startSimulatedStack({
    range: '10.64.0.0/12',
    parallel: options.parallel,
    records,
    appliances: sets.map((s) => ({ vault: s.vault.adapter, technology: s.technology })),
  });
  const sql = postgres(stack.databaseUrl, { max: 1, onnotice: () => undefined });
  try {
    const runs: VaultReadsRun[] = [];
    for (let run = 0; run < options.runs; run++) {
      const before = sets.map((s) => ({
        reads: s.vault.reads,
        byPath: new Map(s.vault.readsByPath),
        hosts: s.counter.hosts,
      }));
      const meter = startCpuMeter();
      const started = performance.now();
      const scanId = await stack.launch(`vault reads ${run}`, `${ipv4(first)}-${ipv4(first + options.hosts - 1)}`);
      await stack.waitFinished(scanId);
      const seconds = (performance.now() - started) / 1000;
      const cpuRows = meter();
      const cpuOf = (...commands: string[]) =>
        cpuRows.filter((r) => commands.includes(r.command)).reduce((n, r) => n + r.seconds, 0);
      const cpu = {
        busy: cpuOf('(machine busy)'),
        stack: cpuOf('node bench/run.ts', 'temporal', 'postgres'),
        rows: describeCpu(cpuRows),
      };
      const load = loadavg()[0]!;
      const done = (await stack.env.api('GET', `/scans/${scanId}`)).body;
      if (done.progress.doneHosts !== options.hosts || done.progress.counts.PASSED !== options.hosts)
        throw new Error(`vault-reads scan ${scanId}: ${JSON.stringify(done.progress)}, not ${options.hosts} PASSED`);
      const processes = sets.map((s, i): ProcessRun => {
        const readsByPath: Record<string, number> = {};
        for (const [path, n] of s.vault.readsByPath) {
          const delta = n - (before[i]!.byPath.get(path) ?? 0);
          if (delta) readsByPath[path] = delta;
        }
        return { reads: s.vault.reads - before[i]!.reads, readsByPath, hosts: s.counter.hosts - before[i]!.hosts };
      });
      const rows = await sql<{ action: string; n: number; hosts: number }[]>`
        select action, count(*)::int as n, coalesce(sum((detail->>'hosts')::int), 0)::int as hosts
        from audit_events where scan_id = ${scanId} and action in ('vault.read', 'vault.cached-use')
        group by action`;
      const row = (action: string) => rows.find((r) => r.action === action) ?? { n: 0, hosts: 0 };
      const audit = {
        reads: row('vault.read').n,
        readHosts: row('vault.read').hosts,
        cachedUses: row('vault.cached-use').n,
        cachedHosts: row('vault.cached-use').hosts,
      };
      runs.push({ seconds, cpu, load, processes, audit });
      console.log(`vault-reads run ${run + 1}: ${JSON.stringify({ ...runs.at(-1)!, cpu: cpu.rows })}`);

      // Fail loudly: these are the figure's claims.
      for (const [i, p] of processes.entries()) {
        if (p.reads > options.credentials)
          throw new Error(`appliance set ${i + 1} read the vault ${p.reads} times, more than ${options.credentials}`);
        for (const [path, n] of Object.entries(p.readsByPath))
          if (n > 1) throw new Error(`appliance set ${i + 1} read ${path} ${n} times in one scan`);
      }
      const total = processes.reduce((n, p) => n + p.reads, 0);
      if (audit.reads !== total)
        throw new Error(`the audit trail has ${audit.reads} vault reads, the vault counted ${total}`);
      if (audit.readHosts + audit.cachedHosts !== options.hosts)
        throw new Error(`the audit trail's reads served ${audit.readHosts + audit.cachedHosts} hosts`);
    }
    const hostsPerSecond = stats(runs.map((r) => options.hosts / r.seconds));
    const seconds = stats(runs.map((r) => r.seconds));
    const maxPerProcess = Math.max(...runs.flatMap((r) => r.processes.map((p) => p.reads)));
    const describeRun = (r: VaultReadsRun, i: number) => {
      const total = r.processes.reduce((n, p) => n + p.reads, 0);
      const perProcess = r.processes.map((p) => `${p.reads} (${p.hosts.toLocaleString('en-US')} hosts)`).join(' + ');
      return (
        `run ${i + 1}: ${total} vault reads = ${perProcess}, ${r.audit.cachedUses} cached uses serving ` +
        `${r.audit.cachedHosts.toLocaleString('en-US')} hosts, ${fmt(r.seconds)} s (machine busy ${fmt(r.cpu.busy)} s, ` +
        `this stack's processes ${fmt(r.cpu.stack)} s, load average ${fmt(r.load, 2)})`
      );
    };
    return {
      runs,
      hostsPerSecond,
      text:
        `${options.hosts.toLocaleString('en-US')} hosts, ${options.credentials} records (one vault item each, one vault record), ` +
        `${options.processes} appliance worker sets, ${options.parallel} in parallel. Vault reads counted at the vault, ` +
        `per set (hosts it scanned): ${runs.map(describeRun).join('; ')}. Most reads by one set in one scan: ${maxPerProcess}. ` +
        `Scan wall time ${describeStats(seconds, 's')}; ${describeStats(hostsPerSecond, 'hosts/s')}. ` +
        `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; ` +
        `CPU during the last run: ${runs.at(-1)!.cpu.rows}`,
    };
  } finally {
    await sql.end();
    await stack.stop();
  }
}
