// The MySQL / MariaDB technology against the machine's MariaDB at 127.0.0.1:3306 (accounts the
// test creates and drops, vstest_ names), and, for TLS, private MariaDB servers the test owns: one
// with a certificate from a test CA, one without TLS.
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlTechnology, withoutPasswordHashes } from '../activities/auth/mysql.js';
import type { TargetCredentials } from '../activities/auth/technology.js';
import { describeCode } from '../domain/errors.js';
import { ScanError } from '../domain/scan-error.js';
import { freePort } from '../runtime/net.js';
import { startMariaDb, type MariaDbServer } from './harness/mariadb-server.js';
import { createCa, issueCertificate } from './harness/tls-certs.js';

const SHARED = { ip: '127.0.0.1', port: 3306 };
const ADMIN_URL = process.env.VAULTSCAN_TEST_MYSQL_ADMIN_URL ?? 'mysql://root@127.0.0.1:3306';
const tag = randomBytes(3).toString('hex');
const account = (name: string) => ({
  name: `vstest_my_${name}_${tag}`,
  password: `${name}-${randomBytes(9).toString('hex')}`,
});
const accounts = {
  all: account('all'),
  granted: account('granted'),
  plain: account('plain'),
  process: account('process'),
  locked: account('locked'),
};
const passwords = Object.values(accounts).map((a) => a.password);
const TLS_ADDRESS = '127.0.6.1';
/** The TLS server on an address its certificate does not name. */
const OTHER_ADDRESS = '127.0.6.2';
const PLAIN_ADDRESS = '127.0.6.3';

let shared: mysql.Connection;
let dir: string;
let tlsServer: MariaDbServer;
let plainServer: MariaDbServer;
let caPem: string;
let otherCaPem: string;
let certificateSha256: string;

/** Creates the account on a server, with these grants. */
async function createAccount(
  admin: mysql.Connection,
  a: { name: string; password: string },
  grants: string[],
  extra = '',
): Promise<void> {
  await admin.query(`CREATE USER '${a.name}'@'%' IDENTIFIED BY '${a.password}' ${extra}`);
  for (const grant of grants) await admin.query(`GRANT ${grant} TO '${a.name}'@'%'`);
}

beforeAll(async () => {
  shared = await mysql.createConnection(ADMIN_URL);
  for (const a of Object.values(accounts)) await shared.query(`DROP USER IF EXISTS '${a.name}'@'%'`);
  await createAccount(shared, accounts.all, ['ALL PRIVILEGES ON *.*']);
  await createAccount(shared, accounts.granted, ['SELECT ON mysql.*', 'PROCESS ON *.*']);
  await createAccount(shared, accounts.plain, []);
  await createAccount(shared, accounts.process, ['PROCESS ON *.*']);
  await createAccount(shared, accounts.locked, [], 'ACCOUNT LOCK');

  dir = mkdtempSync(join(tmpdir(), 'vstest-mytls-'));
  const ca = createCa(dir, 'test-ca');
  const otherCa = createCa(dir, 'other-ca');
  const cert = issueCertificate(ca, dir, 'mariadb', 'server', [`IP:${TLS_ADDRESS}`]);
  caPem = readFileSync(ca.cert, 'utf8');
  otherCaPem = readFileSync(otherCa.cert, 'utf8');
  certificateSha256 = new X509Certificate(readFileSync(cert.cert)).fingerprint256;
  [tlsServer, plainServer] = await Promise.all([
    startMariaDb({ address: TLS_ADDRESS, alsoListenOn: [OTHER_ADDRESS], tls: cert }),
    startMariaDb({ address: PLAIN_ADDRESS }),
  ]);
  await createAccount(tlsServer.admin, accounts.granted, ['SELECT ON mysql.*', 'PROCESS ON *.*']);
  await createAccount(plainServer.admin, accounts.granted, ['SELECT ON mysql.*', 'PROCESS ON *.*']);
}, 120_000);

afterAll(async () => {
  if (shared) {
    for (const a of Object.values(accounts)) await shared.query(`DROP USER IF EXISTS '${a.name}'@'%'`);
    await shared.end();
  }
  await tlsServer?.stop();
  await plainServer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const opts = { connectTimeoutMs: 10_000, commandTimeoutMs: 10_000 };
const plainText = { tlsMode: 'disable' };
const creds = (a: { name: string; password: string }, password = a.password): TargetCredentials => ({
  username: a.name,
  password: Buffer.from(password),
});

async function loginError(
  a: { name: string; password: string },
  settings: Record<string, unknown>,
  where: { ip: string; port: number } = SHARED,
  password?: string,
): Promise<ScanError> {
  try {
    const session = await mysqlTechnology.connect(where, creds(a, password), { ...opts, settings });
    await session.close();
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    for (const secret of passwords) expect((err as Error).message).not.toContain(secret);
    return err as ScanError;
  }
  throw new Error('expected the login to fail');
}

async function accessDeniedErrors(): Promise<number> {
  const [rows] = await shared.query<mysql.RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Access_denied_errors'");
  return Number(rows[0]?.Value);
}

describe('mysql: who logs in, and with which rights', () => {
  it('ALL PRIVILEGES: PASSED; the version, variables and grants collected, the password hash left out', async () => {
    const session = await mysqlTechnology.connect(SHARED, creds(accounts.all), { ...opts, settings: plainText });
    try {
      expect(await session.checkPrivileges()).toEqual({ ok: true, method: 'SELECT on mysql.*, PROCESS' });
      const { facts, packages } = await session.collect(opts);
      expect(facts).toMatchObject({
        'account.current': `${accounts.all.name}@%`,
        'connection.tlsMode': 'disable',
        'connection.tls': 'none',
        'variable.port': '3306',
      });
      expect(facts['server.product']).toMatch(/^(MariaDB|MySQL)$/);
      expect(facts['server.version']).toMatch(/^\d+\.\d+\.\d+/);
      expect(facts['variable.local_infile']).toMatch(/^(ON|OFF)$/);
      expect(facts['variable.sql_mode']).toBeDefined();
      expect(facts.grants).toContain(`GRANT ALL PRIVILEGES ON *.* TO \`${accounts.all.name}\`@\`%\``);
      // MariaDB's SHOW GRANTS shows the account's hash: it is never kept.
      const [[hash]] = await shared.query<mysql.RowDataPacket[]>('SELECT PASSWORD(?) AS h', [accounts.all.password]);
      expect(facts.grants).not.toContain(String(hash!.h));
      expect(JSON.stringify(facts)).not.toMatch(/\*[0-9A-F]{40}/);
      expect(packages).toEqual([]);
    } finally {
      await session.close();
    }
  });

  it('SELECT on mysql.* and PROCESS: PASSED', async () => {
    const session = await mysqlTechnology.connect(SHARED, creds(accounts.granted), { ...opts, settings: plainText });
    try {
      expect(await session.checkPrivileges()).toMatchObject({ ok: true });
    } finally {
      await session.close();
    }
  });

  it('no grants: INSUFFICIENT_PRIVILEGES naming both missing rights and the GRANTs that give them', async () => {
    const session = await mysqlTechnology.connect(SHARED, creds(accounts.plain), { ...opts, settings: plainText });
    try {
      const check = await session.checkPrivileges();
      expect(check).toMatchObject({ ok: false, code: 'INSUFFICIENT_PRIVILEGES' });
      const message = (check as { message: string }).message;
      expect(message).toContain(`the account '${accounts.plain.name}'@'%' lacks SELECT on mysql.*`);
      expect(message).toContain('and PROCESS');
      expect(message).toContain(`GRANT SELECT ON mysql.* TO '${accounts.plain.name}'@'%'`);
      expect(message).toContain(`GRANT PROCESS ON *.* TO '${accounts.plain.name}'@'%'`);
      // The collection still runs.
      expect((await session.collect(opts)).facts.grants).toContain('GRANT USAGE ON *.*');
    } finally {
      await session.close();
    }
  });

  it('PROCESS alone: INSUFFICIENT_PRIVILEGES naming only SELECT on mysql.*', async () => {
    const session = await mysqlTechnology.connect(SHARED, creds(accounts.process), { ...opts, settings: plainText });
    try {
      const check = await session.checkPrivileges();
      expect(check).toMatchObject({ ok: false, code: 'INSUFFICIENT_PRIVILEGES' });
      expect((check as { message: string }).message).toContain(
        'lacks SELECT on mysql.* (reading mysql.user was refused',
      );
      expect((check as { message: string }).message).not.toContain('PROCESS (');
    } finally {
      await session.close();
    }
  });
});

describe('mysql: refusals, each with its own code', () => {
  it('a wrong password (error 1045) → AUTH_FAILED, one failed login on the server', async () => {
    const before = await accessDeniedErrors();
    const err = await loginError(accounts.plain, plainText, SHARED, 'not-the-password');
    expect(err).toMatchObject({ code: 'AUTH_FAILED', vendorCode: 'ER_ACCESS_DENIED_ERROR (1045)' });
    expect(err.message).toContain('refused the password for the account');
    expect(describeCode('AUTH_FAILED').failedLogin).toBe('target');
    expect(await accessDeniedErrors()).toBe(before + 1);
  });

  it('a locked account → LOGIN_NOT_ALLOWED', async () => {
    const err = await loginError(accounts.locked, plainText);
    expect(err.code).toBe('LOGIN_NOT_ALLOWED');
    expect(err.message).toContain('has locked the account');
    expect(describeCode('LOGIN_NOT_ALLOWED').failedLogin).toBeUndefined();
  });

  it('a port nobody listens on → TARGET_UNREACHABLE', async () => {
    const err = await loginError(accounts.plain, plainText, { ip: '127.0.0.1', port: await freePort() });
    expect(err).toMatchObject({ code: 'TARGET_UNREACHABLE', vendorCode: 'ECONNREFUSED' });
  });

  it('without a password from the vault, nothing is tried', async () => {
    const err = await mysqlTechnology
      .connect(SHARED, { username: accounts.plain.name }, { ...opts, settings: plainText })
      .catch((e: ScanError) => e);
    expect(err).toMatchObject({ code: 'AUTH_FAILED', message: expect.stringContaining('fields.password') });
  });
});

describe('mysql: TLS', () => {
  it('require (the default) encrypts; verify-full with the test CA checks the certificate it reports', async () => {
    for (const settings of [{}, { tlsMode: 'verify-full', caCert: caPem }]) {
      const session = await mysqlTechnology.connect(
        { ip: TLS_ADDRESS, port: tlsServer.port },
        creds(accounts.granted),
        { ...opts, settings },
      );
      try {
        const { facts } = await session.collect(opts);
        expect(facts['connection.tls']).toMatch(/^TLSv1\.[23] /);
        expect(facts['tls.certificate.sha256']).toBe(certificateSha256);
        expect(facts['variable.have_ssl']).toBe('YES');
      } finally {
        await session.close();
      }
    }
  });

  it('another CA → TARGET_TLS_ERROR before the credentials are sent', async () => {
    const err = await loginError(
      accounts.granted,
      { tlsMode: 'verify-ca', caCert: otherCaPem },
      { ip: TLS_ADDRESS, port: tlsServer.port },
    );
    expect(err.code).toBe('TARGET_TLS_ERROR');
    expect(err.message).toContain('does not chain to the CA in settings.caCert');
  });

  it('an address the certificate does not name: verify-full → TARGET_TLS_ERROR, verify-ca logs in', async () => {
    const other = { ip: OTHER_ADDRESS, port: tlsServer.port };
    // The right password: had it been sent, the login would have worked.
    const err = await loginError(accounts.granted, { tlsMode: 'verify-full', caCert: caPem }, other);
    expect(err).toMatchObject({ code: 'TARGET_TLS_ERROR', vendorCode: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(err.message).toContain(
      `does not name that address (tlsMode verify-full: Hostname/IP does not match certificate's altnames: IP: ${OTHER_ADDRESS}`,
    );
    const session = await mysqlTechnology.connect(other, creds(accounts.granted), {
      ...opts,
      settings: { tlsMode: 'verify-ca', caCert: caPem },
    });
    await session.close();
  });

  it('a server without TLS: require → TARGET_TLS_UNAVAILABLE (nothing sent), disable logs in', async () => {
    const where = { ip: PLAIN_ADDRESS, port: plainServer.port };
    const [[before]] = await plainServer.admin.query<mysql.RowDataPacket[]>(
      "SHOW GLOBAL STATUS LIKE 'Access_denied_errors'",
    );
    const err = await loginError(accounts.granted, {}, where, 'not-the-password');
    expect(err).toMatchObject({ code: 'TARGET_TLS_UNAVAILABLE', vendorCode: 'HANDSHAKE_NO_SSL_SUPPORT' });
    // Even a wrong password was never tried: the server counted no denied login.
    const [[after]] = await plainServer.admin.query<mysql.RowDataPacket[]>(
      "SHOW GLOBAL STATUS LIKE 'Access_denied_errors'",
    );
    expect(after!.Value).toBe(before!.Value);
    const session = await mysqlTechnology.connect(where, creds(accounts.granted), { ...opts, settings: plainText });
    await session.close();
  });
});

describe('mysql: servers that stall', () => {
  async function fakeServer(onConnection: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      onConnection(socket);
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const close = server.close.bind(server);
    server.close = (cb) => (sockets.forEach((s) => s.destroy()), close(cb));
    return { server, port };
  }

  /** A protocol-10 greeting offering mysql_native_password (no TLS), as a server sends first. */
  function greeting(): Buffer {
    const scramble = randomBytes(20);
    const capabilities = 0x0001 | 0x0200 | 0x8000 | 0x80000; // long password, 4.1, secure auth, plugin auth
    const body = Buffer.concat([
      Buffer.from([10]),
      Buffer.from('5.7.99-fake\0'),
      Buffer.from([1, 0, 0, 0]),
      scramble.subarray(0, 8),
      Buffer.from([0]),
      Buffer.from([capabilities & 0xff, (capabilities >> 8) & 0xff, 33, 2, 0]),
      Buffer.from([(capabilities >> 16) & 0xff, (capabilities >> 24) & 0xff, 21]),
      Buffer.alloc(10),
      scramble.subarray(8),
      Buffer.from([0]),
      Buffer.from('mysql_native_password\0'),
    ]);
    const header = Buffer.from([body.length & 0xff, (body.length >> 8) & 0xff, body.length >> 16, 0]);
    return Buffer.concat([header, body]);
  }

  it('a port that takes the connection and never greets → TARGET_TIMEOUT, no credentials sent', async () => {
    const { server, port } = await fakeServer(() => undefined);
    try {
      const err = await mysqlTechnology
        .connect({ ip: '127.0.0.1', port }, creds(accounts.plain), {
          connectTimeoutMs: 500,
          commandTimeoutMs: 500,
          settings: plainText,
        })
        .catch((e: ScanError) => e);
      expect(err).toMatchObject({ code: 'TARGET_TIMEOUT' });
      expect((err as Error).message).toContain('did not answer as MySQL does within 500 ms');
    } finally {
      server.close();
    }
  });

  it('a server that takes the password and never answers → AUTH_TIMEOUT', async () => {
    let received = 0;
    const { server, port } = await fakeServer((socket) => {
      socket.write(greeting());
      socket.on('data', () => received++);
    });
    try {
      const err = await mysqlTechnology
        .connect({ ip: '127.0.0.1', port }, creds(accounts.plain), {
          connectTimeoutMs: 800,
          commandTimeoutMs: 800,
          settings: plainText,
        })
        .catch((e: ScanError) => e);
      expect(err).toMatchObject({ code: 'AUTH_TIMEOUT' });
      expect(received).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe('withoutPasswordHashes', () => {
  it('leaves a grant alone, and takes every form of hash out of an IDENTIFIED clause', () => {
    expect(withoutPasswordHashes('GRANT SELECT ON `mysql`.* TO `a`@`%`')).toBe('GRANT SELECT ON `mysql`.* TO `a`@`%`');
    expect(
      withoutPasswordHashes(
        "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*F487E4ECAF105AB03DD30A07E043D43268397299'",
      ),
    ).toBe("GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '<redacted>'");
    expect(
      withoutPasswordHashes(
        "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED VIA ed25519 USING 'ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY'",
      ),
    ).toBe("GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED VIA ed25519 USING '<redacted>'");
    expect(withoutPasswordHashes("CREATE USER `a`@`%` IDENTIFIED WITH 'caching_sha2_password' AS 0x244124303035")).toBe(
      "CREATE USER `a`@`%` IDENTIFIED WITH 'caching_sha2_password' AS '<redacted>'",
    );
  });
});
