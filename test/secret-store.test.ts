import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_LIFETIME_MS, SecretStore } from '../activities/secrets/secret-store.js';
import type { FetchedCredential } from '../activities/vault/adapter.js';
import type { AuthSession } from '../activities/auth/technology.js';
import { ScanError } from '../domain/scan-error.js';

function credential() {
  return {
    password: Buffer.from('pw-unit-secret'),
    privateKey: Buffer.from('key-unit-secret'),
    passphrase: Buffer.from('pass-unit-secret'),
  };
}

const FIELDS = ['password', 'privateKey', 'passphrase'] as const;

/** Every field of the credential is there and holds nothing but zeros. */
function expectWiped(held: FetchedCredential): void {
  for (const field of FIELDS) {
    const buffer = held[field];
    expect(buffer?.length, `${field} is present`).toBeGreaterThan(0);
    expect(
      buffer!.every((b) => b === 0),
      `${field} is zero-filled`,
    ).toBe(true);
  }
}

function expectIntact(held: FetchedCredential): void {
  expect(FIELDS.map((f) => held[f]?.toString())).toEqual(['pw-unit-secret', 'key-unit-secret', 'pass-unit-secret']);
}

function session(): AuthSession & { closed: number } {
  return {
    closed: 0,
    checkPrivileges: async () => ({ ok: true, method: 'root' }),
    collect: async () => ({ facts: {}, packages: [] }),
    async close() {
      this.closed++;
    },
  };
}

function errorOf(action: () => unknown): ScanError | undefined {
  try {
    action();
  } catch (e) {
    return e as ScanError;
  }
  return undefined;
}

/** A store on a clock the test moves by hand. */
function storeAt(options: { ttlMs: number; maxLifetimeMs?: number }) {
  const clock = { now: 1_000 };
  const store = new SecretStore({ ...options, now: () => clock.now });
  return { store, clock };
}

describe('SecretStore', () => {
  it('hands out opaque handles that reveal nothing of the secret', () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const handle = store.put(credential());
    expect(handle).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(handle).not.toContain('unit-secret');
    expectIntact(store.credential(handle));
  });

  it('purge zero-fills every buffer, closes the session, stops a lease holder and forgets the handle', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const held = credential();
    const handle = store.put(held);
    const lease = store.lease(handle);
    const s = session();
    store.attachSession(handle, s);
    expect(await store.purge(handle)).toBe(true);
    expectWiped(held);
    expect(s.closed).toBe(1);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toMatchObject({ code: 'SECRET_EXPIRED' });
    expect(store.size).toBe(0);
    expect(errorOf(() => store.credential(handle))?.code).toBe('SECRET_EXPIRED');
    expect(await store.purge(handle)).toBe(false);
  });

  it('an expired handle fails with SECRET_EXPIRED and is wiped by the sweeper', async () => {
    const { store, clock } = storeAt({ ttlMs: 500 });
    const held = credential();
    const handle = store.put(held);
    const other = store.put(credential(), { ttlMs: 10_000 });
    clock.now += 600;
    expect(await store.sweepExpired()).toBe(1);
    expectWiped(held);
    expect(errorOf(() => store.credential(handle))?.code).toBe('SECRET_EXPIRED');
    expectIntact(store.credential(other));
  });

  it('an expired handle asked for before the sweeper came is refused and wiped at once', () => {
    const { store, clock } = storeAt({ ttlMs: 500 });
    const held = credential();
    const handle = store.put(held);
    clock.now += 500;
    expect(errorOf(() => store.credential(handle))?.message).toBe('the secret handle expired before it was used');
    expectWiped(held);
    expect(store.size).toBe(0);
  });

  it('purgeAll wipes everything, as the worker shutdown hook does', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const a = credential();
    const b = credential();
    store.put(a);
    store.put(b);
    expect(await store.purgeAll()).toBe(2);
    expectWiped(a);
    expectWiped(b);
  });

  it('a leased secret outlives its TTL; once released, the TTL runs again from the release', async () => {
    const { store, clock } = storeAt({ ttlMs: 500, maxLifetimeMs: 60_000 });
    const held = credential();
    const handle = store.put(held);
    const lease = store.lease(handle);
    clock.now += 2_000; // four TTLs of work
    expect(await store.sweepExpired()).toBe(0);
    expectIntact(store.credential(handle));
    clock.now += 2_000;
    lease.release();
    clock.now += 499;
    expect(await store.sweepExpired()).toBe(0);
    expectIntact(store.credential(handle));
    clock.now += 1;
    expect(await store.sweepExpired()).toBe(1);
    expectWiped(held);
    expect(lease.signal.aborted).toBe(true);
  });

  it('the secret lives while any lease is held; releasing a lease twice counts once', async () => {
    const { store, clock } = storeAt({ ttlMs: 500, maxLifetimeMs: 60_000 });
    const handle = store.put(credential());
    const first = store.lease(handle);
    const second = store.lease(handle);
    first.release();
    first.release();
    clock.now += 1_000;
    expect(await store.sweepExpired()).toBe(0);
    second.release();
    clock.now += 500;
    expect(await store.sweepExpired()).toBe(1);
  });

  it('no lease keeps a secret past its maximum lifetime: the sweeper wipes it, closes its session and stops the holder', async () => {
    const { store, clock } = storeAt({ ttlMs: 500, maxLifetimeMs: 3_000 });
    const held = credential();
    const handle = store.put(held);
    const lease = store.lease(handle);
    const s = session();
    store.attachSession(handle, s);
    clock.now += 2_999;
    expect(await store.sweepExpired()).toBe(0);
    expect(lease.signal.aborted).toBe(false);
    clock.now += 1;
    expect(await store.sweepExpired()).toBe(1);
    expectWiped(held);
    expect(s.closed).toBe(1);
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBeInstanceOf(ScanError);
    expect(lease.signal.reason).toMatchObject({
      code: 'SECRET_EXPIRED',
      message: 'the secret reached its maximum lifetime of 3000 ms',
    });
    expect(errorOf(() => store.credential(handle))?.code).toBe('SECRET_EXPIRED');
    lease.release(); // the holder's finally, after the fact: harmless
    expect(store.size).toBe(0);
  });

  it('a batch may ask for a shorter lifetime than the store allows, never a longer one', async () => {
    const { store, clock } = storeAt({ ttlMs: 500, maxLifetimeMs: 3_000 });
    const shorter = store.put(credential(), { maxLifetimeMs: 1_000 });
    const longer = store.put(credential(), { maxLifetimeMs: 60_000 });
    const [a, b] = [store.lease(shorter), store.lease(longer)];
    clock.now += 1_000;
    expect(await store.sweepExpired()).toBe(1);
    expect(a.signal.aborted).toBe(true);
    clock.now += 2_000;
    expect(await store.sweepExpired()).toBe(1);
    expect(b.signal.reason).toMatchObject({ message: 'the secret reached its maximum lifetime of 3000 ms' });
  });

  it('a leased secret past its maximum lifetime is refused to its holder even before the sweeper comes', () => {
    const { store, clock } = storeAt({ ttlMs: 500, maxLifetimeMs: 3_000 });
    const held = credential();
    const handle = store.put(held);
    const lease = store.lease(handle);
    clock.now += 3_000;
    expect(errorOf(() => store.credential(handle))?.code).toBe('SECRET_EXPIRED');
    expectWiped(held);
    expect(lease.signal.aborted).toBe(true);
  });

  it('the maximum lifetime is an hour unless set, and a TTL longer than it is refused', async () => {
    const { store, clock } = storeAt({ ttlMs: 500 });
    const handle = store.put(credential());
    store.lease(handle);
    clock.now += DEFAULT_MAX_LIFETIME_MS - 1;
    expect(await store.sweepExpired()).toBe(0);
    clock.now += 1;
    expect(await store.sweepExpired()).toBe(1);
    expect(DEFAULT_MAX_LIFETIME_MS).toBe(60 * 60_000);
    expect(() => new SecretStore({ ttlMs: 2_000, maxLifetimeMs: 1_000 })).toThrow(RangeError);
  });

  it('a lease on an expired or purged handle is refused with SECRET_EXPIRED', async () => {
    const { store, clock } = storeAt({ ttlMs: 500 });
    const expired = store.put(credential());
    const purged = store.put(credential());
    await store.purge(purged);
    clock.now += 500;
    expect(errorOf(() => store.lease(expired))?.code).toBe('SECRET_EXPIRED');
    expect(errorOf(() => store.lease(purged))?.code).toBe('SECRET_EXPIRED');
  });

  it('a session opened for a secret that expired meanwhile is closed, not left running', () => {
    const { store, clock } = storeAt({ ttlMs: 500 });
    const handle = store.put(credential());
    clock.now += 500;
    const s = session();
    expect(errorOf(() => store.attachSession(handle, s))?.code).toBe('SECRET_EXPIRED');
    expect(s.closed).toBe(1);
  });
});
