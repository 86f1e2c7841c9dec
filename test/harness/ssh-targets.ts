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

export interface TestUserOptions {
  name: string;
  password?: string;
  authorizedKey?: string;
  sudo?: 'password' | 'none';
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
  if (options.sudo === 'password') {
    const staged = join(mkdtempSync(join(tmpdir(), 'vstest-sudoers-')), name);
    writeFileSync(staged, `${name} ALL=(ALL) ALL\n`, { mode: 0o440 });
    run('visudo', ['-c', '-q', '-f', staged]);
    renameSync(staged, join(SUDOERS_DIR, name));
  }
  return { name, home, remove: () => removeTestUser(name) };
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
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
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
