import { describe, expect, it } from 'vitest';
import { SecretStore } from '../activities/secrets/secret-store.js';
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
function storeAt(options: { ttlMs: number }) {
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

  it('purge zero-fills every buffer, closes the session and forgets the handle', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const held = credential();
    const handle = store.put(held);
    const s = session();
    store.attachSession(handle, s);
    expect(await store.purge(handle)).toBe(true);
    expectWiped(held);
    expect(s.closed).toBe(1);
    expect(store.size).toBe(0);
    expect(errorOf(() => store.credential(handle))?.code).toBe('SECRET_EXPIRED');
    expect(await store.purge(handle)).toBe(false);
  });

  it('an expired handle fails with SECRET_EXPIRED and is wiped by the sweeper', async () => {
    const { store, clock } = storeAt({ ttlMs: 500 });
    const held = credential();
    const handle = store.put(held);
    const other = store.put(credential(), 10_000);
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
});
