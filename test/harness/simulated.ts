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
