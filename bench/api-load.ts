// Figure 5: GET /api/v1/scans/:id at a fixed 200 requests/s for 30 s while a scan runs, from
// another process (autocannon), against the API in its production shape (its own process,
// api/main.ts) and, for comparison, inside the process that also runs the workers.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { startSimulatedStack } from './simulated-stack.js';
import { reniceProcess } from './cpu.js';
import { spawnApiProcess } from './api-process.js';

interface Load {
  requests: number;
  errors: number;
  non2xx: number;
  p50: number;
  p99: number;
  max: number;
}

export interface ApiLoadResult {
  idle: Load;
  ownProcess: Load;
  ownProcessScanNiced: Load;
  sharedProcess: Load;
  text: string;
}

async function load(url: string, token: string, rate: number, seconds: number): Promise<Load> {
  const cli = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      cli,
      '--json',
      '-c',
      '20',
      '--overallRate',
      String(rate),
      '-d',
      String(seconds),
      '-H',
      `authorization=Bearer ${token}`,
      url,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const r = JSON.parse(stdout) as {
    requests: { total: number };
    errors: number;
    timeouts: number;
    non2xx: number;
    latency: { p50: number; p99: number; max: number };
  };
  return {
    requests: r.requests.total,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
  };
}

const describe = (l: Load) =>
  `${l.requests} requests, p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms, ${l.errors} errors, ${l.non2xx} non-2xx`;

export async function benchApiLoad(options: { rate: number; seconds: number }): Promise<ApiLoadResult> {
  // 1,500 packages per host: the scan publishes real-sized inventories while the API is read.
  const stack = await startSimulatedStack({ range: '10.80.0.0/16', parallel: 200, packagesPerHost: 1_500 });
  // The stack's database already has its first admin key, so this process creates none.
  const api = {
    ...(await spawnApiProcess({
      databaseUrl: stack.databaseUrl,
      temporalAddress: stack.env.temporal.address,
      codecKeys: stack.env.codecKeys,
    })),
    token: stack.env.adminKey,
  };
  try {
    const { env } = stack;
    // Warm-up first (a fresh Node process answers its first thousand requests slowly while
    // V8 compiles the hot paths), then the baseline: a finished scan, nothing else running.
    const small = await stack.launch('baseline', '10.80.255.1-10.80.255.4');
    await stack.waitFinished(small);
    await load(`${api.url}/api/v1/scans/${small}`, api.token, options.rate, 5);
    await load(`${env.apiUrl}/api/v1/scans/${small}`, env.adminKey, options.rate, 5);
    const idle = await load(`${api.url}/api/v1/scans/${small}`, api.token, options.rate, options.seconds);

    // A scan big enough to keep running (and publishing inventories) through every load.
    const scanId = await stack.launch('under load', '10.80.0.0-10.80.254.255');
    const url = `${api.url}/api/v1/scans/${scanId}`;
    const ownProcess = await load(url, api.token, options.rate, options.seconds);
    const sharedProcess = await load(
      `${env.apiUrl}/api/v1/scans/${scanId}`,
      env.adminKey,
      options.rate,
      options.seconds,
    );
    // The scan's side (this process: control-plane and appliance workers; the Temporal server)
    // at nice 10, as an operator would run batch work beside an interactive API on one host.
    reniceProcess(process.pid, 10);
    reniceProcess(env.temporal.process.pid!, 10);
    const ownProcessScanNiced = await load(url, api.token, options.rate, options.seconds);
    const status = (await env.api('GET', `/scans/${scanId}`)).body;
    if (status.status !== 'RUNNING') throw new Error(`the scan was not running throughout the load (${status.status})`);
    const text = `${options.rate} req/s for ${options.seconds} s each, after a warm-up. Idle baseline (finished scan, API process): ${describe(idle)}. During a running scan (${status.progress.doneHosts.toLocaleString('en-US')} hosts × 1,500 packages published during the loads): API as its own process: ${describe(ownProcess)}; API inside the workers' process: ${describe(sharedProcess)}; API as its own process with the workers and Temporal at nice 10: ${describe(ownProcessScanNiced)}`;
    return { idle, ownProcess, ownProcessScanNiced, sharedProcess, text };
  } finally {
    await api.stop();
    await stack.stop();
  }
}
