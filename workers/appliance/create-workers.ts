// An appliance process runs two workers: one on the appliance's shared queue (takes fetches
// from any scan), one on a queue only this process polls (uses the secrets it fetched).
import { randomUUID } from 'node:crypto';
import { Worker, type NativeConnection } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createApplianceActivities, type ApplianceKeyHolder } from '../../activities/appliance.js';
import { SecretStore } from '../../activities/secrets/secret-store.js';
import {
  CredentialCache,
  DEFAULT_CACHE_MAX_LIFETIME_MS,
  DEFAULT_CACHE_TTL_MS,
} from '../../activities/secrets/credential-cache.js';
import { LoginSlots } from '../../activities/login-slots.js';
import { getVaultAdapter } from '../../activities/vault/registry.js';
import { getAuthTechnology } from '../../activities/auth/registry.js';
import type { VaultAdapter } from '../../activities/vault/adapter.js';
import type { AuthTechnology } from '../../activities/auth/technology.js';
import { applianceQueue } from '../../workflows/activity-stubs.js';

export interface ApplianceWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  dataConverter: DataConverter;
  applianceId: string;
  /** The appliance's private key: vault access is sealed to it (see appliance-key.ts). */
  key: ApplianceKeyHolder;
  /** Longest a fetched secret may live at all, in use or not; a batch may ask for less. */
  secretMaxLifetimeMs?: number;
  /** Longest a fetched secret may live unused; the sweeper purges it after that. */
  secretTtlMs?: number;
  /** The credential cache of a scan's vault reads: idle TTL and maximum lifetime (credential-cache.ts). */
  credentialCache?: { ttlMs?: number; maxLifetimeMs?: number };
  maxConcurrentActivities?: number;
  /** Overrides of the registries, for benchmarks that simulate vaults and targets. */
  vaults?: (type: string) => VaultAdapter | undefined;
  technologies?: (name: string) => AuthTechnology | undefined;
}

export interface ApplianceWorkers {
  sharedQueue: string;
  ownQueue: string;
  store: SecretStore;
  /** This process's cache of the scans' vault reads (its entries live in the store too). */
  cache: CredentialCache;
  /**
   * Runs both workers until they stop; then purges whatever is still held and answers how
   * many secrets that was (a workflow that ended normally left none: see heldAtStop in main.ts).
   */
  run(): Promise<{ heldAtStop: number }>;
  shutdown(): void;
  /** Whether any of the two workers still runs (polls or finishes work). */
  isRunning(): boolean;
}

export async function createApplianceWorkers(options: ApplianceWorkerOptions): Promise<ApplianceWorkers> {
  const sharedQueue = applianceQueue(options.applianceId);
  const ownQueue = `${sharedQueue}.${randomUUID()}`;
  const store = new SecretStore({
    ttlMs: options.secretTtlMs ?? 10 * 60_000,
    ...(options.secretMaxLifetimeMs !== undefined && { maxLifetimeMs: options.secretMaxLifetimeMs }),
  });
  const cache = new CredentialCache(store, {
    ttlMs: options.credentialCache?.ttlMs ?? DEFAULT_CACHE_TTL_MS,
    maxLifetimeMs: options.credentialCache?.maxLifetimeMs ?? DEFAULT_CACHE_MAX_LIFETIME_MS,
  });
  const activities = createApplianceActivities({
    applianceId: options.applianceId,
    key: options.key,
    ownQueue,
    store,
    cache,
    vaults: options.vaults ?? getVaultAdapter,
    technologies: options.technologies ?? getAuthTechnology,
    loginSlots: new LoginSlots(),
  });
  const common = {
    connection: options.connection,
    namespace: options.namespace,
    dataConverter: options.dataConverter,
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities ?? 64,
    shutdownGraceTime: '5 seconds',
  };
  const { fetchCredentials, ping, testVault, ...secretUsers } = activities;
  const workers = await Promise.all([
    // The shared queue: any worker of the appliance may take it (a vault test holds nothing after).
    Worker.create({ ...common, taskQueue: sharedQueue, activities: { fetchCredentials, ping, testVault } }),
    // fetchCredentials also here: a refused cached secret is re-read by the process that cached it.
    Worker.create({ ...common, taskQueue: ownQueue, activities: { ...secretUsers, fetchCredentials } }),
  ]);
  store.startSweeper();
  return {
    sharedQueue,
    ownQueue,
    store,
    cache,
    async run() {
      let heldAtStop = 0;
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        // Whatever a workflow left behind dies with the workers.
        store.stopSweeper();
        heldAtStop = await store.purgeAll();
      }
      return { heldAtStop };
    },
    isRunning() {
      return workers.some((w) => w.getState() !== 'STOPPED' && w.getState() !== 'FAILED');
    },
    shutdown() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
