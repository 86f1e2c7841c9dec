// Vaults that lend, end to end through the real parts: a scan over real sshd hosts whose
// passwords come from Delinea Secret Server (a check-out) and BeyondTrust Password Safe (an
// access request), both protocol-faithful fakes over HTTPS, read by the real appliance process
// through the sealed-access path. The scan reads each item once, logs in with it, and gives
// every loan back when it ends: nothing stays checked out, requested or signed in.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { cleanupAll, createTestUser, generateKeyPair, startSshd, type SshdServer } from './harness/ssh-targets.js';
import { startDelineaFake, type DelineaFake } from './fakes/delinea.js';
import { startBeyondtrustFake, type BeyondtrustFake } from './fakes/beyondtrust.js';

const suffix = randomBytes(3).toString('hex');
const user = `vstest-lend-${suffix}`;
const password = `lend-${randomBytes(9).toString('hex')}`;
const API_KEY = 'k'.repeat(64) + 'Q7x2'.repeat(16);
const hosts = { delinea: '127.0.4.1', beyondtrust: '127.0.4.2' };
// A key login whose sudo password lives in another vault: key from Delinea, password from BeyondTrust.
const admin = `vstest-root-${suffix}`;
const adminPassword = `root-${randomBytes(9).toString('hex')}`;
const adminKey = generateKeyPair();
const delegatedHost = '127.0.4.3';

let env: ScanEnvironment;
let delinea: DelineaFake;
let beyondtrust: BeyondtrustFake;
const sshds: SshdServer[] = [];

beforeAll(async () => {
  await cleanupAll();
  env = await startScanEnvironment();
  await createTestUser({ name: user, password, sudo: 'none' });
  await createTestUser({ name: admin, password: adminPassword, authorizedKey: adminKey.publicKey, sudo: 'password' });
  for (const address of [...Object.values(hosts), delegatedHost]) sshds.push(await startSshd({ address }));
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
      {
        id: 71,
        name: 'admin key',
        folderId: 3,
        folderPath: '\\Servers',
        items: [{ slug: 'private-key', fieldName: 'Private Key', value: adminKey.privateKey, isFile: true }],
      },
    ],
  });
  beyondtrust = await startBeyondtrustFake({
    apiKey: API_KEY,
    accounts: [
      { systemId: 5, accountId: 9, systemName: 'web02', accountName: user, password },
      { systemId: 6, accountId: 10, systemName: 'web03', accountName: admin, password: adminPassword },
    ],
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
    const idle = (await env.api('POST', '/appliances', { name: 'never started' })).body.id;
    await env.startAppliance(applianceId);
    // Its queue's pollers say so: one worker process, online; the other has none.
    const listed = (await env.api('GET', '/appliances?limit=500')).body.items as Record<string, any>[];
    expect(listed.find((a) => a.id === applianceId)).toMatchObject({ online: true, workers: 1 });
    expect(listed.find((a) => a.id === idle)).toMatchObject({ online: false, workers: 0, lastPollAt: null });
    expect(Date.parse((await env.api('GET', `/appliances/${applianceId}`)).body.lastPollAt)).toBeGreaterThan(
      Date.now() - 90_000,
    );
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

  it('logs in with a key from one vault and escalates with a root-delegation password from another', async () => {
    const applianceId = (await env.api('POST', '/appliances', { name: 'delegating' })).body.id;
    await env.startAppliance(applianceId);
    await env.api('POST', '/assets', { name: 'delegation lab', value: delegatedHost });
    const ss = await env.api('POST', '/vaults', {
      name: 'secret server (keys)',
      type: 'delinea',
      config: { url: delinea.url, caCert: delinea.caCert, username: delinea.username },
      access: { password: delinea.password },
    });
    const ps = await env.api('POST', '/vaults', {
      name: 'password safe (root)',
      type: 'beyondtrust',
      config: { url: beyondtrust.url, caCert: beyondtrust.caCert, authMethod: 'apiKey', durationMinutes: 15 },
      access: { apiKey: API_KEY },
    });
    const body = {
      name: 'key login, sudo from password safe',
      technology: 'unix',
      targets: delegatedHost,
      username: admin,
      port: sshds[2]!.port,
      vaultId: ss.body.id,
      locator: { secretId: 71 },
      fields: { privateKey: 'private-key' },
    };
    const rootDelegation = {
      vaultId: ps.body.id,
      locator: { systemName: 'web03', accountName: admin },
      field: 'password',
    };

    // Bad input first: each names its field, and nothing is stored.
    const unknownVault = await env.api('POST', '/auth-records', {
      ...body,
      rootDelegation: { ...rootDelegation, vaultId: '00000000-0000-4000-8000-000000000000' },
    });
    expect(unknownVault.status).toBe(400);
    expect(unknownVault.text).toContain('rootDelegation.vaultId');
    const twoSources = await env.api('POST', '/auth-records', {
      ...body,
      fields: { privateKey: 'private-key', rootPassword: 'password' },
      rootDelegation,
    });
    expect(twoSources.status).toBe(400);
    expect(twoSources.text).toContain('rootDelegation');
    const wrongLocator = await env.api('POST', '/auth-records', {
      ...body,
      rootDelegation: { ...rootDelegation, locator: { secretId: 71 } },
    });
    expect(wrongLocator.status).toBe(400);
    expect(wrongLocator.text).toContain('rootDelegation.locator');

    const record = await env.api('POST', '/auth-records', { ...body, rootDelegation });
    expect(record.status, record.text).toBe(201);
    expect(record.body.rootDelegation).toEqual(rootDelegation);
    // The vault the root password comes from cannot go while the record takes it from there.
    expect((await env.api('DELETE', `/vaults/${ps.body.id}`)).status).toBe(409);

    const profile = await env.api('POST', '/option-profiles', {
      name: 'delegating',
      technologies: ['unix'],
      timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 10_000 },
      retry: { maxAttempts: 1, initialIntervalMs: 100, maxIntervalMs: 100 },
    });
    const psReadsBefore = beyondtrust.reads();
    const scan = await env.api('POST', '/scans', {
      title: 'root delegation from another vault',
      targets: delegatedHost,
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
    // Logged in by key, and sudo took the password only the other vault holds: root, so PASSED.
    const report = (await env.api('GET', `/scans/${scan.body.id}/authentication-report`)).body;
    expect(report.hosts.map((h: { ip: string; status: string }) => [h.ip, h.status])).toEqual([
      [delegatedHost, 'PASSED'],
    ]);
    expect(sshds[2]!.log()).not.toMatch(/Failed password/);
    expect(beyondtrust.reads() - psReadsBefore).toBe(1);
    const reads = ((await env.api('GET', `/audit?scan=${scan.body.id}`)).body.items as Record<string, any>[]).filter(
      (e) => e.action === 'vault.read',
    );
    expect(reads.map((r) => r.recordId).sort()).toEqual([ss.body.id, ps.body.id].sort());

    // Back to the record's own item: the delegation can be removed, and then the vault can go.
    const cleared = await env.api('PATCH', `/auth-records/${record.body.id}`, { rootDelegation: null });
    expect(cleared.status, cleared.text).toBe(200);
    expect(cleared.body.rootDelegation).toBeNull();
  }, 180_000);

  // After the two scans above: what the last scan saw selects hosts for dynamic tags.
  it('dynamic tags select hosts by what the last scan saw: an OS, a technology passed or short of privileges', async () => {
    const hostsOf = async (rule: object) => {
      const tag = await env.api('POST', '/tags', {
        name: `t-${randomBytes(3).toString('hex')}`,
        kind: 'dynamic',
        rule,
      });
      expect(tag.status, tag.text).toBe(201);
      const hosts = (await env.api('GET', `/tags/${tag.body.id}/hosts`)).body.items as string[];
      const assets = (await env.api('GET', `/assets?tag=${tag.body.id}`)).body.items.map(
        (a: { name: string }) => a.name,
      );
      return { hosts, assets };
    };
    const osId = /^ID=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))![1]!.replace(/"/g, '');
    expect(await hostsOf({ conditions: [{ osFamily: osId }, { address: '127.0.4.0/24' }] })).toEqual({
      hosts: ['127.0.4.1', '127.0.4.2', '127.0.4.3'],
      assets: ['lending lab', 'delegation lab'],
    });
    expect(await hostsOf({ conditions: [{ technology: 'unix', outcome: 'passed' }] })).toEqual({
      hosts: ['127.0.4.3'],
      assets: ['delegation lab'],
    });
    expect(await hostsOf({ conditions: [{ technology: 'unix', outcome: 'insufficientPrivileges' }] })).toEqual({
      hosts: ['127.0.4.1', '127.0.4.2'],
      assets: ['lending lab'],
    });
    expect(
      await hostsOf({
        match: 'any',
        conditions: [{ technology: 'unix', outcome: 'failed' }, { osFamily: 'no-such-os' }],
      }),
    ).toEqual({ hosts: [], assets: [] });
  });
});
