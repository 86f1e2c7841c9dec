// scanWorkflow's own mechanics on a real Temporal dev server: paging, continue-as-new with
// the cursor and tally carried over, the progress query, disabled technologies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { applianceRepo, profileRepo, profileSettings, scanRepo } from '../db/repositories/index.js';
import { CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';
import type { ScanInput, scanWorkflow } from '../workflows/scan.js';
import { progressQuery } from '../workflows/messages.js';

let env: ScanEnvironment;

beforeAll(async () => {
  env = await startScanEnvironment();
  await env.api('POST', '/assets', { name: 'doc range', value: '198.51.100.0/28' });
});
afterAll(async () => {
  await env?.stop();
});

async function runScan(targets: string, technologies: 'unix'[], extra: Partial<ScanInput>) {
  const db = env.database.db;
  const profile = await profileRepo.create(db, {
    name: `p-${Math.random()}`, technologies, maxParallelHosts: 2,
    timeouts: { connectMs: 1000, commandMs: 1000, vaultMs: 1000 }, retry: { maxAttempts: 1, initialIntervalMs: 0, maxIntervalMs: 0 },
  });
  const appliance = await applianceRepo.ensure(db, 'wf-test');
  const scan = await scanRepo.create(db, { title: 'wf', targets, optionProfileId: profile.id, applianceId: appliance.id });
  const handle = await env.client.workflow.start<typeof scanWorkflow>('scanWorkflow', {
    taskQueue: CONTROL_PLANE_QUEUE,
    workflowId: `scan-${scan.id}`,
    args: [{ scanId: scan.id, applianceId: appliance.id, profile: profileSettings(profile), totalHosts: scan.hostCount, ...extra }],
  });
  return { scan, handle, summary: await handle.result() };
}

describe('scanWorkflow', () => {
  it('reads targets in pages and continues as new, carrying its cursor and tally', async () => {
    const { scan, handle, summary } = await runScan('198.51.100.0/28', ['unix'], { pageSize: 3, pagesPerRun: 2 });
    expect(summary).toEqual({ scanId: scan.id, status: 'FINISHED', totalHosts: 16, counts: { PASSED: 0, INSUFFICIENT_PRIVILEGES: 0, FAILED: 0, NOT_ATTEMPTED: 16, UNREACHABLE: 0 } });
    // 16 hosts, 3 a page, 2 pages a run: the first run cannot have finished by itself.
    const firstRun = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
    expect(firstRun.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    const runs = await env.database.query(`select count(distinct ip)::int as n, count(*)::int as rows from host_results where scan_id = '${scan.id}'`);
    expect(runs).toEqual([{ n: 16, rows: 16 }]);
    expect(await handle.query(progressQuery)).toMatchObject({ status: 'FINISHED', doneHosts: 16, totalHosts: 16 });
    expect((await scanRepo.get(env.database.db, scan.id)).status).toBe('FINISHED');
  });

  it('marks hosts NOT_ATTEMPTED with TECHNOLOGY_DISABLED when the profile enables no technology', async () => {
    const { scan } = await runScan('198.51.100.1-198.51.100.2', [], {});
    const rows = await env.database.query(`select ip, category, error_code from host_results where scan_id = '${scan.id}' order by ip`);
    expect(rows).toEqual([
      { ip: '198.51.100.1', category: 'NOT_ATTEMPTED', error_code: 'TECHNOLOGY_DISABLED' },
      { ip: '198.51.100.2', category: 'NOT_ATTEMPTED', error_code: 'TECHNOLOGY_DISABLED' },
    ]);
  });
});
