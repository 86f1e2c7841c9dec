// The PostgreSQL technology against a private cluster the test owns (scram-sha-256, TLS from a
// test CA, pg_hba.conf lines per role), never the machine's shared server: each role shows one
// outcome, and the server's own log shows what reached it.
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresqlTechnology } from '../activities/auth/postgresql.js';
import type { TargetCredentials } from '../activities/auth/technology.js';
import { describeCode } from '../domain/errors.js';
import { ScanError } from '../domain/scan-error.js';
import { freePort } from '../runtime/net.js';
import { startPgCluster, type PgCluster } from './harness/pg-cluster.js';
import { createCa, issueCertificate } from './harness/tls-certs.js';

const tag = randomBytes(3).toString('hex');
const role = (name: string) => ({
  name: `vstest_pg_${name}_${tag}`,
  password: `${name}-${randomBytes(9).toString('hex')}`,
});
const roles = {
  superuser: role('super'),
  plain: role('plain'),
  monitor: role('monitor'),
  noinherit: role('noinherit'),
  nologin: role('nologin'),
  tlsOnly: role('tlsonly'),
  clear: role('clear'),
  md5: role('md5'),
  gss: role('gss'),
};
const passwords = Object.values(roles).map((r) => r.password);
const ADDRESS = '127.0.5.1';
/** The same server on an address its certificate does not name. */
const OTHER_ADDRESS = '127.0.5.2';

let dir: string;
let pg: PgCluster;
let caPem: string;
let otherCaPem: string;
let certificateSha256: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vstest-pgtls-'));
  const ca = createCa(dir, 'test-ca');
  const otherCa = createCa(dir, 'other-ca');
  const server = issueCertificate(ca, dir, 'pg-server', 'server', [`IP:${ADDRESS}`]);
  caPem = readFileSync(ca.cert, 'utf8');
  otherCaPem = readFileSync(otherCa.cert, 'utf8');
  certificateSha256 = new X509Certificate(readFileSync(server.cert)).fingerprint256;
  pg = await startPgCluster({
    address: ADDRESS,
    alsoListenOn: [OTHER_ADDRESS],
    tls: server,
    hba: [
      `hostnossl all ${roles.tlsOnly.name} 127.0.0.0/8 reject`,
      `host all ${roles.clear.name} 127.0.0.0/8 password`,
      `host all ${roles.md5.name} 127.0.0.0/8 md5`,
      `host all ${roles.gss.name} 127.0.0.0/8 gss`,
    ],
  });
  const create = (r: { name: string; password: string }, attributes: string) =>
    pg.admin.unsafe(`create role ${r.name} ${attributes} password '${r.password}'`);
  await create(roles.superuser, 'login superuser');
  await create(roles.plain, 'login');
  await create(roles.monitor, 'login in role pg_monitor');
  await create(roles.noinherit, 'login noinherit in role pg_monitor');
  await create(roles.nologin, 'nologin');
  await create(roles.tlsOnly, 'login');
  await create(roles.clear, 'login');
  await create(roles.gss, 'login');
  // An MD5 secret, for a login that answers an MD5 challenge (a SCRAM secret cannot).
  await pg.admin.begin(async (tx) => {
    await tx.unsafe(`set local password_encryption = 'md5'`);
    await tx.unsafe(`create role ${roles.md5.name} login password '${roles.md5.password}'`);
  });
}, 60_000);

afterAll(async () => {
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const opts = { connectTimeoutMs: 10_000, commandTimeoutMs: 10_000 };
const creds = (r: { name: string; password: string }, password = r.password): TargetCredentials => ({
  username: r.name,
  password: Buffer.from(password),
});
const endpoint = (address = ADDRESS) => ({ ip: address, port: pg.port });
const verifyFull = () => ({ tlsMode: 'verify-full', caCert: caPem });

async function loginError(
  r: { name: string; password: string },
  settings: Record<string, unknown> = {},
  options: { password?: string; address?: string; port?: number } = {},
): Promise<ScanError> {
  try {
    const session = await postgresqlTechnology.connect(
      { ip: options.address ?? ADDRESS, port: options.port ?? pg.port },
      creds(r, options.password),
      { ...opts, settings },
    );
    await session.close();
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    for (const secret of [...passwords, options.password ?? ''].filter(Boolean))
      expect((err as Error).message).not.toContain(secret);
    return err as ScanError;
  }
  throw new Error('expected the login to fail');
}

/** The vault's password as a Buffer that refuses to become a string, noting every attempt. */
function unstringable(text: string): { buffer: Buffer; attempts: string[] } {
  const buffer = Buffer.from(text);
  const attempts: string[] = [];
  const toText = ['toString', 'toLocaleString', 'toJSON', 'utf8Slice', 'latin1Slice', 'asciiSlice', 'ucs2Slice'];
  for (const name of [...toText, 'base64Slice', 'base64urlSlice', 'hexSlice'])
    Object.defineProperty(buffer, name, {
      value: () => {
        attempts.push(name);
        throw new Error(`the password was made a string (${name})`);
      },
    });
  return { buffer, attempts };
}

describe('postgresql: who logs in, and with which rights', () => {
  it('a superuser over TLS (the default, require): PASSED; the version, settings, role and extensions collected', async () => {
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.superuser), opts);
    try {
      expect(await session.checkPrivileges()).toEqual({ ok: true, method: 'superuser' });
      const { facts, packages } = await session.collect(opts);
      expect(facts).toMatchObject({
        'server.product': 'PostgreSQL',
        'database.name': 'postgres',
        'connection.tlsMode': 'require',
        'setting.ssl': 'on',
        'setting.password_encryption': 'scram-sha-256',
        'setting.log_connections': 'on',
        'setting.port': String(pg.port),
        'role.name': roles.superuser.name,
        'role.superuser': 'true',
        'role.readAllSettings': 'true',
        'tls.certificate.sha256': certificateSha256,
      });
      expect(facts['server.version']).toMatch(/^\d+\.\d+/);
      expect(facts['server.versionString']).toMatch(/^PostgreSQL /);
      expect(facts['connection.tls']).toMatch(/^TLSv1\.[23] /);
      // A superuser sees what is hidden from others.
      expect(facts['setting.data_directory']).toContain('vstest-pgc-');
      expect(facts['settings.hidden']).toBeUndefined();
      expect(packages).toContainEqual({ name: 'plpgsql', version: expect.stringMatching(/^\d/), arch: '' });
    } finally {
      await session.close();
    }
  });

  it('a plain login role: INSUFFICIENT_PRIVILEGES naming what it lacks and what that hides; collection still runs', async () => {
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.plain), opts);
    try {
      const check = await session.checkPrivileges();
      expect(check).toMatchObject({ ok: false, code: 'INSUFFICIENT_PRIVILEGES' });
      const message = (check as { message: string }).message;
      expect(message).toContain(`the role ${roles.plain.name} is neither a superuser nor a member of pg_monitor`);
      expect(message).toContain('data_directory');
      expect(message).toContain(`GRANT pg_monitor TO ${roles.plain.name}`);
      const { facts } = await session.collect(opts);
      expect(facts['role.superuser']).toBe('false');
      expect(facts['role.readAllSettings']).toBe('false');
      expect(facts['settings.hidden']?.split(',')).toEqual(expect.arrayContaining(['data_directory', 'hba_file']));
      expect(facts['setting.data_directory']).toBeUndefined();
      expect(facts['setting.ssl']).toBe('on');
    } finally {
      await session.close();
    }
    expect(describeCode('INSUFFICIENT_PRIVILEGES').category).toBe('INSUFFICIENT_PRIVILEGES');
  });

  it('a member of pg_monitor: PASSED, and it reads the settings hidden from others', async () => {
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.monitor), opts);
    try {
      expect(await session.checkPrivileges()).toEqual({ ok: true, method: 'pg_monitor' });
      const { facts } = await session.collect(opts);
      expect(facts['role.memberOf']).toBe('pg_monitor');
      expect(facts['setting.data_directory']).toContain('vstest-pgc-');
    } finally {
      await session.close();
    }
  });

  it('a member of pg_monitor that does not inherit its privileges (NOINHERIT): INSUFFICIENT_PRIVILEGES saying so', async () => {
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.noinherit), opts);
    try {
      const check = await session.checkPrivileges();
      expect(check).toMatchObject({ ok: false, code: 'INSUFFICIENT_PRIVILEGES' });
      expect((check as { message: string }).message).toContain(
        'is a member of pg_monitor but does not inherit its privileges (NOINHERIT)',
      );
    } finally {
      await session.close();
    }
  });
});

describe('postgresql: refusals, each with its own code', () => {
  it('a wrong password → AUTH_FAILED (a failed login for the lockout breaker), and the server saw exactly one attempt', async () => {
    const before = pg.failedAuthentications(roles.plain.name);
    const err = await loginError(roles.plain, {}, { password: 'not-the-password' });
    expect(err).toMatchObject({ code: 'AUTH_FAILED', vendorCode: '28P01' });
    expect(err.message).toContain(`refused the password for the role "${roles.plain.name}"`);
    expect(describeCode('AUTH_FAILED')).toMatchObject({ failedLogin: 'target', retryable: false });
    await expect.poll(() => pg.failedAuthentications(roles.plain.name)).toBe(before + 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(pg.failedAuthentications(roles.plain.name)).toBe(before + 1);
  });

  it('a port nobody listens on → TARGET_UNREACHABLE', async () => {
    const port = await freePort(ADDRESS);
    const err = await loginError(roles.plain, {}, { port });
    expect(err).toMatchObject({ code: 'TARGET_UNREACHABLE', vendorCode: 'ECONNREFUSED' });
    expect(describeCode('TARGET_UNREACHABLE').category).toBe('UNREACHABLE');
  });

  it('a database that does not exist → DATABASE_NOT_FOUND, not a failed login', async () => {
    const before = pg.failedAuthentications(roles.plain.name);
    const err = await loginError(roles.plain, { database: 'no_such_db' });
    expect(err).toMatchObject({ code: 'DATABASE_NOT_FOUND', vendorCode: '3D000' });
    expect(err.message).toContain('has no database "no_such_db" (settings.database)');
    expect(describeCode('DATABASE_NOT_FOUND').failedLogin).toBeUndefined();
    expect(pg.failedAuthentications(roles.plain.name)).toBe(before);
  });

  it('a role without LOGIN → LOGIN_NOT_ALLOWED', async () => {
    const err = await loginError(roles.nologin);
    expect(err).toMatchObject({ code: 'LOGIN_NOT_ALLOWED', vendorCode: '28000' });
    expect(err.message).toContain('it has NOLOGIN');
  });

  it('pg_hba.conf refusing unencrypted logins: tlsMode disable → LOGIN_NOT_ALLOWED saying to use TLS; require logs in', async () => {
    const err = await loginError(roles.tlsOnly, { tlsMode: 'disable' });
    expect(err).toMatchObject({ code: 'LOGIN_NOT_ALLOWED', vendorCode: '28000' });
    expect(err.message).toContain('use TLS (settings.tlsMode require or verify-full)');
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.tlsOnly), opts);
    await session.close();
  });

  it('a server asking for GSSAPI → AUTH_METHOD_REJECTED, no password sent', async () => {
    const err = await loginError(roles.gss);
    expect(err.code).toBe('AUTH_METHOD_REJECTED');
    expect(err.message).toContain('asks for GSSAPI');
    expect(pg.failedAuthentications(roles.gss.name)).toBe(0);
  });
});

describe('postgresql: how the password travels', () => {
  it('SCRAM-SHA-256 takes the Buffer from the vault as it is: the password never becomes a string', async () => {
    const { buffer, attempts } = unstringable(roles.monitor.password);
    const session = await postgresqlTechnology.connect(
      endpoint(),
      { username: roles.monitor.name, password: buffer },
      { ...opts, settings: { tlsMode: 'disable' } },
    );
    try {
      expect(await session.checkPrivileges()).toMatchObject({ ok: true });
    } finally {
      await session.close();
    }
    expect(attempts).toEqual([]);
  });

  it('an MD5 challenge is answered too', async () => {
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.md5), opts);
    await session.close();
  });

  it('plain "password" authentication: refused over an unencrypted connection (nothing sent), answered over TLS', async () => {
    const err = await loginError(roles.clear, { tlsMode: 'disable' });
    expect(err.code).toBe('AUTH_METHOD_REJECTED');
    expect(err.message).toContain('in clear text over an unencrypted connection: it was not sent');
    expect(pg.failedAuthentications(roles.clear.name)).toBe(0);
    expect(pg.log()).not.toContain(roles.clear.password);
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.clear), opts);
    await session.close();
    expect(pg.authorizedLogins(roles.clear.name)).toBe(1);
  });
});

describe('postgresql: TLS', () => {
  it('verify-full with the test CA logs in, and the certificate it checked is the one reported', async () => {
    const session = await postgresqlTechnology.connect(endpoint(), creds(roles.monitor), {
      ...opts,
      settings: verifyFull(),
    });
    try {
      const { facts } = await session.collect(opts);
      expect(facts['connection.tlsMode']).toBe('verify-full');
      expect(facts['tls.certificate.sha256']).toBe(certificateSha256);
      expect(facts['tls.certificate.altNames']).toBe(`IP Address:${ADDRESS}`);
    } finally {
      await session.close();
    }
  });

  it('another CA → TARGET_TLS_ERROR before any credential is sent', async () => {
    const before = pg.authorizedLogins(roles.monitor.name);
    const err = await loginError(roles.monitor, { tlsMode: 'verify-full', caCert: otherCaPem });
    expect(err.code).toBe('TARGET_TLS_ERROR');
    expect(err.message).toContain('does not chain to the CA in settings.caCert');
    expect(err.message).toContain('no credentials were sent');
    expect(describeCode('TARGET_TLS_ERROR')).toMatchObject({ retryable: false, category: 'FAILED' });
    expect(pg.authorizedLogins(roles.monitor.name)).toBe(before);
    // Without a CA the system's CAs do not know the test CA either.
    expect((await loginError(roles.monitor, { tlsMode: 'verify-ca' })).message).toContain("the system's CAs");
  });

  it('an address the certificate does not name: verify-full → TARGET_TLS_ERROR, verify-ca logs in', async () => {
    const err = await loginError(roles.monitor, verifyFull(), { address: OTHER_ADDRESS });
    expect(err).toMatchObject({ code: 'TARGET_TLS_ERROR', vendorCode: 'ERR_TLS_CERT_ALTNAME_INVALID' });
    expect(err.message).toContain('does not name that address');
    const session = await postgresqlTechnology.connect(endpoint(OTHER_ADDRESS), creds(roles.monitor), {
      ...opts,
      settings: { tlsMode: 'verify-ca', caCert: caPem },
    });
    await session.close();
  });

  it('a server without TLS: require → TARGET_TLS_UNAVAILABLE (nothing sent); disable logs in in plain text', async () => {
    await pg.setSsl(false);
    try {
      const before = pg.authorizedLogins(roles.monitor.name);
      const err = await loginError(roles.monitor);
      expect(err.code).toBe('TARGET_TLS_UNAVAILABLE');
      expect(err.message).toContain('does not offer TLS');
      expect(pg.authorizedLogins(roles.monitor.name)).toBe(before);
      const session = await postgresqlTechnology.connect(endpoint(), creds(roles.monitor), {
        ...opts,
        settings: { tlsMode: 'disable' },
      });
      try {
        expect((await session.collect(opts)).facts['connection.tls']).toBe('none');
      } finally {
        await session.close();
      }
    } finally {
      await pg.setSsl(true);
    }
  });
});

describe('postgresql: servers that stall', () => {
  /** A TCP server that does what `onData` says (or nothing at all) with what it receives. */
  async function fakeServer(
    onData?: (socket: Socket, data: Buffer) => void,
  ): Promise<{ server: Server; port: number }> {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      if (onData) socket.on('data', (d) => onData(socket, d));
    });
    const port = await freePort(ADDRESS);
    await new Promise<void>((resolve) => server.listen(port, ADDRESS, resolve));
    server.on('close', () => sockets.forEach((s) => s.destroy()));
    const close = server.close.bind(server);
    server.close = (cb) => (sockets.forEach((s) => s.destroy()), close(cb));
    return { server, port };
  }

  it('a port that takes the connection and never answers → TARGET_TIMEOUT (no credentials sent)', async () => {
    const { server, port } = await fakeServer();
    try {
      const started = Date.now();
      const err = await postgresqlTechnology
        .connect({ ip: ADDRESS, port }, creds(roles.plain), {
          connectTimeoutMs: 500,
          commandTimeoutMs: 500,
          settings: { tlsMode: 'disable' },
        })
        .catch((e: ScanError) => e);
      expect(err).toMatchObject({ code: 'TARGET_TIMEOUT' });
      expect((err as Error).message).toContain('did not answer as PostgreSQL does within 500 ms');
      expect(Date.now() - started).toBeLessThan(3_000);
      const tls = await postgresqlTechnology
        .connect({ ip: ADDRESS, port }, creds(roles.plain), { connectTimeoutMs: 500, commandTimeoutMs: 500 })
        .catch((e: ScanError) => e);
      expect((tls as Error).message).toContain('the TLS handshake with');
    } finally {
      server.close();
    }
  });

  it('a server that asks for the password and then says nothing → AUTH_TIMEOUT (a failed login, not retried)', async () => {
    // AuthenticationMD5Password with a salt, then silence.
    const md5Request = Buffer.from([0x52, 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4]);
    const { server, port } = await fakeServer((socket, data) => {
      if (data.readUInt32BE(4) === 196608) socket.write(md5Request); // the startup message (protocol 3.0)
    });
    try {
      const err = await postgresqlTechnology
        .connect({ ip: ADDRESS, port }, creds(roles.plain), {
          connectTimeoutMs: 800,
          commandTimeoutMs: 800,
          settings: { tlsMode: 'disable' },
        })
        .catch((e: ScanError) => e);
      expect(err).toMatchObject({ code: 'AUTH_TIMEOUT' });
      expect((err as Error).message).toContain('after the password was sent');
      expect(describeCode('AUTH_TIMEOUT')).toMatchObject({ failedLogin: 'target', retryable: false });
    } finally {
      server.close();
    }
  });

  it('unencrypted bytes after the server agrees to TLS → TARGET_TLS_ERROR, the connection dropped', async () => {
    const { server, port } = await fakeServer((socket) => socket.write(Buffer.from('SE')));
    try {
      const err = await postgresqlTechnology
        .connect({ ip: ADDRESS, port }, creds(roles.plain), opts)
        .catch((e: ScanError) => e);
      expect(err).toMatchObject({ code: 'TARGET_TLS_ERROR' });
      expect((err as Error).message).toContain('sent unencrypted data along with its answer to the TLS request');
    } finally {
      server.close();
    }
  });

  it('a server with no connection to spare (53300) → TARGET_BUSY, retried', async () => {
    const field = (type: string, value: string) => Buffer.from(`${type}${value}\0`);
    const body = Buffer.concat([
      field('S', 'FATAL'),
      field('C', '53300'),
      field('M', 'sorry, too many clients already'),
      Buffer.from([0]),
    ]);
    const header = Buffer.alloc(5);
    header.write('E');
    header.writeUInt32BE(body.length + 4, 1);
    const { server, port } = await fakeServer((socket) => socket.end(Buffer.concat([header, body])));
    try {
      const err = await postgresqlTechnology
        .connect({ ip: ADDRESS, port }, creds(roles.plain), { ...opts, settings: { tlsMode: 'disable' } })
        .catch((e: ScanError) => e);
      expect(err).toMatchObject({ code: 'TARGET_BUSY', vendorCode: '53300' });
      expect(describeCode('TARGET_BUSY').retryable).toBe(true);
    } finally {
      server.close();
    }
  });

  it('a cancelled scan ends the login at once', async () => {
    const { server, port } = await fakeServer();
    try {
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 200);
      const started = Date.now();
      const err = await postgresqlTechnology
        .connect({ ip: ADDRESS, port }, creds(roles.plain), {
          connectTimeoutMs: 30_000,
          commandTimeoutMs: 30_000,
          signal: controller.signal,
          settings: { tlsMode: 'disable' },
        })
        .catch((e: ScanError) => e);
      expect(err).toMatchObject({ code: 'TARGET_TIMEOUT', message: 'the login was cancelled' });
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      server.close();
    }
  });
});
