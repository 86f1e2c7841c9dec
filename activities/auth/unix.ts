// Unix over SSH (ssh2): password, private key, key with passphrase; the host key trusted as the
// record's hostKeyPolicy says (tofu, strict, off); root delegation as its settings say (sudo, su,
// sudo su -, or a tool such as pbrun: unix-delegation.ts), confirmed with id -u; collects the OS
// release, kernel and installed packages, and as root the SSH server's effective configuration
// and the accounts' password status, listing the commands that needed root as a sudoers rule.
import { createHash } from 'node:crypto';
// ssh2 is CommonJS: its utils are reached through the default export under Node's ESM loader.
import ssh2, { Client, type ConnectConfig, type ParsedKey } from 'ssh2';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { unixSettingsOf, type UnixSettings } from '../../technologies/unix.js';
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
import { Delegation, type Delegated } from './unix-delegation.js';
import {
  parseOsRelease,
  parsePackageLines,
  parsePasswordStatus,
  parseSshdConfig,
  sudoersRule,
} from './unix-parsers.js';

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
    });
  });
}

/**
 * The collection steps that need root, each a program and fixed arguments (the program is
 * found on the host, so the sudoers rule names the path sudo will match). `id -u` first: it
 * confirms the delegation yields root.
 */
const CONFIRM = { program: 'id', args: '-u' };
const ROOT_STEPS: { name: string; program: string; args: string; facts: (output: string) => Record<string, string> }[] =
  [
    // The SSH server's effective configuration: sshd needs its host keys to print it.
    { name: 'sshd', program: 'sshd', args: '-T', facts: parseSshdConfig },
    // Every account's password status (empty, locked, never expiring), read from /etc/shadow.
    { name: 'accounts', program: 'passwd', args: '-S -a', facts: parsePasswordStatus },
  ];
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface PrivilegeOutcome {
  check: PrivilegeCheck;
  facts: Record<string, string>;
}

class UnixSession implements AuthSession {
  private closed = false;
  private privileges: Promise<PrivilegeOutcome> | undefined;
  /** The key to pin on first use: only under hostKeyPolicy tofu (strict pins nothing, off trusts nothing). */
  readonly hostKey: string | undefined;
  constructor(
    private readonly client: Client,
    private readonly credentials: TargetCredentials,
    private readonly settings: UnixSettings,
    /** The key the host presented, and what the host-key policy made of it (facts). */
    private readonly presented: { sha256: string; facts: Record<string, string> },
    private readonly commandTimeoutMs: number,
    /** The activity's cancellation: every command stops with it. */
    private readonly signal: AbortSignal | undefined,
  ) {
    this.hostKey = settings.hostKeyPolicy === 'tofu' ? presented.sha256 : undefined;
  }

  /** Becomes root (or is), confirms it with id -u, then runs the root steps; once per session. */
  checkPrivileges(): Promise<PrivilegeCheck> {
    return this.delegated().then((outcome) => outcome.check);
  }

  /** The privilege check, begun by whichever comes first: checkPrivileges or collect (with its own signal). */
  private delegated(
    signal: AbortSignal | undefined = this.signal,
    timeoutMs = this.commandTimeoutMs,
  ): Promise<PrivilegeOutcome> {
    return (this.privileges ??= this.delegate(signal, timeoutMs));
  }

  private async delegate(signal: AbortSignal | undefined, timeoutMs: number): Promise<PrivilegeOutcome> {
    const run = (command: string) => exec(this.client, command, timeoutMs, signal);
    const programs = [CONFIRM.program, ...ROOT_STEPS.map((s) => s.program)];
    // Where each program is, as root's PATH would find it; "-" for one the host lacks.
    const found = (
      await run(`sh -c 'PATH=${SYSTEM_PATH}; for p in ${programs.join(' ')}; do command -v "$p" || echo -; done'`)
    ).stdout
      .split('\n')
      .map((l) => l.trim());
    const pathOf = (program: string) => {
      const path = found[programs.indexOf(program)];
      return path && /^\/[A-Za-z0-9._+/-]+$/.test(path) ? path : undefined;
    };
    const confirm = `${pathOf(CONFIRM.program) ?? '/usr/bin/id'} ${CONFIRM.args}`;
    const steps = ROOT_STEPS.flatMap((step) => {
      const path = pathOf(step.program);
      return path ? [{ ...step, command: `${path} ${step.args}` }] : [];
    });
    const rootCommands = [confirm, ...steps.map((s) => s.command)];
    const { method } = this.settings.delegation;
    const isRoot = (await run('id -u')).stdout.trim() === '0';
    const password = this.delegationPassword();
    const facts: Record<string, string> = {
      'privileges.method': isRoot ? 'root' : method,
      'privileges.rootCommands': rootCommands.join(', '),
      // What an administrator pastes into a sudoers drop-in for the least this collection needs.
      'privileges.sudoersRule': sudoersRule(this.credentials.username, rootCommands, !password?.length),
    };
    for (const step of ROOT_STEPS)
      if (!pathOf(step.program)) facts[`${step.name}.error`] = `${step.program} is not installed on this host`;
    const sudoers = method === 'sudo' || method === 'sudo-su';
    const fail = (code: ErrorCode, message: string): PrivilegeOutcome => {
      // The rule is the remedy where the delegation is sudo's.
      const rule =
        sudoers &&
        ['DELEGATION_NOT_CONFIGURED', 'DELEGATION_RIGHTS_MISSING', 'DELEGATION_PASSWORD_MISSING'].includes(code)
          ? `. A sudoers rule that allows exactly what the collection runs as root: ${facts['privileges.sudoersRule']}`
          : '';
      return { check: { ok: false, code, message: `${message}${rule}` }, facts: { ...facts, 'privileges.root': 'no' } };
    };

    let runAsRoot: (command: string) => Promise<Delegated>;
    if (isRoot) {
      runAsRoot = async (command) => {
        const r = await run(command);
        return { ran: true, exitCode: r.code, stdout: r.stdout, stderr: r.stderr };
      };
    } else {
      if (method === 'su' && !password?.length)
        return fail(
          'DELEGATION_PASSWORD_MISSING',
          `su needs the password of ${this.settings.delegation.suUser} (the root password), and the vault gave none: name the vault field holding it as fields.rootPassword, or the record's rootDelegation (the login password is not tried: it is the account's own, not root's)`,
        );
      const delegation = new Delegation(this.client, { ...this.settings.delegation, password }, timeoutMs, signal);
      runAsRoot = (command) => delegation.run(command);
    }

    const confirmed = await runAsRoot(confirm);
    if (!confirmed.ran) return fail(confirmed.code, confirmed.message);
    const uid = confirmed.stdout.trim();
    if (uid !== '0')
      return fail(
        'PRIVILEGE_ESCALATION_FAILED',
        `the delegation ran "${confirm}", but not as root (it printed "${uid.slice(0, 40)}")${method === 'su' || method === 'sudo-su' ? `: is ${this.settings.delegation.suUser} a root account?` : ''}`,
      );
    facts['privileges.root'] = 'yes';
    const refused: { command: string; code: ErrorCode; message: string; commandRefused: boolean }[] = [];
    for (const step of steps) {
      const result = await runAsRoot(step.command);
      if (!result.ran) refused.push({ command: step.command, ...result });
      else if (result.exitCode === 0) Object.assign(facts, step.facts(result.stdout));
      else {
        const said = `${result.stderr}\n${result.stdout}`.trim().split('\n')[0]?.slice(0, 200) ?? '';
        facts[`${step.name}.error`] = `"${step.command}" failed as root (exit ${result.exitCode}): ${said}`;
      }
    }
    if (refused.length > 0) {
      facts['privileges.refused'] = refused.map((r) => r.command).join(', ');
      // A refusal that is not about the command itself (a password asked again) says so; else the rights are missing.
      const other = refused.find((r) => !r.commandRefused);
      return fail(
        other?.code ?? 'DELEGATION_RIGHTS_MISSING',
        `root delegation works (${confirm} ran as root), but it refused what the collection needs as root: ${facts['privileges.refused']} (${(other ?? refused[0]!).message})`,
      );
    }
    return { check: { ok: true, method: isRoot ? 'root' : method }, facts };
  }

  /**
   * The password a delegation is answered with: su takes the root password alone (the
   * root-delegation password); the others the root-delegation password, else the login password.
   */
  private delegationPassword(): Buffer | undefined {
    const root = this.credentials.rootPassword?.length ? this.credentials.rootPassword : undefined;
    if (this.settings.delegation.method === 'su') return root;
    return root ?? (this.credentials.password?.length ? this.credentials.password : undefined);
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
    // The steps that need root ran with the privilege check (their refusal is its answer).
    const privileged = await this.delegated(signal, options.commandTimeoutMs);
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
        'hostKey.sha256': this.presented.sha256,
        ...this.presented.facts,
        ...privileged.facts,
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
    // The record's settings as sealed in its grant: never anything the workflow's input says.
    const settings = unixSettingsOf(options.settings);
    if ('field' in settings)
      return Promise.reject(
        new ScanError('CONFIG_INVALID', `the authentication record's ${settings.field} ${settings.reason}`),
      );
    const policy = settings.hostKeyPolicy;
    let privateKey: ParsedKey | undefined;
    try {
      privateKey = credentials.privateKey ? parsePrivateKey(credentials.privateKey, credentials.passphrase) : undefined;
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      const client = new Client();
      let hostKeySha256 = '';
      let hostKeyRefused: ScanError | undefined;
      /** What the policy made of the key, for the host's facts. */
      const hostKeyFacts: Record<string, string> = { 'hostKey.policy': policy };
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
          const pinned = options.expectedHostKey;
          if (policy === 'off') {
            // Trusted whatever it is: said in the host's facts (and flagged on its result).
            hostKeyFacts['hostKey.checked'] = 'no';
            if (pinned && pinned !== hostKeySha256) hostKeyFacts['hostKey.pinnedMismatch'] = `SHA256:${pinned}`;
            return true;
          }
          if (!pinned && policy === 'strict') {
            hostKeyRefused = new ScanError(
              'HOST_KEY_UNKNOWN',
              `${endpoint.ip}:${endpoint.port} presented the SSH host key SHA256:${hostKeySha256}, and the record's hostKeyPolicy is strict: only a key an operator registered is accepted (a key learned on first use is not), and none is; no credentials were sent. Check the key on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then register it (POST /api/v1/known-host-keys, or PATCH a learned one to confirm it).`,
            );
            return false;
          }
          if (pinned && hostKeySha256 !== pinned) {
            hostKeyRefused = new ScanError(
              'HOST_KEY_MISMATCH',
              `${endpoint.ip}:${endpoint.port} presented the SSH host key SHA256:${hostKeySha256}, but SHA256:${pinned} is pinned for it; no credentials were sent. If the host was re-keyed on purpose, replace or delete its pinned key (/api/v1/known-host-keys).`,
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
        // Past the handshake, with no key checked, the credentials may have gone to anyone: said in the cause.
        reject(
          policy === 'off' && hostKeySha256
            ? new ScanError(
                err.code,
                `${err.message} (the host key SHA256:${hostKeySha256} was not checked: the record's hostKeyPolicy is off)`,
                err.vendorCode,
                err.httpStatus,
                err.retryAfterMs,
              )
            : err,
        );
      };
      const onAbort = () => fail(new ScanError('TARGET_TIMEOUT', 'the login was cancelled'));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      client.on('ready', () => {
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        resolve(
          new UnixSession(
            client,
            credentials,
            settings,
            { sha256: hostKeySha256, facts: hostKeyFacts },
            options.commandTimeoutMs,
            options.signal,
          ),
        );
      });
      client.on('error', (err) => {
        const e = err as Error & { code?: string; level?: string; methods?: string[] };
        if (e.level === 'client-authentication' && serverMethods) e.methods = serverMethods;
        fail(hostKeyRefused ?? classifyConnectError(e, endpoint, offered, authenticating));
      });
      try {
        client.connect(config);
      } catch (err) {
        fail(classifyConnectError(err as Error, endpoint, offered, authenticating));
      }
    });
  },
};
