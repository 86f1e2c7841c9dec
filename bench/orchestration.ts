// Figure 2: hosts/s through the whole workflow (API → Temporal → appliance → PostgreSQL) with a
// vault and a technology that answer at once, so only the orchestration is measured.
import { describeStats, stats, type Stats } from './common.js';
import { describeCpu, startCpuMeter } from './cpu.js';
import { historyOf, ipv4, startSimulatedStack } from './simulated-stack.js';

export async function benchOrchestration(options: {
  hosts: number;
  parallel: number;
  runs: number;
}): Promise<{ hostsPerSecond: Stats; text: string; cpu: string }> {
  const stack = await startSimulatedStack({ range: '10.64.0.0/12', parallel: options.parallel });
  try {
    const rates: number[] = [];
    let cpu = '';
    let eventsPerHost = 0;
    for (let run = 0; run < options.runs; run++) {
      const first = 0x0a400000 + run * options.hosts;
      const started = performance.now();
      const meter = startCpuMeter();
      const scanId = await stack.launch(`bench ${run}`, `${ipv4(first)}-${ipv4(first + options.hosts - 1)}`);
      await stack.waitFinished(scanId);
      rates.push(options.hosts / ((performance.now() - started) / 1000));
      cpu = describeCpu(meter());
      // History events per host: what the Temporal server had to persist for each one.
      eventsPerHost = (await historyOf(stack.env, scanId)).total / options.hosts;
    }
    const hostsPerSecond = stats(rates);
    return {
      hostsPerSecond,
      cpu,
      text: `${options.hosts} hosts a scan, ${options.parallel} in parallel: ${describeStats(hostsPerSecond, 'hosts/s')}; ${eventsPerHost.toFixed(1)} history events per host (parent runs included)`,
    };
  } finally {
    await stack.stop();
  }
}
