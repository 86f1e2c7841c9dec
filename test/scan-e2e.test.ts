// The foundation's promise, end to end through the real parts: hosts, a HashiCorp Vault
// (OpenBao) record and Unix authentication records registered through the REST API; a scan
// over six loopback hosts; per-host results and the Authentication Report; the planted
// password and the vault token nowhere in histories, logs, the database or temp files.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import protos from '@temporalio/proto';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { startOpenBao, type OpenBaoServer } from './harness/openbao.js';
import { cleanupAll, createTestUser, startSshd, type SshdServer } from './harness/ssh-targets.js';
import { freePort } from '../runtime/net.js';
import { EncryptionCodec } from '../temporal/encryption-codec.js';
import { parseKeyring } from '../temporal/keyring.js';
import { keyFilePath, loadApplianceKey } from '../workers/appliance/appliance-key.js';
import { openGrant, type SealedGrant } from '../activities/secrets/sealed-access.js';
import { decodedPayloads } from './harness/history-payloads.js';
import { profileRepo, profileSettings, scanRepo } from '../db/repositories/index.js';
import { CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';
import type { scanWorkflow } from '../workflows/scan.js';

let env: ScanEnvironment;
const suiteStartedAt = Date.now();
let bao: OpenBaoServer;
const sshds: SshdServer[] = [];
const plantedPassword = `vstest-planted-${randomBytes(12).toString('hex')}`;
const suffix = randomBytes(3).toString('hex');
let vaultToken: string;
let approle: { roleId: string; secretId: string };
let applianceId: string;

const hosts = {
  passed: '127.0.0.2',
  insufficient: '127.0.0.3',
  wrongPassword: '127.0.0.4',
  missingSecret: '127.0.0.5',
  unreachable: '127.0.0.6',
  notAttempted: '127.0.0.7',
};

/** The sealed grants a decoded payload carries (a seal's result), if any. */
function sealedGrantsIn(payload: Buffer): SealedGrant[] {
  try {
    const value = JSON.parse(payload.toString('utf8')) as { grants?: SealedGrant[] };
    return Array.isArray(value?.grants) ? value.grants : [];
  } catch {
    return [];
  }
}

/** Polls a workflow's history until an activity of that type has completed. */
async function waitForActivity(workflowId: string, activity: string, timeoutMs = 60_000): Promise<boolean> {
  const handle = env.client.workflow.getHandle(workflowId);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const events = (await handle.fetchHistory()).events ?? [];
      const scheduled = new Set(
        events
          .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activity)
          .map((e) => String(e.eventId)),
      );
      if (events.some((e) => scheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId))))
        return true;
    } catch {
      /* not started yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** The batch workflow that scans a host, found the way an operator would: by search attribute. */
async function workflowScanning(scanId: string, ip: string, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for await (const wf of env.client.workflow.list({
      query: `VaultscanScanId = "${scanId}" AND VaultscanTargetIps = "${ip}"`,
    }))
      return wf.workflowId;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no workflow of scan ${scanId} scans ${ip}`);
}

async function waitForScan(id: string, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const scan = (await env.api('GET', `/scans/${id}`)).body;
    if (['FINISHED', 'CANCELED', 'FAILED'].includes(scan.status)) return scan;
    if (Date.now() > deadline) throw new Error(`scan ${id} still ${scan.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

beforeAll(async () => {
  await cleanupAll();
  bao = await startOpenBao();
  env = await startScanEnvironment();

  // The vault: a token whose policy reads only the scanner's KV paths.
  await bao.writeKv2('secret', 'servers/admin', { password: plantedPassword });
  await bao.writeKv2('secret', 'servers/plain', { password: `plain-${suffix}-pw` });
  await bao.writeKv2('secret', 'servers/wrong', { password: 'not-the-real-password' });
  vaultToken = await bao.createToken(['scanner-read'], 'path "secret/data/servers/*" { capabilities = ["read"] }');
  approle = await bao.createAppRole('scanner', 'path "secret/data/servers/*" { capabilities = ["read"] }');

  // The targets: real users on real sshd processes, one loopback address each.
  await createTestUser({ name: `vstest-admin-${suffix}`, password: plantedPassword, sudo: 'password' });
  await createTestUser({ name: `vstest-plain-${suffix}`, password: `plain-${suffix}-pw`, sudo: 'none' });
  await createTestUser({ name: `vstest-wrong-${suffix}`, password: `real-${suffix}-pw`, sudo: 'none' });
  for (const address of [hosts.passed, hosts.insufficient, hosts.wrongPassword, hosts.missingSecret])
    sshds.push(await startSshd({ address }));

  applianceId = (await env.api('POST', '/appliances', { name: 'e2e', description: 'test appliance' })).body.id;
  await env.startAppliance(applianceId);
}, 240_000);

afterAll(async () => {
  await env?.stop();
  await Promise.all(sshds.map((s) => s.stop()));
  await bao?.stop();
  await cleanupAll();
});

describe('a scan over six loopback hosts', () => {
  let scanId: string;

  it('gives exactly the expected category for each host', async () => {
    expect((await env.api('POST', '/assets', { name: 'loopback lab', value: '127.0.0.2-127.0.0.7' })).status).toBe(201);
    const vault = await env.api('POST', '/vaults', {
      name: 'openbao',
      type: 'hashicorp',
      config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
      access: { token: vaultToken },
    });
    expect(vault.status, vault.text).toBe(201);
    // The same vault through AppRole: its secret id is a vault access secret too.
    const viaAppRole = await env.api('POST', '/vaults', {
      name: 'openbao approle',
      type: 'hashicorp',
      config: { url: bao.url, authMethod: 'approle', roleId: approle.roleId, allowInsecureHttp: true },
      access: { secretId: approle.secretId },
    });
    expect(viaAppRole.status, viaAppRole.text).toBe(201);
    const port = (ip: string) => sshds.find((s) => s.address === ip)?.port;
    const unreachablePort = await freePort(hosts.unreachable);
    const records = [
      { ip: hosts.passed, user: `vstest-admin-${suffix}`, path: 'servers/admin', port: port(hosts.passed) },
      {
        ip: hosts.insufficient,
        user: `vstest-plain-${suffix}`,
        path: 'servers/plain',
        port: port(hosts.insufficient),
        vaultId: viaAppRole.body.id,
      },
      {
        ip: hosts.wrongPassword,
        user: `vstest-wrong-${suffix}`,
        path: 'servers/wrong',
        port: port(hosts.wrongPassword),
      },
      {
        ip: hosts.missingSecret,
        user: `vstest-admin-${suffix}`,
        path: 'servers/does-not-exist',
        port: port(hosts.missingSecret),
      },
      { ip: hosts.unreachable, user: `vstest-admin-${suffix}`, path: 'servers/admin', port: unreachablePort },
    ];
    for (const r of records) {
      const res = await env.api('POST', '/auth-records', {
        name: `unix ${r.ip}`,
        technology: 'unix',
        targets: r.ip,
        username: r.user,
        port: r.port,
        vaultId: r.vaultId ?? vault.body.id,
        locator: { mount: 'secret', path: r.path },
        fields: { password: 'password' },
      });
      expect(res.status, res.text).toBe(201);
    }
    const profile = await env.api('POST', '/option-profiles', {
      // 2 in parallel: batches of two hosts, so batching is exercised end to end.
      name: 'e2e',
      technologies: ['unix'],
      maxParallelHosts: 2,
      timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 5_000, applianceLostMs: 5_000, heartbeatMs: 3_000 },
      retry: { maxAttempts: 2, initialIntervalMs: 200, maxIntervalMs: 1_000 },
    });
    const launched = await env.api('POST', '/scans', {
      title: 'e2e',
      targets: '127.0.0.2-127.0.0.7',
      optionProfileId: profile.body.id,
      applianceId,
    });
    expect(launched.status, launched.text).toBe(202);
    expect(launched.body.warnings).toEqual([]);
    scanId = launched.body.id;

    const scan = await waitForScan(scanId);
    expect(scan.status).toBe('FINISHED');
    await env.saveHistories(`scan-${scanId}`, 'e2e-scan');
    for (const [name, ip] of Object.entries(hosts)) {
      if (name !== 'notAttempted') await env.saveHistories(`scan-${scanId}/unix/${ip}`, `e2e-batch-${name}`);
    }
    expect(scan.progress.counts).toEqual({
      PASSED: 1,
      INSUFFICIENT_PRIVILEGES: 1,
      FAILED: 2,
      NOT_ATTEMPTED: 1,
      UNREACHABLE: 1,
    });

    const report = (await env.api('GET', `/scans/${scanId}/authentication-report`)).body;
    const byIp = Object.fromEntries(report.hosts.map((h: { ip: string }) => [h.ip, h]));
    expect(byIp[hosts.passed]).toMatchObject({ status: 'PASSED', errorCode: null, login: `vstest-admin-${suffix}` });
    expect(byIp[hosts.insufficient]).toMatchObject({
      status: 'INSUFFICIENT_PRIVILEGES',
      errorCode: 'DELEGATION_NOT_CONFIGURED',
    });
    expect(byIp[hosts.wrongPassword]).toMatchObject({ status: 'FAILED', errorCode: 'AUTH_FAILED' });
    expect(byIp[hosts.missingSecret]).toMatchObject({
      status: 'FAILED',
      errorCode: 'VAULT_SECRET_NOT_FOUND',
      vendorCode: expect.any(String),
    });
    expect(byIp[hosts.unreachable]).toMatchObject({
      status: 'UNREACHABLE',
      errorCode: 'TARGET_UNREACHABLE',
      attempts: 2,
    });
    expect(byIp[hosts.notAttempted]).toMatchObject({ status: 'NOT_ATTEMPTED', errorCode: 'NO_AUTH_RECORD' });

    const results = (await env.api('GET', `/scans/${scanId}/results`)).body.items;
    const passed = results.find((r: { ip: string }) => r.ip === hosts.passed);
    const localOs = /^ID=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))![1]!.replace(/"/g, '');
    expect(passed.collected.facts['os.id']).toBe(localOs);
    const sshVersion = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'openssh-server']).toString();
    expect(passed.collected.packages).toContainEqual(
      expect.objectContaining({ name: 'openssh-server', version: sshVersion }),
    );
    const missing = results.find((r: { ip: string }) => r.ip === hosts.missingSecret);
    expect(missing.attempts[0]).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', httpStatus: 404 });
    // This lab vault speaks plain http (allowInsecureHttp): every secret it served is flagged.
    expect(passed.flags).toEqual(['VAULT_PLAIN_HTTP']);
    expect(byIp[hosts.passed].flags).toBe('VAULT_PLAIN_HTTP');
    expect(byIp[hosts.passed].remedy).toBeNull();
    expect(byIp[hosts.wrongPassword].remedy).toMatch(/Make the account and the secret in the vault agree/);

    // Every vault read is in the audit trail: which record, where, for how many hosts, how it ended.
    const reads = ((await env.api('GET', `/audit?scan=${scanId}`)).body.items as Record<string, any>[]).filter(
      (e) => e.action === 'vault.read',
    );
    // One read per distinct credential in the scan: five records, but the passed and the
    // unreachable host's records name the same item of the same vault. Every other use of it
    // (the other record's batch, the unreachable host's retry) was served by the appliance's cache.
    expect(reads).toHaveLength(4);
    const cachedUses = ((await env.api('GET', `/audit?scan=${scanId}`)).body.items as Record<string, any>[]).filter(
      (e) => e.action === 'vault.cached-use',
    );
    expect(cachedUses).toHaveLength(2);
    for (const use of cachedUses)
      expect(use).toMatchObject({
        recordId: vault.body.id,
        outcome: 'success',
        detail: expect.objectContaining({ locator: { mount: 'secret', path: 'servers/admin' }, hosts: 1 }),
      });
    expect(reads).toContainEqual(
      expect.objectContaining({
        actorName: `appliance ${applianceId}`,
        applianceId,
        recordId: vault.body.id,
        outcome: 'failed',
        detail: expect.objectContaining({
          locator: { mount: 'secret', path: 'servers/does-not-exist' },
          hosts: 1,
          code: 'VAULT_SECRET_NOT_FOUND',
          plainHttp: true,
        }),
      }),
    );
    expect(reads.filter((r) => r.recordId === viaAppRole.body.id)).toEqual([
      expect.objectContaining({ outcome: 'success', detail: expect.objectContaining({ hosts: 1, code: null }) }),
    ]);
    expect((await env.api('GET', '/audit/verify')).body.intact).toBe(true);

    // Trust on first use: the hosts that logged in had their SSH host keys pinned; the host
    // that rejected the password did not (its key was never vouched for by a login).
    const pinned = (await env.api('GET', '/known-host-keys')).body.items;
    expect(pinned).toEqual(
      [hosts.passed, hosts.insufficient].map((ip) =>
        expect.objectContaining({
          ip,
          port: port(ip),
          sha256: `SHA256:${sshds.find((s) => s.address === ip)!.hostKeySha256}`,
          source: 'learned',
          learnedInScanId: scanId,
        }),
      ),
    );
  });

  it('leaves the target password and the vault access secrets nowhere: histories (also decoded), logs, database, temp files', async () => {
    const needles = [plantedPassword, vaultToken, approle.secretId];
    // Every workflow history of the scan, as the server stores it.
    const histories: Buffer[] = [];
    const decoded: Buffer[] = [];
    const codec = new EncryptionCodec(parseKeyring(env.codecKeys, 'test'), { acceptPlaintext: true });
    const ids = [`scan-${scanId}`];
    const scannedIps: string[] = [];
    for await (const wf of env.client.workflow.list({ query: `VaultscanScanId = "${scanId}"` })) {
      ids.push(wf.workflowId);
      scannedIps.push(...((wf.searchAttributes.VaultscanTargetIps as string[] | undefined) ?? []));
    }
    // Five covered hosts, each of its own record: batches are one record's, so five batch
    // workflows, each host in exactly one.
    expect(new Set(ids).size).toBe(6);
    expect(scannedIps.sort()).toEqual(
      [hosts.passed, hosts.insufficient, hosts.wrongPassword, hosts.missingSecret, hosts.unreachable].sort(),
    );
    const grants: { sealed: SealedGrant; workflowId: string; runId: string }[] = [];
    for (const id of new Set(ids)) {
      const handle = env.client.workflow.getHandle(id);
      const history = await handle.fetchHistory();
      histories.push(Buffer.from(protos.temporal.api.history.v1.History.encode(history).finish()));
      // As the Web UI shows it to anyone who may decode: every payload through the codec.
      const payloads = await decodedPayloads(history, codec);
      decoded.push(...payloads);
      const { runId } = await handle.describe();
      for (const sealed of payloads.flatMap(sealedGrantsIn)) grants.push({ sealed, workflowId: id, runId });
    }
    for (const h of histories) for (const n of needles) expect(h.includes(n), `history contains a secret`).toBe(false);
    for (const d of decoded)
      for (const n of needles) expect(d.includes(n), `decoded history holds a secret`).toBe(false);

    // The search is live: decoded payloads do show what they carry in the clear (the records'
    // user names), and the vault access secrets were in those histories, sealed to the
    // appliance: its own private key opens the grants and finds the token and the secret id.
    const everything = Buffer.concat(decoded);
    expect(everything.includes(`vstest-admin-${suffix}`)).toBe(true);
    const key = await loadApplianceKey({ file: keyFilePath(env.applianceDataDir(applianceId), applianceId) });
    expect(grants.length).toBeGreaterThanOrEqual(3);
    const opened = await Promise.all(
      grants.map(({ sealed, workflowId, runId }) =>
        openGrant(sealed, key.current()!, { applianceId, scanId, workflowId, runId }).then((g) => JSON.stringify(g)),
      ),
    );
    expect(opened.some((text) => text.includes(vaultToken))).toBe(true);
    expect(opened.some((text) => text.includes(approle.secretId))).toBe(true);

    for (const file of env.logFiles) {
      const text = readFileSync(file, 'utf8');
      expect(text.length).toBeGreaterThan(0);
      for (const n of needles) expect(text.includes(n), `${file} contains a secret`).toBe(false);
    }

    const tables = (await env.database.query("select tablename from pg_tables where schemaname = 'public'")).map((r) =>
      String(r.tablename),
    );
    expect(tables).toEqual(expect.arrayContaining(['vault_records', 'host_results', 'host_attempts', 'host_packages']));
    for (const table of tables) {
      const dump = JSON.stringify(await env.database.query(`select * from "${table}"`));
      for (const n of needles) expect(dump.includes(n), `table ${table} contains a secret`).toBe(false);
    }

    // Every file written under the temp folder since the suite started (logs, keys, configs).
    const written = execFileSync(
      'find',
      [tmpdir(), '-xdev', '-type', 'f', '-newermt', `@${suiteStartedAt / 1000}`, '-size', '-50M', '-print0'],
      { maxBuffer: 64 * 1024 * 1024 },
    )
      .toString()
      .split('\0')
      .filter(Boolean);
    expect(written.length).toBeGreaterThan(0);
    const hits = written.filter((file) => {
      try {
        const bytes = readFileSync(file);
        return needles.some((n) => bytes.includes(n));
      } catch {
        return false; // gone or unreadable (a socket, a file another process just removed)
      }
    });
    expect(hits).toEqual([]);
  });
});

describe('an appliance worker killed while it holds a secret', () => {
  it('is replaced, and the scan completes with each host published exactly once', async () => {
    const user = `vstest-slow-${suffix}`;
    await createTestUser({ name: user, password: `slow-${suffix}-pw`, sudo: 'password' });
    // Every command on this host takes two seconds more: a wide window in which the
    // appliance holds the fetched secret between the fetch and the purge.
    execFileSync('bash', ['-c', `printf 'sleep 2\\n' > /home/${user}/.bashrc && chown ${user} /home/${user}/.bashrc`]);
    await bao.writeKv2('secret', 'servers/slow', { password: `slow-${suffix}-pw` });
    const sshd = await startSshd({ address: '127.0.0.8' });
    sshds.push(sshd);
    await env.api('POST', '/assets', { name: 'slow host', value: '127.0.0.8' });
    const vaultId = (await env.api('GET', '/vaults')).body.items.find((v: { name: string }) => v.name === 'openbao').id;
    await env.api('POST', '/auth-records', {
      name: 'unix slow',
      technology: 'unix',
      targets: '127.0.0.8',
      username: user,
      port: sshd.port,
      vaultId,
      locator: { path: 'servers/slow' },
      fields: { password: 'password' },
    });
    const profile = (await env.api('GET', '/option-profiles')).body.items.find(
      (p: { name: string }) => p.name === 'e2e',
    );
    const launched = await env.api('POST', '/scans', {
      title: 'kill',
      targets: '127.0.0.8, 127.0.0.2',
      optionProfileId: profile.id,
      applianceId,
    });
    const scanId = launched.body.id as string;

    // Wait until the secret is held: fetchCredentials has completed for the slow host's batch.
    const batch = await workflowScanning(scanId, '127.0.0.8');
    expect(batch).toBe(`scan-${scanId}/unix/127.0.0.8`);
    expect(await waitForActivity(batch, 'fetchCredentials')).toBe(true);
    await env.killAppliances('SIGKILL');
    await env.startAppliance(applianceId);

    const scan = await waitForScan(scanId);
    expect(scan.status).toBe('FINISHED');
    await env.saveHistories(batch, 'e2e-batch-appliance-lost');
    const rows = await env.database.query(
      `select ip, category from host_results where scan_id = '${scanId}' order by ip`,
    );
    expect(rows).toEqual([
      { ip: '127.0.0.2', category: 'PASSED' },
      { ip: '127.0.0.8', category: 'PASSED' },
    ]);
    // The slow host's batch was on the lost worker: it starts over, and says so. (The other
    // host's batch may or may not have been in flight when the worker died.)
    const results = (await env.api('GET', `/scans/${scanId}/results`)).body.items;
    const slow = results.find((r: { ip: string }) => r.ip === '127.0.0.8');
    expect(slow.attempts.map((a: { code: string | null }) => a.code)).toEqual(['APPLIANCE_LOST', null]);
  });
});

describe('a wrong password in the vault for a record over twenty hosts', () => {
  it("costs at most maxFailedLogins failed logins in all the hosts' logs together; the other hosts are not tried", async () => {
    const user = `vstest-lock-${suffix}`;
    await createTestUser({ name: user, password: `lock-${suffix}-right`, sudo: 'none' });
    await bao.writeKv2('secret', 'servers/lockout', { password: `lock-${suffix}-wrong` });
    // One record, one port: each host listens on its own loopback address, all on the same port.
    const port = await freePort('127.0.1.1');
    const hosts: SshdServer[] = [];
    for (let i = 1; i <= 20; i++) hosts.push(await startSshd({ address: `127.0.1.${i}`, port, logLevel: 'INFO' }));
    sshds.push(...hosts);
    await env.api('POST', '/assets', { name: 'lockout fleet', value: '127.0.1.1-127.0.1.20' });
    const vaultId = (await env.api('GET', '/vaults')).body.items.find((v: { name: string }) => v.name === 'openbao').id;
    const record = await env.api('POST', '/auth-records', {
      name: 'directory account',
      technology: 'unix',
      targets: '127.0.1.1-127.0.1.20',
      username: user,
      port,
      vaultId,
      locator: { path: 'servers/lockout' },
      fields: { password: 'password' },
    });
    expect(record.status, record.text).toBe(201);
    const profile = await env.api('POST', '/option-profiles', {
      name: 'lockout',
      technologies: ['unix'],
      maxParallelHosts: 10,
      maxFailedLogins: 3,
      timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 5_000 },
      retry: { maxAttempts: 3, initialIntervalMs: 100, maxIntervalMs: 500 },
    });
    const launched = await env.api('POST', '/scans', {
      title: 'lockout',
      targets: '127.0.1.1-127.0.1.20',
      optionProfileId: profile.body.id,
      applianceId,
    });
    const scan = await waitForScan(launched.body.id);
    expect(scan.status).toBe('FINISHED');
    await env.saveHistories(`scan-${scan.id}`, 'e2e-scan-credential-suspended');

    // What the administrator of the directory account would count: failed logins, in every log.
    const failedLogins = hosts.flatMap((h) => h.log().match(/Failed (password|keyboard-interactive\/pam) for/g) ?? []);
    expect(failedLogins.length).toBeGreaterThan(0);
    expect(failedLogins.length).toBeLessThanOrEqual(3);
    const report = (await env.api('GET', `/scans/${scan.id}/authentication-report`)).body.hosts;
    const byCode = (code: string) => report.filter((h: { errorCode: string }) => h.errorCode === code);
    expect(byCode('AUTH_FAILED')).toHaveLength(failedLogins.length);
    expect(byCode('CREDENTIAL_SUSPENDED')).toHaveLength(20 - failedLogins.length);
    expect(byCode('CREDENTIAL_SUSPENDED')[0]).toMatchObject({
      status: 'FAILED',
      attempts: 0,
      cause: expect.stringMatching(/failed 3 logins in a row in this scan/),
      remedy: expect.stringMatching(/Fix the secret in the vault/),
    });
    await Promise.all(hosts.map((h) => h.stop()));
  }, 180_000);
});

describe('a scan that continues as new with batches in flight', () => {
  it('drains the batches, carries the queued hosts and the credential breaker into the next run: one result per host, no extra failed login', async () => {
    const user = `vstest-can-${suffix}`;
    await createTestUser({ name: user, password: `can-${suffix}-right`, sudo: 'none' });
    await bao.writeKv2('secret', 'servers/can-right', { password: `can-${suffix}-right` });
    await bao.writeKv2('secret', 'servers/can-wrong', { password: `can-${suffix}-wrong` });
    const port = await freePort('127.0.2.1');
    const hosts: SshdServer[] = [];
    for (let i = 1; i <= 8; i++) hosts.push(await startSshd({ address: `127.0.2.${i}`, port, logLevel: 'INFO' }));
    sshds.push(...hosts);
    await env.api('POST', '/assets', { name: 'continue-as-new lab', value: '127.0.2.1-127.0.2.8' });
    const vaultId = (await env.api('GET', '/vaults')).body.items.find((v: { name: string }) => v.name === 'openbao').id;
    // .1-.4: a password the vault has wrong; .5-.8: the right one.
    for (const [name, targets, path] of [
      ['can wrong', '127.0.2.1-127.0.2.4', 'servers/can-wrong'],
      ['can right', '127.0.2.5-127.0.2.8', 'servers/can-right'],
    ] as const) {
      const record = await env.api('POST', '/auth-records', {
        name,
        technology: 'unix',
        targets,
        username: user,
        port,
        vaultId,
        locator: { path },
        fields: { password: 'password' },
      });
      expect(record.status, record.text).toBe(201);
    }
    const profile = await env.api('POST', '/option-profiles', {
      name: 'continue-as-new',
      technologies: ['unix'],
      maxParallelHosts: 2,
      maxFailedLogins: 2,
      timeouts: { connectMs: 10_000, commandMs: 30_000, vaultMs: 5_000 },
      retry: { maxAttempts: 2, initialIntervalMs: 100, maxIntervalMs: 500 },
    });
    expect(profile.status, profile.text).toBe(201);
    // The API launches with a run length fit for 100,000 hosts; this scan is started as the
    // API starts it, but with two batches a run, so the first run ends with two batches out:
    // the wrong record's first batch (its breaker allows two logins) and the right record's.
    const db = env.database.db;
    const scan = await scanRepo.create(db, {
      title: 'continue as new',
      targets: '127.0.2.1-127.0.2.8',
      optionProfileId: profile.body.id,
      applianceId,
    });
    const handle = await env.client.workflow.start<typeof scanWorkflow>('scanWorkflow', {
      taskQueue: CONTROL_PLANE_QUEUE,
      workflowId: `scan-${scan.id}`,
      args: [
        {
          scanId: scan.id,
          applianceId,
          profile: profileSettings(await profileRepo.get(db, profile.body.id)),
          totalHosts: scan.hostCount,
          batchesPerRun: 2,
        },
      ],
    });
    const summary = await handle.result();
    await env.saveHistories(handle.workflowId, 'e2e-continue-as-new');

    const runs: string[] = [];
    for await (const wf of env.client.workflow.list({ query: `WorkflowId = "${handle.workflowId}"` }))
      runs.push(wf.runId);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    const firstRun = await env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId).fetchHistory();
    const firstEvents = firstRun.events ?? [];
    expect(firstEvents.at(-1)?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
    // Two batches were out when the first run decided to continue, and both ended in it.
    const childrenStarted = firstEvents.filter((e) => e.childWorkflowExecutionStartedEventAttributes).length;
    const childrenCompleted = firstEvents.filter((e) => e.childWorkflowExecutionCompletedEventAttributes).length;
    expect([childrenStarted, childrenCompleted]).toEqual([2, 2]);

    // The account has no sudo: its logins succeed and its privileges fall short, which is
    // all this scan needs to tell a login from a refusal.
    expect(summary).toEqual({
      scanId: scan.id,
      status: 'FINISHED',
      totalHosts: 8,
      counts: { PASSED: 0, INSUFFICIENT_PRIVILEGES: 4, FAILED: 4, NOT_ATTEMPTED: 0, UNREACHABLE: 0 },
    });
    expect((await env.api('GET', `/scans/${scan.id}`)).body).toMatchObject({
      status: 'FINISHED',
      progress: { doneHosts: 8, totalHosts: 8, counts: { ...summary.counts } },
    });
    const report = (await env.api('GET', `/scans/${scan.id}/authentication-report`)).body.hosts as {
      ip: string;
      status: string;
      errorCode: string | null;
      attempts: number;
    }[];
    expect(report.map((h) => [h.ip, h.status, h.errorCode, h.attempts])).toEqual([
      ['127.0.2.1', 'FAILED', 'AUTH_FAILED', 1],
      ['127.0.2.2', 'FAILED', 'AUTH_FAILED', 1],
      ['127.0.2.3', 'FAILED', 'CREDENTIAL_SUSPENDED', 0],
      ['127.0.2.4', 'FAILED', 'CREDENTIAL_SUSPENDED', 0],
      ...['5', '6', '7', '8'].map((n) => [`127.0.2.${n}`, 'INSUFFICIENT_PRIVILEGES', 'DELEGATION_NOT_CONFIGURED', 1]),
    ]);
    // The suspension was decided in the first run and honoured in the next: two failed logins
    // in all the logs, the hosts of the second run never tried.
    const failedLogins = hosts.flatMap((h) => h.log().match(/Failed (password|keyboard-interactive\/pam) for/g) ?? []);
    expect(failedLogins).toHaveLength(2);
    for (const h of hosts.slice(2, 4)) expect(h.log()).not.toMatch(new RegExp(user));
    await Promise.all(hosts.map((h) => h.stop()));
  }, 180_000);
});

describe('a password rotated in the vault and on the host mid-scan', () => {
  it('is noticed when the host refuses the cached one: the vault is read again and the host retried once, both tries in its attempts', async () => {
    const user = `vstest-rot-${suffix}`;
    const before = `rot-${suffix}-before`;
    const after = `rot-${suffix}-after`;
    await createTestUser({ name: user, password: before, sudo: 'none' });
    await bao.writeKv2('secret', 'servers/rotating', { password: before });
    const address = '127.0.3.1';
    const port = await freePort(address);
    await env.api('POST', '/assets', { name: 'rotation lab', value: address });
    // Its own vault record, so the test also runs alone.
    const vault = await env.api('POST', '/vaults', {
      name: 'openbao rotation',
      type: 'hashicorp',
      config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
      access: { token: vaultToken },
    });
    expect(vault.status, vault.text).toBe(201);
    const vaultId = vault.body.id;
    const record = await env.api('POST', '/auth-records', {
      name: 'rotating',
      technology: 'unix',
      targets: address,
      username: user,
      port,
      vaultId,
      locator: { path: 'servers/rotating' },
      fields: { password: 'password' },
    });
    expect(record.status, record.text).toBe(201);
    // Long enough between tries for the rotation to happen while the host is down.
    const profile = await env.api('POST', '/option-profiles', {
      name: 'rotation',
      technologies: ['unix'],
      maxParallelHosts: 1,
      timeouts: { connectMs: 5_000, commandMs: 30_000, vaultMs: 5_000 },
      retry: { maxAttempts: 3, initialIntervalMs: 5_000, maxIntervalMs: 5_000 },
    });
    expect(profile.status, profile.text).toBe(201);
    // The host is down at first: the vault is read (and the secret cached), the login cannot start.
    const scan = await env.api('POST', '/scans', {
      title: 'rotation',
      targets: address,
      optionProfileId: profile.body.id,
      applianceId,
    });
    expect(scan.status, scan.text).toBe(202);
    const batch = await workflowScanning(scan.body.id, address);
    expect(await waitForActivity(batch, 'loginAndCollect')).toBe(true);
    // Now the password is rotated, in the vault and on the host, and the host comes up.
    await bao.writeKv2('secret', 'servers/rotating', { password: after });
    execFileSync('chpasswd', { input: `${user}:${after}\n` });
    const sshd = await startSshd({ address, port, logLevel: 'INFO' });
    sshds.push(sshd);

    const done = await waitForScan(scan.body.id);
    expect(done.status).toBe('FINISHED');
    const results = (await env.api('GET', `/scans/${scan.body.id}/results`)).body.items;
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ ip: address, category: 'INSUFFICIENT_PRIVILEGES', login: user });
    expect(results[0].attempts.map((a: { code: string | null }) => a.code)).toEqual([
      'TARGET_UNREACHABLE',
      'AUTH_FAILED',
      'DELEGATION_NOT_CONFIGURED', // logged in; sudo does not know the account
    ]);
    // One refusal (the cached secret), then the rotated one logged in.
    expect(sshd.log().match(/Failed (password|keyboard-interactive\/pam) for/g)).toHaveLength(1);
    expect(sshd.log().match(/Accepted (password|keyboard-interactive\/pam) for/g)).toHaveLength(1);
    // The vault was read twice: the first read, then the check after the refusal.
    const trail = (await env.api('GET', `/audit?scan=${scan.body.id}`)).body.items as { action: string }[];
    expect(trail.filter((e) => e.action === 'vault.read')).toHaveLength(2);
    await sshd.stop();
  }, 120_000);
});

describe('testing a vault record from the appliance', () => {
  it('answers ok or the code, vendor code and cause, from a worker on the appliance queue, never a secret, and audits each test', async () => {
    const good = await env.api('POST', '/vaults', {
      name: 'openbao test',
      type: 'hashicorp',
      config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
      access: { token: vaultToken },
    });
    expect(good.status, good.text).toBe(201);
    const revoked = await env.api('POST', '/vaults', {
      name: 'openbao revoked token',
      type: 'hashicorp',
      config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
      access: { token: 'vstest-not-a-token' },
    });
    const test = (id: string, body: unknown) => env.api('POST', `/vaults/${id}/test`, body);

    const login = await test(good.body.id, { applianceId });
    expect(login.status, login.text).toBe(200);
    expect(login.body, login.text).toMatchObject({
      ok: true,
      code: null,
      vaultId: good.body.id,
      applianceId,
      fields: [],
    });
    const read = await test(good.body.id, {
      applianceId,
      item: { locator: { path: 'servers/admin' }, fields: { password: 'password', privateKey: 'absent' } },
    });
    expect(read.body).toMatchObject({ ok: false, code: 'VAULT_SECRET_NOT_FOUND' });
    expect(read.body.cause).toMatch(/no field "absent"/);
    const item = await test(good.body.id, {
      applianceId,
      item: { locator: { path: 'servers/admin' }, fields: { password: 'password' } },
    });
    expect(item.body).toMatchObject({ ok: true, fields: ['password'] });
    for (const answer of [login, read, item]) {
      expect(answer.text).not.toContain(plantedPassword);
      expect(answer.text).not.toContain(vaultToken);
    }
    const denied = await test(revoked.body.id, { applianceId });
    expect(denied.body).toMatchObject({
      ok: false,
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'permission denied',
      httpStatus: 403,
    });
    const missing = await test(good.body.id, {
      item: { locator: { path: 'servers/none' }, fields: { password: 'password' } },
      applianceId,
    });
    expect(missing.body).toMatchObject({ ok: false, code: 'VAULT_SECRET_NOT_FOUND', httpStatus: 404 });

    // It ran on the appliance: the test's activity was on its queue, and its history holds no secret.
    const history = await env.client.workflow.getHandle(`vault-test-${item.body.testId}`).fetchHistory();
    await env.saveHistories(`vault-test-${item.body.testId}`, 'e2e-vault-test');
    const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes).filter(Boolean);
    expect(scheduled.map((a) => [a!.activityType?.name, a!.taskQueue?.name])).toEqual([
      ['testVault', `appliance.${applianceId}`],
    ]);
    const codec = new EncryptionCodec(parseKeyring(env.codecKeys, 'test'), { acceptPlaintext: true });
    const decoded = await decodedPayloads(history, codec);
    for (const payload of decoded) {
      expect(payload.toString('utf8')).not.toContain(vaultToken);
      expect(payload.toString('utf8')).not.toContain(plantedPassword);
    }

    // Bad input: 400 naming the field, nothing run.
    const badLocator = await test(good.body.id, {
      applianceId,
      item: { locator: { path: '../etc' }, fields: { password: 'p' } },
    });
    expect(badLocator.status).toBe(400);
    expect(badLocator.body.field).toBe('item.locator.path');
    const noAppliance = await test(good.body.id, { applianceId: '00000000-0000-4000-8000-000000000000' });
    expect([noAppliance.status, noAppliance.body.field]).toEqual([400, 'applianceId']);
    // An appliance with no worker answers at once, saying so.
    const idle = (await env.api('POST', '/appliances', { name: 'idle' })).body.id;
    const offline = await test(good.body.id, { applianceId: idle });
    expect(offline.body).toMatchObject({ ok: false, code: 'APPLIANCE_UNAVAILABLE' });
    await env.api('DELETE', `/appliances/${idle}`);

    // Each test is in the audit trail: who, which vault, which appliance, how it went.
    const trail = (await env.api('GET', `/audit?limit=100`)).body.items as Record<string, any>[];
    const tests = trail.filter((e) => e.action === 'POST /api/v1/vaults/:id/test' && e.outcome === 'success');
    expect(tests.map((e) => [e.recordId, e.detail.ok, e.detail.code]).reverse()).toEqual(
      expect.arrayContaining([
        [good.body.id, true, null],
        [revoked.body.id, false, 'VAULT_AUTH_FAILED'],
      ]),
    );
    expect(tests.find((e) => e.detail.testId === item.body.testId)).toMatchObject({
      applianceId,
      detail: { locator: { path: 'servers/admin' } },
    });
    expect(JSON.stringify(trail)).not.toContain(vaultToken);
  }, 120_000);
});

describe('cancelling a scan', () => {
  it('stops its hosts, purges the secret they hold, and ends CANCELED', async () => {
    const profile = (await env.api('GET', '/option-profiles')).body.items.find(
      (p: { name: string }) => p.name === 'e2e',
    );
    const launched = await env.api('POST', '/scans', {
      title: 'cancel me',
      targets: '127.0.0.8',
      optionProfileId: profile.id,
      applianceId,
    });
    const scanId = launched.body.id as string;
    const hostWorkflow = await workflowScanning(scanId, '127.0.0.8');
    expect(await waitForActivity(hostWorkflow, 'fetchCredentials')).toBe(true);
    const cancel = await env.api('POST', `/scans/${scanId}/cancel`);
    expect(cancel.status).toBe(202);
    const scan = await waitForScan(scanId, 60_000);
    expect(scan.status).toBe('CANCELED');
    await env.saveHistories(`scan-${scanId}`, 'e2e-scan-cancelled');
    await env.saveHistories(hostWorkflow, 'e2e-batch-cancelled');
    // The purge ran on the worker holding the secret although the host was cancelled.
    expect(await waitForActivity(hostWorkflow, 'purgeSecrets', 5_000)).toBe(true);
    expect((await env.client.workflow.getHandle(hostWorkflow).describe()).status.name).toBe('CANCELLED');
    expect((await env.api('POST', `/scans/${scanId}/cancel`)).status).toBe(409);
  });
});

describe('a host whose SSH host key changed', () => {
  it('fails HOST_KEY_MISMATCH without retrying or sending the password, until the operator removes the pinned key', async () => {
    const profile = (await env.api('GET', '/option-profiles')).body.items.find(
      (p: { name: string }) => p.name === 'e2e',
    );
    const old = sshds.find((s) => s.address === hosts.passed)!;
    const pinned = (await env.api('GET', `/known-host-keys?ip=${hosts.passed}`)).body.items;
    expect(pinned).toHaveLength(1);
    expect(pinned[0].sha256).toBe(`SHA256:${old.hostKeySha256}`);

    // Same address and port, a new host key: what a re-installed host, or an impostor, shows.
    await old.stop();
    const impostor = await startSshd({ address: hosts.passed, port: old.port, logLevel: 'INFO' });
    sshds.splice(sshds.indexOf(old), 1, impostor);
    const scan = async (title: string) => {
      const launched = await env.api('POST', '/scans', {
        title,
        targets: hosts.passed,
        optionProfileId: profile.id,
        applianceId,
      });
      const done = await waitForScan(launched.body.id);
      return (await env.api('GET', `/scans/${done.id}/results`)).body.items[0];
    };
    const refused = await scan('re-keyed');
    expect(refused).toMatchObject({ category: 'FAILED', errorCode: 'HOST_KEY_MISMATCH' });
    expect(refused.attempts).toHaveLength(1); // not retryable: it will not change by itself
    expect(refused.cause).toContain(`SHA256:${impostor.hostKeySha256}`);
    expect(impostor.log()).not.toMatch(/Accepted|Failed password|authenticat/i);

    // The operator confirms the change by removing the pinned key; the next login pins the new one.
    expect((await env.api('DELETE', `/known-host-keys/${pinned[0].id}`)).status).toBe(204);
    expect(await scan('after the operator accepted the new key')).toMatchObject({
      category: 'PASSED',
      errorCode: null,
    });
    const repinned = (await env.api('GET', `/known-host-keys?ip=${hosts.passed}`)).body.items;
    expect(repinned).toEqual([
      expect.objectContaining({ sha256: `SHA256:${impostor.hostKeySha256}`, source: 'learned' }),
    ]);
  });

  it('rejects a malformed pinned key with the field and the reason', async () => {
    const res = await env.api('POST', '/known-host-keys', {
      ip: '127.0.0.9',
      port: 22,
      sha256: 'SHA256:not-a-fingerprint-but-long-enough-to-pass-length',
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ field: 'sha256' });
    const ok = await env.api('POST', '/known-host-keys', {
      ip: '127.0.0.9',
      port: 22,
      sha256: `SHA256:${'B'.repeat(43)}`,
    });
    expect(ok.status, ok.text).toBe(201);
    expect(ok.body).toMatchObject({ source: 'operator', learnedInScanId: null });
    expect(
      (await env.api('POST', '/known-host-keys', { ip: '127.0.0.9', port: 22, sha256: `SHA256:${'C'.repeat(43)}` }))
        .status,
    ).toBe(409);
  });
});
