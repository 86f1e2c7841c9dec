// The Unix technology against real sshd processes with real users and sudoers rules.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unixTechnology } from '../activities/auth/unix.js';
import type { TargetCredentials } from '../activities/auth/technology.js';
import { ScanError } from '../domain/scan-error.js';
import { describeCode } from '../domain/errors.js';
import ssh2 from 'ssh2';
import { cleanupAll, createTestUser, generateKeyPair, startSshd, type SshdServer } from './harness/ssh-targets.js';
import { freePort } from '../runtime/net.js';

const { Server } = ssh2;
const tag = randomBytes(3).toString('hex');
const admin = { name: `vstest-ua-${tag}`, password: `ua-${randomBytes(8).toString('hex')}` };
const plain = { name: `vstest-up-${tag}`, password: `up-${randomBytes(8).toString('hex')}` };
const keyUser = `vstest-uk-${tag}`;
/** Logs in with a key; sudo asks for a password, which the vault supplies as the root-delegation password. */
const delegating = { name: `vstest-ur-${tag}`, password: `ur-${randomBytes(8).toString('hex')}` };
const keyPass = `kp-${tag}`;
let key: { privateKey: string; publicKey: string };
let protectedKey: { privateKey: string; publicKey: string };
let sshd: SshdServer;
let keysOnly: SshdServer;

beforeAll(async () => {
  await cleanupAll();
  key = generateKeyPair();
  protectedKey = generateKeyPair({ passphrase: keyPass });
  await createTestUser({ ...admin, sudo: 'password' });
  await createTestUser({ ...plain, sudo: 'none' });
  await createTestUser({ name: keyUser, authorizedKey: `${key.publicKey}\n${protectedKey.publicKey}`, sudo: 'none' });
  await createTestUser({ ...delegating, authorizedKey: key.publicKey, sudo: 'password' });
  sshd = await startSshd({ address: '127.0.0.2' });
  keysOnly = await startSshd({ address: '127.0.0.3', passwordAuthentication: false });
});
afterAll(async () => {
  await sshd?.stop();
  await keysOnly?.stop();
  await cleanupAll();
});

const opts = { connectTimeoutMs: 10_000, commandTimeoutMs: 30_000 };
const login = (server: SshdServer, creds: TargetCredentials) =>
  unixTechnology.connect({ ip: server.address, port: server.port }, creds, opts);
async function loginError(
  server: SshdServer | { address: string; port: number },
  creds: TargetCredentials,
): Promise<ScanError> {
  try {
    const s = await unixTechnology.connect({ ip: server.address, port: server.port }, creds, opts);
    await s.close();
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    for (const secret of [admin.password, plain.password, keyPass])
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

describe('unix over SSH', () => {
  it('a pinned host key: the matching key logs in and is reported; another key stops the login before any credential is sent', async () => {
    const watched = await startSshd({ address: '127.0.0.4', logLevel: 'INFO' });
    try {
      const creds = { username: admin.name, password: Buffer.from(admin.password) };
      const session = await unixTechnology.connect({ ip: watched.address, port: watched.port }, creds, {
        ...opts,
        expectedHostKey: watched.hostKeySha256,
      });
      expect(session.hostKey).toBe(watched.hostKeySha256);
      await session.close();
      await new Promise((r) => setTimeout(r, 200));
      expect(watched.log()).toMatch(/Accepted password for vstest-ua-/);

      const before = watched.log().length;
      const pinned = 'A'.repeat(43);
      const err = await unixTechnology
        .connect({ ip: watched.address, port: watched.port }, creds, { ...opts, expectedHostKey: pinned })
        .then(
          () => undefined,
          (e: unknown) => e as ScanError,
        );
      expect(err).toBeInstanceOf(ScanError);
      expect(err).toMatchObject({ code: 'HOST_KEY_MISMATCH' });
      expect(err!.message).toContain(`SHA256:${watched.hostKeySha256}`);
      expect(err!.message).toContain(`SHA256:${pinned}`);
      expect(err!.message).not.toContain(admin.password);
      await new Promise((r) => setTimeout(r, 200));
      // sshd saw a connection but no authentication attempt at all.
      expect(watched.log().slice(before)).not.toMatch(/password|Accepted|Failed|authenticat/i);
    } finally {
      await watched.stop();
    }
  });

  it('password login, sudo allowed, and the collection this machine really has', async () => {
    const session = await login(sshd, { username: admin.name, password: Buffer.from(admin.password) });
    try {
      expect(await session.checkPrivileges()).toEqual({ ok: true, method: 'sudo' });
      const data = await session.collect(opts);
      const osId = /^ID=(.*)$/m.exec(execFileSync('cat', ['/etc/os-release']).toString())![1]!.replace(/"/g, '');
      expect(data.facts).toMatchObject({
        'os.id': osId,
        kernel: execFileSync('uname', ['-r']).toString().trim(),
        packageManager: 'dpkg',
      });
      expect(data.facts['hostKey.sha256']).toMatch(/^[A-Za-z0-9+/]{43}$/);
      const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'openssh-server']).toString();
      expect(data.packages).toContainEqual({ name: 'openssh-server', version, arch: expect.any(String) });
      expect(data.packages.length).toBeGreaterThan(100);
    } finally {
      await session.close();
    }
  });

  it("the password goes to ssh2's password authentication and to sudo as the vault's Buffer, never as a string", async () => {
    const { buffer, attempts } = unstringable(admin.password);
    const session = await login(sshd, { username: admin.name, password: buffer });
    try {
      expect(await session.checkPrivileges()).toEqual({ ok: true, method: 'sudo' });
    } finally {
      await session.close();
    }
    expect(attempts).toEqual([]);
  });

  it('a host that only prompts (keyboard-interactive): the password answers the prompt', async () => {
    const prompting = await startSshd({
      address: '127.0.0.5',
      passwordAuthentication: false,
      kbdInteractiveAuthentication: true,
      logLevel: 'INFO',
    });
    try {
      const session = await login(prompting, { username: admin.name, password: Buffer.from(admin.password) });
      await session.close();
      await new Promise((r) => setTimeout(r, 200));
      expect(prompting.log()).toMatch(/Accepted keyboard-interactive\/pam for vstest-ua-/);
    } finally {
      await prompting.stop();
    }
  });

  it('a user without sudo rights: logged in, DELEGATION_NOT_CONFIGURED', async () => {
    const session = await login(sshd, { username: plain.name, password: Buffer.from(plain.password) });
    const check = await session.checkPrivileges();
    await session.close();
    expect(check).toMatchObject({
      ok: false,
      code: 'DELEGATION_NOT_CONFIGURED',
      message: expect.stringMatching(/may not use sudo on this host/),
    });
  });

  it('wrong password → AUTH_FAILED, after exactly one failed login (no second method with the same secret)', async () => {
    const watched = await startSshd({ address: '127.0.0.5', logLevel: 'INFO' });
    try {
      const err = await loginError(watched, { username: admin.name, password: Buffer.from('wrong') });
      expect(err.code).toBe('AUTH_FAILED');
      // What an administrator counts: failed logins in the host's log (password and PAM prompts).
      await expect.poll(() => watched.log()).toMatch(/Failed (password|keyboard-interactive)/);
      expect(watched.log().match(/Failed (password|keyboard-interactive\/pam) for/g)).toHaveLength(1);
    } finally {
      await watched.stop();
    }
  });

  it('a host that takes the login and never answers → AUTH_TIMEOUT (not retried), not unreachable', async () => {
    // A real SSH server (ssh2's) that completes the handshake, then sits on the login request,
    // as a PAM stack with a long delay does.
    const hostKey = generateKeyPair().privateKey;
    const silent = new Server({ hostKeys: [hostKey] }, (client) => {
      client.on('authentication', () => undefined); // never accepts, never rejects
      client.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      const err = await unixTechnology
        .connect(
          { ip: '127.0.0.1', port },
          { username: 'u', password: Buffer.from('p') },
          { ...opts, connectTimeoutMs: 1500 },
        )
        .then(
          () => undefined,
          (e: unknown) => e as ScanError,
        );
      expect(err).toMatchObject({ code: 'AUTH_TIMEOUT' });
      expect(describeCode('AUTH_TIMEOUT')).toMatchObject({ retryable: false, category: 'FAILED' });
    } finally {
      silent.close();
    }
  });

  it('private key, and private key with passphrase; a wrong passphrase → AUTH_FAILED', async () => {
    const s1 = await login(sshd, { username: keyUser, privateKey: Buffer.from(key.privateKey) });
    // A key and no password: sudo -n, which cannot say more than that it wants a password.
    expect(await s1.checkPrivileges()).toMatchObject({ ok: false, code: 'DELEGATION_PASSWORD_MISSING' });
    await s1.close();
    const s2 = await login(keysOnly, {
      username: keyUser,
      privateKey: Buffer.from(protectedKey.privateKey),
      passphrase: Buffer.from(keyPass),
    });
    await s2.close();
    const wrongPassphrase = await loginError(sshd, {
      username: keyUser,
      privateKey: Buffer.from(protectedKey.privateKey),
      passphrase: Buffer.from('nope'),
    });
    expect([wrongPassphrase.code, wrongPassphrase.message]).toEqual([
      'AUTH_FAILED',
      'the passphrase from the vault does not decrypt the private key',
    ]);
  });

  it("a key login escalates with the vault's root-delegation password; a wrong one is named, not tried as the login", async () => {
    const privateKey = () => Buffer.from(key.privateKey);
    const right = await login(sshd, {
      username: delegating.name,
      privateKey: privateKey(),
      rootPassword: Buffer.from(delegating.password),
    });
    expect(await right.checkPrivileges()).toEqual({ ok: true, method: 'sudo' });
    await right.close();
    const wrong = await login(sshd, {
      username: delegating.name,
      privateKey: privateKey(),
      rootPassword: Buffer.from('not-the-sudo-password'),
    });
    expect(await wrong.checkPrivileges()).toMatchObject({
      ok: false,
      code: 'DELEGATION_PASSWORD_REJECTED',
      message: expect.stringMatching(/^sudo did not accept the root-delegation password/),
    });
    await wrong.close();
    // Without one, a key login has no password to give sudo.
    const none = await login(sshd, { username: delegating.name, privateKey: privateKey() });
    expect(await none.checkPrivileges()).toMatchObject({ ok: false, code: 'DELEGATION_PASSWORD_MISSING' });
    await none.close();
  });

  it('an unusable private key is named precisely, before any connection is made', async () => {
    // Nothing listens here: had a connection been tried, the error would be TARGET_UNREACHABLE.
    const nowhere = { address: '127.0.0.9', port: await freePort('127.0.0.9') };
    const noPassphrase = await loginError(nowhere, {
      username: keyUser,
      privateKey: Buffer.from(protectedKey.privateKey),
    });
    expect([noPassphrase.code, noPassphrase.message]).toEqual([
      'AUTH_FAILED',
      expect.stringMatching(/^the private key is encrypted, but no passphrase came with it from the vault/),
    ]);
    const wrongPassphrase = await loginError(nowhere, {
      username: keyUser,
      privateKey: Buffer.from(protectedKey.privateKey),
      passphrase: Buffer.from('nope'),
    });
    expect(wrongPassphrase.message).toBe('the passphrase from the vault does not decrypt the private key');
    const notAKey = await loginError(nowhere, { username: keyUser, privateKey: Buffer.from('not a key at all') });
    expect([notAKey.code, notAKey.message]).toEqual([
      'AUTH_FAILED',
      expect.stringMatching(
        /^the private key from the vault is not one the scanner can read .*: Unsupported key format$/,
      ),
    ]);
    const publicOnly = await loginError(nowhere, { username: keyUser, privateKey: Buffer.from(key.publicKey) });
    expect(publicOnly.message).toBe('the vault holds a public key where the private key should be');
  });

  it('a cancelled scan stops a running command at once', async () => {
    // Every command of this user's shell first sleeps 30 s; the command timeout is a minute.
    const slow = { name: `vstest-us-${tag}`, password: `us-${randomBytes(8).toString('hex')}` };
    const user = await createTestUser({ ...slow, sudo: 'none' });
    execFileSync('bash', [
      '-c',
      `printf 'sleep 30\\n' > ${user.home}/.bashrc && chown ${slow.name} ${user.home}/.bashrc`,
    ]);
    const session = await login(sshd, { username: slow.name, password: Buffer.from(slow.password) });
    const cancel = new AbortController();
    setTimeout(() => cancel.abort(), 500);
    const started = Date.now();
    const outcome = await session.collect({ commandTimeoutMs: 60_000, signal: cancel.signal }).then(
      () => 'finished',
      (err: ScanError) => `${err.code}: ${err.message}`,
    );
    await session.close();
    expect(outcome).toBe('COLLECTION_FAILED: the scan was cancelled while a command ran');
    expect(Date.now() - started).toBeLessThan(5_000);
    user.remove();
  });

  it('a password where the host takes keys only → AUTH_METHOD_REJECTED', async () => {
    expect((await loginError(keysOnly, { username: admin.name, password: Buffer.from(admin.password) })).code).toBe(
      'AUTH_METHOD_REJECTED',
    );
  });

  it('nothing listening → TARGET_UNREACHABLE', async () => {
    expect(
      (
        await loginError(
          { address: '127.0.0.9', port: await freePort('127.0.0.9') },
          { username: admin.name, password: Buffer.from('x') },
        )
      ).code,
    ).toBe('TARGET_UNREACHABLE');
  });

  it('the sudo password is never on a command line', async () => {
    const session = await login(sshd, { username: admin.name, password: Buffer.from(admin.password) });
    const seen: string[] = [];
    const watcher = setInterval(() => seen.push(execFileSync('ps', ['-eo', 'args']).toString()), 20);
    await session.checkPrivileges();
    clearInterval(watcher);
    seen.push(execFileSync('ps', ['-eo', 'args']).toString());
    await session.close();
    expect(seen.join('\n')).not.toContain(admin.password);
  });
});
