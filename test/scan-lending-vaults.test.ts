// Vaults that lend, end to end through the real parts: a scan over real sshd hosts whose
// passwords come from Delinea Secret Server (a check-out) and BeyondTrust Password Safe (an
// access request), both protocol-faithful fakes over HTTPS, read by the real appliance process
// through the sealed-access path. The scan reads each item once, logs in with it, and gives
// every loan back when it ends: nothing stays checked out, requested or signed in.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { cleanupAll, createTestUser, startSshd, type SshdServer } from './harness/ssh-targets.js';
import { startDelineaFake, type DelineaFake } from './fakes/delinea.js';
import { startBeyondtrustFake, type BeyondtrustFake } from './fakes/beyondtrust.js';

const suffix = randomBytes(3).toString('hex');
const user = `vstest-lend-${suffix}`;
const password = `lend-${randomBytes(9).toString('hex')}`;
const API_KEY = 'k'.repeat(64) + 'Q7x2'.repeat(16);
const hosts = { delinea: '127.0.4.1', beyondtrust: '127.0.4.2' };

let env: ScanEnvironment;
let delinea: DelineaFake;
let beyondtrust: BeyondtrustFake;
const sshds: SshdServer[] = [];

beforeAll(async () => {
  await cleanupAll();
  env = await startScanEnvironment();
  await createTestUser({ name: user, password, sudo: 'none' });
  for (const address of Object.values(hosts)) sshds.push(await startSshd({ address }));
  delinea = await startDelineaFake({
    secrets: [
      {
        id: 70,
        name: 'web login',
        folderId: 3,
        folderPath: '\\Servers',
        items: [{ slug: 'password', fieldName: 'Password', value: password, isPassword: true }],
        checkOutEnabled: true,
        checkOutIntervalMinutes: 20,
      },
    ],
  });
  beyondtrust = await startBeyondtrustFake({
    apiKey: API_KEY,
    accounts: [{ systemId: 5, accountId: 9, systemName: 'web02', accountName: user, password }],
  });
}, 240_000);

afterAll(async () => {
  await env?.stop();
  await Promise.all(sshds.map((s) => s.stop()));
  await delinea?.close();
  await beyondtrust?.close();
  await cleanupAll();
});

describe('a scan whose credentials are lent by Delinea and BeyondTrust', () => {
  it('reads each once through the appliance, logs in with it, and gives every loan back when the scan ends', async () => {
    const applianceId = (await env.api('POST', '/appliances', { name: 'lending' })).body.id;
    await env.startAppliance(applianceId);
    await env.api('POST', '/assets', { name: 'lending lab', value: '127.0.4.1-127.0.4.2' });
    const ss = await env.api('POST', '/vaults', {
      name: 'secret server',
      type: 'delinea',
      config: { url: delinea.url, caCert: delinea.caCert, username: delinea.username },
      access: { password: delinea.password },
    });
    expect(ss.status, ss.text).toBe(201);
    const ps = await env.api('POST', '/vaults', {
      name: 'password safe',
      type: 'beyondtrust',
      config: { url: beyondtrust.url, caCert: beyondtrust.caCert, authMethod: 'apiKey', durationMinutes: 15 },
      access: { apiKey: API_KEY },
    });
    expect(ps.status, ps.text).toBe(201);
    const [port1, port2] = sshds.map((s) => s.port);
    for (const [name, ip, port, vaultId, locator] of [
      ['via delinea', hosts.delinea, port1, ss.body.id, { secretId: 70 }],
      ['via beyondtrust', hosts.beyondtrust, port2, ps.body.id, { systemName: 'web02', accountName: user }],
    ] as const) {
      const record = await env.api('POST', '/auth-records', {
        name,
        technology: 'unix',
        targets: ip,
        username: user,
        port,
        vaultId,
        locator,
        fields: { password: 'password' },
      });
      expect(record.status, record.text).toBe(201);
    }
    const profile = await env.api('POST', '/option-profiles', {
      name: 'lending',
      technologies: ['unix'],
      maxParallelHosts: 2,
      timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 10_000 },
      retry: { maxAttempts: 1, initialIntervalMs: 100, maxIntervalMs: 100 },
    });
    const scan = await env.api('POST', '/scans', {
      title: 'lending vaults',
      targets: '127.0.4.1-127.0.4.2',
      optionProfileId: profile.body.id,
      applianceId,
    });
    expect(scan.status, scan.text).toBe(202);
    const deadline = Date.now() + 120_000;
    let status = scan.body.status as string;
    while (!['FINISHED', 'CANCELED', 'FAILED'].includes(status) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await env.api('GET', `/scans/${scan.body.id}`)).body.status;
    }
    expect(status).toBe('FINISHED');

    // Both logins worked with the lent password (the account has no sudo: logged in, no more).
    const report = (await env.api('GET', `/scans/${scan.body.id}/authentication-report`)).body;
    expect(report.hosts.map((h: { ip: string; status: string }) => [h.ip, h.status])).toEqual([
      [hosts.delinea, 'INSUFFICIENT_PRIVILEGES'],
      [hosts.beyondtrust, 'INSUFFICIENT_PRIVILEGES'],
    ]);
    expect(report.vaultLoansUnreturned).toEqual([]);
    for (const sshd of sshds) expect(sshd.log()).not.toMatch(/Failed password/);

    // Delinea: checked out once, with the scan as the reason, and checked in again; no token left.
    expect(delinea.reads).toBe(1);
    const actions = delinea.audit.filter((a) => a.secretId === 70).map((a) => a.action);
    expect(actions).toContain('CHECKOUT');
    expect(actions.at(-1)).toBe('CHECKIN');
    expect(delinea.checkouts.size).toBe(0);
    expect(delinea.liveTokens()).toBe(0);
    // BeyondTrust: one access request, for the scan, checked in; signed out.
    expect(beyondtrust.reads()).toBe(1);
    expect(beyondtrust.requests).toHaveLength(1);
    expect(beyondtrust.requests[0]).toMatchObject({ durationMinutes: 15, checkedIn: true });
    expect(beyondtrust.requests[0]!.reason).toContain(scan.body.id);
    expect(beyondtrust.openRequests()).toEqual([]);
    expect(beyondtrust.liveSessions()).toBe(0);

    // The audit trail has each read, with the time its loan would have ended by itself.
    const reads = ((await env.api('GET', `/audit?scan=${scan.body.id}`)).body.items as Record<string, any>[]).filter(
      (e) => e.action === 'vault.read',
    );
    expect(reads.map((r) => r.recordId).sort()).toEqual([ss.body.id, ps.body.id].sort());
    for (const read of reads) expect(Date.parse(read.detail.lentUntil)).toBeGreaterThan(Date.now());
  }, 180_000);
});
