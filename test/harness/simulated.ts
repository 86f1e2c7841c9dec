// Test- and bench-only stand-ins that answer at once, to measure or exercise the orchestration
// alone. Registered only through createApplianceWorkers' overrides, never by the product.
import type { VaultAdapter } from '../../activities/vault/adapter.js';
import type { AuthTechnology } from '../../activities/auth/technology.js';

export const instantVault: VaultAdapter = {
  type: 'hashicorp',
  checkAccess: async () => undefined,
  fetch: async () => ({ credential: { password: Buffer.from('simulated-password') } }),
};

export function instantTechnology(packages = 0): AuthTechnology {
  const inventory = Array.from({ length: packages }, (_, i) => ({ name: `pkg-${i}`, version: '1.0-1', arch: 'amd64' }));
  return {
    name: 'unix',
    defaultPort: 22,
    connect: async () => ({
      checkPrivileges: async () => ({ ok: true, method: 'sudo' }),
      collect: async () => ({ facts: { 'os.id': 'simulated' }, packages: inventory }),
      close: async () => undefined,
    }),
  };
}

/** A simulated vault that counts its reads where the vault would see them: in its fetch. */
export interface CountingVault {
  adapter: VaultAdapter;
  /** Every fetch that reached this vault. */
  reads: number;
  /** The same, per item (the locator's path). */
  readsByPath: Map<string, number>;
}

/** Answers at once, like instantVault, with a password of its own for each item (locator path). */
export function countingVault(): CountingVault {
  const counter: CountingVault = {
    reads: 0,
    readsByPath: new Map(),
    adapter: {
      type: 'hashicorp',
      checkAccess: async () => undefined,
      fetch: async ({ locator }) => {
        const path = String(locator.path);
        counter.reads++;
        counter.readsByPath.set(path, (counter.readsByPath.get(path) ?? 0) + 1);
        return { credential: { password: Buffer.from(`simulated-password:${path}`) } };
      },
    },
  };
  return counter;
}
