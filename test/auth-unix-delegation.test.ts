// Root delegation on real hosts: real users, real sudoers drop-ins (checked by visudo), real su,
// over a real sshd. The sshd runs in a mount namespace of its own (test/harness/ssh-targets.ts)
// whose /etc/shadow gives root a test password, so `su -` to root is tested for real while the
// machine's root password is never touched, and whose sudo and su authenticate through
// pam_faillock (as RHEL's do), so a test can count the failed authentications a host records.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unixTechnology } from '../activities/auth/unix.js';
import type { AuthSession, TargetCredentials } from '../activities/auth/technology.js';
import { describeCode } from '../domain/errors.js';
import {
  cleanupAll,
  createTestUser,
  generateKeyPair,
  startSshd,
  writeSudoers,
  type SshdServer,
} from './harness/ssh-targets.js';

const tag = randomBytes(3).toString('hex');
const secret = (p: string) => `${p}-${randomBytes(9).toString('hex')}`;
const ROOT_PASSWORD = secret('root');
/** Where sudo logs each test user's commands and failed attempts, and pam_faillock its count. */
const work = mkdtempSync(join(tmpdir(), 'vstest-delegation-'));
chmodSync(work, 0o755);
const sudoLog = (user: string) => join(work, `${user}.sudo.log`);
const faillockDir = join(work, 'faillock');

const users = {
  full: { name: `vstest-df-${tag}`, password: secret('df') },
  nopasswd: { name: `vstest-dn-${tag}`, password: secret('dn') },
  requiretty: { name: `vstest-dt-${tag}`, password: secret('dt') },
  limited: { name: `vstest-dl-${tag}`, password: secret('dl') },
  none: { name: `vstest-dx-${tag}`, password: secret('dx') },
  su: { name: `vstest-ds-${tag}`, password: secret('ds') },
  keyed: { name: `vstest-dk-${tag}`, password: secret('dk') },
};
const allSecrets = [ROOT_PASSWORD, ...Object.values(users).map((u) => u.password)];
let key: { privateKey: string; publicKey: string };
let sshd: SshdServer;

const ROOT_COMMANDS = '/usr/bin/id -u, /usr/sbin/sshd -T, /usr/bin/passwd -S -a';
const opts = { connectTimeoutMs: 10_000, commandTimeoutMs: 30_000 };

beforeAll(async () => {
  await cleanupAll();
  key = generateKeyPair();
  execFileSync('mkdir', ['-m', '0700', faillockDir]);
  const { full, nopasswd, requiretty, limited, none, su, keyed } = users;
  await createTestUser({ ...full, sudo: { logfile: sudoLog(full.name) } });
  await createTestUser({ ...nopasswd, authorizedKey: key.publicKey, sudo: 'nopasswd' });
  await createTestUser({ ...requiretty, sudo: { requiretty: true, logfile: sudoLog(requiretty.name) } });
  // sudo works for it, but only for id -u: what the collection needs beyond that is refused.
  await createTestUser({ ...limited, sudo: { commands: ['/usr/bin/id -u'], logfile: sudoLog(limited.name) } });
  await createTestUser({ ...none, sudo: 'none' });
  await createTestUser({ ...su, sudo: 'none' });
  // sudo with its password; it logs in with a key, and the vault gives no password.
  await createTestUser({ ...keyed, authorizedKey: key.publicKey, sudo: 'password' });
  // After the users: the namespace's /etc/shadow is copied from the machine's when it starts.
  sshd = await startSshd({ address: '127.0.7.1', rootPassword: ROOT_PASSWORD, faillockDir, logLevel: 'INFO' });
});
afterAll(async () => {
  await sshd?.stop();
  await cleanupAll();
  rmSync(work, { recursive: true, force: true });
});

async function session(
  user: { name: string; password?: string },
  extra: Partial<TargetCredentials> = {},
  settings: Record<string, unknown> = {},
): Promise<AuthSession> {
  const credentials: TargetCredentials = {
    username: user.name,
    ...(user.password !== undefined && { password: Buffer.from(user.password) }),
    ...extra,
  };
  return unixTechnology.connect({ ip: sshd.address, port: sshd.port }, credentials, { ...opts, settings });
}

/** Logs in, checks privileges and collects, as the appliance does; the session is closed after. */
async function scan(...args: Parameters<typeof session>) {
  const s = await session(...args);
  try {
    const check = await s.checkPrivileges();
    const { facts } = await s.collect(opts);
    const message = check.ok ? '' : check.message;
    for (const value of [message, ...Object.values(facts)])
      for (const leaked of allSecrets) expect(value).not.toContain(leaked);
    return { check, facts };
  } finally {
    await s.close();
  }
}

/** The failed authentications pam_faillock recorded for an account on the target. */
function failedAuthentications(account: string): number {
  const out = execFileSync('faillock', ['--dir', faillockDir, '--user', account]).toString();
  return out.split('\n').filter((l) => /^\d{4}-\d\d-\d\d /.test(l)).length;
}

function localSshdSays(key: string): string {
  const line = execFileSync('/usr/sbin/sshd', ['-T'])
    .toString()
    .split('\n')
    .find((l) => l.startsWith(`${key} `));
  return line!.slice(key.length + 1);
}

describe('root delegation with sudo', () => {
  it('full sudo with the login password: root confirmed, the root steps collected, the least-privilege rule listed', async () => {
    const { full } = users;
    const { check, facts } = await scan(full);
    expect(check).toEqual({ ok: true, method: 'sudo' });
    expect(facts).toMatchObject({
      'privileges.method': 'sudo',
      'privileges.root': 'yes',
      'privileges.rootCommands': ROOT_COMMANDS,
      // The scan had a password to give, so the rule keeps asking for it.
      'privileges.sudoersRule': `${full.name} ALL=(root) ${ROOT_COMMANDS}`,
      // sshd -T prints the host's effective configuration only as root.
      'sshd.permitRootLogin': localSshdSays('permitrootlogin'),
      'sshd.passwordAuthentication': localSshdSays('passwordauthentication'),
    });
    expect(facts['privileges.refused']).toBeUndefined();
    // passwd -S -a reads /etc/shadow (here the namespace's): root and the test accounts, with passwords.
    expect(facts['accounts.passwordNeverExpires']!.split(',')).toEqual(expect.arrayContaining(['root', full.name]));
    expect(Number(facts['accounts.total'])).toBeGreaterThanOrEqual(Object.keys(users).length + 1);
    // sudo's own log: each command as root, without a terminal (no TTY= field).
    const log = readFileSync(sudoLog(full.name), 'utf8').replace(/\n\s+/g, ' ');
    for (const command of ROOT_COMMANDS.split(', '))
      expect(log).toMatch(new RegExp(`: ${full.name} : PWD=[^;]+ ; USER=root ; COMMAND=${command}$`, 'm'));
  });

  it('NOPASSWD with a key and no password: sudo -n, and the rule says NOPASSWD', async () => {
    const { nopasswd } = users;
    const { check, facts } = await scan({ name: nopasswd.name }, { privateKey: Buffer.from(key.privateKey) });
    expect(check).toEqual({ ok: true, method: 'sudo' });
    expect(facts['privileges.sudoersRule']).toBe(`${nopasswd.name} ALL=(root) NOPASSWD: ${ROOT_COMMANDS}`);
    expect(facts['sshd.permitRootLogin']).toBe(localSshdSays('permitrootlogin'));
  });

  it('Defaults requiretty: sudo says it needs a terminal, and the commands run again on a pseudo-terminal', async () => {
    const { requiretty } = users;
    const { check, facts } = await scan(requiretty);
    expect(check).toEqual({ ok: true, method: 'sudo' });
    expect(facts['privileges.root']).toBe('yes');
    expect(facts['sshd.permitRootLogin']).toBe(localSshdSays('permitrootlogin'));
    const log = readFileSync(sudoLog(requiretty.name), 'utf8').replace(/\n\s+/g, ' ');
    // What sudo refused without a terminal, then ran on one.
    expect(log).toMatch(/: no tty ; PWD=[^;]+ ; USER=root ; COMMAND=\/usr\/bin\/id -u$/m);
    for (const command of ROOT_COMMANDS.split(', '))
      expect(log).toMatch(new RegExp(`TTY=pts/\\d+ ; PWD=[^;]+ ; USER=root ; COMMAND=${command}$`, 'm'));
  });

  it('sudo without the rights the collection needs: DELEGATION_RIGHTS_MISSING naming them; the rule it lists, installed, makes the next scan pass', async () => {
    const { limited } = users;
    const { check, facts } = await scan(limited);
    const rule = `${limited.name} ALL=(root) ${ROOT_COMMANDS}`;
    expect(check).toMatchObject({ ok: false, code: 'DELEGATION_RIGHTS_MISSING' });
    const message = (check as { message: string }).message;
    expect(message).toContain('refused what the collection needs as root: /usr/sbin/sshd -T, /usr/bin/passwd -S -a');
    expect(message).toContain(`is not allowed to execute '/usr/sbin/sshd -T' as root`);
    expect(message).toContain(rule);
    expect(facts).toMatchObject({
      'privileges.root': 'no',
      'privileges.refused': '/usr/sbin/sshd -T, /usr/bin/passwd -S -a',
      'privileges.sudoersRule': rule,
    });
    expect(facts['sshd.permitRootLogin']).toBeUndefined();
    expect(describeCode('DELEGATION_RIGHTS_MISSING')).toMatchObject({
      category: 'INSUFFICIENT_PRIVILEGES',
      retryable: false,
    });

    // An administrator pastes the rule into the account's drop-in (visudo checks it first).
    writeSudoers(
      limited.name,
      `${facts['privileges.sudoersRule']}\nDefaults:${limited.name} logfile=${sudoLog(limited.name)}`,
    );
    const again = await scan(limited);
    expect(again.check).toEqual({ ok: true, method: 'sudo' });
    expect(again.facts['sshd.permitRootLogin']).toBe(localSshdSays('permitrootlogin'));
  });

  it('an account sudo does not know: DELEGATION_NOT_CONFIGURED, with the rule to add', async () => {
    const { check, facts } = await scan(users.none);
    expect(check).toMatchObject({
      ok: false,
      code: 'DELEGATION_NOT_CONFIGURED',
      message: expect.stringMatching(/may not use sudo on this host \(vstest-dx-\w+ is not in the sudoers file\.?\)/),
    });
    expect((check as { message: string }).message).toContain(`${users.none.name} ALL=(root) ${ROOT_COMMANDS}`);
    // The collection that needs no root still ran.
    expect(facts['os.id']).toBeTruthy();
    expect(facts['privileges.root']).toBe('no');
  });

  it('a wrong root-delegation password: DELEGATION_PASSWORD_REJECTED after one failed authentication on the host, never two', async () => {
    const { full } = users;
    const before = failedAuthentications(full.name);
    const { check } = await scan(full, { rootPassword: Buffer.from('not-the-sudo-password') });
    expect(check).toMatchObject({
      ok: false,
      code: 'DELEGATION_PASSWORD_REJECTED',
      message: expect.stringMatching(/^sudo did not accept the root-delegation password \(given once/),
    });
    // sudo asks again after a wrong password; answering that prompt with nothing (closing
    // the channel, or its end of input) costs a second failure in pam_faillock's count.
    expect(failedAuthentications(full.name) - before).toBe(1);
    expect(describeCode('DELEGATION_PASSWORD_REJECTED')).toMatchObject({ retryable: false, failedLogin: 'target' });
  });

  it('a key login with no password to give sudo: DELEGATION_PASSWORD_MISSING, with the NOPASSWD rule', async () => {
    const { check } = await scan({ name: users.keyed.name }, { privateKey: Buffer.from(key.privateKey) });
    expect(check).toMatchObject({
      ok: false,
      code: 'DELEGATION_PASSWORD_MISSING',
      message: expect.stringMatching(/^sudo asks for a password, and the vault gave none for it/),
    });
    expect((check as { message: string }).message).toContain(
      `${users.keyed.name} ALL=(root) NOPASSWD: ${ROOT_COMMANDS}`,
    );
  });
});

describe('root delegation with su, sudo su - and a delegation command', () => {
  it('su - to root with the root password from the vault (rootPassword), on a pseudo-terminal', async () => {
    const { su } = users;
    const { check, facts } = await scan(
      su,
      { rootPassword: Buffer.from(ROOT_PASSWORD) },
      {
        delegation: { method: 'su' },
      },
    );
    expect(check).toEqual({ ok: true, method: 'su' });
    expect(facts).toMatchObject({
      'privileges.method': 'su',
      'privileges.root': 'yes',
      'sshd.permitRootLogin': localSshdSays('permitrootlogin'),
    });
    expect(facts['accounts.passwordNeverExpires']!.split(',')).toContain('root');
  });

  it('su without a root password is not tried with the login password: DELEGATION_PASSWORD_MISSING', async () => {
    const before = failedAuthentications('root');
    const { check } = await scan(users.su, {}, { delegation: { method: 'su' } });
    expect(check).toMatchObject({
      ok: false,
      code: 'DELEGATION_PASSWORD_MISSING',
      message: expect.stringMatching(/^su needs the password of root \(the root password\), and the vault gave none/),
    });
    expect(failedAuthentications('root')).toBe(before);
  });

  it('su with a wrong root password: DELEGATION_PASSWORD_REJECTED, one failed authentication of root', async () => {
    const before = failedAuthentications('root');
    const { check } = await scan(users.su, { rootPassword: Buffer.from('not-root') }, { delegation: { method: 'su' } });
    expect(check).toMatchObject({ ok: false, code: 'DELEGATION_PASSWORD_REJECTED' });
    expect(failedAuthentications('root') - before).toBe(1);
  });

  it('su to an account that does not exist: DELEGATION_NOT_CONFIGURED, no password given', async () => {
    const before = failedAuthentications('root');
    const { check } = await scan(
      users.su,
      { rootPassword: Buffer.from(ROOT_PASSWORD) },
      {
        delegation: { method: 'su', suUser: `vstest-nobody-${tag}` },
      },
    );
    expect(check).toMatchObject({
      ok: false,
      code: 'DELEGATION_NOT_CONFIGURED',
      message: expect.stringMatching(/^su to vstest-nobody-\w+ is not possible .*does not exist/),
    });
    expect(failedAuthentications('root')).toBe(before);
  });

  it('the root password reaches su as the Buffer the vault gave, never as a string or on a command line', async () => {
    const buffer = Buffer.from(ROOT_PASSWORD);
    const attempts: string[] = [];
    for (const name of ['toString', 'toLocaleString', 'toJSON', 'utf8Slice', 'latin1Slice', 'asciiSlice', 'ucs2Slice'])
      Object.defineProperty(buffer, name, {
        value: () => {
          attempts.push(name);
          throw new Error(`the password was made a string (${name})`);
        },
      });
    const seen: string[] = [];
    const watcher = setInterval(() => seen.push(execFileSync('ps', ['-eo', 'args']).toString()), 20);
    try {
      const { check } = await scan(users.su, { rootPassword: buffer }, { delegation: { method: 'su' } });
      expect(check).toEqual({ ok: true, method: 'su' });
    } finally {
      clearInterval(watcher);
    }
    expect(attempts).toEqual([]);
    expect(seen.join('\n')).not.toContain(ROOT_PASSWORD);
  });

  it('sudo su -: the sudo password, then su as root', async () => {
    const { check, facts } = await scan(users.full, {}, { delegation: { method: 'sudo-su' } });
    expect(check).toEqual({ ok: true, method: 'sudo-su' });
    expect(facts['sshd.permitRootLogin']).toBe(localSshdSays('permitrootlogin'));
    const log = readFileSync(sudoLog(users.full.name), 'utf8').replace(/\n\s+/g, ' ');
    expect(log).toMatch(/USER=root ; COMMAND=\/usr\/bin\/su - root -c '\/usr\/sbin\/sshd -T'$/m);
  });

  it('a delegation command (a dzdo-like tool: here sudo itself, with its own prompt) on a pseudo-terminal', async () => {
    const { check, facts } = await scan(
      users.full,
      {},
      {
        delegation: { method: 'command', command: '/usr/bin/sudo -u root' },
      },
    );
    expect(check).toEqual({ ok: true, method: 'command' });
    expect(facts['sshd.permitRootLogin']).toBe(localSshdSays('permitrootlogin'));
    const refused = await scan(users.none, {}, { delegation: { method: 'command', command: '/usr/bin/sudo -u root' } });
    expect(refused.check).toMatchObject({ ok: false, code: 'DELEGATION_NOT_CONFIGURED' });
    const missing = await scan(users.full, {}, { delegation: { method: 'command', command: `vstest-pbrun-${tag}` } });
    expect(missing.check).toMatchObject({
      ok: false,
      code: 'DELEGATION_NOT_CONFIGURED',
      message: `vstest-pbrun-${tag} is not installed on this host (or not on the account's PATH)`,
    });
  });
});
