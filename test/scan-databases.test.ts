// Database technologies end to end, through the real parts: the API, Temporal, the control
// plane and an appliance process, the passwords read from OpenBao through the sealed path. One
// scan covers a private PostgreSQL cluster (TLS verify-full with the test's CA) on two addresses
// and the machine's MariaDB (default port, no TLS there). The first PostgreSQL address is also a
// Unix host (a real sshd): it is scanned with both technologies, one result each, and every host
// has a NOT_ATTEMPTED row for each technology of the profile no record covers it for.
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenBao, type OpenBaoServer } from './harness/openbao.js';
import { startPgCluster, type PgCluster } from './harness/pg-cluster.js';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { createCa, issueCertificate } from './harness/tls-certs.js';
import { cleanupAll, createTestUser, startSshd, type SshdServer } from './harness/ssh-targets.js';

const tag = randomBytes(3).toString('hex');
const hosts = { pgPassed: '127.0.5.1', pgWrongPassword: '127.0.5.2', mysql: '127.0.0.1' };
const pgRole = { name: `vstest_scan_pg_${tag}`, password: `pg-${randomBytes(9).toString('hex')}` };
const myAccount = { name: `vstest_scan_my_${tag}`, password: `my-${randomBytes(9).toString('hex')}` };
const wrongPassword = `wrong-${randomBytes(9).toString('hex')}`;
const unixUser = { name: `vstest-dbhost-${tag}`, password: `ux-${randomBytes(9).toString('hex')}` };
let sshd: SshdServer;
const MYSQL_ADMIN_URL = process.env.VAULTSCAN_TEST_MYSQL_ADMIN_URL ?? 'mysql://root@127.0.0.1:3306';

let dir: string;
let bao: OpenBaoServer;
let env: ScanEnvironment;
let pg: PgCluster;
let mariadb: mysql.Connection;
let caPem: string;
let certificateSha256: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vstest-scandb-'));
  const ca = createCa(dir, 'db-ca');
  const cert = issueCertificate(ca, dir, 'pg', 'server', [`IP:${hosts.pgPassed}`]);
  caPem = readFileSync(ca.cert, 'utf8');
  certificateSha256 = new X509Certificate(readFileSync(cert.cert)).fingerprint256;
  [bao, env, pg] = await Promise.all([
    startOpenBao(),
    startScanEnvironment(),
    startPgCluster({ address: hosts.pgPassed, alsoListenOn: [hosts.pgWrongPassword], tls: cert }),
  ]);
  await pg.admin.unsafe(`create role ${pgRole.name} login password '${pgRole.password}' in role pg_monitor`);
  mariadb = await mysql.createConnection(MYSQL_ADMIN_URL);
  await mariadb.query(`DROP USER IF EXISTS '${myAccount.name}'@'%'`);
  await mariadb.query(`CREATE USER '${myAccount.name}'@'%' IDENTIFIED BY '${myAccount.password}'`);
  await mariadb.query(`GRANT PROCESS ON *.* TO '${myAccount.name}'@'%'`);
  await bao.writeKv2('secret', 'db/postgres', { password: pgRole.password });
  await bao.writeKv2('secret', 'db/postgres-stale', { password: wrongPassword });
  await bao.writeKv2('secret', 'db/mysql', { password: myAccount.password });
  await cleanupAll();
  await createTestUser({ ...unixUser, sudo: 'password' });
  sshd = await startSshd({ address: hosts.pgPassed });
  await bao.writeKv2('secret', 'db/unix', { password: unixUser.password });
}, 240_000);

afterAll(async () => {
  await env?.stop();
  await sshd?.stop();
  await cleanupAll();
  await bao?.stop();
  await pg?.stop();
  if (mariadb) {
    await mariadb.query(`DROP USER IF EXISTS '${myAccount.name}'@'%'`);
    await mariadb.end();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function waitForScan(id: string, timeoutMs = 120_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const scan = (await env.api('GET', `/scans/${id}`)).body;
    if (['FINISHED', 'CANCELED', 'FAILED'].includes(scan.status)) return scan;
    if (Date.now() > deadline) throw new Error(`scan ${id} still ${scan.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('a scan of PostgreSQL and MySQL hosts', () => {
  it('logs in with the vault passwords, reports each host by category, and keeps the facts', async () => {
    const applianceId = (await env.api('POST', '/appliances', { name: 'databases' })).body.id;
    await env.startAppliance(applianceId);
    const dbLab = await env.api('POST', '/assets', { name: 'db lab', value: '127.0.5.1-127.0.5.2' });
    const mariadbAsset = await env.api('POST', '/assets', { name: 'mariadb', value: hosts.mysql });
    expect([dbLab.status, mariadbAsset.status]).toEqual([201, 201]);
    const vault = await env.api('POST', '/vaults', {
      name: 'openbao',
      type: 'hashicorp',
      config: { url: bao.url, authMethod: 'token', allowInsecureHttp: true },
      access: { token: await bao.createToken(['db-read'], 'path "secret/data/db/*" { capabilities = ["read"] }') },
    });
    expect(vault.status, vault.text).toBe(201);
    const records = [
      {
        name: 'postgres (verify-full)',
        technology: 'postgresql',
        targets: hosts.pgPassed,
        username: pgRole.name,
        port: pg.port,
        locator: { path: 'db/postgres' },
        settings: { tlsMode: 'verify-full', caCert: caPem },
      },
      {
        name: 'postgres (stale password)',
        technology: 'postgresql',
        targets: hosts.pgWrongPassword,
        username: pgRole.name,
        port: pg.port,
        locator: { path: 'db/postgres-stale' },
      },
      // The same address as a Unix host: its second technology.
      {
        name: 'db host over ssh',
        technology: 'unix',
        targets: hosts.pgPassed,
        username: unixUser.name,
        port: sshd.port,
        locator: { path: 'db/unix' },
      },
      // No port: MySQL's, 3306.
      {
        name: 'mariadb',
        technology: 'mysql',
        targets: hosts.mysql,
        username: myAccount.name,
        locator: { path: 'db/mysql' },
        settings: { tlsMode: 'disable' },
      },
    ];
    for (const record of records) {
      const res = await env.api('POST', '/auth-records', {
        ...record,
        vaultId: vault.body.id,
        fields: { password: 'password' },
      });
      expect(res.status, res.text).toBe(201);
    }
    const profile = await env.api('POST', '/option-profiles', {
      name: 'databases',
      technologies: ['unix', 'postgresql', 'mysql'],
      maxParallelHosts: 3,
      timeouts: { connectMs: 10_000, commandMs: 20_000, vaultMs: 10_000 },
      retry: { maxAttempts: 1, initialIntervalMs: 100, maxIntervalMs: 100 },
    });
    expect(profile.status, profile.text).toBe(201);
    const launched = await env.api('POST', '/scans', {
      title: 'databases',
      targets: `${hosts.mysql}, 127.0.5.1-127.0.5.2`,
      optionProfileId: profile.body.id,
      applianceId,
    });
    expect(launched.status, launched.text).toBe(202);
    const scan = await waitForScan(launched.body.id);
    expect(scan.status).toBe('FINISHED');
    // One result per host and technology: 3 hosts × 3 technologies of the profile.
    expect(scan.progress).toMatchObject({
      doneHosts: 3,
      doneResults: 9,
      counts: { PASSED: 2, INSUFFICIENT_PRIVILEGES: 1, FAILED: 1, NOT_ATTEMPTED: 5 },
    });

    // The Authentication Report: a category, the cause and its remedy, per host and technology.
    const report = (await env.api('GET', `/scans/${launched.body.id}/authentication-report`)).body;
    const rows = report.hosts as { ip: string; technology: string; status: string; errorCode: string | null }[];
    expect(rows.map((h) => [h.ip, h.technology, h.status, h.errorCode]).sort()).toEqual(
      [
        [hosts.mysql, 'mysql', 'INSUFFICIENT_PRIVILEGES', 'INSUFFICIENT_PRIVILEGES'],
        [hosts.mysql, 'postgresql', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
        [hosts.mysql, 'unix', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
        [hosts.pgPassed, 'mysql', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
        [hosts.pgPassed, 'postgresql', 'PASSED', null],
        [hosts.pgPassed, 'unix', 'PASSED', null],
        [hosts.pgWrongPassword, 'mysql', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
        [hosts.pgWrongPassword, 'postgresql', 'FAILED', 'AUTH_FAILED'],
        [hosts.pgWrongPassword, 'unix', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
      ].sort(),
    );
    const byIp = Object.fromEntries(
      rows.filter((h) => h.status !== 'NOT_ATTEMPTED' && h.technology !== 'unix').map((h) => [h.ip, h]),
    );
    expect(byIp[hosts.pgPassed]).toMatchObject({
      technology: 'postgresql',
      status: 'PASSED',
      errorCode: null,
      login: pgRole.name,
    });
    expect(byIp[hosts.pgWrongPassword]).toMatchObject({
      technology: 'postgresql',
      status: 'FAILED',
      errorCode: 'AUTH_FAILED',
      vendorCode: '28P01',
      remedy: expect.stringContaining('Make the account and the secret in the vault agree'),
    });
    expect(byIp[hosts.mysql]).toMatchObject({
      technology: 'mysql',
      status: 'INSUFFICIENT_PRIVILEGES',
      errorCode: 'INSUFFICIENT_PRIVILEGES',
      cause: expect.stringContaining(`lacks SELECT on mysql.*`),
      remedy: 'Grant the account the rights the report lists as missing.',
    });
    expect(pg.failedAuthentications(pgRole.name)).toBe(1);

    // The facts, as collected on the appliance and published.
    const results = (await env.api('GET', `/scans/${launched.body.id}/results`)).body.items as Record<string, any>[];
    const resultOf = (ip: string, technology = ip === hosts.mysql ? 'mysql' : 'postgresql') =>
      results.find((r) => r.ip === ip && r.technology === technology)!;
    // Each technology's own collection: the Unix login saw the OS of the same host.
    expect(resultOf(hosts.pgPassed, 'unix').collected.facts['os.id']).toBeTruthy();
    expect(sshd.log()).not.toMatch(/Failed password/);
    expect(resultOf(hosts.pgPassed).collected.facts).toMatchObject({
      'server.product': 'PostgreSQL',
      'connection.tlsMode': 'verify-full',
      'role.name': pgRole.name,
      'role.memberOf': 'pg_monitor',
      'setting.ssl': 'on',
      'tls.certificate.sha256': certificateSha256,
    });
    expect(resultOf(hosts.pgPassed).collected.packages).toContainEqual(expect.objectContaining({ name: 'plpgsql' }));
    expect(resultOf(hosts.mysql).collected.facts).toMatchObject({
      'account.current': `${myAccount.name}@%`,
      'connection.tlsMode': 'disable',
    });
    expect(resultOf(hosts.mysql).collected.facts.grants).toContain('GRANT PROCESS ON *.*');

    // No password in the results, the report or any log line of the stack.
    const published = JSON.stringify([results, report]);
    const logs = env.logFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const secret of [pgRole.password, myAccount.password, wrongPassword, unixUser.password]) {
      expect(published).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }

    // By asset group and by tag: x of y hosts, z % passed (a host passes when every technology
    // tried on it passed; NOT_ATTEMPTED rows do not count against it).
    const group = await env.api('POST', '/groups', {
      name: 'databases',
      businessImpact: 'critical',
      assetIds: [dbLab.body.id],
    });
    const tag = await env.api('POST', '/tags', {
      name: 'mariadb hosts',
      kind: 'static',
      assetIds: [mariadbAsset.body.id],
    });
    const summary = (await env.api('GET', `/scans/${launched.body.id}/summary`)).body;
    expect(summary.byGroup).toEqual([
      {
        id: group.body.id,
        name: 'databases',
        label: 'critical',
        addresses: 2,
        scannedHosts: 2,
        passedHosts: 1,
        passedPercent: 50,
        counts: { PASSED: 2, INSUFFICIENT_PRIVILEGES: 0, FAILED: 1, NOT_ATTEMPTED: 3, UNREACHABLE: 0 },
      },
    ]);
    expect(summary.byTag).toEqual([
      expect.objectContaining({ id: tag.body.id, scannedHosts: 1, passedHosts: 0, passedPercent: 0 }),
    ]);
    const withHead = (await env.api('GET', `/scans/${launched.body.id}/authentication-report`)).body;
    expect([withHead.byGroup, withHead.byTag]).toEqual([summary.byGroup, summary.byTag]);

    // The same hosts, named as a group and a tag: resolved when the scan starts.
    const bySets = await env.api('POST', '/scans', {
      title: 'by group and tag',
      groupIds: [group.body.id],
      tags: ['mariadb hosts'],
      optionProfileId: profile.body.id,
      applianceId,
    });
    expect(bySets.status, bySets.text).toBe(202);
    expect(bySets.body).toMatchObject({ hostCount: 3, targets: 'group:databases, tag:mariadb hosts' });
    expect((await waitForScan(bySets.body.id)).progress.counts).toEqual(scan.progress.counts);

    // A technology the profile switches off is said on the hosts a record of it covers.
    const pgOnly = await env.api('POST', '/option-profiles', {
      name: 'postgresql only',
      technologies: ['postgresql'],
      maxParallelHosts: 1,
      timeouts: { connectMs: 10_000, commandMs: 20_000, vaultMs: 10_000 },
      retry: { maxAttempts: 1, initialIntervalMs: 100, maxIntervalMs: 100 },
    });
    expect(pgOnly.status, pgOnly.text).toBe(201);
    const again = await env.api('POST', '/scans', {
      title: 'postgresql only',
      targets: hosts.pgPassed,
      optionProfileId: pgOnly.body.id,
      applianceId,
    });
    expect((await waitForScan(again.body.id)).status).toBe('FINISHED');
    const second = (await env.api('GET', `/scans/${again.body.id}/authentication-report`)).body.hosts as {
      technology: string;
      status: string;
      errorCode: string | null;
    }[];
    expect(second.map((h) => [h.technology, h.status, h.errorCode]).sort()).toEqual([
      ['postgresql', 'PASSED', null],
      ['unix', 'NOT_ATTEMPTED', 'TECHNOLOGY_DISABLED'],
    ]);
  }, 180_000);
});
