// Activities that run on a scanner appliance: the only code that ever sees a target secret.
// Each works on a batch of hosts (one Temporal round trip per step per batch, not per host).
// fetchCredentials runs on the appliance's shared queue; the rest run on the queue of the
// very process that holds the secrets (its own queue), found through fetchCredentials' result.
import { Context } from '@temporalio/activity';
import type { Technology } from '../domain/categories.js';
import type { HostBatch, HostFailure } from '../domain/scan-types.js';
import { ScanError } from '../domain/scan-error.js';
import { groupBy } from '../domain/group-by.js';
import { packCollectedData, type PackedCollectedData } from './collected-data.js';
import { classified, toHostFailure } from './failures.js';
import { copyCredential, wipeCredential, type SecretStore } from './secrets/secret-store.js';
import type { FetchedCredential, VaultAdapter } from './vault/adapter.js';
import type { AuthTechnology, PrivilegeCheck } from './auth/technology.js';
import type { LoginSlots } from './login-slots.js';

export interface ApplianceDeps {
  /** This process's own task queue: where the secret it fetched can be used. */
  ownQueue: string;
  store: SecretStore;
  vaults: (type: string) => VaultAdapter | undefined;
  technologies: (name: string) => AuthTechnology | undefined;
  loginSlots: LoginSlots;
}

export interface FetchCredentialsInput {
  batch: HostBatch;
  vaultTimeoutMs: number;
}

export interface FetchCredentialsResult {
  /** The queue of this very process: the only place the handles below mean anything. */
  queue: string;
  held: { ip: string; handle: string }[];
  failed: { ip: string; failure: HostFailure }[];
}

export interface LoginAndCollectInput {
  scanId: string;
  /** The scan's limit on hosts logged into at once, kept by this process (LoginSlots). */
  maxParallelHosts: number;
  technology: Technology;
  hosts: { ip: string; handle: string; port: number; username: string; hostKey: string | null }[];
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

export type HostScanResult =
  | { ip: string; ok: true; privileges: PrivilegeCheck; collected: PackedCollectedData; hostKey: string | null }
  | { ip: string; ok: false; failure: HostFailure };

/** Heartbeats while a long step runs, so a dead worker is noticed within the heartbeat timeout. */
async function heartbeating<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const every = Math.max(200, Math.floor((ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), every);
  try {
    return await body(ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}

export function createApplianceActivities(deps: ApplianceDeps) {
  const technologyOf = (name: string): AuthTechnology => {
    const technology = deps.technologies(name);
    if (!technology) throw new ScanError('CONFIG_INVALID', `this appliance does not support the technology "${name}"`);
    return technology;
  };

  /**
   * One host: wait for a login slot of the scan, log in with the held secret, check root
   * delegation, collect; then purge that host's secret and session at once, whatever happened
   * (the workflow's purge covers the cases where this activity never reports back). Never
   * throws, except when cancelled.
   */
  const scanHost = async (
    host: LoginAndCollectInput['hosts'][number],
    input: LoginAndCollectInput,
    signal: AbortSignal,
  ): Promise<HostScanResult> => {
    let release: (() => void) | undefined;
    try {
      release = await deps.loginSlots.acquire(input.scanId, input.maxParallelHosts, signal);
      const credential = deps.store.credential(host.handle);
      const session = await technologyOf(input.technology).connect(
        { ip: host.ip, port: host.port },
        { username: host.username, ...credential },
        {
          connectTimeoutMs: input.connectTimeoutMs,
          commandTimeoutMs: input.commandTimeoutMs,
          signal,
          expectedHostKey: host.hostKey,
        },
      );
      deps.store.attachSession(host.handle, session);
      const privileges = await session.checkPrivileges();
      const data = await session.collect({ commandTimeoutMs: input.commandTimeoutMs, signal });
      return {
        ip: host.ip,
        ok: true,
        privileges,
        collected: await packCollectedData(data),
        hostKey: session.hostKey ?? null,
      };
    } catch (err) {
      if (signal.aborted) throw err; // cancelled: the workflow is told by the cancellation itself
      return { ip: host.ip, ok: false, failure: toHostFailure(err) };
    } finally {
      await deps.store.purge(host.handle);
      release?.();
    }
  };

  return {
    /**
     * Fetches the credentials of a batch of hosts. Hosts covered by the same record share one
     * vault read (same item), but each gets its own copy behind its own handle, so each
     * purge stands alone. A vault failure fails every host of that record, as data.
     */
    async fetchCredentials(input: FetchCredentialsInput): Promise<FetchCredentialsResult> {
      return classified(async () => {
        const { batch } = input;
        const signal = AbortSignal.any([
          Context.current().cancellationSignal,
          AbortSignal.timeout(input.vaultTimeoutMs),
        ]);
        const result: FetchCredentialsResult = { queue: deps.ownQueue, held: [], failed: [] };
        await Promise.all(
          [...groupBy(batch.hosts, (h) => h.authRecordId)].map(async ([recordId, hosts]) => {
            const plan = batch.plans[recordId];
            let credential: FetchedCredential | undefined;
            try {
              if (!plan) throw new ScanError('CONFIG_INVALID', `no plan for authentication record ${recordId}`);
              const adapter = deps.vaults(plan.vault.type);
              if (!adapter)
                throw new ScanError(
                  'CONFIG_INVALID',
                  `this appliance does not support the vault type "${plan.vault.type}"`,
                );
              credential = await adapter.fetch({
                config: plan.vault.config,
                access: plan.vault.access,
                locator: plan.locator,
                fields: plan.fields,
                signal,
              });
              for (const host of hosts)
                result.held.push({ ip: host.ip, handle: deps.store.put(copyCredential(credential)) });
            } catch (err) {
              for (const host of hosts) result.failed.push({ ip: host.ip, failure: toHostFailure(err) });
            } finally {
              if (credential) wipeCredential(credential);
            }
          }),
        );
        return result;
      });
    },

    /**
     * Logs in to each host of the batch and collects, as login slots allow; one result per
     * host. Every host's secret is purged by the time this returns.
     */
    async loginAndCollect(input: LoginAndCollectInput): Promise<HostScanResult[]> {
      return classified(() =>
        heartbeating((signal) => Promise.all(input.hosts.map((host) => scanHost(host, input, signal)))),
      );
    },

    /** Zero-fills and forgets the batch's secrets and closes their sessions. */
    async purgeSecrets(input: { handles: string[] }): Promise<{ purged: number }> {
      const purged = await Promise.all(input.handles.map((h) => deps.store.purge(h)));
      return { purged: purged.filter(Boolean).length };
    },
  };
}

export type ApplianceActivities = ReturnType<typeof createApplianceActivities>;
