// PostgreSQL (postgres.js, one connection, no pool): a password login over TLS by default;
// collects the server's version and key settings, the login role's attributes and memberships,
// and the database's extensions (as packages).
//
// The connection is ours up to the login: the TCP connection, PostgreSQL's TLS request and the
// handshake are made here (so a refused port, a server without TLS and a certificate that does
// not verify are each said precisely, before any credential leaves), and the ready socket is
// handed to postgres.js, which sends the startup message and answers the server's
// authentication request with the password.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import postgres from 'postgres';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { POSTGRESQL_DEFAULT_DATABASE } from '../../technologies/postgresql.js';
import { tlsModeOf, type TlsMode } from '../../technologies/tls.js';
import {
  certificateFacts,
  LoginAttempt,
  networkFailure,
  tlsConnectionOptions,
  tlsFailure,
  withQueryLimits,
} from './database.js';
import type {
  AuthSession,
  AuthTechnology,
  CollectedData,
  ConnectOptions,
  PackageRecord,
  PrivilegeCheck,
  TargetCredentials,
  TargetEndpoint,
} from './technology.js';

/** SSLRequest: length 8, code 80877103 (PostgreSQL protocol, "SSL Session Encryption"). */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** The settings collected (pg_settings hides some from roles without pg_read_all_settings). */
export const POSTGRESQL_SETTINGS = [
  'ssl',
  'ssl_min_protocol_version',
  'password_encryption',
  'listen_addresses',
  'port',
  'max_connections',
  'shared_preload_libraries',
  'log_connections',
  'log_disconnections',
  'log_statement',
  'logging_collector',
  'authentication_timeout',
  'row_security',
  'wal_level',
  'archive_mode',
  'data_directory',
  'config_file',
  'hba_file',
] as const;

// Authentication request codes (the 'R' message): what the server asks the password for.
const AUTH_OK = 0;
const AUTH_CLEARTEXT = 3;
const AUTH_MD5 = 5;
const AUTH_SASL = 10;
const AUTH_SASL_CONTINUE = 11;
const AUTH_SASL_FINAL = 12;
const AUTH_NAMES: Record<number, string> = {
  2: 'Kerberos V5',
  6: 'SCM credentials',
  7: 'GSSAPI',
  8: 'GSSAPI',
  9: 'SSPI',
};

/**
 * Reads the server's messages alongside postgres.js until the login is settled, to know what
 * the server asks the password for (postgres.js's password callback is not told). Stops
 * watching at AuthenticationOk or an error.
 */
function watchAuthentication(socket: Socket, onRequest: (code: number) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  const watch = (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 5) {
      const type = pending[0]!;
      const length = pending.readUInt32BE(1);
      if (pending.length < 1 + length) return;
      if (type === 0x45 /* E */) return socket.off('data', watch);
      if (type === 0x52 /* R */ && length >= 8) {
        const code = pending.readUInt32BE(5);
        onRequest(code);
        if (code === AUTH_OK) return socket.off('data', watch);
      }
      pending = pending.subarray(1 + length);
    }
  };
  socket.prependListener('data', watch);
}

/** The first byte the server answers the TLS request with: 'S' (yes) or 'N' (no TLS here). */
function tlsAnswer(socket: Socket, attempt: LoginAttempt): Promise<'S' | 'N'> {
  return new Promise((resolve, reject) => {
    const done = () => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      done();
      socket.pause();
      const answer = String.fromCharCode(chunk[0]!);
      // Bytes after the answer, before the handshake, are not the server's to send: they would
      // be read as if they came through TLS (CVE-2021-23222). Such a connection is not used.
      if (chunk.length > 1)
        return reject(
          new ScanError(
            'TARGET_TLS_ERROR',
            `${attempt.where} sent unencrypted data along with its answer to the TLS request: the connection was dropped (someone in between may be injecting it); no credentials were sent`,
          ),
        );
      if (answer === 'S' || answer === 'N') return resolve(answer);
      reject(
        new ScanError(
          'TARGET_UNREACHABLE',
          `${attempt.where} did not answer the TLS request as PostgreSQL does: is it a PostgreSQL server? No credentials were sent`,
        ),
      );
    };
    const onError = (err: Error) => (done(), reject(networkFailure(err, attempt)));
    const onClose = () => (
      done(),
      reject(
        new ScanError(
          'TARGET_UNREACHABLE',
          `${attempt.where} closed the connection at the TLS request: is it a PostgreSQL server? No credentials were sent`,
        ),
      )
    );
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

/** TCP, then TLS as the mode says: the socket postgres.js logs in over. */
async function openTransport(
  endpoint: TargetEndpoint,
  mode: TlsMode,
  caCert: string | undefined,
  attempt: LoginAttempt,
  track: (socket: Socket) => void,
): Promise<Socket | TLSSocket> {
  const tcp = tcpConnect({ host: endpoint.ip, port: endpoint.port });
  track(tcp);
  await attempt.run(
    new Promise<void>((resolve, reject) => {
      tcp.once('connect', resolve);
      tcp.once('error', (err) => reject(networkFailure(err, attempt)));
    }),
  );
  tcp.setNoDelay(true);
  // Until postgres.js has the socket (and its own listeners), an error fails the login here.
  tcp.removeAllListeners('error');
  tcp.on('error', (err) => attempt.fail(networkFailure(err, attempt)));
  if (mode === 'disable') {
    attempt.phase = 'greeting';
    return tcp;
  }
  attempt.phase = 'tls';
  tcp.write(SSL_REQUEST);
  if ((await attempt.run(tlsAnswer(tcp, attempt))) === 'N')
    throw new ScanError(
      'TARGET_TLS_UNAVAILABLE',
      `${attempt.where} does not offer TLS (its ssl setting is off) and settings.tlsMode is ${mode}: no credentials were sent`,
    );
  const secure = tlsConnect({ socket: tcp, ...tlsConnectionOptions(mode, caCert, endpoint.ip) });
  track(secure);
  await attempt.run(
    new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', (err) => reject(tlsFailure(err, attempt.where, caCert !== undefined)));
    }),
  );
  secure.removeAllListeners('error');
  secure.on('error', (err) => attempt.fail(networkFailure(err, attempt)));
  attempt.phase = 'greeting';
  return secure;
}

/** A PostgreSQL error (SQLSTATE) or a postgres.js one, at login, as one of our codes. */
function loginFailure(
  err: Error & { code?: string; severity?: string },
  attempt: LoginAttempt,
  who: string,
  database: string,
  tlsMode: TlsMode,
): ScanError {
  if (err instanceof ScanError) return err;
  const where = attempt.where;
  const code = err.code ?? '';
  const said = err.message;
  if (!(err instanceof postgres.PostgresError)) {
    if (code === 'AUTH_TYPE_NOT_IMPLEMENTED' || code === 'MESSAGE_NOT_SUPPORTED')
      return new ScanError(
        'AUTH_METHOD_REJECTED',
        `${where} asks for an authentication the scanner does not speak (${said})`,
      );
    if (code === 'SASL_SIGNATURE_MISMATCH')
      return new ScanError(
        'AUTH_FAILED',
        `${where} did not prove it knows the password (its SCRAM signature is wrong): it may not be the server it claims to be`,
        code,
      );
    return networkFailure(err, attempt);
  }
  const server = (reason: string, scanCode: ErrorCode) =>
    new ScanError(scanCode, `${where} ${reason} (${said})`, code || undefined);
  switch (code) {
    case '28P01':
      return server(`refused the password for the role ${who}`, 'AUTH_FAILED');
    case '28000':
      if (/pg_hba\.conf/i.test(said)) {
        const plain = /no encryption/i.test(said) && tlsMode === 'disable';
        return server(
          plain
            ? `has no pg_hba.conf line for an unencrypted connection of ${who} from the scanner: use TLS (settings.tlsMode require or verify-full)`
            : `does not let ${who} log in from the scanner's address (pg_hba.conf)`,
          'LOGIN_NOT_ALLOWED',
        );
      }
      if (/not permitted to log in/i.test(said))
        return server(`does not let the role ${who} log in (it has NOLOGIN)`, 'LOGIN_NOT_ALLOWED');
      return server(`refused the login of ${who}`, 'AUTH_FAILED');
    case '3D000':
      return server(`has no database "${database}" (settings.database)`, 'DATABASE_NOT_FOUND');
    case '42501':
      return server(
        `does not let ${who} connect to the database "${database}" (it lacks CONNECT)`,
        'LOGIN_NOT_ALLOWED',
      );
    case '53300':
    case '57P03':
      return server('cannot take the connection now', 'TARGET_BUSY');
    default:
      // Any other refusal once the password is out may have counted as a failed login.
      return attempt.phase === 'password' || attempt.phase === 'done'
        ? server(`refused the login of ${who}`, 'AUTH_FAILED')
        : server('refused the connection before the login', 'TARGET_UNREACHABLE');
  }
}

/** A role name as SQL would take it in a GRANT. */
const quoteIdent = (name: string) => (/^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`);

interface RoleRow {
  name: string;
  superuser: string;
  inherit: string;
  createrole: string;
  createdb: string;
  replication: string;
  bypassrls: string;
  connlimit: string;
  validuntil: string | null;
  member_of: string;
  read_all_settings: string;
  monitor: string;
}

type Sql = ReturnType<typeof postgres>;

class PostgresSession implements AuthSession {
  private role: Promise<RoleRow> | undefined;
  private closed = false;

  constructor(
    private readonly sql: Sql,
    private readonly socket: Socket | TLSSocket,
    private readonly tlsMode: TlsMode,
    private readonly commandTimeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private query<T>(
    what: string,
    run: (sql: Sql) => Promise<T>,
    timeoutMs = this.commandTimeoutMs,
    signal = this.signal,
  ) {
    return withQueryLimits(run(this.sql), what, timeoutMs, signal, () => void this.close()).catch((err: Error) => {
      if (err instanceof ScanError) throw err;
      throw new ScanError(
        'COLLECTION_FAILED',
        `${what} failed: ${err.message}`,
        (err as { code?: string }).code || undefined,
      );
    });
  }

  /** The login role: its attributes, direct memberships, and what it holds through them. */
  private roleRow(): Promise<RoleRow> {
    this.role ??= this.query('reading the login role', async (sql) => {
      const [row] = await sql<RoleRow[]>`
        select r.rolname::text as name,
          r.rolsuper::text as superuser, r.rolinherit::text as inherit,
          r.rolcreaterole::text as createrole, r.rolcreatedb::text as createdb,
          r.rolreplication::text as replication, r.rolbypassrls::text as bypassrls,
          r.rolconnlimit::text as connlimit, r.rolvaliduntil::text as validuntil,
          coalesce((select string_agg(g.rolname::text, ',' order by g.rolname)
                      from pg_auth_members m join pg_roles g on g.oid = m.roleid
                     where m.member = r.oid), '') as member_of,
          (case when exists (select 1 from pg_roles where rolname = 'pg_read_all_settings')
                then pg_has_role(r.oid, 'pg_read_all_settings', 'USAGE') else false end)::text as read_all_settings,
          (case when exists (select 1 from pg_roles where rolname = 'pg_monitor')
                then pg_has_role(r.oid, 'pg_monitor', 'USAGE') else false end)::text as monitor
        from pg_roles r where r.rolname = current_user`;
      if (!row) throw new ScanError('COLLECTION_FAILED', 'the login role is not in pg_roles');
      return row;
    });
    return this.role;
  }

  /**
   * The checks read the server's settings: a superuser, or a role that holds the privileges of
   * pg_read_all_settings (pg_monitor includes it). Anything less is named, with what it hides.
   */
  async checkPrivileges(): Promise<PrivilegeCheck> {
    const role = await this.roleRow();
    if (role.superuser === 'true') return { ok: true, method: 'superuser' };
    if (role.monitor === 'true') return { ok: true, method: 'pg_monitor' };
    if (role.read_all_settings === 'true') return { ok: true, method: 'pg_read_all_settings' };
    const hidden = await this.hiddenSettings();
    const memberOf = role.member_of.split(',').filter(Boolean);
    const noinherit = ['pg_monitor', 'pg_read_all_settings'].filter((r) => memberOf.includes(r));
    const why = noinherit.length
      ? `is a member of ${noinherit.join(' and ')} but does not inherit its privileges (NOINHERIT)`
      : 'is neither a superuser nor a member of pg_monitor or pg_read_all_settings';
    return {
      ok: false,
      code: 'INSUFFICIENT_PRIVILEGES',
      message:
        `the role ${role.name} ${why}, so ${hidden.length} of the settings the checks read are hidden from it` +
        `${hidden.length ? ` (${hidden.join(', ')})` : ''}: missing pg_read_all_settings, e.g. GRANT pg_monitor TO ${quoteIdent(role.name)}`,
    };
  }

  /** The collected settings the role can see (pg_settings leaves out the ones hidden from it). */
  private async settings(timeoutMs = this.commandTimeoutMs, signal = this.signal): Promise<Map<string, string>> {
    const rows = await this.query(
      'reading pg_settings',
      (sql) => sql<{ name: string; setting: string }[]>`
        select name::text, setting::text from pg_settings
         where name = any(string_to_array(${POSTGRESQL_SETTINGS.join(',')}, ','))`,
      timeoutMs,
      signal,
    );
    return new Map(rows.map((r) => [r.name, r.setting]));
  }

  private async hiddenSettings(): Promise<string[]> {
    const visible = await this.settings();
    return POSTGRESQL_SETTINGS.filter((name) => !visible.has(name));
  }

  async collect(options: { commandTimeoutMs: number; signal?: AbortSignal }): Promise<CollectedData> {
    const run = <T>(what: string, work: (sql: Sql) => Promise<T>) =>
      this.query(what, work, options.commandTimeoutMs, options.signal ?? this.signal);
    const [server] = await run(
      'reading the server version',
      (sql) => sql<{ version: string; version_num: string; full: string; database: string; recovery: string }[]>`
        select current_setting('server_version') as version, current_setting('server_version_num') as version_num,
               version() as full, current_database()::text as database, pg_is_in_recovery()::text as recovery`,
    );
    const [connection] = await run(
      'reading the connection',
      (sql) => sql<{ ssl: string | null; version: string | null; cipher: string | null }[]>`
        select ssl::text, version::text, cipher::text from pg_stat_ssl where pid = pg_backend_pid()`,
    );
    const settings = await this.settings(options.commandTimeoutMs, options.signal ?? this.signal);
    const role = await this.roleRow();
    const extensions = await run(
      'reading pg_extension',
      (sql) => sql<{ name: string; version: string }[]>`
        select extname::text as name, extversion::text as version from pg_extension order by extname`,
    );
    const hidden = POSTGRESQL_SETTINGS.filter((name) => !settings.has(name));
    const facts: Record<string, string> = {
      'server.product': 'PostgreSQL',
      'server.version': server?.version ?? '',
      'server.versionNum': server?.version_num ?? '',
      'server.versionString': server?.full ?? '',
      'server.inRecovery': server?.recovery ?? '',
      'database.name': server?.database ?? '',
      'connection.tlsMode': this.tlsMode,
      'connection.tls':
        connection?.ssl === 'true' ? `${connection.version ?? ''} ${connection.cipher ?? ''}`.trim() : 'none',
      ...Object.fromEntries([...settings].map(([name, value]) => [`setting.${name}`, value])),
      ...(hidden.length > 0 && { 'settings.hidden': hidden.join(',') }),
      'role.name': role.name,
      'role.superuser': role.superuser,
      'role.inherit': role.inherit,
      'role.createRole': role.createrole,
      'role.createDb': role.createdb,
      'role.replication': role.replication,
      'role.bypassRls': role.bypassrls,
      'role.connectionLimit': role.connlimit,
      ...(role.validuntil && { 'role.validUntil': role.validuntil }),
      'role.memberOf': role.member_of,
      'role.readAllSettings': String(role.read_all_settings === 'true' || role.superuser === 'true'),
      'packages.source': `pg_extension (database ${server?.database ?? ''})`,
      ...('getPeerCertificate' in this.socket ? certificateFacts(this.socket.getPeerCertificate()) : {}),
    };
    const packages: PackageRecord[] = extensions.map((e) => ({ name: e.name, version: e.version, arch: '' }));
    return { facts, packages };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Terminate, then close the socket: nothing of this session outlives it.
    await this.sql.end({ timeout: 0 }).catch(() => undefined);
    this.socket.destroy();
  }
}

export const postgresqlTechnology: AuthTechnology = {
  name: 'postgresql',
  defaultPort: 5432,

  async connect(
    endpoint: TargetEndpoint,
    credentials: TargetCredentials,
    options: ConnectOptions,
  ): Promise<AuthSession> {
    const settings = options.settings ?? {};
    const tlsMode = tlsModeOf(settings);
    const caCert = typeof settings.caCert === 'string' ? settings.caCert : undefined;
    const database = typeof settings.database === 'string' ? settings.database : POSTGRESQL_DEFAULT_DATABASE;
    const who = JSON.stringify(credentials.username);
    const sockets: Socket[] = [];
    let sql: Sql | undefined;
    const attempt = new LoginAttempt(
      `${endpoint.ip}:${endpoint.port}`,
      'PostgreSQL',
      options.connectTimeoutMs,
      options.signal,
      () => {
        for (const socket of sockets) socket.destroy();
        void sql?.end({ timeout: 0 }).catch(() => undefined);
      },
    );
    const password = credentials.password;
    try {
      if (!password?.length)
        throw new ScanError(
          'AUTH_FAILED',
          'the vault item has no password for this PostgreSQL login (fields.password)',
        );
      const transport = await openTransport(endpoint, tlsMode, caCert, attempt, (s) => sockets.push(s));
      let requested = -1;
      watchAuthentication(transport, (code) => {
        requested = code;
        if (code === AUTH_OK || code === AUTH_SASL_CONTINUE || code === AUTH_SASL_FINAL) return;
        if (code === AUTH_CLEARTEXT && tlsMode === 'disable')
          return attempt.fail(
            new ScanError(
              'AUTH_METHOD_REJECTED',
              `${attempt.where} asks for the password in clear text over an unencrypted connection: it was not sent. Use TLS (settings.tlsMode require or verify-full) or scram-sha-256 in pg_hba.conf`,
            ),
          );
        if (code !== AUTH_CLEARTEXT && code !== AUTH_MD5 && code !== AUTH_SASL)
          attempt.fail(
            new ScanError(
              'AUTH_METHOD_REJECTED',
              `${attempt.where} asks for ${AUTH_NAMES[code] ?? `authentication type ${code}`} for ${who}; the scanner logs in with a password (scram-sha-256, md5 or password in pg_hba.conf)`,
            ),
          );
      });
      let handedOver = false;
      sql = postgres({
        host: endpoint.ip,
        port: endpoint.port,
        user: credentials.username,
        database,
        // The socket made above; postgres.js asks again only to reconnect, which a login never does.
        socket: () => {
          if (handedOver)
            throw new ScanError('TARGET_UNREACHABLE', `${attempt.where} closed the connection during the login`);
          handedOver = true;
          return transport;
        },
        ssl: false,
        // The password, at the moment the server asks for it (and only then is it "sent").
        // SCRAM-SHA-256 and MD5 take our Buffer as it is: SCRAM hands it to pbkdf2 (no string is
        // made of it); MD5 concatenates it with the user name, a string postgres.js makes.
        // Plain "password" authentication (allowed only over TLS) needs a string: postgres.js
        // writes the message with Buffer.write, which takes strings only. It is made here, at
        // the last moment, and left to the garbage collector.
        pass: () => {
          attempt.phase = 'password';
          if (attempt.failedWith) return '';
          return (requested === AUTH_CLEARTEXT ? password.toString('utf8') : password) as unknown as string;
        },
        max: 1,
        prepare: false,
        fetch_types: false,
        connect_timeout: 0,
        idle_timeout: undefined,
        max_lifetime: null,
        onnotice: () => undefined,
        debug: false,
        connection: {
          application_name: 'vaultscan',
          // Read only, and the server stops a statement that runs past the command timeout.
          default_transaction_read_only: 'on',
          statement_timeout: String(options.commandTimeoutMs),
        } as Record<string, string>,
      } as postgres.Options<Record<string, postgres.PostgresType>>);
      await attempt.run(sql`select 1`);
      attempt.succeeded();
      return new PostgresSession(sql, transport, tlsMode, options.commandTimeoutMs, options.signal);
    } catch (err) {
      const failure = attempt.failedWith ?? loginFailure(err as Error, attempt, who, database, tlsMode);
      attempt.fail(failure);
      for (const socket of sockets) socket.destroy();
      await sql?.end({ timeout: 0 }).catch(() => undefined);
      throw failure;
    }
  },
};
