// A held secret lives as long as the work using it, and no longer: a collection that runs past
// the secret's TTL keeps it (the lease), one that runs past the maximum lifetime is stopped and
// reported SECRET_EXPIRED, and either way the secret is gone when the activity answers.
import { describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createApplianceActivities, type HostScanResult } from '../activities/appliance.js';
import { SecretStore } from '../activities/secrets/secret-store.js';
import { LoginSlots } from '../activities/login-slots.js';
import type { AuthTechnology } from '../activities/auth/technology.js';
import { instantVault } from './harness/simulated.js';
import { CredentialCache } from '../activities/secrets/credential-cache.js';

/**
 * A technology whose collection takes `ms`, or until the work is aborted, and then needs the
 * password again (as sudo does): a secret swept from under it fails the collection.
 */
function slowCollection(ms: number): AuthTechnology {
  return {
    name: 'unix',
    defaultPort: 22,
    connect: async (_endpoint, credentials, options) => ({
      checkPrivileges: async () => ({ ok: true, method: 'sudo' }),
      collect: () =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => {
            if (credentials.password?.every((b) => b === 0)) reject(new Error('the secret was swept mid-collection'));
            else resolve({ facts: {}, packages: [] });
          }, ms);
          options.signal?.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(new Error('collection stopped'));
          });
        }),
      close: async () => undefined,
    }),
  };
}

async function scanOneHost(store: SecretStore, technology: AuthTechnology): Promise<HostScanResult> {
  const activities = createApplianceActivities({
    applianceId: 'a',
    ownQueue: 'own',
    store,
    cache: new CredentialCache(store, { ttlMs: 60_000, maxLifetimeMs: 60_000 }),
    key: { forKeyId: async () => undefined },
    vaults: () => instantVault,
    technologies: () => technology,
    loginSlots: new LoginSlots(),
  });
  const secret = { password: Buffer.from('pw-lifetime-secret') };
  const handle = store.put(secret, { target: { ip: '192.0.2.1', port: 22, username: 'scanner', hostKey: null } });
  const results: HostScanResult[] = await new MockActivityEnvironment({ heartbeatTimeoutMs: 1000 }).run(
    activities.loginAndCollect,
    {
      scanId: 's',
      maxParallelHosts: 1,
      technology: 'unix' as const,
      hosts: [{ ip: '192.0.2.1', handle }],
      connectTimeoutMs: 1000,
      commandTimeoutMs: 5000,
    },
  );
  expect(secret.password.every((b) => b === 0)).toBe(true);
  expect(store.size).toBe(0);
  return results[0]!;
}

describe('the lifetime of a held secret', () => {
  it('outlives its TTL while a collection uses it', async () => {
    const store = new SecretStore({ ttlMs: 100, sweepIntervalMs: 20 });
    store.startSweeper();
    try {
      expect(await scanOneHost(store, slowCollection(400))).toMatchObject({ ok: true });
    } finally {
      store.stopSweeper();
    }
  });

  it('never outlives its maximum lifetime: the work is stopped and the host says why', async () => {
    const store = new SecretStore({ ttlMs: 100, maxLifetimeMs: 300, sweepIntervalMs: 20 });
    store.startSweeper();
    const started = Date.now();
    try {
      const result = await scanOneHost(store, slowCollection(5000));
      expect(result).toMatchObject({ ok: false, failure: { code: 'SECRET_EXPIRED' } });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      store.stopSweeper();
    }
  });
});
