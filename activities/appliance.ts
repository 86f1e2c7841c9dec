// Activities that run on a scanner appliance: the only code that ever sees a target secret or
// a vault's access secret. Each works on a batch of hosts (one Temporal round trip per step
// per batch, not per host). fetchCredentials runs on the appliance's shared queue; the rest run
// on the queue of the very process that holds the secrets (its own queue), found through
// fetchCredentials' result.
import { Context } from '@temporalio/activity';
import type { Technology } from '../domain/categories.js';
import type { HostFailure, SecretRead } from '../domain/scan-types.js';
import { ScanError } from '../domain/scan-error.js';
import { describeCode } from '../domain/errors.js';
import { packCollectedData, type PackedCollectedData } from './collected-data.js';
import { classified, toHostFailure } from './failures.js';
import { copyCredential, wipeCredential, type SecretLease, type SecretStore } from './secrets/secret-store.js';
import { failedVaultTest, vaultTestScope, type VaultTestItem, type VaultTestOutcome } from '../domain/vault-test.js';
import { SECRET_FIELD_NAMES, type CredentialFieldNames, type SecretField } from '../domain/secret-fields.js';
import type { CredentialCache } from './secrets/credential-cache.js';
import {
  assertSealedFor,
  openGrant,
  type AccessGrant,
  type GrantUse,
  type AppliancePrivateKey,
  type SealedGrant,
} from './secrets/sealed-access.js';
import type { FetchedCredential, VaultAdapter } from './vault/adapter.js';
import { vaultTypeSpec } from '../vault-types/index.js';
import type { AuthTechnology, PrivilegeCheck } from './auth/technology.js';
import type { LoginSlots } from './login-slots.js';

/** The appliance's private key, as the process holds it (it may be re-read after a re-enrolment). */
export interface ApplianceKeyHolder {
  /** The key with this id, if this process holds it (re-reading its key file once if not). */
  forKeyId(keyId: string): Promise<AppliancePrivateKey | undefined>;
}

export interface ApplianceDeps {
  applianceId: string;
  /** This process's own task queue: where the secret it fetched can be used. */
  ownQueue: string;
  store: SecretStore;
  /** One vault read per credential per scan in this process (in the store, behind handles). */
  cache: CredentialCache;
  key: ApplianceKeyHolder;
  vaults: (type: string) => VaultAdapter | undefined;
  technologies: (name: string) => AuthTechnology | undefined;
  loginSlots: LoginSlots;
}

export interface FetchCredentialsInput {
  scanId: string;
  technology: Technology;
  hosts: { ip: string; authRecordId: string }[];
  /** One per vault record the batch uses, sealed to this appliance by the control plane. */
  grants: SealedGrant[];
  vaultTimeoutMs: number;
  /** The longest the fetched secrets may be held, used or not (the step that needs them, and slack). */
  holdForMs?: number;
  /** Records whose cached secret a host refused: read again, and served only if it changed. */
  refresh?: string[];
}

export interface FetchCredentialsResult {
  /** The queue of this very process: the only place the handles below mean anything. */
  queue: string;
  /**
   * plainHttp: the secret came from a vault reached over plain HTTP. fromCache: an earlier
   * batch's read served it (a refusal may then mean the vault's secret was rotated since).
   */
  held: { ip: string; handle: string; plainHttp: boolean; fromCache: boolean }[];
  failed: { ip: string; failure: HostFailure }[];
  /** Every vault read this fetch made, for the audit trail. */
  reads: SecretRead[];
}

export interface LoginAndCollectInput {
  scanId: string;
  /** The scan's limit on hosts logged into at once, kept by this process (LoginSlots). */
  maxParallelHosts: number;
  technology: Technology;
  /** Where to log in comes with the handle, from the sealed grant, not from this input. */
  hosts: { ip: string; handle: string }[];
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

export type HostScanResult =
  | {
      ip: string;
      ok: true;
      privileges: PrivilegeCheck;
      collected: PackedCollectedData;
      hostKey: string | null;
      /** The port logged in to: the grant's, which the learned host key is pinned under. */
      port: number;
    }
  | { ip: string; ok: false; failure: HostFailure };

/**
 * What loginAndCollect's heartbeats carry: the hosts that already refused the login. Should
 * the worker be lost, the workflow learns from the last heartbeat not to try them again.
 */
export interface LoginProgress {
  loginRefused: string[];
}

/** Heartbeats while a long step runs, so a dead worker is noticed within the heartbeat timeout. */
async function heartbeating<T>(progress: () => LoginProgress, body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const every = Math.max(200, Math.floor((ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
  ctx.heartbeat(progress());
  const timer = setInterval(() => ctx.heartbeat(progress()), every);
  try {
    return await body(ctx.cancellationSignal);
  } finally {
    clearInterval(timer);
  }
}

const failAll = (hosts: { ip: string }[], err: unknown) => hosts.map(({ ip }) => ({ ip, failure: toHostFailure(err) }));

export function createApplianceActivities(deps: ApplianceDeps) {
  const technologyOf = (name: string): AuthTechnology => {
    const technology = deps.technologies(name);
    if (!technology) throw new ScanError('CONFIG_INVALID', `this appliance does not support the technology "${name}"`);
    return technology;
  };

  const open = async (sealed: SealedGrant, use: GrantUse): Promise<AccessGrant> => {
    assertSealedFor(sealed, deps.applianceId);
    const key = await deps.key.forKeyId(sealed.keyId);
    if (!key) {
      throw new ScanError(
        'APPLIANCE_KEY_ROTATED',
        `the vault access was sealed to appliance key ${sealed.keyId}, which this process does not hold: the appliance was enrolled again`,
      );
    }
    return openGrant(sealed, key, use);
  };

  /**
   * Reads one grant's vault, once per authentication record per scan in this process (the
   * cache serves the batches that follow), for the batch's hosts that the grant covers; each
   * host gets its own copy behind its own handle, bound to the endpoint the grant names for it.
   * A record in `refresh` was refused by a host with its cached secret: the vault is read again,
   * and its hosts are served only if the secret changed.
   */
  const useGrant = async (
    grant: AccessGrant,
    hosts: FetchCredentialsInput['hosts'],
    signal: AbortSignal,
    result: FetchCredentialsResult,
    input: Pick<FetchCredentialsInput, 'scanId' | 'holdForMs' | 'refresh'>,
  ) => {
    const adapter = deps.vaults(grant.vault.type);
    const plainHttp = vaultTypeSpec(grant.vault.type)?.usesPlainHttp(grant.vault.config) ?? false;
    const allowed = new Map(grant.hosts.map((h) => [`${h.ip}|${h.authRecordId}`, h]));
    const byRecord = new Map<string, { ip: string; hostKey: string | null }[]>();
    for (const host of hosts) {
      const granted = allowed.get(`${host.ip}|${host.authRecordId}`);
      if (!granted) {
        const err = new ScanError(
          'SEALED_ACCESS_INVALID',
          `the sealed grant does not cover ${host.ip} with this record`,
        );
        result.failed.push(...failAll([host], err));
        continue;
      }
      byRecord.set(host.authRecordId, [...(byRecord.get(host.authRecordId) ?? []), granted]);
    }
    await Promise.all(
      [...byRecord].flatMap(([recordId, recordHosts]) => {
        const record = grant.records[recordId];
        // The record's item in this vault, and any other it reads here (its root-delegation password).
        const items = record
          ? [{ locator: record.locator, fields: record.fields }, ...(record.also ?? [])]
          : [undefined];
        return items.map((item) =>
          readItem(grant, recordId, recordHosts, item, { adapter, plainHttp, signal, result, input }),
        );
      }),
    );
  };

  /** The hosts' copies of one item read for one record: through the cache, or a refresh after a refusal. */
  const readItem = async (
    grant: AccessGrant,
    recordId: string,
    recordHosts: { ip: string; hostKey: string | null }[],
    item: { locator: Record<string, unknown>; fields: CredentialFieldNames } | undefined,
    context: {
      adapter: VaultAdapter | undefined;
      plainHttp: boolean;
      signal: AbortSignal;
      result: FetchCredentialsResult;
      input: Pick<FetchCredentialsInput, 'scanId' | 'holdForMs' | 'refresh'>;
    },
  ) => {
    const { adapter, plainHttp, signal, result, input } = context;
    const record = grant.records[recordId];
    const read: SecretRead = {
      vaultId: grant.vault.id,
      authRecordId: recordId,
      locator: item?.locator ?? {},
      hosts: recordHosts.length,
      outcome: 'success',
      code: null,
      vendorCode: null,
      plainHttp,
      fromCache: false,
    };
    try {
      if (!record || !item) throw new ScanError('SEALED_ACCESS_INVALID', `the sealed grant lacks record ${recordId}`);
      if (!adapter)
        throw new ScanError('CONFIG_INVALID', `this appliance does not support the vault type "${grant.vault.type}"`);
      if (plainHttp && grant.vault.config.allowInsecureHttp !== true) {
        throw new ScanError('CONFIG_INVALID', 'refusing to send the vault access secret over plain http');
      }
      const source = { scanId: input.scanId, vault: grant.vault, locator: item.locator, fields: item.fields };
      const readVault = () =>
        adapter.fetch({
          config: grant.vault.config,
          access: grant.vault.access,
          locator: item.locator,
          fields: item.fields,
          reason: `vaultscan authenticated scan ${input.scanId}`,
          signal,
        });
      // A refusal is about the login's secret: only an item that supplies one is read again.
      const login = Boolean(item.fields.password || item.fields.privateKey);
      let cached;
      if (login && input.refresh?.includes(recordId)) {
        const refreshed = await deps.cache.refresh(source, readVault);
        if (!refreshed.changed) {
          result.failed.push(
            ...failAll(
              recordHosts,
              new ScanError('CREDENTIAL_UNCHANGED', 'the vault, read again, holds the secret the host refused'),
            ),
          );
          return;
        }
        cached = refreshed.entry;
      } else cached = await deps.cache.get(source, readVault);
      read.fromCache = cached.fromCache;
      if (cached.lentUntil) read.lentUntil = cached.lentUntil.toISOString();
      for (const host of recordHosts) {
        const target = {
          ip: host.ip,
          port: record.port,
          username: record.username,
          hostKey: host.hostKey,
          settings: record.settings,
        };
        const handle = deps.store.put(copyCredential(deps.cache.credential(cached.handle)), {
          target,
          ...(input.holdForMs !== undefined && { maxLifetimeMs: input.holdForMs }),
        });
        if (login) loginHandles.add(handle);
        result.held.push({ ip: host.ip, handle, plainHttp, fromCache: cached.fromCache });
      }
    } catch (err) {
      const failure = toHostFailure(err);
      Object.assign(read, { outcome: 'failed', code: failure.code, vendorCode: failure.vendorCode });
      result.failed.push(...failAll(recordHosts, err));
    } finally {
      result.reads.push(read);
    }
  };

  /** Handles whose secret is a login's (not only a root-delegation password): see oneHandlePerHost. */
  const loginHandles = new Set<string>();

  /**
   * A host whose secrets came from several items (its login's, its root delegation's, perhaps
   * from two vaults) gets one handle holding them all; a host any of whose reads failed gets
   * none (its copies are purged): it fails with the reason.
   */
  const oneHandlePerHost = async (result: FetchCredentialsResult, holdForMs: number | undefined) => {
    // A host two of whose reads failed reports the first reason, once.
    const failed = new Set<string>();
    result.failed = result.failed.filter((f) => !failed.has(f.ip) && Boolean(failed.add(f.ip)));
    const byIp = new Map<string, FetchCredentialsResult['held']>();
    for (const held of result.held) byIp.set(held.ip, [...(byIp.get(held.ip) ?? []), held]);
    const merged: FetchCredentialsResult['held'] = [];
    for (const [ip, parts] of byIp) {
      const login = parts.find((p) => loginHandles.has(p.handle)) ?? parts[0]!;
      if (failed.has(ip) || parts.length > 1) {
        if (!failed.has(ip)) {
          const credential: FetchedCredential = {};
          for (const part of [login, ...parts.filter((p) => p !== login)]) {
            const { credential: from } = deps.store.entry(part.handle);
            for (const field of SECRET_FIELD_NAMES)
              if (from[field] && !credential[field]) credential[field] = Buffer.from(from[field]);
          }
          const { target } = deps.store.entry(login.handle);
          const handle = deps.store.put(credential, {
            ...(target && { target }),
            ...(holdForMs !== undefined && { maxLifetimeMs: holdForMs }),
          });
          merged.push({ ip, handle, plainHttp: parts.some((p) => p.plainHttp), fromCache: login.fromCache });
        }
        for (const part of parts) {
          loginHandles.delete(part.handle);
          await deps.store.purge(part.handle);
        }
      } else {
        loginHandles.delete(login.handle);
        merged.push(login);
      }
    }
    result.held = merged;
  };

  /**
   * One host: wait for a login slot of the scan, log in with the held secret to the endpoint
   * it was granted for, check root delegation, collect; then purge that host's secret and
   * session at once, whatever happened (the workflow's purge covers the cases where this
   * activity never reports back). Never throws, except when cancelled.
   */
  const scanHost = async (
    host: LoginAndCollectInput['hosts'][number],
    input: LoginAndCollectInput,
    signal: AbortSignal,
  ): Promise<HostScanResult> => {
    let release: (() => void) | undefined;
    let lease: SecretLease | undefined;
    try {
      // Held from here, so the secret's TTL cannot run out while the host waits for a slot or
      // a long collection runs; the store's maximum lifetime still ends it (and aborts the work).
      lease = deps.store.lease(host.handle);
      const work = AbortSignal.any([signal, lease.signal]);
      release = await deps.loginSlots.acquire(input.scanId, input.maxParallelHosts, work);
      const { credential, target } = deps.store.entry(host.handle);
      if (!target || target.ip !== host.ip) {
        throw new ScanError('SEALED_ACCESS_INVALID', `the held secret was not granted for ${host.ip}`);
      }
      const session = await technologyOf(input.technology).connect(
        { ip: target.ip, port: target.port },
        { username: target.username, ...credential },
        {
          connectTimeoutMs: input.connectTimeoutMs,
          commandTimeoutMs: input.commandTimeoutMs,
          signal: work,
          expectedHostKey: target.hostKey,
          settings: target.settings ?? {},
        },
      );
      deps.store.attachSession(host.handle, session);
      const privileges = await session.checkPrivileges();
      const data = await session.collect({ commandTimeoutMs: input.commandTimeoutMs, signal: work });
      return {
        ip: host.ip,
        ok: true,
        privileges,
        collected: await packCollectedData(data),
        hostKey: session.hostKey ?? null,
        port: target.port,
      };
    } catch (err) {
      if (signal.aborted) throw err; // cancelled: the workflow is told by the cancellation itself
      // A secret purged under the work (its maximum lifetime) is the reason, not what it broke.
      return { ip: host.ip, ok: false, failure: toHostFailure(lease?.signal.aborted ? lease.signal.reason : err) };
    } finally {
      lease?.release();
      await deps.store.purge(host.handle);
      release?.();
    }
  };

  return {
    /**
     * Opens the batch's sealed grants and fetches the credentials of its hosts. Hosts covered
     * by the same record share one vault read. A failure (a grant that does not open, a vault
     * that refuses) fails the hosts it concerns, as data.
     */
    async fetchCredentials(input: FetchCredentialsInput): Promise<FetchCredentialsResult> {
      return classified(async () => {
        const signal = AbortSignal.any([
          Context.current().cancellationSignal,
          AbortSignal.timeout(input.vaultTimeoutMs),
        ]);
        const result: FetchCredentialsResult = { queue: deps.ownQueue, held: [], failed: [], reads: [] };
        // The grants open only for the batch run that asked for them to be sealed.
        const run = Context.current().info.workflowExecution;
        if (!run) throw new ScanError('SEALED_ACCESS_INVALID', 'grants open only for the workflow that asked for them');
        const use = { applianceId: deps.applianceId, scanId: input.scanId, ...run };
        await Promise.all(
          input.grants.map(async (sealed) => {
            const records = new Set(Array.isArray(sealed?.authRecordIds) ? sealed.authRecordIds : []);
            const hosts = input.hosts.filter((h) => records.has(h.authRecordId));
            try {
              // The grant's strings (the access secret among them) are left to the collector
              // once this returns; the decrypted bytes were zero-filled as they were parsed.
              await useGrant(await open(sealed, use), hosts, signal, result, input);
            } catch (err) {
              // The grant did not open: every host it was meant for fails with the reason.
              result.failed.push(...failAll(hosts, err));
            }
          }),
        );
        await oneHandlePerHost(result, input.holdForMs);
        // A host no grant covered would have no credential: say so rather than drop it.
        const answered = new Set([...result.held.map((h) => h.ip), ...result.failed.map((f) => f.ip)]);
        const orphans = input.hosts.filter((h) => !answered.has(h.ip));
        const err = new ScanError('SEALED_ACCESS_INVALID', 'no sealed grant of this batch covers the host');
        result.failed.push(...failAll(orphans, err));
        return result;
      });
    },

    /**
     * Logs in to each host of the batch and collects, as login slots allow; one result per
     * host. Every host's secret is purged by the time this returns.
     */
    async loginAndCollect(input: LoginAndCollectInput): Promise<HostScanResult[]> {
      const loginRefused: string[] = [];
      const scanned = async (host: LoginAndCollectInput['hosts'][number], signal: AbortSignal) => {
        const result = await scanHost(host, input, signal);
        if (!result.ok && describeCode(result.failure.code).failedLogin === 'target') {
          loginRefused.push(host.ip);
          Context.current().heartbeat({ loginRefused }); // at once: the next beat may never come
        }
        return result;
      };
      return classified(() =>
        heartbeating(
          () => ({ loginRefused }),
          (signal) => Promise.all(input.hosts.map((host) => scanned(host, signal))),
        ),
      );
    },

    /**
     * The vault test (POST /vaults/:id/test): opens the test's grant, logs in to the vault (and,
     * given an item, reads it), and answers with what happened, never with a secret: what was
     * read is zero-filled and given back at once. Always the vault itself, never the cache.
     */
    async testVault(input: {
      testId: string;
      grant: SealedGrant;
      item?: VaultTestItem;
      timeoutMs: number;
    }): Promise<VaultTestOutcome> {
      const started = Date.now();
      const signal = AbortSignal.any([Context.current().cancellationSignal, AbortSignal.timeout(input.timeoutMs)]);
      try {
        const run = Context.current().info.workflowExecution;
        if (!run) throw new ScanError('SEALED_ACCESS_INVALID', 'grants open only for the workflow that asked for them');
        const grant = await open(input.grant, {
          applianceId: deps.applianceId,
          scanId: vaultTestScope(input.testId),
          ...run,
        });
        const adapter = deps.vaults(grant.vault.type);
        if (!adapter)
          throw new ScanError('CONFIG_INVALID', `this appliance does not support the vault type "${grant.vault.type}"`);
        const plainHttp = vaultTypeSpec(grant.vault.type)?.usesPlainHttp(grant.vault.config) ?? false;
        if (plainHttp && grant.vault.config.allowInsecureHttp !== true)
          throw new ScanError('CONFIG_INVALID', 'refusing to send the vault access secret over plain http');
        const request = { config: grant.vault.config, access: grant.vault.access, signal };
        let fields: SecretField[] = [];
        if (!input.item) await adapter.checkAccess(request);
        else {
          const read = await adapter.fetch({
            ...request,
            locator: input.item.locator,
            fields: input.item.fields,
            reason: `vaultscan vault test ${input.testId}`,
          });
          try {
            fields = SECRET_FIELD_NAMES.filter((f) => (read.credential[f]?.length ?? 0) > 0);
          } finally {
            wipeCredential(read.credential);
            await read.release?.();
          }
        }
        return {
          ok: true,
          code: null,
          vendorCode: null,
          httpStatus: null,
          cause: null,
          fields,
          durationMs: Date.now() - started,
        };
      } catch (err) {
        if (Context.current().cancellationSignal.aborted) throw err;
        return failedVaultTest(toHostFailure(err), Date.now() - started);
      }
    },

    /** Answers at once: a worker of this appliance is here (see applianceProbeWorkflow). */
    async ping(): Promise<{ queue: string }> {
      return { queue: deps.ownQueue };
    },

    /** The scan has ended: its cached credentials in this process are purged (and lent ones given back). */
    async forgetScan(input: { scanId: string }): Promise<{ purged: number }> {
      return { purged: await deps.cache.forgetScan(input.scanId) };
    },

    /** Zero-fills and forgets the batch's secrets and closes their sessions. */
    async purgeSecrets(input: { handles: string[] }): Promise<{ purged: number }> {
      const purged = await Promise.all(input.handles.map((h) => deps.store.purge(h)));
      return { purged: purged.filter(Boolean).length };
    },
  };
}

export type ApplianceActivities = ReturnType<typeof createApplianceActivities>;
