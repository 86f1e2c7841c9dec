// Figure 6: the Authentication Report of a 100,000-host scan, JSON and CSV, read over HTTP from
// the API in its own process (api/main.ts, the production shape): time to first and last byte,
// and the API process's peak RSS while it answers, next to a 10,000-host report on the same
// database (a report built in memory grows with the scan; a streamed one does not). The
// results are written straight into PostgreSQL by SQL: the figure is the report, not a scan.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Database } from '../db/client.js';
import { applianceRepo, profileRepo, scanRepo } from '../db/repositories/index.js';
import { startTemporalDevServer } from '../workers/embedded/temporal-dev-server.js';
import { spawnApiProcess, type ApiProcess } from './api-process.js';
import { describeStats, fmt, freshPostgres, peakRssMiB, resetPeakRss, stats, type Stats } from './common.js';

/** Hosts 10.<n>.0.0 onwards, one result each, a fifth in each category, each with one attempt. */
async function seedScan(db: Database, hosts: number, firstOctet: number): Promise<string> {
  const scan = await scanRepo.create(db, {
    title: `${hosts} hosts`,
    targets: `${firstOctet}.0.0.0/12`,
    optionProfileId: (await profileRepo.getDefault(db)).id,
    applianceId: (await applianceRepo.ensure(db, 'bench')).id,
  });
  const base = `${firstOctet}.0.0.0`;
  await db.execute(sql`
    insert into host_results (scan_id, ip, ip_key, technology, category, error_code, cause, login, flags, finished_at)
    select ${scan.id}::uuid, host(${base}::inet + i), (281470681743360 + (${base}::inet - '0.0.0.0'::inet) + i)::numeric,
      'unix', (array['PASSED','FAILED','NOT_ATTEMPTED','UNREACHABLE','INSUFFICIENT_PRIVILEGES'])[i % 5 + 1],
      (array[null,'AUTH_FAILED','NO_AUTH_RECORD','TARGET_UNREACHABLE','PRIVILEGE_ESCALATION_FAILED'])[i % 5 + 1],
      (array[null,'the host rejected the credentials','No authentication record covers this host.',
        'connect ETIMEDOUT','sudo: a password is required'])[i % 5 + 1],
      'scanner', case when i % 50 = 0 then array['VAULT_PLAIN_HTTP'] else '{}'::text[] end, now()
    from generate_series(0, ${hosts - 1}) as i`);
  await db.execute(sql`
    insert into host_attempts (result_id, attempt_no, code, at)
    select id, 1, error_code, finished_at from host_results where scan_id = ${scan.id}::uuid`);
  return scan.id;
}

interface Read {
  firstByteMs: number;
  lastByteMs: number;
  bytes: number;
  peakMiB: number;
}

/** Reads a whole report, byte by byte as it arrives, and the API process's peak RSS meanwhile. */
async function readReport(url: string, key: string, pid: number): Promise<Read> {
  resetPeakRss(pid);
  const started = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  if (res.status !== 200 || !res.body) throw new Error(`report: HTTP ${res.status}`);
  let firstByteMs = 0;
  let bytes = 0;
  for await (const chunk of res.body) {
    if (bytes === 0) firstByteMs = performance.now() - started;
    bytes += (chunk as Uint8Array).byteLength;
  }
  return { firstByteMs, lastByteMs: performance.now() - started, bytes, peakMiB: peakRssMiB(pid) };
}

interface Figure {
  lastByte: Stats;
  firstByte: Stats;
  peak: Stats;
  bytes: number;
}

/** The old space the constrained API process gets: what the report must fit in. */
const CAPPED_HEAP_MIB = 100;

export async function benchReport(options: { large: number; small: number; runs: number }): Promise<{
  text: string;
}> {
  const pg = await freshPostgres();
  const temporal = await startTemporalDevServer({ ui: false });
  const keyFile = join(mkdtempSync(join(tmpdir(), 'vsbench-report-')), 'admin-api-key');
  const apis: ApiProcess[] = [];
  try {
    const start = async (nodeArgs: string[] = []) => {
      const api = await spawnApiProcess({
        databaseUrl: pg.url,
        temporalAddress: temporal.address,
        codecKeys: `bench:${randomBytes(32).toString('base64')}`,
        firstAdminKeyFile: keyFile,
        nodeArgs,
      });
      apis.push(api);
      return api;
    };
    // As production runs it (Node's default heap), and with its old space capped: V8 lets
    // garbage pile up while it has room, so a default heap's peak says little about what the
    // report needs; what still fits in a small fixed heap, whatever the scan's size, does.
    const api = await start();
    const capped = await start([`--max-old-space-size=${CAPPED_HEAP_MIB}`]);
    const key = readFileSync(keyFile, 'utf8').trim();
    const small = await seedScan(pg.database.db, options.small, 20);
    const large = await seedScan(pg.database.db, options.large, 30);
    const measure = async (on: ApiProcess, scanId: string, format: 'json' | 'csv'): Promise<Figure> => {
      const url = `${on.url}/api/v1/scans/${scanId}/authentication-report?format=${format}`;
      const reads: Read[] = [];
      for (let run = 0; run < options.runs; run++) reads.push(await readReport(url, key, on.pid));
      return {
        lastByte: stats(reads.map((r) => r.lastByteMs / 1000)),
        firstByte: stats(reads.map((r) => r.firstByteMs)),
        peak: stats(reads.map((r) => r.peakMiB)),
        bytes: reads[0]!.bytes,
      };
    };
    // Warm-up: a fresh Node process runs its first requests slowly while V8 compiles them.
    for (const each of apis) await measure(each, small, 'json');
    const hosts = (n: number) => n.toLocaleString('en-US');
    const line = (what: string, f: Figure) =>
      `${what} (${fmt(f.bytes / 2 ** 20)} MiB): last byte ${describeStats(f.lastByte, 's')}, first byte median ${fmt(f.firstByte.median, 0)} ms, API peak RSS ${describeStats(f.peak, 'MiB')}`;
    const text = [
      `API in its own process, ${options.runs} reads each after a warm-up`,
      `Default heap: ${line(`${hosts(options.small)} hosts, JSON`, await measure(api, small, 'json'))}`,
      line(`${hosts(options.large)} hosts, JSON`, await measure(api, large, 'json')),
      line(`${hosts(options.large)} hosts, CSV`, await measure(api, large, 'csv')),
      `Old space capped at ${CAPPED_HEAP_MIB} MiB: ${line(`${hosts(options.small)} hosts, JSON`, await measure(capped, small, 'json'))}`,
      line(`${hosts(options.large)} hosts, JSON`, await measure(capped, large, 'json')),
      line(`${hosts(options.large)} hosts, CSV`, await measure(capped, large, 'csv')),
    ].join('. ');
    return { text };
  } finally {
    for (const api of apis) await api.stop();
    await temporal.stop();
    await pg.dispose();
  }
}
