// Database technologies end to end, through the real parts: the API, Temporal, the control
// plane and an appliance process, the passwords read from OpenBao through the sealed path. One
// scan covers a private PostgreSQL cluster (TLS verify-full with the test's CA) on two addresses
// and the machine's MariaDB (default port, no TLS there), one authentication record per host.
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

const tag = randomBytes(3).toString('hex');
const hosts = { pgPassed: '127.0.5.1', pgWrongPassword: '127.0.5.2', mysql: '127.0.0.1' };
const pgRole = { name: `vstest_scan_pg_${tag}`, password: `pg-${randomBytes(9).toString('hex')}` };
const myAccount = { name: `vstest_scan_my_${tag}`, password: `my-${randomBytes(9).toString('hex')}` };
const wrongPassword = `wrong-${randomBytes(9).toString('hex')}`;
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
}, 240_000);

afterAll(async () => {
  await env?.stop();
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
    expect((await env.api('POST', '/assets', { name: 'db lab', value: '127.0.5.1-127.0.5.2' })).status).toBe(201);
    expect((await env.api('POST', '/assets', { name: 'mariadb', value: hosts.mysql })).status).toBe(201);
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
      technologies: ['postgresql', 'mysql'],
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
    expect(scan.progress.counts).toMatchObject({ PASSED: 1, INSUFFICIENT_PRIVILEGES: 1, FAILED: 1 });

    // The Authentication Report: a category, the cause and its remedy, per host and technology.
    const report = (await env.api('GET', `/scans/${launched.body.id}/authentication-report`)).body;
    const byIp = Object.fromEntries(report.hosts.map((h: { ip: string }) => [h.ip, h]));
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
    const resultOf = (ip: string) => results.find((r) => r.ip === ip)!;
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
    for (const secret of [pgRole.password, myAccount.password, wrongPassword]) {
      expect(published).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  }, 180_000);
});
