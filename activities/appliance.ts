// Activities that run on a scanner appliance: the only code that ever sees a target secret.
// fetchCredentials runs on the appliance's shared queue; the rest run on the queue of the
// very process that holds the secret (its own queue), found through fetchCredentials' result.
import { Context } from '@temporalio/activity';
import type { Technology } from '../domain/categories.js';
import type { HostPlan } from '../domain/scan-types.js';
import { ScanError } from '../domain/scan-error.js';
import { classified } from './failures.js';
import type { SecretStore } from './secrets/secret-store.js';
import type { VaultAdapter } from './vault/adapter.js';
import type { AuthTechnology, CollectedData, PrivilegeCheck } from './auth/technology.js';

export interface ApplianceDeps {
  /** This process's own task queue: where the secret it fetched can be used. */
  ownQueue: string;
  store: SecretStore;
  vaults: (type: string) => VaultAdapter | undefined;
  technologies: (name: string) => AuthTechnology | undefined;
}

export interface FetchCredentialsInput {
  scanId: string;
  ip: string;
  plan: HostPlan;
  vaultTimeoutMs: number;
}

export interface FetchCredentialsResult {
  handle: string;
  queue: string;
}

export interface AuthenticateInput {
  handle: string;
  ip: string;
  port: number;
  technology: Technology;
  username: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

export interface CollectInput {
  handle: string;
  commandTimeoutMs: number;
}

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

  return {
    async fetchCredentials(input: FetchCredentialsInput): Promise<FetchCredentialsResult> {
      return classified(async () => {
        const { plan } = input;
        const adapter = deps.vaults(plan.vault.type);
        if (!adapter) throw new ScanError('CONFIG_INVALID', `this appliance does not support the vault type "${plan.vault.type}"`);
        const signal = AbortSignal.any([Context.current().cancellationSignal, AbortSignal.timeout(input.vaultTimeoutMs)]);
        const credential = await adapter.fetch({ config: plan.vault.config, access: plan.vault.access, locator: plan.locator, fields: plan.fields, signal });
        const handle = deps.store.put(credential);
        return { handle, queue: deps.ownQueue };
      });
    },

    async authenticate(input: AuthenticateInput): Promise<PrivilegeCheck> {
      return classified(() =>
        heartbeating(async (signal) => {
          const credential = deps.store.credential(input.handle);
          const session = await technologyOf(input.technology).connect(
            { ip: input.ip, port: input.port },
            { username: input.username, ...credential },
            { connectTimeoutMs: input.connectTimeoutMs, commandTimeoutMs: input.commandTimeoutMs, signal },
          );
          deps.store.attachSession(input.handle, session);
          return session.checkPrivileges();
        }),
      );
    },

    async collect(input: CollectInput): Promise<CollectedData> {
      return classified(() =>
        heartbeating(async (signal) => {
          const session = deps.store.session(input.handle);
          if (!session) throw new ScanError('SECRET_EXPIRED', 'no logged-in session is held for this handle');
          return session.collect({ commandTimeoutMs: input.commandTimeoutMs, signal });
        }),
      );
    },

    async purgeSecrets(input: { handle: string }): Promise<{ purged: boolean }> {
      return { purged: await deps.store.purge(input.handle) };
    },
  };
}

export type ApplianceActivities = ReturnType<typeof createApplianceActivities>;
