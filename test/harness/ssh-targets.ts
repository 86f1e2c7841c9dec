// Real SSH targets for tests: OS users (vstest- prefix) with passwords, keys and sudoers
// drop-ins, and real sshd processes on loopback addresses with their own config and host keys.
// Nothing of the machine's own accounts or /etc/ssh is touched.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../runtime/net.js';

const PREFIX = 'vstest-';
const SUDOERS_DIR = '/etc/sudoers.d';
/** One file per test process, named by its pid, listing the users it created. */
const OWNERS_DIR = join(tmpdir(), 'vstest-owners');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Marks a user as this process's, so another test run's cleanup leaves it alone. */
function claimUser(name: string): void {
  mkdirSync(OWNERS_DIR, { recursive: true, mode: 0o700 });
  appendFileSync(join(OWNERS_DIR, String(process.pid)), `${name}\n`);
}

/** Users that other, still running test processes created; the lists of dead ones are dropped. */
function usersOfOtherLiveRuns(): Set<string> {
  const users = new Set<string>();
  if (!existsSync(OWNERS_DIR)) return users;
  for (const file of readdirSync(OWNERS_DIR)) {
    const pid = Number(file);
    if (pid === process.pid) continue;
    if (!Number.isInteger(pid) || !isAlive(pid)) {
      rmSync(join(OWNERS_DIR, file), { force: true });
      continue;
    }
    for (const name of readFileSync(join(OWNERS_DIR, file), 'utf8').split('\n')) if (name) users.add(name);
  }
  return users;
}

/** A sudoers drop-in for a test user (/etc/sudoers.d/<user>, checked with visudo -c first). */
export interface SudoRule {
  /** What the account may run as root: ALL (the default), or these commands (absolute paths and arguments); [] for none. */
  commands?: 'ALL' | string[];
  /** Without its password (NOPASSWD). */
  nopasswd?: boolean;
  /** sudo refuses to run without a terminal (Defaults requiretty), for this user only. */
  requiretty?: boolean;
  /** sudo writes its own log (failed password attempts among them) to this file, for this user only. */
  logfile?: string;
}

export interface TestUserOptions {
  name: string;
  password?: string;
  authorizedKey?: string;
  /** password: ALL with the account's password; nopasswd: ALL without; none: no drop-in at all. */
  sudo?: 'password' | 'nopasswd' | 'none' | SudoRule;
}

function run(cmd: string, args: string[], input?: string): void {
  const r = spawnSync(cmd, args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr?.toString().trim()}`);
}

export async function createTestUser(
  options: TestUserOptions,
): Promise<{ name: string; home: string; remove(): void }> {
  if (!options.name.startsWith(PREFIX) || !/^[a-z0-9_-]{1,32}$/.test(options.name))
    throw new Error(`test users must be named ${PREFIX}… (lowercase, ≤ 32 chars): ${options.name}`);
  const { name } = options;
  claimUser(name);
  run('useradd', ['-m', '-s', '/bin/bash', name]);
  const home = `/home/${name}`;
  // The password goes through stdin, never onto a command line.
  if (options.password) run('chpasswd', [], `${name}:${options.password}\n`);
  if (options.authorizedKey) {
    const sshDir = join(home, '.ssh');
    mkdirSync(sshDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(sshDir, 'authorized_keys'), `${options.authorizedKey.trim()}\n`, { mode: 0o600 });
    const uid = Number(execFileSync('id', ['-u', name]).toString());
    const gid = Number(execFileSync('id', ['-g', name]).toString());
    chownSync(sshDir, uid, gid);
    chownSync(join(sshDir, 'authorized_keys'), uid, gid);
  }
  const sudo = options.sudo === 'password' ? {} : options.sudo === 'nopasswd' ? { nopasswd: true } : options.sudo;
  if (sudo && sudo !== 'none') writeSudoers(name, sudoersLines(name, sudo));
  return { name, home, remove: () => removeTestUser(name) };
}

function sudoersLines(name: string, rule: SudoRule): string {
  const commands = rule.commands ?? 'ALL';
  const lines = [
    ...(rule.requiretty ? [`Defaults:${name} requiretty`] : []),
    ...(rule.logfile ? [`Defaults:${name} logfile=${rule.logfile}`] : []),
  ];
  const list = commands === 'ALL' ? 'ALL' : commands.map((c) => c.replace(/[\\,:=]/g, '\\$&')).join(', ');
  if (list) lines.push(`${name} ALL=(ALL) ${rule.nopasswd ? 'NOPASSWD: ' : ''}${list}`);
  return lines.join('\n');
}

/**
 * Replaces a test user's sudoers drop-in with these lines (a rule the scanner printed, say);
 * visudo checks them before they take effect, so a bad line fails here and breaks nothing.
 */
export function writeSudoers(name: string, lines: string): void {
  if (!name.startsWith(PREFIX)) throw new Error(`sudoers drop-ins are for ${PREFIX} users only: ${name}`);
  const staged = join(mkdtempSync(join(tmpdir(), 'vstest-sudoers-')), name);
  writeFileSync(staged, `${lines.trim()}\n`, { mode: 0o440 });
  run('visudo', ['-c', '-q', '-f', staged]);
  renameSync(staged, join(SUDOERS_DIR, name));
}

function removeTestUser(name: string): void {
  if (!name.startsWith(PREFIX)) return;
  spawnSync('pkill', ['-KILL', '-u', name]);
  spawnSync('userdel', ['-r', '-f', name], { stdio: 'ignore' });
  rmSync(join(SUDOERS_DIR, name), { force: true });
}

/** An ed25519 key pair (OpenSSH format), optionally protected by a passphrase. */
export function generateKeyPair(options: { passphrase?: string; comment?: string } = {}): {
  privateKey: string;
  publicKey: string;
} {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-key-'));
  try {
    const file = join(dir, 'id');
    run('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      options.passphrase ?? '',
      '-C',
      options.comment ?? 'vstest',
      '-f',
      file,
    ]);
    return { privateKey: readFileSync(file, 'utf8'), publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SshdServer {
  address: string;
  port: number;
  /** The server's host key fingerprint, as ssh-keygen -lf prints it after "SHA256:". */
  hostKeySha256: string;
  /** What sshd logged so far (the last few kilobytes). */
  log(): string;
  stop(): Promise<void>;
}

const sshds = new Set<ChildProcess>();
process.once('exit', () => sshds.forEach((p) => p.kill('SIGKILL')));

export async function startSshd(options: {
  address: string;
  port?: number;
  passwordAuthentication?: boolean;
  /** Keyboard-interactive (PAM's password prompt); the same as passwordAuthentication unless set. */
  kbdInteractiveAuthentication?: boolean;
  logLevel?: 'ERROR' | 'INFO' | 'VERBOSE';
  /**
   * Runs this sshd in a mount namespace of its own, whose /etc/shadow gives root this password
   * (and holds the vstest- accounts' entries as they are when it starts: create users first).
   * `su -` to root then works on it with a known password, while the machine's own root
   * password and /etc/shadow stay untouched: only this sshd and its sessions see the file.
   */
  rootPassword?: string;
  /**
   * Also in a namespace of its own (NAMESPACE_SETUP): sudo and su there authenticate through a PAM stack with
   * pam_faillock (as RHEL's does), which records every failed authentication in this folder
   * (`faillock --dir <it> --user <name>` lists them): what a host counts towards a lockout.
   */
  faillockDir?: string;
}): Promise<SshdServer> {
  if (!options.address.startsWith('127.')) throw new Error('test sshd processes listen on loopback addresses only');
  const dir = mkdtempSync(join(tmpdir(), 'vstest-sshd-'));
  chmodSync(dir, 0o755);
  const hostKey = join(dir, 'host_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const port = options.port ?? (await freePort(options.address));
  const passwords = options.passwordAuthentication !== false;
  const yesNo = (on: boolean) => (on ? 'yes' : 'no');
  const config = [
    `ListenAddress ${options.address}:${port}`,
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `PasswordAuthentication ${yesNo(passwords)}`,
    `KbdInteractiveAuthentication ${yesNo(options.kbdInteractiveAuthentication ?? passwords)}`,
    'PubkeyAuthentication yes',
    'UsePAM yes',
    'PermitRootLogin no',
    `AllowUsers ${PREFIX}*`,
    'MaxStartups 200',
    'MaxSessions 50',
    'MaxAuthTries 10',
    'LoginGraceTime 30',
    'StrictModes no',
    'PrintMotd no',
    `LogLevel ${options.logLevel ?? 'ERROR'}`,
    'Subsystem sftp internal-sftp',
  ].join('\n');
  writeFileSync(join(dir, 'sshd_config'), `${config}\n`);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const sshdArgs = ['-D', '-e', '-f', join(dir, 'sshd_config')];
  let command = '/usr/sbin/sshd';
  let args = sshdArgs;
  // Files this sshd (and every session under it) sees in /etc in place of the machine's.
  const privateFiles: [string, string][] = [];
  if (options.rootPassword !== undefined) {
    writeFileSync(join(dir, 'shadow'), privateShadow(options.rootPassword), { mode: 0o600 });
    privateFiles.push([join(dir, 'shadow'), 'shadow']);
  }
  if (options.faillockDir !== undefined) {
    for (const service of ['sudo', 'su'] as const) {
      writeFileSync(join(dir, `pam-${service}`), faillockPam(service, options.faillockDir), { mode: 0o644 });
      privateFiles.push([join(dir, `pam-${service}`), `pam.d/${service}`]);
    }
  }
  if (privateFiles.length > 0) {
    writeFileSync(join(dir, 'namespace.sh'), NAMESPACE_SETUP);
    mkdirSync(join(dir, 'host-etc'));
    // unshare and sh exec into sshd: the child is sshd itself (killed and reaped as any other).
    command = 'unshare';
    args = [
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      join(dir, 'namespace.sh'),
      join(dir, 'host-etc'),
      privateFiles.map(([from, to]) => `${to}=${from}`).join(' '),
      ...sshdArgs,
    ];
  }
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  sshds.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForPort(options.address, port, 15_000, () => child.exitCode === null);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`sshd on ${options.address}:${port} did not start: ${(err as Error).message}\n${stderr}`);
  }
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${hostKey}.pub`]).toString();
  return {
    address: options.address,
    port,
    hostKeySha256: /SHA256:([A-Za-z0-9+/]{43})/.exec(fingerprint)![1]!,
    log: () => stderr,
    async stop() {
      sshds.delete(child);
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An /etc/shadow with root's password set (hashed by openssl, the password through stdin) and the vstest- entries. */
function privateShadow(rootPassword: string): string {
  const hashed = spawnSync('openssl', ['passwd', '-6', '-stdin'], { input: `${rootPassword}\n` });
  if (hashed.status !== 0) throw new Error(`openssl passwd failed: ${hashed.stderr.toString().trim()}`);
  const testAccounts = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(PREFIX));
  return [`root:${hashed.stdout.toString().trim()}:19000:0:99999:7:::`, ...testAccounts].join('\n') + '\n';
}

/**
 * Sets up an sshd's mount namespace, then becomes the sshd: /etc there is a tmpfs of its own
 * whose entries are bind mounts of the machine's (directories live, files as they are now),
 * except the files given, which are ours (pam.d is mirrored one level deeper, so one of its
 * files can be ours too). Why not one bind mount over /etc/shadow: useradd and chpasswd
 * replace /etc/shadow by a rename, and the kernel then drops every mount on the old file in
 * every namespace, so another test run creating a user would silently give the namespace the
 * machine's own file back. Each of our mounts is on an entry of our own tmpfs, never on (or
 * over) one of the machine's files.
 * $1 an empty folder for the machine's /etc, $2 "name=file …", the rest sshd's arguments.
 */
const NAMESPACE_SETUP = String.raw`set -eu
host="$1"; overrides="$2"; shift 2
mount --bind /etc "$host"
mount -t tmpfs -o mode=755 vstest-etc /etc
ours() { for pair in $overrides; do [ "${'$'}{pair%%=*}" = "$1" ] && echo "${'$'}{pair#*=}"; done; true; }
mirror() {
  for entry in "$host/$1"* "$host/$1".[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    rel="$1${'$'}{entry##*/}"; target="/etc/$rel"; own="$(ours "$rel")"
    if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "$target"
    elif [ -d "$entry" ]; then mkdir "$target"; [ "$rel" = pam.d ] || mount --bind "$entry" "$target"
    else : > "$target"; mount --bind "${'$'}{own:-$entry}" "$target"; fi
  done
}
mirror ""
mirror "pam.d/"
exec /usr/sbin/sshd "$@"
`;

/** A PAM stack for sudo or su with pam_faillock around pam_unix, as RHEL's system-auth has it; nothing resets the count. */
function faillockPam(service: 'sudo' | 'su', dir: string): string {
  const faillock = `pam_faillock.so dir=${dir} deny=100`;
  return [
    ...(service === 'su' ? ['auth sufficient pam_rootok.so'] : []),
    `auth required ${faillock.replace('.so', '.so preauth')}`,
    'auth sufficient pam_unix.so nullok',
    `auth [default=die] ${faillock.replace('.so', '.so authfail')}`,
    'auth required pam_deny.so',
    '@include common-account',
    'session required pam_limits.so',
    '@include common-session-noninteractive',
    '',
  ].join('\n');
}

/**
 * Removes this process's sshd targets and every vstest- user and sudoers drop-in, except those
 * of other test runs still alive (a crashed run's leftovers are removed with the rest).
 */
export async function cleanupAll(): Promise<void> {
  for (const p of sshds) p.kill('SIGKILL');
  sshds.clear();
  const othersUsers = usersOfOtherLiveRuns();
  const mine = (name: string) => name.startsWith(PREFIX) && !othersUsers.has(name);
  const users = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .map((l) => l.split(':')[0] ?? '')
    .filter(mine);
  for (const u of users) removeTestUser(u);
  if (existsSync(SUDOERS_DIR))
    for (const f of readdirSync(SUDOERS_DIR)) if (mine(f)) rmSync(join(SUDOERS_DIR, f), { force: true });
  rmSync(join(OWNERS_DIR, String(process.pid)), { force: true });
}
