// GET /scans/:id's counts: shared per scan for a second while it runs, kept once it ended,
// one query for concurrent callers. Against a real (embedded) database.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openDatabase, type OpenedDatabase } from '../db/client.js';
import { applianceRepo, profileRepo, resultRepo, scanRepo } from '../db/repositories/index.js';
import { createProgressReader } from '../api/scan-progress.js';

let database: OpenedDatabase;
let scanId: string;

const publish = (ip: string, category: 'PASSED' | 'FAILED') =>
  resultRepo.publish(database.db, {
    scanId, ip, technology: 'unix', category, errorCode: category === 'FAILED' ? 'AUTH_FAILED' : null, vendorCode: null,
    cause: null, login: 'scanner', authRecordId: null, facts: null, packages: [], attempts: [],
  });

beforeAll(async () => {
  database = await openDatabase({ pgliteDir: 'memory://' });
  const appliance = await applianceRepo.ensure(database.db, 'progress');
  const profile = await profileRepo.getDefault(database.db);
  scanId = (await scanRepo.create(database.db, { title: 'progress', targets: '10.9.0.0/29', optionProfileId: profile.id, applianceId: appliance.id })).id;
});
afterAll(async () => {
  await database?.close();
});

describe('scan progress counts', () => {
  it('counts once per second for a running scan, however many ask', async () => {
    let clock = 0;
    const countsOf = createProgressReader(database.db, { maxAgeMs: 1_000, now: () => clock });
    const spy = vi.spyOn(resultRepo, 'countByCategory');
    const running = { id: scanId, status: 'RUNNING' };
    await publish('10.9.0.1', 'PASSED');

    const together = await Promise.all(Array.from({ length: 20 }, () => countsOf(running)));
    expect(together.every((c) => c.PASSED === 1 && c.FAILED === 0)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(1);

    await publish('10.9.0.2', 'FAILED');
    clock = 999;
    expect((await countsOf(running)).FAILED).toBe(0); // still the shared count
    clock = 1_000;
    expect((await countsOf(running)).FAILED).toBe(1); // a second later: counted again
    expect(spy).toHaveBeenCalledTimes(2);

    // Ended: counted once more, then kept however much time passes.
    const finished = { id: scanId, status: 'FINISHED' };
    await publish('10.9.0.3', 'PASSED');
    expect((await countsOf(finished)).PASSED).toBe(2);
    clock = 10_000_000;
    expect((await countsOf(finished)).PASSED).toBe(2);
    expect(spy).toHaveBeenCalledTimes(3);
    spy.mockRestore();
  });

  it('forgets a failed count instead of serving the failure again', async () => {
    const countsOf = createProgressReader(database.db);
    const spy = vi.spyOn(resultRepo, 'countByCategory').mockRejectedValueOnce(new Error('connection reset'));
    await expect(countsOf({ id: scanId, status: 'RUNNING' })).rejects.toThrow('connection reset');
    expect((await countsOf({ id: scanId, status: 'RUNNING' })).PASSED).toBeGreaterThan(0);
    spy.mockRestore();
  });
});
