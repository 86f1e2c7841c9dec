// MySQL and MariaDB (mysql2's promise API, one connection): a password login over TLS by
// default; collects the version, key server variables and the account's grants.
//
// Privileges: the checks read the account table (mysql.user: empty passwords, anonymous
// accounts, hosts '%') and server-wide state only PROCESS shows (InnoDB status, every thread).
// So an account passes when it may SELECT from mysql.* and holds PROCESS; ALL PRIVILEGES ON *.*
// has both. SUPER alone does not: it does not let an account read the mysql schema. Both are
// probed (a denied read is the proof), so roles and partial revokes count as the server counts
// them, not as a reading of SHOW GRANTS would guess.
import { Socket } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import mysql, { type Connection, type ConnectionOptions, type QueryError } from 'mysql2';
import type { Connection as PromiseConnection, RowDataPacket } from 'mysql2/promise';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
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
  PrivilegeCheck,
  TargetCredentials,
  TargetEndpoint,
} from './technology.js';

/** The server variables collected (SHOW GLOBAL VARIABLES; a server lacking one leaves it out). */
export const MYSQL_VARIABLES = [
  'version_comment',
  'version_compile_os',
  'have_ssl',
  'have_openssl',
  'require_secure_transport',
  'tls_version',
  'local_infile',
  'secure_file_priv',
  'sql_mode',
  'skip_networking',
  'skip_name_resolve',
  'bind_address',
  'port',
  'default_authentication_plugin',
  'old_passwords',
  'general_log',
  'log_bin',
  'skip_show_database',
  'automatic_sp_privileges',
  'have_symlink',
  'max_connections',
] as const;

// Server error numbers (MySQL's and MariaDB's own, the same in both unless noted).
const ACCESS_DENIED = 1045; // ER_ACCESS_DENIED_ERROR: wrong password, or no such account

/** A server error at login, by its number, as one of our codes. */
function loginFailure(err: QueryError & { sqlMessage?: string }, attempt: LoginAttempt): ScanError {
  if (err instanceof ScanError) return err;
  const where = attempt.where;
  const code = err.code ?? '';
  if (code === 'HANDSHAKE_NO_SSL_SUPPORT')
    return new ScanError(
      'TARGET_TLS_UNAVAILABLE',
      `${where} does not offer TLS (have_ssl is not YES) and settings.tlsMode requires it: no credentials were sent`,
      code,
    );
  if (code === 'HANDSHAKE_SSL_ERROR') return tlsFailure(err, where, attempt.hasCa);
  if (code === 'AUTH_SWITCH_PLUGIN_ERROR' || code === 'AUTH_SWITCH_PLUGIN_NOT_FOUND' || err.errno === 1251)
    return new ScanError(
      'AUTH_METHOD_REJECTED',
      `${where} asks for an authentication plugin the scanner does not speak (${err.message}); use mysql_native_password or caching_sha2_password for the account`,
      code || undefined,
    );
  if (!err.errno || !err.sqlMessage) return networkFailure(err, attempt);
  const vendor = `${code} (${err.errno})`;
  const server = (reason: string, scanCode: ErrorCode) =>
    new ScanError(scanCode, `${where} ${reason} (${err.sqlMessage})`, vendor);
  switch (err.errno) {
    case ACCESS_DENIED:
      return server('refused the password for the account', 'AUTH_FAILED');
    case 1130: // ER_HOST_NOT_PRIVILEGED
      return server("has no account of this name for the scanner's address", 'LOGIN_NOT_ALLOWED');
    case 1129: // ER_HOST_IS_BLOCKED
      return server(
        "blocks the scanner's address after too many connection errors (FLUSH HOSTS, or raise max_connect_errors)",
        'LOGIN_NOT_ALLOWED',
      );
    case 3118: // MySQL: ER_ACCOUNT_HAS_BEEN_LOCKED
    case 4151: // MariaDB: ER_ACCOUNT_HAS_BEEN_LOCKED
      return server('has locked the account', 'LOGIN_NOT_ALLOWED');
    case 1820: // ER_MUST_CHANGE_PASSWORD
    case 1862: // ER_MUST_CHANGE_PASSWORD_LOGIN
      return server("says the account's password has expired", 'LOGIN_NOT_ALLOWED');
    case 3159: // MySQL: ER_SECURE_TRANSPORT_REQUIRED
      return server(
        'requires TLS (require_secure_transport): set settings.tlsMode to require or verify-full',
        'LOGIN_NOT_ALLOWED',
      );
    case 1040: // ER_CON_COUNT_ERROR
    case 1203: // ER_TOO_MANY_USER_CONNECTIONS
    case 1226: // ER_USER_LIMIT_REACHED
      return server('cannot take the connection now', 'TARGET_BUSY');
    default:
      // Any other refusal once the password is out may have counted as a failed login.
      return attempt.phase === 'password'
        ? server('refused the login', 'AUTH_FAILED')
        : server('refused the connection before the login', 'TARGET_UNREACHABLE');
  }
}

/**
 * mysql2's TLS options for the mode. The chain is Node's to check (rejectUnauthorized, the CA);
 * the name is ours (verifyName below): mysql2's own check (verifyIdentity) hands Node no host,
 * so for a server reached by address it compares the certificate with "localhost".
 */
function sslOptions(mode: Exclude<TlsMode, 'disable'>, caCert: string | undefined, ip: string) {
  const options = tlsConnectionOptions(mode, caCert, ip);
  return {
    ...(options.ca !== undefined && { ca: options.ca as string }),
    minVersion: options.minVersion,
    rejectUnauthorized: options.rejectUnauthorized,
    verifyIdentity: false,
  };
}

/**
 * verify-full: once mysql2's TLS handshake is done, and before it sends the credentials, the
 * certificate must name the address. A mismatch goes back to mysql2 as its handshake's failure
 * (so nothing is sent) and is kept for the report (mysql2 replaces an error's code).
 */
function verifyName(connection: Connection, ip: string, onMismatch: (err: Error) => void): void {
  type Internals = { startTLS(onSecure: (err?: Error) => void): void; stream: TLSSocket };
  const internals = connection as unknown as Internals;
  const startTLS = internals.startTLS.bind(connection);
  internals.startTLS = (onSecure) =>
    startTLS((err) => {
      if (err) return onSecure(err);
      const mismatch = checkServerIdentity(ip, internals.stream.getPeerCertificate(true));
      if (!mismatch) return onSecure();
      onMismatch(mismatch);
      onSecure(new Error(mismatch.message));
    });
}

/**
 * A SHOW GRANTS line without the account's password hash (MariaDB shows it: IDENTIFIED BY
 * PASSWORD '*…', IDENTIFIED VIA plugin USING '…'; MySQL's CREATE USER form: IDENTIFIED WITH
 * plugin AS '…'). A hash opens the password to offline guessing: it is no fact to keep.
 */
export function withoutPasswordHashes(grant: string): string {
  const at = grant.search(/\bIDENTIFIED\b/i);
  if (at < 0) return grant;
  return (
    grant.slice(0, at) +
    grant.slice(at).replace(/\b(PASSWORD|AS|USING|BY)(\s+)('(?:[^'\\]|\\.|'')*'|0x[0-9a-f]+)/gi, "$1$2'<redacted>'")
  );
}

const quote = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

class MysqlSession implements AuthSession {
  private closed = false;

  constructor(
    private readonly core: Connection,
    private readonly db: PromiseConnection,
    private readonly tlsMode: TlsMode,
    private readonly commandTimeoutMs: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  private async rows(
    what: string,
    statement: string,
    timeoutMs = this.commandTimeoutMs,
    signal = this.signal,
  ): Promise<RowDataPacket[]> {
    try {
      const [rows] = await withQueryLimits(this.db.query<RowDataPacket[]>(statement), what, timeoutMs, signal, () =>
        this.core.destroy(),
      );
      return rows;
    } catch (err) {
      if (err instanceof ScanError) throw err;
      const e = err as QueryError;
      throw new ScanError('COLLECTION_FAILED', `${what} failed: ${e.message}`, e.code || undefined);
    }
  }

  /** Runs a read that needs a privilege: null when it ran, the server's refusal when denied. */
  private async probe(what: string, statement: string): Promise<string | null> {
    try {
      await this.rows(what, statement);
      return null;
    } catch (err) {
      const e = err as ScanError;
      if (e.vendorCode && /ACCESS_DENIED/.test(e.vendorCode)) return e.message.replace(/^.* failed: /, '');
      throw err;
    }
  }

  async checkPrivileges(): Promise<PrivilegeCheck> {
    const mysqlSchema = await this.probe('reading mysql.user', 'SELECT 1 FROM mysql.user LIMIT 0');
    const process = await this.probe(
      'reading information_schema.INNODB_TRX',
      'SELECT COUNT(*) FROM information_schema.INNODB_TRX',
    );
    if (mysqlSchema === null && process === null) return { ok: true, method: 'SELECT on mysql.*, PROCESS' };
    const [me] = await this.rows('reading the account', 'SELECT CURRENT_USER() AS account');
    const account = String(me?.account ?? '');
    const [user, host] = [account.slice(0, account.lastIndexOf('@')), account.slice(account.lastIndexOf('@') + 1)];
    const grantee = `${quote(user)}@${quote(host)}`;
    const missing = [
      ...(mysqlSchema !== null ? [`SELECT on mysql.* (reading mysql.user was refused: ${mysqlSchema})`] : []),
      ...(process !== null ? [`PROCESS (reading information_schema.INNODB_TRX was refused: ${process})`] : []),
    ];
    const grants = [
      ...(mysqlSchema !== null ? [`GRANT SELECT ON mysql.* TO ${grantee}`] : []),
      ...(process !== null ? [`GRANT PROCESS ON *.* TO ${grantee}`] : []),
    ];
    return {
      ok: false,
      code: 'INSUFFICIENT_PRIVILEGES',
      message: `the account ${grantee} lacks ${missing.join(' and ')}: ${grants.join('; ')}`,
    };
  }

  async collect(options: { commandTimeoutMs: number; signal?: AbortSignal }): Promise<CollectedData> {
    const signal = options.signal ?? this.signal;
    const rows = (what: string, statement: string) => this.rows(what, statement, options.commandTimeoutMs, signal);
    const [server] = await rows(
      'reading the server version',
      'SELECT @@version AS version, CURRENT_USER() AS account, USER() AS login',
    );
    const variables = await rows(
      'reading the server variables',
      `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${MYSQL_VARIABLES.map((v) => `'${v}'`).join(', ')})`,
    );
    const grants = await rows('reading SHOW GRANTS', 'SHOW GRANTS');
    const tls = await rows(
      'reading the connection',
      "SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_version', 'Ssl_cipher')",
    );
    const status = new Map(tls.map((r) => [String(r.Variable_name), String(r.Value ?? '')]));
    const version = String(server?.version ?? '');
    const stream = (this.core as unknown as { stream?: Socket | TLSSocket }).stream;
    const facts: Record<string, string> = {
      'server.product': /mariadb/i.test(version) ? 'MariaDB' : 'MySQL',
      'server.version': version,
      'account.current': String(server?.account ?? ''),
      'account.login': String(server?.login ?? ''),
      'connection.tlsMode': this.tlsMode,
      'connection.tls': status.get('Ssl_version')
        ? `${status.get('Ssl_version')} ${status.get('Ssl_cipher') ?? ''}`.trim()
        : 'none',
      ...Object.fromEntries(variables.map((r) => [`variable.${String(r.Variable_name)}`, String(r.Value ?? '')])),
      // Each row of SHOW GRANTS is one statement, in one column named after the account.
      grants: grants.map((r) => withoutPasswordHashes(String(Object.values(r)[0] ?? ''))).join('\n'),
      ...(stream && 'getPeerCertificate' in stream ? certificateFacts(stream.getPeerCertificate()) : {}),
    };
    return { facts, packages: [] };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (this.core.destroy(), resolve()), 1_000);
      this.core.end(() => (clearTimeout(timer), resolve()));
    });
    this.core.destroy();
  }
}

export const mysqlTechnology: AuthTechnology = {
  name: 'mysql',
  defaultPort: 3306,

  async connect(
    endpoint: TargetEndpoint,
    credentials: TargetCredentials,
    options: ConnectOptions,
  ): Promise<AuthSession> {
    const settings = options.settings ?? {};
    const tlsMode = tlsModeOf(settings);
    const caCert = typeof settings.caCert === 'string' ? settings.caCert : undefined;
    const password = credentials.password;
    let core: Connection | undefined;
    const attempt = new LoginAttempt(
      `${endpoint.ip}:${endpoint.port}`,
      'MySQL',
      options.connectTimeoutMs,
      options.signal,
      () => core?.destroy(),
    );
    attempt.hasCa = caCert !== undefined;
    try {
      if (!password?.length)
        throw new ScanError('AUTH_FAILED', 'the vault item has no password for this MySQL login (fields.password)');
      const config: ConnectionOptions = {
        host: endpoint.ip,
        port: endpoint.port,
        user: credentials.username,
        ...(tlsMode !== 'disable' && { ssl: sslOptions(tlsMode, caCert, endpoint.ip) }),
        // Our clock (the whole login), not mysql2's.
        connectTimeout: 0,
        // A server that asks for a local file (LOAD DATA LOCAL) gets none: not even the offer.
        flags: ['-LOCAL_FILES', '-CONNECT_WITH_DB'],
        multipleStatements: false,
        connectAttributes: { program_name: 'vaultscan' },
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
      };
      core = mysql.createConnection(config);
      const connection = core;
      // mysql2 may report one failure more than once (the error, then the lost connection):
      // the first settles the login, the rest must not go unheard (an unheard 'error' throws).
      connection.on('error', () => undefined);
      // mysql2 reads the password (config.password) when it sends the credentials, after TLS,
      // and needs a string there: it is made then, once, and the property is emptied as soon
      // as the login is over. The string (and mysql2's copies: its handshake objects) is left
      // to the garbage collector.
      let text: string | undefined;
      Object.defineProperty(connection.config, 'password', {
        configurable: true,
        enumerable: false,
        get: () => {
          attempt.phase = 'password';
          text ??= password.toString('utf8');
          return text;
        },
      });
      let nameMismatch: Error | undefined;
      if (tlsMode === 'verify-full') verifyName(connection, endpoint.ip, (err) => (nameMismatch = err));
      const stream = (connection as unknown as { stream: Socket }).stream;
      // Connected: what follows is the greeting, TLS (mysql2 reports its failures by code) and,
      // once the getter above runs, the password.
      stream.once('connect', () => {
        if (attempt.phase === 'connecting') attempt.phase = 'greeting';
      });
      try {
        await attempt.run(
          new Promise<void>((resolve, reject) => {
            connection.once('connect', () => resolve());
            connection.once('error', (err: Error) =>
              reject(nameMismatch ? tlsFailure(nameMismatch, attempt.where, attempt.hasCa) : err),
            );
          }),
        );
      } finally {
        Object.defineProperty(connection.config, 'password', { configurable: true, value: undefined });
        text = undefined;
      }
      attempt.succeeded();
      return new MysqlSession(connection, connection.promise(), tlsMode, options.commandTimeoutMs, options.signal);
    } catch (err) {
      const failure = attempt.failedWith ?? loginFailure(err as QueryError, attempt);
      attempt.fail(failure);
      core?.destroy();
      throw failure;
    }
  },
};
