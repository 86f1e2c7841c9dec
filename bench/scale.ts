// Figure 3: a 100,000-host scan (simulated vault and technology) next to a 10,000-host one on
// the same stack: the time ratio (linear means ≤ 12×), the largest single workflow run's
// history (continue-as-new keeps it under 10,000 events) and the workers' peak RSS.
import { fmt, peakRssMiB, resetPeakRss } from './common.js';
import { historyOf, ipv4, startSimulatedStack } from './simulated-stack.js';

interface ScaleRun {
  hosts: number;
  seconds: number;
  hostsPerSecond: number;
  runs: number;
  largestRun: number;
  eventsPerHost: number;
  workerPeakMiB: number;
  temporalPeakMiB: number;
}

export async function benchScale(options: {
  small: number;
  large: number;
  parallel: number;
}): Promise<{ small: ScaleRun; large: ScaleRun; text: string }> {
  const stack = await startSimulatedStack({ range: '10.64.0.0/12', parallel: options.parallel });
  const temporalPid = stack.env.temporal.process.pid!;
  let next = 0x0a400000;
  const scan = async (hosts: number): Promise<ScaleRun> => {
    global.gc?.();
    resetPeakRss();
    resetPeakRss(temporalPid);
    const targets = `${ipv4(next)}-${ipv4(next + hosts - 1)}`;
    next += hosts;
    const started = performance.now();
    const scanId = await stack.launch(`scale ${hosts}`, targets);
    await stack.waitFinished(scanId);
    const seconds = (performance.now() - started) / 1000;
    const history = await historyOf(stack.env, scanId);
    const done = (await stack.env.api('GET', `/scans/${scanId}`)).body;
    if (done.progress.doneHosts !== hosts)
      throw new Error(`scan of ${hosts} hosts published ${done.progress.doneHosts}`);
    return {
      hosts,
      seconds,
      hostsPerSecond: hosts / seconds,
      runs: history.runs,
      largestRun: history.largestRun,
      eventsPerHost: history.total / hosts,
      workerPeakMiB: peakRssMiB(),
      temporalPeakMiB: peakRssMiB(temporalPid),
    };
  };
  try {
    const small = await scan(options.small);
    const large = await scan(options.large);
    const describe = (r: ScaleRun) =>
      `${r.hosts.toLocaleString('en-US')} hosts in ${fmt(r.seconds)} s (${fmt(r.hostsPerSecond)} hosts/s), ${r.runs.toLocaleString('en-US')} workflow runs, largest run ${r.largestRun.toLocaleString('en-US')} events, ${fmt(r.eventsPerHost, 2)} events/host, peak RSS: workers ${fmt(r.workerPeakMiB, 0)} MiB, Temporal server ${fmt(r.temporalPeakMiB, 0)} MiB`;
    return {
      small,
      large,
      text: `${options.parallel} in parallel. ${describe(small)}; ${describe(large)}. Time ratio ${fmt(large.seconds / small.seconds, 2)}× for ${large.hosts / small.hosts}× the hosts`,
    };
  } finally {
    await stack.stop();
  }
}
