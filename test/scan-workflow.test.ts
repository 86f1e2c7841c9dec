// scanWorkflow's own mechanics on a real Temporal dev server: paging, continue-as-new with
// the cursor and tally carried over, the progress query, disabled technologies, and hosts
// run in batches with per-host attempts and per-host search attributes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { applianceRepo, authRecordRepo, profileRepo, profileSettings, scanRepo } from '../db/repositories/index.js';
import { CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';
import type { ScanInput, scanWorkflow } from '../workflows/scan.js';
import { progressQuery } from '../workflows/messages.js';
import { ScanError } from '../domain/scan-error.js';
import type { AuthTechnology } from '../activities/auth/technology.js';
import { instantTechnology, instantVault } from './harness/simulated.js';
import { generateApplianceKeyPair } from '../activities/secrets/sealed-access.js';
import { batchRuns } from './harness/batch-runs.js';

let env: ScanEnvironment;

beforeAll(async () => {
  env = await startScanEnvironment();
  await env.api('POST', '/assets', { name: 'doc range', value: '198.51.100.0/28' });
});
afterAll(async () => {
  await env?.stop();
});

async function runScan(
  targets: string,
  technologies: 'unix'[],
  extra: Partial<ScanInput>,
  options: {
    maxParallelHosts?: number;
    maxAttempts?: number;
    applianceName?: string;
    heartbeatMs?: number;
    applianceUnavailableMs?: number;
    /** A pool: the scan runs on these appliances (the first is its applianceId). */
    applianceIds?: string[];
  } = {},
) {
  const db = env.database.db;
  const profile = await profileRepo.create(db, {
    name: `p-${Math.random()}`,
    technologies,
    maxParallelHosts: options.maxParallelHosts ?? 2,
    timeouts: {
      connectMs: options.heartbeatMs ? 100 : 1000,
      commandMs: options.heartbeatMs ? 100 : 1000,
      vaultMs: 1000,
      ...(options.heartbeatMs && { heartbeatMs: options.heartbeatMs }),
      ...(options.applianceUnavailableMs && { applianceUnavailableMs: options.applianceUnavailableMs }),
    },
    retry: { maxAttempts: options.maxAttempts ?? 1, initialIntervalMs: 10, maxIntervalMs: 10 },
  });
  const pool = options.applianceIds ?? [(await applianceRepo.ensure(db, options.applianceName ?? 'wf-test')).id];
  const scan = await scanRepo.create(db, {
    title: 'wf',
    targets,
    optionProfileId: profile.id,
    applianceIds: pool,
  });
  const handle = await env.client.workflow.start<typeof scanWorkflow>('scanWorkflow', {
    taskQueue: CONTROL_PLANE_QUEUE,
    workflowId: `scan-${scan.id}`,
    args: [
      {
        scanId: scan.id,
        applianceId: pool[0]!,
        ...(pool.length > 1 && { applianceIds: pool }),
        profile: profileSettings(profile),
        totalHosts: scan.hostCount,
        ...extra,
      },
    ],
  });
  return { scan, handle, summary: await handle.result() };
}

/** Keeps a scan's workflow and all its batches for the replay test (VAULTSCAN_SAVE_HISTORIES=1). */
async function saveScanHistories(scanId: string, name: string) {
  await env.saveHistories(`scan-${scanId}`, `${name}-scan`);
  // Each batch workflow once: saveHistories saves all its runs (a batch handed back runs again).
  const batches = new Set<string>();
  for await (const wf of env.client.workflow.list({ query: `VaultscanScanId = "${scanId}"` }))
    if (wf.workflowId !== `scan-${scanId}`) batches.add(wf.workflowId);
  let n = 0;
  for (const workflowId of batches) await env.saveHistories(workflowId, `${name}-batch${++n}`);
}

describe('scanWorkflow', () => {
  it('reads targets in pages and continues as new, carrying its cursor and tally', async () => {
    const { scan, handle, summary } = await runScan('198.51.100.0/28', ['unix'], { pageSize: 3, pagesPerRun: 2 });
    await env.saveHistories(handle.workflowId, 'scan-continue-as-new');
    expect(summary).toEqual({
      scanId: scan.id,
      status: 'FINISHED',
      totalHosts: 16,
      counts: { PASSED: 0, INSUFFICIENT_PRIVILEGES: 0, FAILED: 0, NOT_ATTEMPTED: 16, UNREACHABLE: 0 },
    });
    // 16 hosts, 3 a page, 2 pages a run: the first run cannot have finished by itself.
    const firstRun = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
    expect(firstRun.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    const runs = await env.database.query(
      `select count(distinct ip)::int as n, count(*)::int as rows from host_results where scan_id = '${scan.id}'`,
    );
    expect(runs).toEqual([{ n: 16, rows: 16 }]);
    expect(await handle.query(progressQuery)).toMatchObject({ status: 'FINISHED', doneHosts: 16, totalHosts: 16 });
    expect((await scanRepo.get(env.database.db, scan.id)).status).toBe('FINISHED');
  });

  it('marks hosts NOT_ATTEMPTED with TECHNOLOGY_DISABLED when the profile enables no technology', async () => {
    const { scan } = await runScan('198.51.100.1-198.51.100.2', [], {});
    await saveScanHistories(scan.id, 'technology-disabled');
    const rows = await env.database.query(
      `select ip, category, error_code from host_results where scan_id = '${scan.id}' order by ip`,
    );
    expect(rows).toEqual([
      { ip: '198.51.100.1', category: 'NOT_ATTEMPTED', error_code: 'TECHNOLOGY_DISABLED' },
      { ip: '198.51.100.2', category: 'NOT_ATTEMPTED', error_code: 'TECHNOLOGY_DISABLED' },
    ]);
  });

  it('runs covered hosts in batches: per-host results and attempts, retries only for the hosts that need them, each host findable by search attribute', async () => {
    // A technology that answers at once, scripted per host: .3 times out once then passes,
    // .5 rejects the credentials, every other host passes with a three-package inventory.
    const connects = new Map<string, number>();
    const scripted: AuthTechnology = {
      name: 'unix',
      defaultPort: 22,
      async connect({ ip }, credentials) {
        const n = (connects.get(ip) ?? 0) + 1;
        connects.set(ip, n);
        if (credentials.password?.toString() !== 'simulated-password')
          throw new ScanError('AUTH_FAILED', 'the simulated host got the wrong secret');
        if (ip.endsWith('.3') && n === 1) throw new ScanError('TARGET_TIMEOUT', 'simulated timeout');
        if (ip.endsWith('.5')) throw new ScanError('AUTH_FAILED', 'simulated rejection');
        return {
          checkPrivileges: async () => ({ ok: true, method: 'sudo' }),
          collect: async () => ({
            facts: { 'os.id': 'simulated', host: ip },
            packages: ['a', 'b', 'c'].map((name) => ({ name, version: '1', arch: 'all' })),
          }),
          close: async () => undefined,
        };
      },
    };
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-batches');
    let vaultReads = 0;
    const countingVault = {
      ...instantVault,
      fetch: (request: Parameters<typeof instantVault.fetch>[0]) => (vaultReads++, instantVault.fetch(request)),
    };
    const workers = await env.startSimulatedAppliance(appliance.id, {
      vaults: () => countingVault,
      technologies: () => scripted,
    });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    const record = await env.api('POST', '/auth-records', {
      name: 'batch hosts',
      technology: 'unix',
      targets: '198.51.100.0-198.51.100.9',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
    expect(record.status, record.text).toBe(201);

    const { scan, summary } = await runScan(
      '198.51.100.0/28',
      ['unix'],
      { hostsPerBatch: 4 },
      { maxParallelHosts: 8, maxAttempts: 2, applianceName: 'wf-batches' },
    );
    await saveScanHistories(scan.id, 'batches-retries');
    expect(summary.counts).toEqual({
      PASSED: 9,
      INSUFFICIENT_PRIVILEGES: 0,
      FAILED: 1,
      NOT_ATTEMPTED: 6,
      UNREACHABLE: 0,
    });

    // Ten covered hosts, four a batch, each host in exactly one: until the record's credential
    // has worked once, the breaker hands out at most three of its hosts (maxFailedLogins).
    const batches = new Map<string, string[]>();
    for await (const wf of env.client.workflow.list({ query: `VaultscanScanId = "${scan.id}"` }))
      batches.set(wf.workflowId, wf.searchAttributes.VaultscanTargetIps as string[]);
    expect([...batches.keys()].sort()).toEqual([
      `scan-${scan.id}/unix/198.51.100.0..198.51.100.2`,
      `scan-${scan.id}/unix/198.51.100.3..198.51.100.6`,
      `scan-${scan.id}/unix/198.51.100.7..198.51.100.9`,
    ]);
    const found = [];
    for await (const wf of env.client.workflow.list({
      query: `VaultscanScanId = "${scan.id}" AND VaultscanTargetIps = "198.51.100.5"`,
    }))
      found.push(wf);
    expect(found.map((wf) => wf.workflowId)).toEqual([`scan-${scan.id}/unix/198.51.100.3..198.51.100.6`]);
    expect(found[0]!.searchAttributes.VaultscanHostCategories).toEqual(['PASSED', 'FAILED']);

    const rows = await env.database.query(`select r.ip, r.category, r.error_code, r.package_count,
        (select string_agg(coalesce(a.code, 'ok'), ',' order by a.attempt_no) from host_attempts a where a.result_id = r.id) as attempts
      from host_results r where r.scan_id = '${scan.id}' and r.category <> 'NOT_ATTEMPTED' order by r.ip_key`);
    expect(rows).toHaveLength(10);
    for (const row of rows) {
      if (row.ip === '198.51.100.3')
        expect(row).toMatchObject({
          category: 'PASSED',
          error_code: null,
          package_count: 3,
          attempts: 'TARGET_TIMEOUT,ok',
        });
      else if (row.ip === '198.51.100.5')
        expect(row).toMatchObject({
          category: 'FAILED',
          error_code: 'AUTH_FAILED',
          package_count: 0,
          // The secret it refused came from the first batch's read: the vault is read again,
          // and as the secret is unchanged, the host is not tried again.
          attempts: 'AUTH_FAILED,CREDENTIAL_UNCHANGED',
        });
      else expect(row).toMatchObject({ category: 'PASSED', error_code: null, package_count: 3, attempts: 'ok' });
    }
    // Only the host that timed out was tried again; every fetched secret was purged.
    expect(Object.fromEntries(connects)).toEqual(
      Object.fromEntries(rows.map((r) => [r.ip, r.ip === '198.51.100.3' ? 2 : 1])),
    );
    expect(workers.store.size).toBe(0);
    // One vault read for the scan (the hosts share one record; later batches and the retry are
    // served by the appliance's cache), and one more to check whether the refused secret changed.
    expect(vaultReads).toBe(2);
    const facts = await env.database.query(
      `select facts from host_results where scan_id = '${scan.id}' and ip = '198.51.100.8'`,
    );
    expect(facts).toEqual([{ facts: { 'os.id': 'simulated', host: '198.51.100.8' } }]);
  });

  it("logs into at most maxParallelHosts hosts at once, with the next batch's credentials already fetched", async () => {
    // Every session lasts 150 ms; the technology counts sessions open at once and, at each
    // login, how many secrets the appliance holds (logged in or waiting for a login slot).
    let open = 0;
    let mostOpen = 0;
    let mostHeld = 0;
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-slots');
    const started: { workers?: Awaited<ReturnType<ScanEnvironment['startSimulatedAppliance']>> } = {};
    const slow: AuthTechnology = {
      name: 'unix',
      defaultPort: 22,
      async connect() {
        open++;
        mostOpen = Math.max(mostOpen, open);
        // Per-host copies only: the one cached read of the record's credential is not a host's.
        const workers = started.workers;
        mostHeld = Math.max(mostHeld, workers ? workers.store.size - workers.cache.size : 0);
        return {
          checkPrivileges: async () => ({ ok: true, method: 'sudo' }),
          collect: async () => (await new Promise((r) => setTimeout(r, 150)), { facts: {}, packages: [] }),
          close: async () => void open--,
        };
      },
    };
    const workers = (started.workers = await env.startSimulatedAppliance(appliance.id, {
      vaults: () => instantVault,
      technologies: () => slow,
    }));
    await env.api('POST', '/assets', { name: 'slots range', value: '203.0.113.0/28' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-slots',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    const record = await env.api('POST', '/auth-records', {
      name: 'slot hosts',
      technology: 'unix',
      targets: '203.0.113.0/28',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
    expect(record.status, record.text).toBe(201);

    const { summary } = await runScan(
      '203.0.113.0/28',
      ['unix'],
      {},
      { maxParallelHosts: 4, applianceName: 'wf-slots' },
    );
    expect(summary.counts.PASSED).toBe(16);
    expect(mostOpen).toBe(4);
    // Batches of four, one batch beyond the window: up to eight secrets held.
    expect(mostHeld).toBeGreaterThan(4);
    expect(mostHeld).toBeLessThanOrEqual(8);
    expect(open).toBe(0);
    expect(workers.store.size).toBe(0);
  });

  it('fails over cleanly when the appliance is enrolled again mid-life: its hosts say why, nothing hangs', async () => {
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-rotated');
    const workers = await env.startSimulatedAppliance(appliance.id, {
      vaults: () => instantVault,
      technologies: () => instantTechnology(),
    });
    // The appliance is enrolled again with a key this running worker never got (a rotation done
    // elsewhere, or a stolen code): grants are sealed to the new key from now on.
    const code = (await env.api('POST', `/appliances/${appliance.id}/enrolment-codes`)).body.code as string;
    const publicKey = Buffer.from((await generateApplianceKeyPair()).publicKey).toString('base64');
    const enrolled = await fetch(`${env.apiUrl}/api/v1/appliances/${appliance.id}/enrolment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, publicKey }),
    });
    expect(enrolled.status).toBe(200);
    await env.api('POST', '/assets', { name: 'rotation range', value: '192.0.2.32/30' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-rotation',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    await env.api('POST', '/auth-records', {
      name: 'rotation hosts',
      technology: 'unix',
      targets: '192.0.2.32/30',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });

    const { scan, summary } = await runScan(
      '192.0.2.32/30',
      ['unix'],
      {},
      { maxAttempts: 2, applianceName: 'wf-rotated' },
    );
    expect(summary).toMatchObject({ status: 'FINISHED', counts: { FAILED: 4 } });
    const rows = await env.database.query(
      `select r.error_code, count(a.*)::int as attempts from host_results r join host_attempts a on a.result_id = r.id
       where r.scan_id = '${scan.id}' group by r.id, r.error_code`,
    );
    expect(rows).toEqual(Array(4).fill({ error_code: 'APPLIANCE_KEY_ROTATED', attempts: 2 }));
    expect(workers.store.size).toBe(0);
  });

  it('never logs into a host again once it refused the login, even when the worker holding its batch is lost', async () => {
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-refused');
    const connects = new Map<string, number>();
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((resolve) => (release = resolve));
    const technology: AuthTechnology = {
      name: 'unix',
      defaultPort: 22,
      async connect(endpoint) {
        const n = (connects.get(endpoint.ip) ?? 0) + 1;
        connects.set(endpoint.ip, n);
        if (endpoint.ip.endsWith('.41')) throw new ScanError('AUTH_FAILED', 'simulated rejection');
        // The other host's first login hangs past the step's time limit: the worker is given up.
        if (n === 1) await stuck;
        return {
          checkPrivileges: async () => ({ ok: true, method: 'sudo' }),
          collect: async () => ({ facts: {}, packages: [] }),
          close: async () => undefined,
        };
      },
    };
    await env.startSimulatedAppliance(appliance.id, { vaults: () => instantVault, technologies: () => technology });
    await env.api('POST', '/assets', { name: 'refused range', value: '192.0.2.40/30' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-refused',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    await env.api('POST', '/auth-records', {
      name: 'refused hosts',
      technology: 'unix',
      targets: '192.0.2.41-192.0.2.42',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
    try {
      // connectMs 100 and commandMs 100: loginAndCollect's time limit is 2 × (100 + 4 × 100) + 10 s.
      const { scan } = await runScan(
        '192.0.2.41-192.0.2.42',
        ['unix'],
        {},
        { maxAttempts: 2, applianceName: 'wf-refused', maxParallelHosts: 2, heartbeatMs: 1000 },
      );
      await saveScanHistories(scan.id, 'login-refused-then-lost');
      const rows = await env.database.query(
        `select r.ip, r.category, r.error_code, array_agg(coalesce(a.code, 'ok') order by a.attempt_no) as attempts
         from host_results r join host_attempts a on a.result_id = r.id where r.scan_id = '${scan.id}' group by r.id order by r.ip`,
      );
      expect(rows).toEqual([
        { ip: '192.0.2.41', category: 'FAILED', error_code: 'AUTH_FAILED', attempts: ['AUTH_FAILED'] },
        { ip: '192.0.2.42', category: 'PASSED', error_code: null, attempts: ['APPLIANCE_LOST', 'ok'] },
      ]);
      expect(connects.get('192.0.2.41')).toBe(1);
    } finally {
      release();
    }
  }, 60_000);

  it('gives back what a vault lent when the scan ends, and reports the loans of a process that is gone by then', async () => {
    const db = env.database.db;
    const lending = { reads: 0, returned: 0 };
    const lentFor = 10 * 60_000;
    const lendingVault = {
      ...instantVault,
      fetch: async () => {
        lending.reads++;
        return {
          credential: { password: Buffer.from('lent-password') },
          lentUntil: new Date(Date.now() + lentFor),
          release: async () => {
            lending.returned++;
          },
        };
      },
    };
    await env.api('POST', '/assets', { name: 'loan range', value: '192.0.2.96/28' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-lending',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    await env.api('POST', '/auth-records', {
      name: 'loan hosts',
      technology: 'unix',
      targets: '192.0.2.96/28',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'checked-out' },
      fields: { password: 'password' },
    });
    const report = async (scanId: string) =>
      (await env.api('GET', `/scans/${scanId}/authentication-report`)).body as {
        vaultLoansUnreturned: { vaultId: string; lentUntil: string; locator: unknown }[];
        hosts: { status: string }[];
      };

    // A live appliance process: one read, shared by the batches, given back when the scan ends.
    const live = await applianceRepo.ensure(db, 'wf-loans-live');
    const liveWorkers = await env.startSimulatedAppliance(live.id, {
      vaults: () => lendingVault,
      technologies: () => instantTechnology(),
    });
    const first = await runScan('192.0.2.96-192.0.2.99', ['unix'], {}, { applianceName: 'wf-loans-live' });
    expect(first.summary.counts.PASSED).toBe(4);
    expect([lending.reads, lending.returned]).toEqual([1, 1]);
    expect(liveWorkers.cache.size).toBe(0);
    expect((await report(first.scan.id)).vaultLoansUnreturned).toEqual([]);

    // A process that is gone when the scan ends cannot give its loan back: the vault ends it at
    // lentUntil, and the report says so.
    const doomed = await applianceRepo.ensure(db, 'wf-loans-gone');
    const dying: AuthTechnology = {
      ...instantTechnology(),
      async connect(...args) {
        void workers.shutdown(); // stops polling; this login still completes
        return instantTechnology().connect(...args);
      },
    };
    const workers = await env.startSimulatedAppliance(doomed.id, {
      vaults: () => lendingVault,
      technologies: () => dying,
    });
    const before = Date.now();
    const second = await runScan('192.0.2.100', ['unix'], {}, { applianceName: 'wf-loans-gone' });
    expect(second.summary.status).toBe('FINISHED');
    const loans = (await report(second.scan.id)).vaultLoansUnreturned;
    expect(loans).toEqual([expect.objectContaining({ vaultId: vault.body.id, locator: { path: 'checked-out' } })]);
    const until = Date.parse(loans[0]!.lentUntil);
    expect(until).toBeGreaterThanOrEqual(before + lentFor - 60_000);
    expect(until).toBeLessThanOrEqual(Date.now() + lentFor);
  }, 90_000);

  it('stops asking a vault that keeps refusing the scanner: at most maxFailedLogins reads, the rest VAULT_ACCESS_SUSPENDED', async () => {
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-vault-breaker');
    let vaultReads = 0;
    const refusing = {
      ...instantVault,
      fetch: async () => {
        vaultReads++;
        throw new ScanError('VAULT_AUTH_FAILED', 'simulated: the vault rejected the token', 'permission denied', 403);
      },
    };
    await env.startSimulatedAppliance(appliance.id, {
      vaults: () => refusing,
      technologies: () => instantTechnology(),
    });
    await env.api('POST', '/assets', { name: 'vault breaker range', value: '192.0.2.64/28' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-refusing',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'revoked' },
    });
    await env.api('POST', '/auth-records', {
      name: 'vault breaker hosts',
      technology: 'unix',
      targets: '192.0.2.64/28',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
    const { scan, summary } = await runScan(
      '192.0.2.64/28',
      ['unix'],
      {},
      { applianceName: 'wf-vault-breaker', maxParallelHosts: 2 },
    );
    await saveScanHistories(scan.id, 'vault-suspended');
    expect(summary.counts.FAILED).toBe(16);
    expect(vaultReads).toBe(3);
    const codes = Object.fromEntries(
      (
        await env.database.query(
          `select error_code, count(*)::int as n from host_results where scan_id = '${scan.id}' group by error_code`,
        )
      ).map((r) => [r.error_code, r.n]),
    );
    // Three reads served a handful of hosts (as many as were in flight); the rest were never asked for.
    expect(Object.keys(codes).sort()).toEqual(['VAULT_ACCESS_SUSPENDED', 'VAULT_AUTH_FAILED']);
    expect(codes.VAULT_AUTH_FAILED).toBeLessThanOrEqual(6);
    expect(codes.VAULT_AUTH_FAILED + codes.VAULT_ACCESS_SUSPENDED).toBe(16);
  });

  it('counts a refused root-delegation password as a failed login: a wrong sudo password suspends the credential too', async () => {
    // Every login works; every sudo refuses the password (sudo asks the account's own password:
    // the same account a directory would lock).
    let delegations = 0;
    const refusingSudo: AuthTechnology = {
      name: 'unix',
      defaultPort: 22,
      async connect() {
        return {
          checkPrivileges: async () => (
            delegations++,
            { ok: false, code: 'DELEGATION_PASSWORD_REJECTED', message: 'simulated: sudo refused the password' }
          ),
          collect: async () => ({ facts: {}, packages: [] }),
          close: async () => undefined,
        };
      },
    };
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-sudo-breaker');
    await env.startSimulatedAppliance(appliance.id, { vaults: () => instantVault, technologies: () => refusingSudo });
    await env.api('POST', '/assets', { name: 'sudo breaker range', value: '192.0.2.96/28' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-sudo',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    await env.api('POST', '/auth-records', {
      name: 'sudo breaker hosts',
      technology: 'unix',
      targets: '192.0.2.96/28',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
    const { scan } = await runScan('192.0.2.96/28', ['unix'], {}, { applianceName: 'wf-sudo-breaker' });
    const codes = Object.fromEntries(
      (
        await env.database.query(
          `select error_code, count(*)::int as n from host_results where scan_id = '${scan.id}' group by error_code`,
        )
      ).map((r) => [r.error_code, r.n]),
    );
    // maxFailedLogins (3) refusals, then the rest are not tried.
    expect(delegations).toBe(3);
    expect(codes).toEqual({ DELEGATION_PASSWORD_REJECTED: 3, CREDENTIAL_SUSPENDED: 13 });
  });

  it('ends, saying so, when no worker of the appliance takes the work: APPLIANCE_UNAVAILABLE, not a hang', async () => {
    // Enrolled, but no worker runs: the appliance is offline at launch.
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-offline');
    await env.enrolAppliance(appliance.id);
    await env.api('POST', '/assets', { name: 'offline range', value: '192.0.2.96/29' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-offline',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    await env.api('POST', '/auth-records', {
      name: 'offline hosts',
      technology: 'unix',
      targets: '192.0.2.96/29',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
    const started = Date.now();
    const { scan, summary } = await runScan(
      '192.0.2.96/29',
      ['unix'],
      {},
      { applianceName: 'wf-offline', maxParallelHosts: 2, applianceUnavailableMs: 1500 },
    );
    await saveScanHistories(scan.id, 'appliance-unavailable');
    expect(summary).toMatchObject({ status: 'FINISHED', counts: { NOT_ATTEMPTED: 8 } });
    // One wave of batches waits for a worker; the hosts left are not handed to nobody.
    expect(Date.now() - started).toBeLessThan(15_000);
    const rows = await env.database.query(
      `select distinct error_code, category from host_results where scan_id = '${scan.id}'`,
    );
    expect(rows).toEqual([{ error_code: 'APPLIANCE_UNAVAILABLE', category: 'NOT_ATTEMPTED' }]);
  });

  /** Simulated vault and record over these addresses, for a pool test. */
  async function poolTargets(name: string, range: string) {
    await env.api('POST', '/assets', { name, value: range });
    const vault = await env.api('POST', '/vaults', {
      name: `simulated-${name}`,
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    await env.api('POST', '/auth-records', {
      name,
      technology: 'unix',
      targets: range,
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
  }

  /** The appliances each host's batches ran on (a host handed back runs again), in the order they started. */
  async function batchAppliances(scanId: string): Promise<Map<string, string[]>> {
    const ranOn = new Map<string, string[]>();
    for (const run of await batchRuns(env.client, scanId))
      for (const ip of run.ips) ranOn.set(ip, [...(ranOn.get(ip) ?? []), run.applianceId]);
    return ranOn;
  }

  it("spreads a pool's batches over the appliances whose workers answer, passing over one that is offline", async () => {
    const db = env.database.db;
    const [offline, a, b] = await Promise.all(
      ['wf-pool-offline', 'wf-pool-a', 'wf-pool-b'].map((name) => applianceRepo.ensure(db, name)),
    );
    await env.enrolAppliance(offline!.id);
    const simulated = { vaults: () => instantVault, technologies: () => instantTechnology() };
    const workersA = await env.startSimulatedAppliance(a!.id, simulated);
    const workersB = await env.startSimulatedAppliance(b!.id, simulated);
    await poolTargets('pool range', '192.0.2.112/29');

    const started = Date.now();
    const { scan, summary, handle } = await runScan(
      '192.0.2.112/29',
      ['unix'],
      {},
      // The offline appliance comes first: its batches would wait the whole minute for a worker.
      { maxParallelHosts: 1, applianceIds: [offline!.id, a!.id, b!.id], applianceUnavailableMs: 60_000 },
    );
    await saveScanHistories(scan.id, 'appliance-pool');
    expect(summary).toMatchObject({ status: 'FINISHED', counts: { PASSED: 8 } });
    expect(Date.now() - started).toBeLessThan(30_000);
    const ranOn = await batchAppliances(scan.id);
    expect(ranOn.size).toBe(8);
    // One batch each: none was handed back.
    expect([...ranOn.values()].every((appliances) => appliances.length === 1)).toBe(true);
    const perAppliance = (id: string) => [...ranOn.values()].filter(([v]) => v === id).length;
    // Spread over the two that answered (how evenly depends on which ends first), none on the one that did not.
    expect(perAppliance(a!.id)).toBeGreaterThanOrEqual(1);
    expect(perAppliance(b!.id)).toBeGreaterThanOrEqual(1);
    expect(perAppliance(offline!.id)).toBe(0);
    expect((await handle.query(progressQuery)).appliances).toEqual([
      { applianceId: offline!.id, state: 'silent', runningHosts: 0 },
      { applianceId: a!.id, state: 'live', runningHosts: 0 },
      { applianceId: b!.id, state: 'live', runningHosts: 0 },
    ]);
    // Each read is audited under the appliance that made it.
    const readers = await env.database.query(
      `select appliance_id, count(*)::int as n from audit_events where scan_id = '${scan.id}' and action in ('vault.read', 'vault.cached-use') group by appliance_id order by appliance_id`,
    );
    expect(readers.map((r) => r.appliance_id).sort()).toEqual([a!.id, b!.id].sort());
    expect(workersA.store.size + workersB.store.size).toBe(0);
  });

  it('hands a batch back from a pool appliance with no worker to the next; APPLIANCE_UNAVAILABLE once none has one', async () => {
    const db = env.database.db;
    const [first, second] = await Promise.all(
      ['wf-pool-down-1', 'wf-pool-down-2'].map((name) => applianceRepo.ensure(db, name)),
    );
    // Enrolled, with no worker: neither answers the probe, so both stay candidates.
    for (const appliance of [first!, second!]) await env.enrolAppliance(appliance.id);
    await poolTargets('pool down range', '192.0.2.120/30');
    const started = Date.now();
    const { scan, summary } = await runScan(
      '192.0.2.120/30',
      ['unix'],
      {},
      { maxParallelHosts: 4, applianceIds: [first!.id, second!.id], applianceUnavailableMs: 1500 },
    );
    await saveScanHistories(scan.id, 'appliance-pool-move');
    expect(summary).toMatchObject({ status: 'FINISHED', counts: { NOT_ATTEMPTED: 4 } });
    expect(Date.now() - started).toBeLessThan(20_000);
    const rows = (await env.database.query(
      `select r.ip, r.error_code, r.cause, array_agg(a.message order by a.attempt_no) filter (where a.code is not null) as messages
       from host_results r left join host_attempts a on a.result_id = r.id where r.scan_id = '${scan.id}' group by r.id order by r.ip`,
    )) as { ip: string; error_code: string; cause: string; messages: string[] | null }[];
    const tookNothing = (id: string) => `no worker of appliance ${id} took the batch within `;
    // The breaker lets 3 hosts go before the record has worked: one batch, on the first appliance.
    // It handed them back; the scan gave them to the second, which ended them there (the move
    // costing no retry, and a host going round the pool once at most)…
    for (const row of rows.slice(0, 3)) {
      expect(row.error_code, row.ip).toBe('APPLIANCE_UNAVAILABLE');
      expect(row.messages, row.ip).toEqual([
        expect.stringContaining(tookNothing(first!.id)),
        expect.stringContaining(tookNothing(second!.id)),
      ]);
    }
    // …and the last one, once both were found offline, was not handed to either.
    expect(rows[3]).toMatchObject({
      ip: '192.0.2.123',
      error_code: 'APPLIANCE_UNAVAILABLE',
      messages: null,
      cause: `not tried: no worker of any appliance of the scan's pool (${first!.id}, ${second!.id}) took its work in time`,
    });
    const ranOn = await batchAppliances(scan.id);
    for (const ip of ['192.0.2.120', '192.0.2.121', '192.0.2.122'])
      expect(ranOn.get(ip), ip).toEqual([first!.id, second!.id]);
  });

  it("keeps the scan's row with its workflow whatever ends it: a cancel or a terminate from the Web UI", async () => {
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-ended-elsewhere');
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const slow: AuthTechnology = {
      name: 'unix',
      defaultPort: 22,
      async connect(_endpoint, _credentials, options) {
        // Busy until the test is over, or until the work is cancelled.
        await Promise.race([held, new Promise((resolve) => options.signal?.addEventListener('abort', resolve))]);
        throw new ScanError('TARGET_TIMEOUT', 'stopped');
      },
    };
    await env.startSimulatedAppliance(appliance.id, { vaults: () => instantVault, technologies: () => slow });
    await env.api('POST', '/assets', { name: 'ended range', value: '192.0.2.128/29' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-ended',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    await env.api('POST', '/auth-records', {
      name: 'ended hosts',
      technology: 'unix',
      targets: '192.0.2.128/29',
      username: 'scanner',
      vaultId: vault.body.id,
      locator: { path: 'x' },
      fields: { password: 'password' },
    });
    const row = async (id: string) =>
      (await env.database.query(`select status, status_reason from scans where id = '${id}'`))[0]!;
    const launch = async (title: string) => {
      const res = await env.api('POST', '/scans', {
        title,
        targets: '192.0.2.128/29',
        applianceId: appliance.id,
      });
      expect(res.status, res.text).toBe(202);
      await expect.poll(async () => (await row(res.body.id)).status, { timeout: 10_000 }).toBe('RUNNING');
      return res.body.id as string;
    };
    try {
      // Cancelled in the Web UI (a cancellation request, not our signal): the workflow ends it.
      const cancelled = await launch('cancelled from the web ui');
      await env.client.workflow.getHandle(`scan-${cancelled}`).cancel();
      await expect.poll(() => row(cancelled), { timeout: 20_000 }).toMatchObject({ status: 'CANCELED' });

      // Terminated in the Web UI: no workflow code runs; the reconciler ends the row, with why.
      const terminated = await launch('terminated from the web ui');
      // While it runs, the record it scans with cannot be deleted from under it.
      const recordId = (await env.api('GET', '/auth-records')).body.items.find(
        (r: { name: string }) => r.name === 'ended hosts',
      ).id;
      const busy = await env.api('DELETE', `/auth-records/${recordId}`);
      expect([busy.status, busy.body.message]).toEqual([
        409,
        expect.stringMatching(new RegExp(`scan "terminated from the web ui" \\(${terminated}\\), which is running`)),
      ]);
      await env.client.workflow.getHandle(`scan-${terminated}`).terminate('an operator pressed Terminate');
      await expect
        .poll(() => row(terminated), { timeout: 20_000 })
        .toEqual({
          status: 'FAILED',
          status_reason: 'its workflow was terminated in Temporal (the Web UI or the CLI)',
        });
      const scan = (await env.api('GET', `/scans/${terminated}`)).body;
      const reportRows = (await env.api('GET', `/scans/${terminated}/authentication-report`)).body.hosts.length;
      expect(scan.progress.doneHosts).toBe(reportRows);
      // Ended, it no longer holds the record.
      expect((await env.api('DELETE', `/auth-records/${recordId}`)).status).toBe(204);
    } finally {
      release();
    }
  }, 90_000);

  it('fails the hosts of a batch too large for Temporal, with the reason, instead of stalling', async () => {
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-oversized');
    await env.startSimulatedAppliance(appliance.id, {
      vaults: () => instantVault,
      technologies: () => instantTechnology(),
    });
    await env.api('POST', '/assets', { name: 'oversized range', value: '192.0.2.160/30' });
    const vault = await env.api('POST', '/vaults', {
      name: 'simulated-oversized',
      type: 'hashicorp',
      config: { url: 'https://127.0.0.1:1', authMethod: 'token' },
      access: { token: 'sim' },
    });
    // Past the API's own size limits (the database takes it): as an older record might be.
    await authRecordRepo.create(env.database.db, {
      name: 'oversized locator',
      technology: 'unix',
      targets: '192.0.2.160/30',
      username: 'scanner',
      port: 22,
      vaultId: vault.body.id,
      locator: { path: 'x', padding: 'p'.repeat(1_600_000) },
      fields: { password: 'password' },
    });
    const { scan, summary } = await runScan('192.0.2.160/30', ['unix'], {}, { applianceName: 'wf-oversized' });
    expect(summary).toMatchObject({ status: 'FINISHED', counts: { FAILED: 4 } });
    const rows = await env.database.query(`select error_code, cause from host_results where scan_id = '${scan.id}'`);
    expect(rows).toHaveLength(4);
    for (const row of rows)
      expect(row).toEqual({
        error_code: 'CONFIG_INVALID',
        cause: expect.stringMatching(/more than one batch may carry through Temporal/),
      });
  });

  it('warns at launch about an appliance whose only worker stopped a moment ago, though Temporal still lists it', async () => {
    const appliance = await applianceRepo.ensure(env.database.db, 'wf-just-died');
    const workers = await env.startSimulatedAppliance(appliance.id, {
      vaults: () => instantVault,
      technologies: () => instantTechnology(),
    });
    await env.api('POST', '/assets', { name: 'just died range', value: '192.0.2.200/30' });
    const profile = await env.api('POST', '/option-profiles', {
      name: 'quick to give up',
      technologies: ['unix'],
      maxParallelHosts: 2,
      timeouts: { connectMs: 1000, commandMs: 1000, vaultMs: 1000, applianceUnavailableMs: 1000 },
      retry: { maxAttempts: 1, initialIntervalMs: 10, maxIntervalMs: 10 },
    });
    const launch = () =>
      env.api('POST', '/scans', {
        title: 'x',
        targets: '192.0.2.200',
        optionProfileId: profile.body.id,
        applianceId: appliance.id,
      });
    expect((await launch()).body.warnings).toEqual([]);
    workers.shutdown();
    await expect.poll(() => workers.isRunning(), { timeout: 10_000 }).toBe(false);
    const pollers = await env.client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: `appliance.${appliance.id}` },
      taskQueueType: 2, // activity
    });
    expect(pollers.pollers?.length).toBeGreaterThan(0); // still listed: the list alone would say "online"
    expect((await launch()).body.warnings).toEqual([expect.stringMatching(/has no worker running/)]);
    for await (const wf of env.client.workflow.list({ query: `WorkflowType = "applianceProbeWorkflow"` })) {
      await env.saveHistories(wf.workflowId, 'appliance-probe');
      break;
    }
  });
});
