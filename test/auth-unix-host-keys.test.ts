// The host-key policy of a Unix record (settings.hostKeyPolicy), as the login applies it from the
// sealed settings it is given: tofu (the default), strict, off; against a real sshd whose log
// shows whether any authentication was attempted.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unixTechnology } from '../activities/auth/unix.js';
import type { ConnectOptions } from '../activities/auth/technology.js';
import { describeCode } from '../domain/errors.js';
import { ScanError } from '../domain/scan-error.js';
import { freePort } from '../runtime/net.js';
import { cleanupAll, createTestUser, startSshd, type SshdServer } from './harness/ssh-targets.js';

const tag = randomBytes(3).toString('hex');
const user = { name: `vstest-hk-${tag}`, password: `hk-${randomBytes(9).toString('hex')}` };
const OTHER_KEY = 'A'.repeat(43);
let sshd: SshdServer;

beforeAll(async () => {
  await cleanupAll();
  await createTestUser({ ...user, sudo: 'none' });
  sshd = await startSshd({ address: '127.0.7.2', logLevel: 'INFO' });
});
afterAll(async () => {
  await sshd?.stop();
  await cleanupAll();
});

const opts = { connectTimeoutMs: 10_000, commandTimeoutMs: 30_000 };
const credentials = () => ({ username: user.name, password: Buffer.from(user.password) });
const connect = (options: Partial<ConnectOptions>, target: { address: string; port: number } = sshd) =>
  unixTechnology.connect({ ip: target.address, port: target.port }, credentials(), { ...opts, ...options });
const refusal = (options: Partial<ConnectOptions>, target?: { address: string; port: number }) =>
  connect(options, target).then(
    async (session) => {
      await session.close();
      throw new Error('expected the login to be refused');
    },
    (err: unknown) => err as ScanError,
  );

/** What sshd logged while `body` ran. */
async function logDuring(body: () => Promise<unknown>): Promise<string> {
  const before = sshd.log().length;
  await body();
  await new Promise((r) => setTimeout(r, 300));
  return sshd.log().slice(before);
}

describe('hostKeyPolicy', () => {
  it('tofu (the default): the first key is accepted and offered for pinning', async () => {
    const session = await connect({ settings: {} });
    try {
      expect(session.hostKey).toBe(sshd.hostKeySha256);
      const { facts } = await session.collect(opts);
      expect(facts).toMatchObject({ 'hostKey.policy': 'tofu', 'hostKey.sha256': sshd.hostKeySha256 });
      expect(facts['hostKey.checked']).toBeUndefined();
    } finally {
      await session.close();
    }
  });

  it('strict without a registered key: HOST_KEY_UNKNOWN naming the key presented, and no authentication attempted', async () => {
    let err: ScanError | undefined;
    const log = await logDuring(async () => {
      err = await refusal({ settings: { hostKeyPolicy: 'strict' }, expectedHostKey: null });
    });
    expect(err).toBeInstanceOf(ScanError);
    expect(err).toMatchObject({ code: 'HOST_KEY_UNKNOWN' });
    expect(err!.message).toContain(`presented the SSH host key SHA256:${sshd.hostKeySha256}`);
    expect(err!.message).not.toContain(user.password);
    expect(describeCode('HOST_KEY_UNKNOWN')).toMatchObject({ category: 'FAILED', retryable: false });
    // sshd saw a connection, and not one authentication attempt (not even "none").
    expect(log).toMatch(/Connection (closed|reset) by 127\.0\.0\.1|preauth/);
    expect(log).not.toMatch(/password|Accepted|Failed|authenticat|invalid user/i);
  });

  it('strict with the registered key logs in, and offers nothing to pin; another key is a mismatch', async () => {
    const session = await connect({ settings: { hostKeyPolicy: 'strict' }, expectedHostKey: sshd.hostKeySha256 });
    try {
      expect(session.hostKey).toBeUndefined();
      expect((await session.collect(opts)).facts['hostKey.policy']).toBe('strict');
    } finally {
      await session.close();
    }
    const err = await refusal({ settings: { hostKeyPolicy: 'strict' }, expectedHostKey: OTHER_KEY });
    expect(err).toMatchObject({ code: 'HOST_KEY_MISMATCH' });
  });

  it('off: a host whose key differs from the pinned one still logs in, flagged in its facts, nothing offered for pinning', async () => {
    let facts: Record<string, string> = {};
    const log = await logDuring(async () => {
      const session = await connect({ settings: { hostKeyPolicy: 'off' }, expectedHostKey: OTHER_KEY });
      try {
        expect(session.hostKey).toBeUndefined();
        facts = (await session.collect(opts)).facts;
      } finally {
        await session.close();
      }
    });
    expect(log).toMatch(new RegExp(`Accepted password for ${user.name}`));
    expect(facts).toMatchObject({
      'hostKey.policy': 'off',
      'hostKey.checked': 'no',
      'hostKey.sha256': sshd.hostKeySha256,
      'hostKey.pinnedMismatch': `SHA256:${OTHER_KEY}`,
    });
  });

  it('off: a refused login says the key was not checked (the password went to an unverified host)', async () => {
    const wrong = await unixTechnology
      .connect(
        { ip: sshd.address, port: sshd.port },
        { username: user.name, password: Buffer.from('not-the-password') },
        { ...opts, settings: { hostKeyPolicy: 'off' } },
      )
      .then(
        () => undefined,
        (e: unknown) => e as ScanError,
      );
    expect(wrong).toMatchObject({ code: 'AUTH_FAILED' });
    expect(wrong!.message).toMatch(
      new RegExp(`the host key SHA256:${sshd.hostKeySha256.replace(/[+/]/g, '\\$&')} was not checked`),
    );
  });

  it('settings the API would refuse are refused before any connection (CONFIG_INVALID naming the field)', async () => {
    // Nothing listens here: a connection attempt would be TARGET_UNREACHABLE.
    const nowhere = { address: '127.0.7.3', port: await freePort('127.0.7.3') };
    for (const [settings, field] of [
      [{ hostKeyPolicy: 'sometimes' }, 'settings.hostKeyPolicy'],
      [{ delegation: { method: 'doas' } }, 'settings.delegation.method'],
      [{ delegation: { method: 'command', command: 'pbrun; id' } }, 'settings.delegation.command'],
      [{ delegation: { method: 'command' } }, 'settings.delegation.command'],
      [{ delegation: { method: 'sudo', suUser: 'root' } }, 'settings.delegation.suUser'],
      [{ colour: 'red' }, 'settings.colour'],
    ] as const) {
      const err = await refusal({ settings }, nowhere);
      expect([err.code, err.message.split(' ')[3]], JSON.stringify(settings)).toEqual(['CONFIG_INVALID', field]);
    }
  });
});
