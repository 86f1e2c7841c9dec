import { describe, expect, it } from 'vitest';
import { SecretStore } from '../activities/secrets/secret-store.js';
import { ScanError } from '../domain/scan-error.js';

function credential() {
  return { password: Buffer.from('pw-unit-secret'), privateKey: Buffer.from('key-unit-secret') };
}

describe('SecretStore', () => {
  it('hands out opaque handles that reveal nothing of the secret', () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const handle = store.put(credential());
    expect(handle).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(handle).not.toContain('unit-secret');
    expect(store.credential(handle).password?.toString()).toBe('pw-unit-secret');
  });

  it('purge zero-fills every buffer, closes the session and forgets the handle', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const held = credential();
    const handle = store.put(held);
    let closed = 0;
    store.attachSession(handle, {
      checkPrivileges: async () => ({ ok: true, method: 'root' }),
      collect: async () => ({ facts: {}, packages: [] }),
      close: async () => void closed++,
    });
    expect(await store.purge(handle)).toBe(true);
    expect(held.password!.every((b) => b === 0)).toBe(true);
    expect(held.privateKey!.every((b) => b === 0)).toBe(true);
    expect(closed).toBe(1);
    expect(store.size).toBe(0);
    expect(() => store.credential(handle)).toThrow(ScanError);
    expect(await store.purge(handle)).toBe(false);
  });

  it('an expired handle fails with SECRET_EXPIRED and is wiped by the sweeper', async () => {
    let now = 1_000;
    const store = new SecretStore({ ttlMs: 500, now: () => now });
    const held = credential();
    const handle = store.put(held);
    const other = store.put(credential(), { ttlMs: 10_000 });
    now += 600;
    expect(await store.sweepExpired()).toBe(1);
    expect(held.password!.every((b) => b === 0)).toBe(true);
    const err = (() => {
      try {
        store.credential(handle);
      } catch (e) {
        return e as ScanError;
      }
    })();
    expect(err?.code).toBe('SECRET_EXPIRED');
    expect(store.credential(other).password?.toString()).toBe('pw-unit-secret');
  });

  it('purgeAll wipes everything, as the worker shutdown hook does', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const a = credential();
    const b = credential();
    store.put(a);
    store.put(b);
    expect(await store.purgeAll()).toBe(2);
    expect([a.password, b.password, a.privateKey].every((buf) => buf!.every((x) => x === 0))).toBe(true);
  });
});
