// Unix over SSH (ssh2): password, private key, key with passphrase; root delegation with sudo;
// collects the OS release, kernel and installed packages (dpkg or rpm).
import { createHash } from 'node:crypto';
// ssh2 is CommonJS: its utils are reached through the default export under Node's ESM loader.
import ssh2, { Client, type ClientChannel, type ConnectConfig, type ParsedKey } from 'ssh2';
import { ScanError } from '../../domain/scan-error.js';
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
import { parseOsRelease, parsePackageLines } from './unix-parsers.js';

interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one command; a timeout, a closed connection or a cancelled scan (signal) end it early. */
function exec(
  client: Client,
  command: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  stdin?: (channel: ClientChannel) => void,
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted)
      return reject(new ScanError('COLLECTION_FAILED', 'the scan was cancelled before a command ran'));
    client.exec(command, (err, channel) => {
      if (err) return reject(new ScanError('COLLECTION_FAILED', `could not run a command on the host: ${err.message}`));
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      const stop = (reason: string) => {
        clearTimeout(timer);
        client.off('close', onConnectionClosed);
        signal?.removeEventListener('abort', onAbort);
        channel.close();
        reject(new ScanError('COLLECTION_FAILED', reason));
      };
      const onConnectionClosed = () => stop('the SSH connection closed while a command ran');
      const onAbort = () => stop('the scan was cancelled while a command ran');
      const timer = setTimeout(() => stop(`a command did not finish within ${timeoutMs} ms`), timeoutMs);
      client.once('close', onConnectionClosed);
      signal?.addEventListener('abort', onAbort, { once: true });
      channel.on('data', (d: Buffer) => out.push(d));
      channel.stderr.on('data', (d: Buffer) => errOut.push(d));
      channel.on('close', (code: number | null) => {
        clearTimeout(timer);
        client.off('close', onConnectionClosed);
        signal?.removeEventListener('abort', onAbort);
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errOut).toString('utf8') });
      });
      stdin?.(channel);
    });
  });
}

/** Why sudo said no, in words, without echoing anything that was typed. */
function sudoRefusal(stderr: string): string {
  if (/not in the sudoers file|is not allowed to run sudo|may not run sudo/i.test(stderr))
    return 'sudo refused: the account is not allowed to use sudo on this host';
  if (/incorrect password|Sorry, try again|password attempts/i.test(stderr))
    return 'sudo refused: the password was not accepted for sudo';
  if (/a password is required|no tty present|terminal is required/i.test(stderr))
    return 'sudo refused: it needs a password and none was available';
  if (/command not found|No such file/i.test(stderr)) return 'sudo is not installed on this host';
  return 'sudo refused root delegation';
}

class UnixSession implements AuthSession {
  private closed = false;
  constructor(
    private readonly client: Client,
    private readonly credentials: TargetCredentials,
    readonly hostKey: string,
    private readonly commandTimeoutMs: number,
    /** The activity's cancellation: every command stops with it. */
    private readonly signal: AbortSignal | undefined,
  ) {}

  async checkPrivileges(): Promise<PrivilegeCheck> {
    const id = await exec(this.client, 'id -u', this.commandTimeoutMs, this.signal);
    if (id.stdout.trim() === '0') return { ok: true, method: 'root' };
    // The vault's root-delegation password when it holds one, else the login password.
    const password = this.credentials.rootPassword?.length ? this.credentials.rootPassword : this.credentials.password;
    // -S reads the password from stdin, -k ignores cached credentials, -p '' prints no prompt:
    // the password goes through the channel, never onto a command line. The channel takes our
    // Buffer as it is (no string is made of it).
    const result = password?.length
      ? await exec(this.client, "sudo -S -k -p '' true", this.commandTimeoutMs, this.signal, (ch) => {
          ch.write(password);
          ch.end('\n');
        })
      : await exec(this.client, 'sudo -n true', this.commandTimeoutMs, this.signal);
    if (result.code === 0) return { ok: true, method: 'sudo' };
    return { ok: false, code: 'PRIVILEGE_ESCALATION_FAILED', message: sudoRefusal(result.stderr) };
  }

  async collect(options: { commandTimeoutMs: number; signal?: AbortSignal }): Promise<CollectedData> {
    const signal = options.signal ?? this.signal;
    const run = async (command: string) => {
      const r = await exec(this.client, command, options.commandTimeoutMs, signal);
      if (r.code !== 0)
        throw new ScanError(
          'COLLECTION_FAILED',
          `"${command.split(' ')[0]}" failed on the host (exit ${r.code}): ${r.stderr.trim().slice(0, 200)}`,
        );
      return r.stdout;
    };
    const os = parseOsRelease(await run('cat /etc/os-release'));
    const [kernel, arch, hostname] = (await run('uname -r; uname -m; uname -n')).split('\n').map((s) => s.trim());
    const probe = await exec(
      this.client,
      'command -v dpkg-query || command -v rpm || true',
      options.commandTimeoutMs,
      signal,
    );
    let packageManager = 'none';
    let packages: PackageRecord[] = [];
    if (probe.stdout.includes('dpkg-query')) {
      packageManager = 'dpkg';
      packages = parsePackageLines(
        await run("dpkg-query -W -f='${db:Status-Abbrev}\\t${Package}\\t${Version}\\t${Architecture}\\n'"),
        true,
      );
    } else if (probe.stdout.includes('rpm')) {
      packageManager = 'rpm';
      packages = parsePackageLines(await run("rpm -qa --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\t%{ARCH}\\n'"), false);
    }
    return {
      facts: {
        ...os,
        kernel: kernel ?? '',
        arch: arch ?? '',
        hostname: hostname ?? '',
        packageManager,
        'hostKey.sha256': this.hostKey,
      },
      packages,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
  }
}

/**
 * The private key from the vault, parsed before any connection is made: a key that cannot be
 * used is said precisely (ssh2 would only skip it and report a generic authentication failure),
 * and nothing is sent to the host.
 */
function parsePrivateKey(key: Buffer, passphrase: Buffer | undefined): ParsedKey {
  const parsed = ssh2.utils.parseKey(key, passphrase);
  if (parsed instanceof Error) {
    if (/no passphrase given/i.test(parsed.message)) {
      throw new ScanError(
        'AUTH_FAILED',
        'the private key is encrypted, but no passphrase came with it from the vault: name the vault field that holds it (fields.passphrase)',
      );
    }
    if (/passphrase|decrypt/i.test(parsed.message))
      throw new ScanError('AUTH_FAILED', 'the passphrase from the vault does not decrypt the private key');
    throw new ScanError(
      'AUTH_FAILED',
      `the private key from the vault is not one the scanner can read (OpenSSH or PEM RSA, ECDSA, Ed25519): ${parsed.message}`,
    );
  }
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first?.isPrivateKey())
    throw new ScanError('AUTH_FAILED', 'the vault holds a public key where the private key should be');
  return first;
}

function classifyConnectError(
  err: Error & { code?: string; level?: string },
  endpoint: TargetEndpoint,
  offered: string[],
  authenticating: boolean,
): ScanError {
  const where = `${endpoint.ip}:${endpoint.port}`;
  if (['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL'].includes(err.code ?? ''))
    return new ScanError('TARGET_UNREACHABLE', `nothing answered on ${where} (${err.code})`, err.code);
  if (err.level === 'client-timeout' || /timed out/i.test(err.message)) {
    // Past the handshake, a login that never answers is most often a slow rejection (PAM
    // delays): it may have counted as a failed login, so it is not retried.
    if (authenticating)
      return new ScanError(
        'AUTH_TIMEOUT',
        `${where} did not answer the login in time (after its SSH handshake): the credentials may have been refused slowly`,
      );
    return new ScanError('TARGET_TIMEOUT', `the SSH handshake with ${where} did not complete in time`);
  }
  if (err.level === 'client-authentication') {
    const methods = (err as { methods?: string[] }).methods ?? [];
    if (methods.length > 0 && !offered.some((m) => methods.includes(m))) {
      return new ScanError(
        'AUTH_METHOD_REJECTED',
        `${where} accepts only ${methods.join(', ')}; this record provides ${offered.join(', ')}`,
      );
    }
    return new ScanError('AUTH_FAILED', `${where} rejected the credentials for this account`);
  }
  if (/passphrase|parse|privateKey|Cannot parse/i.test(err.message))
    return new ScanError('AUTH_FAILED', 'the private key could not be used (wrong passphrase or unsupported format)');
  return new ScanError('TARGET_UNREACHABLE', `the SSH connection to ${where} failed: ${err.message}`, err.code);
}

export const unixTechnology: AuthTechnology = {
  name: 'unix',
  defaultPort: 22,

  connect(endpoint, credentials, options: ConnectOptions): Promise<AuthSession> {
    let privateKey: ParsedKey | undefined;
    try {
      privateKey = credentials.privateKey ? parsePrivateKey(credentials.privateKey, credentials.passphrase) : undefined;
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      const client = new Client();
      let hostKeySha256 = '';
      let hostKeyMismatch: ScanError | undefined;
      const offered: string[] = [];
      // Set once the handshake is done and the login has begun (the server spoke SSH to us).
      let authenticating = false;
      // Password authentication takes our Buffer as it is. Keyboard-interactive answers must be
      // strings (ssh2 writes them with utf8Write), so that copy is made only if a host prompts.
      const password = credentials.password?.length ? credentials.password : undefined;
      const config: ConnectConfig = {
        host: endpoint.ip,
        port: endpoint.port,
        username: credentials.username,
        readyTimeout: options.connectTimeoutMs,
        keepaliveInterval: 15_000,
        // Runs before authentication: a host presenting another key than the pinned one never
        // sees the credentials (a man in the middle would otherwise receive the password).
        hostVerifier: (key: Buffer) => {
          hostKeySha256 = createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
          if (options.expectedHostKey && hostKeySha256 !== options.expectedHostKey) {
            hostKeyMismatch = new ScanError(
              'HOST_KEY_MISMATCH',
              `${endpoint.ip}:${endpoint.port} presented the SSH host key SHA256:${hostKeySha256}, but SHA256:${options.expectedHostKey} is pinned for it; no credentials were sent. If the host was re-keyed on purpose, replace or delete its pinned key (/api/v1/known-host-keys).`,
            );
            return false;
          }
          return true;
        },
      };
      if (privateKey) offered.push('publickey');
      if (password) offered.push('password', 'keyboard-interactive');
      // Ask with "none" first to learn what the server accepts, then make ONE attempt with the
      // first method both sides have (keyboard-interactive only when password is not offered):
      // a wrong secret costs one failed login per host, never two, so accounts do not lock.
      // A server that takes none of our methods is AUTH_METHOD_REJECTED, not AUTH_FAILED.
      let serverMethods: string[] | undefined;
      let attempted = false;
      config.authHandler = ((methodsLeft: string[] | null, _partial: boolean | null, next: (auth: unknown) => void) => {
        authenticating = true;
        if (methodsLeft === null) return next('none');
        serverMethods ??= [...methodsLeft];
        const method = attempted ? undefined : offered.find((m) => methodsLeft.includes(m));
        if (!method) return next(false);
        attempted = true;
        const username = credentials.username;
        if (method === 'publickey') return next({ type: 'publickey', username, key: privateKey });
        if (method === 'password') return next({ type: 'password', username, password });
        return next({
          type: 'keyboard-interactive',
          username,
          prompt: (_n: string, _i: string, _l: string, prompts: unknown[], finish: (answers: string[]) => void) =>
            finish(prompts.map(() => password?.toString('utf8') ?? '')),
        });
      }) as unknown as ConnectConfig['authHandler'];
      let settled = false;
      const fail = (err: ScanError) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(err);
      };
      const onAbort = () => fail(new ScanError('TARGET_TIMEOUT', 'the login was cancelled'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      client.on('ready', () => {
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        resolve(new UnixSession(client, credentials, hostKeySha256, options.commandTimeoutMs, options.signal));
      });
      client.on('error', (err) => {
        const e = err as Error & { code?: string; level?: string; methods?: string[] };
        if (e.level === 'client-authentication' && serverMethods) e.methods = serverMethods;
        fail(hostKeyMismatch ?? classifyConnectError(e, endpoint, offered, authenticating));
      });
      try {
        client.connect(config);
      } catch (err) {
        fail(classifyConnectError(err as Error, endpoint, offered, authenticating));
      }
    });
  },
};
