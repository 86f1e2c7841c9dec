// The scan service every entry point starts scans through: a request that cannot make a scan
// names its field and stores nothing; a scan whose workflow cannot start leaves no row behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { openDatabase, type OpenedDatabase } from '../db/client.js';
import { applianceRepo, assetRepo, scanRepo, scheduleRepo } from '../db/repositories/index.js';
import { randomUUID } from 'node:crypto';
import { createScanService, ScanRequestError, ScanStartError, type ScanRequest } from '../services/scan-service.js';
import { PGLITE_TEMPLATE_ENV } from './harness/shared-fixtures.js';

let database: OpenedDatabase;
let applianceId: string;
let secondApplianceId: string;
const NO_SUCH = '00000000-0000-4000-8000-000000000000';

beforeAll(async () => {
  database = await openDatabase({ pgliteDir: 'memory://', pgliteTemplate: process.env[PGLITE_TEMPLATE_ENV] });
  const { db } = database;
  await assetRepo.create(db, { name: 'lab', value: '10.9.0.0/29' });
  applianceId = (await applianceRepo.create(db, { name: 'local' })).id;
  const { code } = await applianceRepo.createEnrolmentCode(db, applianceId, 60_000);
  await applianceRepo.enrol(db, applianceId, code, { publicKey: 'A'.repeat(43), keyId: 'key-1' });
  secondApplianceId = (await applianceRepo.create(db, { name: 'second' })).id;
  const second = await applianceRepo.createEnrolmentCode(db, secondApplianceId, 60_000);
  await applianceRepo.enrol(db, secondApplianceId, second.code, { publicKey: 'B'.repeat(43), keyId: 'key-2' });
});

afterAll(async () => {
  await database?.close();
});

const scanCount = async () => (await scanRepo.list(database.db, { limit: 100 })).rows.length;

describe('the scan service', () => {
  it('prepares a scan: the row, and the workflow input with the host count and profile', async () => {
    const prepared = await createScanService({ db: database.db }).prepare({
      title: 'weekly',
      targets: '10.9.0.1-10.9.0.4',
      applianceId,
    });
    expect(prepared.workflowId).toBe(`scan-${prepared.scan.id}`);
    expect(prepared.input).toMatchObject({ scanId: prepared.scan.id, applianceId, totalHosts: 4 });
    expect((await scanRepo.get(database.db, prepared.scan.id)).status).toBe('QUEUED');
    await scanRepo.remove(database.db, prepared.scan.id);
  });

  it.each([
    [{ targets: 'not-an-address' }, 'targets', /./],
    [{ targets: '10.9.0.1-10.9.0.20' }, 'targets', /not within any registered asset: 10\.9\.0\.8-10\.9\.0\.20/],
    [{ optionProfileId: '00000000-0000-4000-8000-000000000000' }, 'optionProfileId', /does not exist/],
    [{ applianceId: '00000000-0000-4000-8000-000000000000' }, 'applianceId', /does not exist/],
    [{ targets: undefined }, 'targets', /name what to scan/],
    [{ targets: undefined, groupIds: ['00000000-0000-4000-8000-000000000000'] }, 'groupIds.0', /does not exist/],
    [{ assetIds: ['00000000-0000-4000-8000-000000000000'] }, 'assetIds.0', /does not exist/],
    [{ tags: ['no such tag'] }, 'tags.0', /no tag has the id or name "no such tag"/],
    [{ applianceId: undefined, applianceIds: [NO_SUCH] }, 'applianceIds.0', /does not exist/],
    [{ applianceIds: ['@first', NO_SUCH] }, 'applianceIds', /not both/],
    [{ applianceId: undefined, applianceIds: ['@first', NO_SUCH] }, 'applianceIds.1', /does not exist/],
    [{ applianceId: undefined, applianceIds: ['@first', '@first'] }, 'applianceIds.1', /named twice/],
    [{ applianceId: undefined, applianceIds: [] }, 'applianceIds', /at least one/],
  ] as [Partial<ScanRequest>, string, RegExp][])(
    'refuses %j naming %s, and stores nothing',
    async (change, field, reason) => {
      const before = await scanCount();
      const attempt = createScanService({ db: database.db }).prepare({
        title: 'bad',
        targets: '10.9.0.1',
        applianceId,
        ...change,
        ...(change.applianceIds && {
          applianceIds: change.applianceIds.map((id) => (id === '@first' ? applianceId : id)),
        }),
      });
      const err = await attempt.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ScanRequestError);
      expect((err as ScanRequestError).field).toBe(field);
      expect((err as ScanRequestError).reason).toMatch(reason);
      expect(await scanCount()).toBe(before);
    },
  );

  it('prepares a scan on a pool: every appliance in order, the first the scan’s own, found again as it was', async () => {
    const service = createScanService({ db: database.db });
    const prepared = await service.prepare({
      title: 'pooled',
      targets: '10.9.0.1-10.9.0.4',
      applianceIds: [secondApplianceId, applianceId],
    });
    expect(prepared.scan.applianceId).toBe(secondApplianceId);
    expect(prepared.input).toMatchObject({
      applianceId: secondApplianceId,
      applianceIds: [secondApplianceId, applianceId],
    });
    expect(prepared.appliances.map((a) => a.name)).toEqual(['second', 'local']);
    expect(await scanRepo.appliancePool(database.db, prepared.scan.id)).toEqual([secondApplianceId, applianceId]);
    expect(await service.prepared(prepared.scan)).toEqual(prepared);
    // A pool of one is the scan it always was: its workflow input names no pool.
    const single = await service.prepare({ title: 'one', targets: '10.9.0.1', applianceIds: [applianceId] });
    expect(single.input.applianceIds).toBeUndefined();
    expect(await scanRepo.appliancePool(database.db, single.scan.id)).toEqual([applianceId]);
    for (const scan of [prepared.scan, single.scan]) await scanRepo.remove(database.db, scan.id);
  });

  it('checks a request alone, storing nothing: what a schedule is checked with when it is created', async () => {
    const before = await scanCount();
    const checked = await createScanService({ db: database.db }).check({
      title: 'weekly',
      targets: '10.9.0.1-10.9.0.4',
      applianceId,
    });
    expect(checked).toMatchObject({ hostCount: 4, appliances: [{ id: applianceId }], profile: { isDefault: true } });
    expect(await scanCount()).toBe(before);
    const err = await createScanService({ db: database.db })
      .check({ title: 'x', targets: '10.9.1.1', applianceId })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ field: 'targets', reason: expect.stringMatching(/not within any registered asset/) });
  });

  it('a schedule run’s scan names its schedule and run, carries its workflow id, and is found again as it was', async () => {
    const scheduleId = randomUUID();
    await scheduleRepo.create(database.db, {
      id: scheduleId,
      name: 'nightly',
      scan: { title: 'n', targets: '10.9.0.1' },
    });
    const service = createScanService({ db: database.db });
    const runWorkflowId = `schedule-${scheduleId}-2030-01-01T00:00:00Z`;
    const prepared = await service.prepare(
      { title: 'n', targets: '10.9.0.1' },
      { schedule: { scheduleId, runWorkflowId } },
    );
    expect(prepared.scan).toMatchObject({ scheduleId, scheduleRunId: runWorkflowId, workflowId: prepared.workflowId });
    expect(prepared.searchAttributes).toEqual({ scanId: prepared.scan.id, applianceId, scheduleId });
    const found = await scanRepo.findByScheduleRun(database.db, runWorkflowId);
    expect(await service.prepared(found!)).toEqual(prepared);
    // One scan per run: the same run cannot store a second.
    const again = await service
      .prepare({ title: 'n', targets: '10.9.0.1' }, { schedule: { scheduleId, runWorkflowId } })
      .catch((e: unknown) => e);
    expect(again).toMatchObject({ statusCode: 409 });
    // The scan outlives its schedule, no longer linked.
    await scheduleRepo.remove(database.db, scheduleId);
    expect((await scanRepo.get(database.db, prepared.scan.id)).scheduleId).toBeNull();
    await scanRepo.remove(database.db, prepared.scan.id);
  });

  it('refuses an appliance that has not enrolled its key, alone or in a pool', async () => {
    const unenrolled = await applianceRepo.create(database.db, { name: 'new' });
    const before = await scanCount();
    const err = await createScanService({ db: database.db })
      .prepare({ title: 'x', targets: '10.9.0.1', applianceId: unenrolled.id })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ field: 'applianceId', reason: expect.stringMatching(/has not enrolled its key/) });
    const inPool = await createScanService({ db: database.db })
      .prepare({ title: 'x', targets: '10.9.0.1', applianceIds: [applianceId, unenrolled.id] })
      .catch((e: unknown) => e);
    expect(inPool).toMatchObject({ field: 'applianceIds.1', reason: expect.stringMatching(/"new" has not enrolled/) });
    expect(await scanCount()).toBe(before);
  });

  it('a scan whose workflow cannot start (Temporal away) fails with ScanStartError and leaves no row', async () => {
    // A real client, pointed at a port nothing listens on.
    const temporal = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1', connectTimeout: '1s' }) });
    const before = await scanCount();
    const err = await createScanService({ db: database.db, temporal })
      .start({ title: 'nowhere', targets: '10.9.0.1', applianceId })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScanStartError);
    expect(await scanCount()).toBe(before);
  }, 60_000);
});
