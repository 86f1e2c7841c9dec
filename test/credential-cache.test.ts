// The appliance's credential cache on its own: one read per credential however many ask at
// once, the TTL and the loan bound, the scan's end purging and giving back, the per-vault cap,
// and a refresh that tells a rotated secret from the same one.
import { describe, expect, it } from 'vitest';
import { CredentialCache, type CredentialSource } from '../activities/secrets/credential-cache.js';
import { SecretStore } from '../activities/secrets/secret-store.js';
import type { FetchedCredential, VaultRead } from '../activities/vault/adapter.js';

function source(overrides: Partial<CredentialSource> = {}): CredentialSource {
  return {
    scanId: 'scan-1',
    vault: { id: 'vault-1', type: 'hashicorp', config: { url: 'https://v' }, access: { token: 't' } },
    locator: { path: 'servers/web' },
    fields: { password: 'password' },
    ...overrides,
  };
}

/** A vault that counts its reads, answers after a tick, and lends when asked to. */
function fakeVault(options: { secret?: () => string; lendForMs?: number; delayMs?: number; now?: () => number } = {}) {
  const state = { reads: 0, concurrent: 0, mostConcurrent: 0, released: 0, given: [] as Buffer[] };
  const read = async (): Promise<VaultRead> => {
    state.reads++;
    state.concurrent++;
    state.mostConcurrent = Math.max(state.mostConcurrent, state.concurrent);
    await new Promise((r) => setTimeout(r, options.delayMs ?? 5));
    state.concurrent--;
    const password = Buffer.from(options.secret?.() ?? 'cached-secret-1');
    state.given.push(password);
    return {
      credential: { password },
      ...(options.lendForMs !== undefined && {
        lentUntil: new Date((options.now ?? Date.now)() + options.lendForMs),
        release: async () => {
          state.released++;
        },
      }),
    };
  };
  return { state, read };
}

const text = (c: FetchedCredential) => c.password?.toString('utf8');
const zeroed = (b: Buffer) => b.every((x) => x === 0);

describe('the credential cache', () => {
  it('reads the vault once for many concurrent asks, and serves the rest from the cache', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const cache = new CredentialCache(store, { ttlMs: 60_000, maxLifetimeMs: 120_000 });
    const vault = fakeVault({ delayMs: 20 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => cache.get(source(), vault.read)));
    expect(vault.state.reads).toBe(1);
    expect(answers.filter((a) => !a.fromCache)).toHaveLength(1);
    expect(new Set(answers.map((a) => a.handle)).size).toBe(1);
    const later = await cache.get(source(), vault.read);
    expect(later.fromCache).toBe(true);
    expect(vault.state.reads).toBe(1);
    expect(text(cache.credential(later.handle))).toBe('cached-secret-1');
    // Another locator, field set, vault record or scan is another credential.
    await cache.get(source({ locator: { path: 'servers/db' } }), vault.read);
    await cache.get(source({ fields: { password: 'password', privateKey: 'key' } }), vault.read);
    await cache.get(source({ scanId: 'scan-2' }), vault.read);
    expect(vault.state.reads).toBe(4);
    expect(cache.size).toBe(4);
  });

  it('lets an unused credential go after its TTL, and never keeps a lent one past its loan', async () => {
    let now = 1_000_000;
    const store = new SecretStore({ ttlMs: 60_000, now: () => now });
    const cache = new CredentialCache(store, { ttlMs: 10_000, maxLifetimeMs: 60_000, now: () => now });
    const vault = fakeVault();
    const first = await cache.get(source(), vault.read);
    now += 9_000;
    expect((await cache.get(source(), vault.read)).fromCache).toBe(true); // used: the idle TTL restarts
    now += 9_000;
    expect((await cache.get(source(), vault.read)).fromCache).toBe(true);
    now += 10_001;
    await store.sweepExpired();
    expect(store.has(first.handle)).toBe(false);
    expect(zeroed(vault.state.given[0]!)).toBe(true);
    expect((await cache.get(source(), vault.read)).fromCache).toBe(false);
    expect(vault.state.reads).toBe(2);

    // Lent for 8 s: dropped 5 s before the loan ends (TTL 3 s), and given back when dropped.
    const lender = fakeVault({ lendForMs: 8_000, now: () => now });
    const lent = await cache.get(source({ locator: { path: 'lent' } }), lender.read);
    expect(lent.lentUntil).toBeInstanceOf(Date);
    now += 3_001;
    await store.sweepExpired();
    expect(store.has(lent.handle)).toBe(false);
    expect(lender.state.released).toBe(1);
  });

  it('purges every credential of a scan when it ends, gives back what was lent, and leaves other scans alone', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const cache = new CredentialCache(store, { ttlMs: 60_000, maxLifetimeMs: 120_000 });
    const vault = fakeVault({ lendForMs: 60_000 });
    await cache.get(source(), vault.read);
    await cache.get(source({ locator: { path: 'other' } }), vault.read);
    const kept = await cache.get(source({ scanId: 'scan-2' }), vault.read);
    expect(await cache.forgetScan('scan-1')).toBe(2);
    expect(vault.state.released).toBe(2);
    expect(vault.state.given.slice(0, 2).every(zeroed)).toBe(true);
    expect(store.has(kept.handle)).toBe(true);
    expect(cache.size).toBe(1);
    expect(await cache.forgetScan('scan-1')).toBe(0);
  });

  it("keeps to the vault record's cap on calls at once", async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const cache = new CredentialCache(store, { ttlMs: 60_000, maxLifetimeMs: 120_000 });
    const vault = fakeVault({ delayMs: 15 });
    const capped = (i: number) =>
      source({
        vault: { id: 'capped', type: 'hashicorp', config: { maxConcurrentRequests: 2 }, access: {} },
        locator: { path: `item-${i}` },
      });
    await Promise.all(Array.from({ length: 8 }, (_, i) => cache.get(capped(i), vault.read)));
    expect(vault.state.reads).toBe(8);
    expect(vault.state.mostConcurrent).toBe(2);

    const defaults = fakeVault({ delayMs: 15 });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => cache.get(source({ locator: { path: `d-${i}` } }), defaults.read)),
    );
    expect(defaults.state.mostConcurrent).toBe(4);
  });

  it('tells a rotated secret from the same one on refresh', async () => {
    const store = new SecretStore({ ttlMs: 60_000 });
    const cache = new CredentialCache(store, { ttlMs: 60_000, maxLifetimeMs: 120_000 });
    let secret = 'before-rotation';
    const vault = fakeVault({ secret: () => secret, lendForMs: 60_000 });
    const first = await cache.get(source(), vault.read);

    const same = await cache.refresh(source(), vault.read);
    expect(same.changed).toBe(false);
    expect(vault.state.reads).toBe(2);
    expect(zeroed(vault.state.given[1]!)).toBe(true); // the second copy is wiped at once…
    expect(vault.state.released).toBe(1); // …and its loan given back
    expect(text(cache.credential(first.handle))).toBe('before-rotation');

    secret = 'after-rotation';
    const rotated = await cache.refresh(source(), vault.read);
    expect(rotated.changed).toBe(true);
    if (!rotated.changed) return;
    expect(text(cache.credential(rotated.entry.handle))).toBe('after-rotation');
    expect(store.has(first.handle)).toBe(false);
    expect(zeroed(vault.state.given[0]!)).toBe(true);
    expect(vault.state.released).toBe(2);
    expect((await cache.get(source(), vault.read)).handle).toBe(rotated.entry.handle);

    // Nothing cached to compare with: no verdict that the secret changed.
    expect((await cache.refresh(source({ scanId: 'none' }), vault.read)).changed).toBe(false);
  });
});
