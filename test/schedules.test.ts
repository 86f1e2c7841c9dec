// Recurring scans on Temporal's own Schedules, through the real stack (Temporal dev server, API,
// control-plane worker) with short real intervals: each run is an ordinary scan linked to its
// schedule; pause, resume, trigger-now and the overlap policy behave as Temporal's; the API's
// account of a schedule is Temporal's (describe(), what the Web UI reads); a request that no
// longer holds ends its run with a recorded refusal; the Temporal Schedule and the row stay
// consistent when either side fails. No appliance worker runs: scans of hosts no record covers
// finish at once, and a covered host makes a slow scan (its batch waits for a worker that never
// comes, applianceUnavailableMs).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection, ScheduleNotFoundError, WorkflowFailedError } from '@temporalio/client';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { createScheduleService, ScheduleTemporalError } from '../services/schedule-service.js';
import { scheduleRepo } from '../db/repositories/index.js';
import { createDataConverter } from '../temporal/data-converter.js';
import { parseKeyring } from '../temporal/keyring.js';

let env: ScanEnvironment;
let operator: string;
let applianceId: string;
let slowProfileId: string;

/** Hosts no record covers (their scan finishes at once) and hosts a record covers (a slow scan). */
const FAST = '10.88.0.1-10.88.0.2';
const SLOW = '10.88.1.1';

beforeAll(async () => {
  env = await startScanEnvironment();
  operator = await env.createKey('operator', 'the scheduler');
  await env.api('POST', '/assets', { name: 'schedule lab', value: '10.88.0.0/16' });
  applianceId = (await env.api('POST', '/appliances', { name: 'schedule appliance' })).body.id;
  await env.enrolAppliance(applianceId);
  const vault = await env.api('POST', '/vaults', {
    name: 'schedule vault',
    type: 'hashicorp',
    config: { url: 'https://vault.example.test:8200', authMethod: 'token' },
    access: { token: 'never-read' },
  });
  await env.api('POST', '/auth-records', {
    name: 'slow hosts',
    technology: 'unix',
    targets: '10.88.1.0/28',
    username: 'scanner',
    vaultId: vault.body.id,
    locator: { path: 'servers/slow' },
    fields: { password: 'password' },
  });
  slowProfileId = (
    await env.api('POST', '/option-profiles', {
      name: 'slow',
      technologies: ['unix'],
      maxParallelHosts: 1,
      timeouts: { connectMs: 1000, commandMs: 1000, vaultMs: 1000, applianceUnavailableMs: 3000 },
      retry: { maxAttempts: 1, initialIntervalMs: 0, maxIntervalMs: 0 },
    })
  ).body.id;
}, 120_000);
afterAll(async () => {
  await env?.stop();
});

const api = <T = any>(method: string, path: string, body?: unknown) =>
  env.api<T>(method, path, body, { key: operator });

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface ScanView {
  id: string;
  status: string;
  scheduleId: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  workflowId: string;
}
const scansOf = async (scheduleId: string): Promise<ScanView[]> =>
  (await api('GET', `/scans?scheduleId=${scheduleId}&limit=500`)).body.items;

const schedule = (over: Record<string, unknown> = {}) => ({
  name: `schedule ${randomUUID().slice(0, 8)}`,
  scan: { title: 'scheduled', targets: FAST, applianceId },
  intervals: [{ every: '2s' }],
  ...over,
});

async function create(over: Record<string, unknown> = {}) {
  const res = await api('POST', '/schedules', schedule(over));
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; temporalScheduleId: string };
}

const describeInTemporal = (id: string) => env.client.schedule.getHandle(`schedule-${id}`).describe();

describe('creating a schedule', () => {
  it.each([
    [{ cron: ['61 * * * *'] }, 'cron.0', /minute: 61 is out of range 0-59/],
    [{ cron: ['0 0 31 2 *'], intervals: [] }, 'cron.0', /matches no date/],
    [{ intervals: [] }, 'cron', /never runs/],
    [{ intervals: [{ every: '10m', offset: '10m' }] }, 'intervals.0.offset', /shorter than every/],
    [{ intervals: [{ every: '2x' }] }, 'intervals.0.every', /pattern/],
    [{ timeZone: 'Mars/Olympus_Mons' }, 'timeZone', /does not exist|not a time zone/],
    [{ timeZone: 'europe/berlin' }, 'timeZone', /is spelled Europe\/Berlin/],
    [{ overlap: 'sometimes' }, 'overlap', /one of/],
    [{ catchupWindow: '30d' }, 'catchupWindow', /between 10s and 7d/],
    [{ scan: { title: 't', targets: '10.99.0.1' } }, 'scan.targets', /not within any registered asset/],
    [{ scan: { title: 't', targets: FAST, applianceId: randomUUID() } }, 'scan.applianceId', /does not exist/],
    [{ scan: { title: 't', targets: FAST, optionProfileId: randomUUID() } }, 'scan.optionProfileId', /does not exist/],
    [
      { scan: { title: 't', targets: FAST, applianceIds: ['@appliance', randomUUID()] } },
      'scan.applianceIds.1',
      /does not exist/,
    ],
    [{ scan: { title: 't', targets: FAST, applianceIds: [] } }, 'scan.applianceIds', /must NOT have fewer than 1/],
  ])('refuses %j with 400 naming %s, and stores nothing', async (over, field, reason) => {
    const rowsBefore = (await env.database.query('select count(*)::int as n from schedules'))[0]!.n;
    // '@appliance': the suite's appliance, whose id is known only once it runs.
    const body = JSON.parse(JSON.stringify(schedule(over)).replaceAll('"@appliance"', JSON.stringify(applianceId)));
    const res = await api('POST', '/schedules', body);
    expect(res.status, res.text).toBe(400);
    expect(res.body.field).toBe(field);
    expect(res.body.message).toMatch(reason);
    expect((await env.database.query('select count(*)::int as n from schedules'))[0]!.n).toBe(rowsBefore);
  });

  it('keeps cron expressions as Temporal runs them, in the time zone given, and GET says what describe() says', async () => {
    const created = await create({
      cron: ['30 2 * * 1-5', '*/15 8-17 * jan-mar mon,fri'],
      intervals: [{ every: '6h', offset: '15m' }],
      timeZone: 'Europe/Berlin',
      overlap: 'buffer_one',
      catchupWindow: '2h',
      paused: true,
      note: 'quiet until the change window',
    });
    const shown = (await api('GET', `/schedules/${created.id}`)).body;
    expect(shown).toMatchObject({
      state: 'paused',
      note: 'quiet until the change window',
      temporalScheduleId: `schedule-${created.id}`,
      timing: {
        cron: ['30 2 * * 1-5', '*/15 8-17 * 1-3 1,5'],
        intervals: [{ every: '6h', offset: '15m' }],
        timeZone: 'Europe/Berlin',
        overlap: 'buffer_one',
        catchupWindow: '2h',
        pauseOnFailure: false,
      },
      recentRuns: [],
      lastRefusal: null,
    });
    // What the Web UI reads: the same Schedule, the same next times.
    const temporal = await describeInTemporal(created.id);
    expect(temporal.state).toMatchObject({ paused: true, note: 'quiet until the change window' });
    expect(shown.nextRuns).toEqual(temporal.info.nextActionTimes.map((d) => d.toISOString()));
    expect(shown.nextRuns.length).toBeGreaterThan(0);
    expect(temporal.spec.timezone).toBe('Europe/Berlin');
    // The list pages like every other list, oldest first.
    const second = await create({ cron: ['@daily'], paused: true });
    const first = await api('GET', '/schedules?limit=1');
    expect(first.body.items.map((s: { id: string }) => s.id)).toEqual([created.id]);
    const next = await api('GET', `/schedules?limit=1&cursor=${first.body.nextCursor}`);
    expect(next.body.items.map((s: { id: string }) => s.id)).toEqual([second.id]);
    expect(next.body.items[0].timing.cron).toEqual(['0 0 * * *']);
    expect((await api('GET', `/schedules?cursor=${first.body.nextCursor}x`)).body.field).toBe('cursor');
    // What a schedule names cannot be deleted from under it.
    const named = await create({
      scan: { title: 'n', targets: FAST, applianceId, optionProfileId: slowProfileId },
      paused: true,
    });
    const profileGone = await env.api('DELETE', `/option-profiles/${slowProfileId}`);
    expect([profileGone.status, profileGone.body.message]).toEqual([409, expect.stringMatching(/named by schedules/)]);
    const applianceGone = await env.api('DELETE', `/appliances/${applianceId}`);
    expect([applianceGone.status, applianceGone.body.message]).toEqual([
      409,
      expect.stringMatching(/named by schedules/),
    ]);
    for (const { id } of [created, second, named]) expect((await api('DELETE', `/schedules/${id}`)).status).toBe(204);
  });
});

describe('a schedule at work', () => {
  it('runs at its interval, each run an ordinary scan linked to it; pauses, resumes, runs at once when triggered', async () => {
    const created = await create({ intervals: [{ every: '2s' }] });
    const id = created.id;
    const finished = await waitFor('two scans of the schedule', async () => {
      const scans = (await scansOf(id)).filter((s) => s.status === 'FINISHED');
      return scans.length >= 2 && scans;
    });
    for (const scan of finished) expect(scan).toMatchObject({ scheduleId: id, workflowId: `scan-${scan.id}` });
    // Its scans in pages; a cursor of this schedule's list is no cursor of all scans.
    const page = (await api('GET', `/scans?scheduleId=${id}&limit=1`)).body;
    expect(page.items).toHaveLength(1);
    expect((await api('GET', `/scans?scheduleId=${id}&cursor=${page.nextCursor}`)).status).toBe(200);
    expect((await api('GET', `/scans?cursor=${page.nextCursor}`)).body.field).toBe('cursor');

    // GET lists the runs with their scans, as Temporal's recent actions name them.
    const shown = (await api('GET', `/schedules/${id}`)).body;
    const temporal = await describeInTemporal(id);
    const runIds = temporal.info.recentActions.map((a) => a.action.workflow.workflowId).reverse();
    expect(shown.recentRuns.map((r: { workflowId: string }) => r.workflowId)).toEqual(runIds);
    for (const run of shown.recentRuns) expect(run.workflowId.startsWith(`schedule-${id}-`)).toBe(true);
    const linked = shown.recentRuns.map((r: { scanId: string }) => r.scanId);
    for (const scan of finished) expect(linked).toContain(scan.id);
    expect(shown.counts.runs).toBe(temporal.info.numActionsTaken);
    // The scan's workflow is a child of the run, findable by the schedule in the Web UI.
    const scan = finished[0]!;
    const scanWorkflow = await env.client.workflow.getHandle(scan.workflowId).describe();
    expect(scanWorkflow.raw.workflowExecutionInfo?.parentExecution?.workflowId).toMatch(`schedule-${id}-`);
    await waitFor('the scan listed by VaultscanScheduleId', async () => {
      for await (const wf of env.client.workflow.list({ query: `VaultscanScheduleId = "${id}"` }))
        if (wf.workflowId === scan.workflowId) return true;
      return false;
    });
    const audit = await env.database.query(
      `select action, scan_id from audit_events where record_id = '${id}' and action = 'schedule.run'`,
    );
    expect(audit.map((a) => a.scan_id)).toEqual(expect.arrayContaining(finished.map((s) => s.id)));
    const run = shown.recentRuns.find((r: { scanId: string }) => r.scanId === scan.id);
    await env.saveHistories(run.workflowId, 'scheduled-scan');

    // Paused: no run for a while (three intervals), and both sides say so.
    const paused = await api('POST', `/schedules/${id}/pause`);
    expect(paused.status, paused.text).toBe(200);
    expect(paused.body).toMatchObject({ state: 'paused', note: 'paused by the scheduler' });
    expect((await describeInTemporal(id)).state.paused).toBe(true);
    const runsWhenPaused = (await describeInTemporal(id)).info.numActionsTaken;
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await describeInTemporal(id)).info.numActionsTaken).toBe(runsWhenPaused);

    // Trigger-now runs at once, paused or not.
    const scansBefore = (await scansOf(id)).length;
    expect((await api('POST', `/schedules/${id}/trigger`)).status).toBe(202);
    await waitFor('the triggered run’s scan', async () => (await scansOf(id)).length > scansBefore, 5_000);

    // Resumed: runs again.
    const resumed = await api('POST', `/schedules/${id}/resume`, { note: 'back after the freeze' });
    expect(resumed.body).toMatchObject({ state: 'active', note: 'back after the freeze' });
    await waitFor(
      'a run after resuming',
      async () => (await describeInTemporal(id)).info.numActionsTaken > runsWhenPaused + 1,
      8_000,
    );

    // PATCH changes Temporal's timing and the row's request; the trail has each call.
    const patched = await api('PATCH', `/schedules/${id}`, {
      intervals: [{ every: '1h' }],
      scan: { title: 'hourly now', targets: FAST },
    });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.body).toMatchObject({
      timing: { intervals: [{ every: '1h', offset: '0s' }] },
      scan: { title: 'hourly now', applianceId: null },
    });
    expect((await describeInTemporal(id)).spec.intervals).toEqual([{ every: 3_600_000, offset: 0 }]);
    const calls = await env.database.query(
      `select action, outcome from audit_events where record_id = '${id}' and action like '% /api/v1/schedules%' order by seq`,
    );
    expect(calls.map((c) => `${c.action} ${c.outcome}`)).toEqual([
      'POST /api/v1/schedules success',
      'POST /api/v1/schedules/:id/pause success',
      'POST /api/v1/schedules/:id/trigger success',
      'POST /api/v1/schedules/:id/resume success',
      'PATCH /api/v1/schedules/:id success',
    ]);

    // Deleted: gone from Temporal and from the API; its scans stay, no longer linked.
    expect((await api('DELETE', `/schedules/${id}`)).status).toBe(204);
    await expect(describeInTemporal(id)).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect((await api('GET', `/schedules/${id}`)).status).toBe(404);
    expect((await api('GET', `/scans/${scan.id}`)).body).toMatchObject({ status: 'FINISHED', scheduleId: null });
  });

  it('of an asset group: each run covers the members it has then; the group stays while the schedule names it', async () => {
    const a = (await env.api('POST', '/assets', { name: 'group member a', value: '10.88.2.1' })).body;
    const b = (await env.api('POST', '/assets', { name: 'group member b', value: '10.88.2.2-10.88.2.3' })).body;
    const group = await env.api('POST', '/groups', {
      name: 'scheduled group',
      businessImpact: 'low',
      assetIds: [a.id],
    });
    expect(group.status, group.text).toBe(201);
    const created = await create({
      scan: { title: 'group scan', groupIds: [group.body.id], tags: [], applianceId },
      intervals: [{ every: '2s' }],
    });
    const hostCounts = async () =>
      (await scansOf(created.id))
        .filter((s) => s.status === 'FINISHED')
        .map((s) => (s as ScanView & { hostCount: number; targets: string }).hostCount);
    await waitFor('a scan of the group with one member', async () => (await hostCounts()).includes(1));
    const first = (await scansOf(created.id))[0] as ScanView & { targets: string };
    expect(first.targets).toBe('group:scheduled group');
    expect((await api('GET', `/schedules/${created.id}`)).body.scan).toMatchObject({
      targets: null,
      groupIds: [group.body.id],
      tags: [],
    });
    // The group grows: the next runs cover its members as they are then.
    expect((await env.api('PATCH', `/groups/${group.body.id}`, { assetIds: [a.id, b.id] })).status).toBe(200);
    await waitFor('a scan of the group with three members', async () => (await hostCounts()).includes(3));
    const refused = await env.api('DELETE', `/groups/${group.body.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.message).toContain(`"${(await api('GET', `/schedules/${created.id}`)).body.name}"`);
    expect((await api('DELETE', `/schedules/${created.id}`)).status).toBe(204);
    expect((await env.api('DELETE', `/groups/${group.body.id}`)).status).toBe(204);
  });

  it('on an appliance pool: stored in order, each run’s scan on that pool, no member deleted from under it', async () => {
    const second = (await env.api('POST', '/appliances', { name: 'schedule pool member' })).body.id as string;
    await env.enrolAppliance(second);
    // Written in capitals, stored and shown as the database writes a UUID.
    const created = await create({
      scan: { title: 'pooled', targets: FAST, applianceIds: [second.toUpperCase(), applianceId] },
    });
    const shown = (await api('GET', `/schedules/${created.id}`)).body;
    expect(shown.scan).toMatchObject({ applianceId: second, applianceIds: [second, applianceId] });
    const [scan] = await waitFor('a run’s scan', async () => {
      const scans = await scansOf(created.id);
      return scans.length > 0 && scans;
    });
    const run = (await api('GET', `/scans/${scan!.id}`)).body;
    expect(run).toMatchObject({ applianceId: second, applianceIds: [second, applianceId] });
    const gone = await env.api('DELETE', `/appliances/${second}`);
    expect([gone.status, gone.body.message]).toEqual([409, expect.stringMatching(/schedules|scans/)]);
    // One appliance named again: a pool of one.
    const patched = await api('PATCH', `/schedules/${created.id}`, {
      scan: { title: 'pooled', targets: FAST, applianceId },
    });
    expect(patched.body.scan).toMatchObject({ applianceId, applianceIds: [applianceId] });
    expect((await api('DELETE', `/schedules/${created.id}`)).status).toBe(204);
  });

  it('skips a run while the previous run’s scan is still going; cancelling and deleting leave scans to end cleanly', async () => {
    const created = await create({
      scan: { title: 'slow', targets: SLOW, applianceId, optionProfileId: slowProfileId },
      intervals: [{ every: '1s' }],
    });
    const id = created.id;
    // Each scan waits 3 s for an appliance worker: runs due meanwhile are skipped.
    await waitFor(
      'a skipped run',
      async () => {
        const shown = (await api('GET', `/schedules/${id}`)).body;
        return shown.counts.skippedOverlap >= 2 && (await scansOf(id)).some((s) => s.status === 'FINISHED');
      },
      15_000,
    );
    const running = await waitFor('a running scan', async () =>
      (await scansOf(id)).find((s) => s.status === 'RUNNING'),
    );
    // Never two scans of the schedule at once.
    const spans = (await scansOf(id))
      .filter((s) => s.startedAt)
      .map((s) => [Date.parse(s.startedAt!), s.finishedAt ? Date.parse(s.finishedAt) : Infinity] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);

    // Trigger-now under skip while a run is going: said at once; allow_all starts one anyway.
    const busy = await api('POST', `/schedules/${id}/trigger`);
    expect([busy.status, busy.body.message]).toEqual([409, expect.stringMatching(/still going .*allow_all/)]);

    // A scheduled scan cancels like any other: POST /scans/:id/cancel reaches scan-<id>.
    expect((await api('POST', `/scans/${running.id}/cancel`)).status).toBe(202);
    await waitFor('the cancelled scan', async () => {
      const scan = (await api('GET', `/scans/${running.id}`)).body;
      return scan.status === 'CANCELED';
    });

    // Deleting the schedule while a scan runs: the scan goes on to its end.
    const next = await waitFor('the next running scan', async () =>
      (await scansOf(id)).find((s) => s.status === 'RUNNING' && s.id !== running.id),
    );
    expect((await api('DELETE', `/schedules/${id}`)).status).toBe(204);
    const ended = await waitFor('the scan to end', async () => {
      const scan = (await api('GET', `/scans/${next.id}`)).body;
      return scan.finishedAt && scan;
    });
    expect(ended).toMatchObject({ status: 'FINISHED', scheduleId: null });
  });

  it('cancel_other and terminate_other stop the running scan cleanly (CANCELED), never kill it', async () => {
    const slow = { scan: { title: 'slow', targets: SLOW, applianceId, optionProfileId: slowProfileId } };
    const cancelling = await create({ ...slow, intervals: [{ every: '2s' }], overlap: 'cancel_other' });
    const terminating = await create({ ...slow, intervals: [{ every: '2s' }], overlap: 'terminate_other' });
    for (const { id } of [cancelling, terminating]) {
      const stopped = await waitFor(
        'a scan stopped by the next run',
        async () => (await scansOf(id)).find((s) => s.finishedAt !== null && s.status !== 'FINISHED'),
        15_000,
      );
      // Asked to cancel, the scan ended itself: never FAILED (as a terminated scan would be).
      expect(stopped.status).toBe('CANCELED');
    }
    // cancel_other waits for the cancelled scan to end before the next one starts.
    const spans = (await scansOf(cancelling.id))
      .filter((s) => s.startedAt && s.finishedAt)
      .map((s) => [Date.parse(s.startedAt!), Date.parse(s.finishedAt!)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]).toBeGreaterThanOrEqual(spans[i - 1]![1]);
    for (const { id } of [cancelling, terminating]) expect((await api('DELETE', `/schedules/${id}`)).status).toBe(204);
  });

  it('a run whose request no longer holds is refused: recorded on the schedule and in the trail, and the run ends', async () => {
    const asset = await api('POST', '/assets', { name: 'leaving soon', value: '10.89.0.0/30' });
    const created = await create({
      scan: { title: 'gone', targets: '10.89.0.1', applianceId },
      intervals: [{ every: '1h' }],
      pauseOnFailure: true,
    });
    const id = created.id;
    expect((await api('DELETE', `/assets/${asset.body.id}`)).status).toBe(204);
    expect((await api('POST', `/schedules/${id}/trigger`)).status).toBe(202);
    const shown = await waitFor('the refused run', async () => {
      const body = (await api('GET', `/schedules/${id}`)).body;
      return body.recentRuns[0]?.refusal && body;
    });
    expect(shown.recentRuns[0]).toMatchObject({
      scanId: null,
      refusal: { field: 'targets', reason: expect.stringMatching(/not within any registered asset: 10\.89\.0\.1/) },
    });
    expect(shown.lastRefusal).toMatchObject({ field: 'targets', runWorkflowId: shown.recentRuns[0].workflowId });
    expect(await scansOf(id)).toEqual([]);
    // The run failed once, saying why: no retry, no crash loop.
    const run = env.client.workflow.getHandle(shown.recentRuns[0].workflowId);
    const failure = await run.result().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect(String((failure as WorkflowFailedError).cause?.message)).toMatch(
      /its scan request no longer holds, so this run started no scan: targets: not within any registered asset/,
    );
    expect((await run.describe()).status.name).toBe('FAILED');
    const trail = await env.database.query(
      `select outcome, detail from audit_events where record_id = '${id}' and action = 'schedule.run-refused'`,
    );
    expect(trail).toEqual([expect.objectContaining({ outcome: 'rejected' })]);
    // pauseOnFailure: Temporal paused the schedule after the failed run, and says why.
    const after = await waitFor('the schedule paused', async () => {
      const body = (await api('GET', `/schedules/${id}`)).body;
      return body.state === 'paused' && body;
    });
    expect(after.note).toMatch(/fail/i);
    await env.saveHistories(shown.recentRuns[0].workflowId, 'scheduled-scan-refused');
  });
});

describe('where the truth lives', () => {
  it('a Temporal Schedule deleted outside vaultscan shows as missing; only DELETE is left to do', async () => {
    const { id } = await create({ intervals: [{ every: '1h' }] });
    await env.client.schedule.getHandle(`schedule-${id}`).delete(); // as the Web UI or the CLI would
    const shown = await api('GET', `/schedules/${id}`);
    expect(shown.body).toMatchObject({ state: 'missing', timing: null, nextRuns: [] });
    expect(shown.body.note).toMatch(/does not exist .*DELETE it/);
    expect((await api('GET', '/schedules?limit=500')).status).toBe(200);
    for (const action of ['pause', 'resume', 'trigger']) {
      const res = await api('POST', `/schedules/${id}/${action}`);
      expect([res.status, res.body.message]).toEqual([409, expect.stringMatching(/does not exist/)]);
    }
    expect((await api('PATCH', `/schedules/${id}`, { intervals: [{ every: '2h' }] })).status).toBe(409);
    expect((await api('PATCH', `/schedules/${id}`, { name: 'renamed while missing' })).status).toBe(200);
    expect((await api('DELETE', `/schedules/${id}`)).status).toBe(204);
    expect((await api('GET', `/schedules/${id}`)).status).toBe(404);
  });

  it('is Temporal’s: a fresh client (a restarted API) finds the schedule as it was left', async () => {
    const { id } = await create({ intervals: [{ every: '1h', offset: '5m' }], paused: true, note: 'kept' });
    const before = (await api('GET', `/schedules/${id}`)).body;
    const connection = await Connection.connect({ address: env.temporal.address });
    try {
      const fresh = new Client({
        connection,
        dataConverter: createDataConverter(parseKeyring(env.codecKeys, 'test')),
      });
      const service = createScheduleService({ db: env.database.db, temporal: fresh });
      const after = await service.details(await scheduleRepo.get(env.database.db, id));
      expect(after).toEqual(before);
      // A pause or resume through PATCH says who did it, as the pause route does.
      const resumed = await api('PATCH', `/schedules/${id}`, { paused: false });
      expect(resumed.body).toMatchObject({ state: 'active', note: 'resumed by the scheduler' });
      expect((await fresh.schedule.getHandle(`schedule-${id}`).describe()).state.paused).toBe(false);
    } finally {
      await connection.close();
    }
  });

  it('never leaves one side without the other: a row that cannot be stored takes its Temporal Schedule away', async () => {
    const service = createScheduleService({ db: env.database.db, temporal: env.client });
    let storedId: string | undefined;
    const input = {
      ...schedule(),
      cron: [],
      intervals: [{ every: '1h' }],
      timeZone: 'UTC',
      overlap: 'skip' as const,
      catchupWindow: '1h',
      pauseOnFailure: false,
      paused: false,
    };
    const failing = await service
      .create(input, (change) =>
        env.database.db.transaction(async (tx) => {
          storedId = ((await change(tx)) as { id: string }).id;
          throw new Error('the database went away before the commit');
        }),
      )
      .catch((e: unknown) => e);
    expect(String(failing)).toMatch(/went away/);
    expect(storedId).toBeDefined();
    await expect(describeInTemporal(storedId!)).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect(await scheduleRepo.find(env.database.db, storedId!)).toBeUndefined();

    // An update whose row cannot be stored puts Temporal's side back as it was.
    const row = await service.create(input);
    const failingPatch = await service
      .update(row.id, { intervals: [{ every: '5m' }], name: 'x' }, () => Promise.reject(new Error('no database')))
      .catch((e: unknown) => e);
    expect(String(failingPatch)).toMatch(/no database/);
    expect((await describeInTemporal(row.id)).spec.intervals).toEqual([{ every: 3_600_000, offset: 0 }]);

    // Temporal away: 503, and no row.
    const away = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s' }) });
    const rowsBefore = (await env.database.query('select count(*)::int as n from schedules'))[0]!.n;
    const refused = await createScheduleService({ db: env.database.db, temporal: away, callTimeoutMs: 1500 })
      .create({ ...input, name: 'nowhere' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ScheduleTemporalError);
    expect((await env.database.query('select count(*)::int as n from schedules'))[0]!.n).toBe(rowsBefore);
  });
});
