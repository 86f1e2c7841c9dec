// A batch of hosts of one technology: fetch their credentials on the appliance, log in and
// collect, purge (the holder purges each host once done with it; the workflow purges whatever
// the holder did not answer for), then publish each host's result. Hosts whose attempt failed
// with a retryable code start over from the fetch (bounded, with backoff); every attempt of
// every host is kept for the report. Batching makes one Temporal round trip per step serve many
// hosts: per host, the server stores about one event instead of about forty. When no worker of
// its appliance takes the batch and the scan's pool has others, the batch hands its hosts back to
// the scan, which queues them for an appliance with room; their attempts so far go with them.
import { CancellationScope, isCancellation, patched, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import { REPORT_CATEGORIES, type ReportCategory } from '../domain/categories.js';
import { describeCode } from '../domain/errors.js';
import type {
  AttemptRecord,
  BatchHost,
  BatchOutcome,
  HostBatch,
  HostFailure,
  ProfileSettings,
  SecretRead,
  VaultLoan,
} from '../domain/scan-types.js';
import { ApplianceIdAttr, HostCategoriesAttr, ScanStatusAttr } from '../domain/search-attributes.js';
import type { HostScanResult } from '../activities/appliance.js';
import type { PublishableHostResult } from '../activities/control-plane.js';
import {
  controlPlane,
  fetchWaitMs,
  ownQueueActivities,
  holderFetchActivities,
  purgeOnHolder,
  secretLifetimeMs,
  sharedApplianceActivities,
} from './activity-stubs.js';
import { classifyFailure, isApplianceUnavailable, loginsRefusedBefore } from './classify-failure.js';
import { waitBeforeRetryMs } from './retry.js';

export interface HostBatchInput {
  batch: HostBatch;
  /** The appliance the batch starts on. */
  applianceId: string;
  profile: ProfileSettings;
  /**
   * The pool's other appliances (absent: no pool). When there are some, a batch that finds no
   * worker of its appliance hands its hosts back to the scan (runs begun before that moved
   * themselves to these, in this order).
   */
  alternates?: string[];
  /**
   * The scan queues hosts handed back again (scans started before that do not: their batches
   * move themselves to the alternates).
   */
  handsBack?: boolean;
}

const failed = (ip: string, failure: HostFailure): HostScanResult => ({ ip, ok: false, failure });

/** What one attempt learnt, beyond each host's result: for the audit trail and the report. */
interface AttemptTrail {
  reads: SecretRead[];
  /** Hosts whose secret came from a vault reached over plain HTTP. */
  plainHttp: Set<string>;
  /** Purges sent to holders that did not answer: waited for before the batch ends, not before its retry. */
  purges: Promise<void>[];
  /** No worker of the appliance took the fetch in time. */
  applianceUnavailable: boolean;
  /** Hosts whose last secret came from an earlier read, cached by the process on this queue. */
  servedFromCache: Map<string, string>;
  /** The queues of the processes that held this batch's secrets (their caches end with the scan). */
  holders: Set<string>;
  loans: VaultLoan[];
}

/**
 * One attempt for the given hosts: seal the vaults' access to the appliance (on the control
 * plane, from the database), fetch on the appliance, log in and collect on the holder.
 * Cancellation propagates (after the purge); all else is per-host data.
 */
async function attemptOnce(
  input: HostBatchInput,
  on: { applianceId: string; canMove: boolean },
  hosts: BatchHost[],
  trail: AttemptTrail,
  refresh?: { queue: string },
): Promise<Map<string, HostScanResult>> {
  const { applianceId } = on;
  const waitMs = fetchWaitMs(input.profile, on.canMove);
  const { batch, profile } = input;
  const results = new Map<string, HostScanResult>();
  const everyHost = (hostsToFail: { ip: string }[], err: unknown) => {
    if (isCancellation(err)) throw err;
    const failure = classifyFailure(err);
    for (const h of hostsToFail) results.set(h.ip, failed(h.ip, failure));
  };

  let sealed;
  try {
    sealed = await controlPlane.sealBatchAccess({
      scanId: batch.scanId,
      applianceId,
      hosts: hosts.map(({ ip, authRecordId }) => ({ ip, authRecordId })),
      validForMs: secretLifetimeMs(profile),
    });
  } catch (err) {
    everyHost(hosts, err);
    return results;
  }
  for (const { ip, failure } of sealed.failed) results.set(ip, failed(ip, failure));
  const sealedHosts = hosts.filter((h) => !results.has(h.ip));
  if (sealedHosts.length === 0) return results;

  let fetched;
  try {
    // Not cancellable (it is short, bounded by the vault timeout): a cancelled scan still
    // learns what was read, for the audit, and which handles to purge.
    const fetcher = refresh
      ? holderFetchActivities(refresh.queue, profile)
      : sharedApplianceActivities(applianceId, profile, waitMs);
    fetched = await CancellationScope.nonCancellable(() =>
      fetcher.fetchCredentials({
        scanId: batch.scanId,
        technology: batch.technology,
        // The appliance needs each host and its record, not what earlier batches made of it.
        hosts: sealedHosts.map(({ ip, authRecordId }) => ({ ip, authRecordId })),
        grants: sealed.grants,
        vaultTimeoutMs: profile.timeouts.vaultMs,
        holdForMs: secretLifetimeMs(profile),
        ...(refresh && { refresh: [...new Set(sealedHosts.map((h) => h.authRecordId))] }),
      }),
    );
  } catch (err) {
    if (!refresh && isApplianceUnavailable(err)) {
      trail.applianceUnavailable = true;
      const failure = {
        code: 'APPLIANCE_UNAVAILABLE' as const,
        vendorCode: null,
        httpStatus: null,
        message: `no worker of appliance ${applianceId} took the batch within ${waitMs} ms`,
      };
      for (const h of sealedHosts) results.set(h.ip, failed(h.ip, failure));
    } else everyHost(sealedHosts, err);
    return results;
  }
  trail.reads.push(...fetched.reads.map((read) => ({ ...read, applianceId })));
  for (const read of fetched.reads)
    if (read.lentUntil && !read.fromCache)
      trail.loans.push({
        holder: fetched.queue,
        vaultId: read.vaultId,
        authRecordId: read.authRecordId,
        locator: read.locator,
        lentUntil: read.lentUntil,
      });
  for (const { ip, failure } of fetched.failed) results.set(ip, failed(ip, failure));
  for (const { ip, plainHttp, fromCache } of fetched.held) {
    if (plainHttp) trail.plainHttp.add(ip);
    if (fromCache) trail.servedFromCache.set(ip, fetched.queue);
    else trail.servedFromCache.delete(ip);
  }
  trail.holders.add(fetched.queue);
  if (fetched.held.length === 0) return results;

  const holder = ownQueueActivities(fetched.queue, profile);
  let purgedByHolder = false;
  try {
    const scanned = await holder.loginAndCollect({
      scanId: batch.scanId,
      maxParallelHosts: profile.maxParallelHosts,
      technology: batch.technology,
      hosts: fetched.held.map(({ ip, handle }) => ({ ip, handle })),
      connectTimeoutMs: profile.timeouts.connectMs,
      commandTimeoutMs: profile.timeouts.commandMs,
    });
    // The holder purges each host as soon as it is done with it: having answered, it holds nothing.
    purgedByHolder = true;
    for (const result of scanned) results.set(result.ip, result);
  } catch (err) {
    // Hosts that had refused the login before the holder was lost keep that answer.
    const refused = loginsRefusedBefore(err);
    for (const ip of refused) {
      results.set(
        ip,
        failed(ip, {
          code: 'AUTH_FAILED',
          vendorCode: null,
          httpStatus: null,
          message: 'the host refused the login before the appliance worker holding the secret was lost',
        }),
      );
    }
    everyHost(
      fetched.held.filter((h) => !refused.has(h.ip)),
      err,
    );
  } finally {
    // Whenever the holder did not answer (failed, timed out, cancelled, lost), purge from here,
    // even when the scan is cancelled; the retry does not wait for it (see purgeOnHolder).
    if (!purgedByHolder) {
      const handles = fetched.held.map((h) => h.handle);
      trail.purges.push(
        CancellationScope.nonCancellable(() =>
          purgeOnHolder(fetched.queue)
            .purgeSecrets({ handles })
            .then(
              () => undefined,
              () => undefined,
            ),
        ),
      );
    }
  }
  return results;
}

function categoryOf(result: HostScanResult): ReportCategory {
  if (!result.ok) return describeCode(result.failure.code).category;
  return result.privileges.ok ? 'PASSED' : 'INSUFFICIENT_PRIVILEGES';
}

function attemptRecord(result: HostScanResult, attemptNo: number, at: string): AttemptRecord {
  if (!result.ok) {
    const { code, vendorCode, httpStatus, message } = result.failure;
    return { attemptNo, at, code, vendorCode, httpStatus, message };
  }
  const refused = result.privileges.ok ? null : result.privileges;
  return {
    attemptNo,
    at,
    code: refused?.code ?? null,
    vendorCode: null,
    httpStatus: null,
    message: refused?.message ?? null,
  };
}

export async function hostBatchWorkflow(input: HostBatchInput): Promise<BatchOutcome> {
  const { batch, profile } = input;
  const maxAttempts = Math.max(1, profile.retry.maxAttempts);
  // This batch's attempts, per host; a host handed back by an earlier batch carries on from its own.
  const attempts = new Map<string, AttemptRecord[]>(batch.hosts.map((h) => [h.ip, []]));
  const earlierOf = new Map(batch.hosts.map((h) => [h.ip, h.earlier]));
  const everyAttempt = (ip: string) => [...(earlierOf.get(ip)?.attempts ?? []), ...attempts.get(ip)!];
  const record = (ip: string, result: HostScanResult, at: string) =>
    attempts.get(ip)!.push(attemptRecord(result, everyAttempt(ip).length + 1, at));
  // Per host, the attempts that count against maxAttempts: not one that found no worker of its
  // appliance when the host could go to another (it was not tried).
  const tries = new Map(batch.hosts.map((h) => [h.ip, h.earlier?.tries ?? 0]));
  const finalResults = new Map<string, HostScanResult>();
  const handedBack: BatchHost[] = [];

  const trail: AttemptTrail = {
    reads: [],
    plainHttp: new Set(),
    purges: [],
    applianceUnavailable: false,
    servedFromCache: new Map(),
    holders: new Set(),
    loans: [],
  };

  // The appliance this attempt runs on; the pool's others (a run begun before batches handed
  // their hosts back moved to them in turn), and those it left.
  let applianceId = input.applianceId;
  const untried = [...(input.alternates ?? [])];
  const left: string[] = [];
  // Reads are audited under the appliance that made each; what else the batch did, under the one it ended on.
  const secretUse = () => ({ scanId: batch.scanId, applianceId, reads: trail.reads });

  let pending = batch.hosts;
  // Hosts that refused a cached secret: the process that cached it reads the vault once more,
  // and they are tried once more only if the secret changed (rotated since the first read).
  const rotationChecks = new Map<string, BatchHost[]>();
  const rotationChecked = new Set<string>();
  const noResult = (ip: string) =>
    failed(ip, {
      code: 'INTERNAL_ERROR',
      vendorCode: null,
      httpStatus: null,
      message: 'the appliance returned no result for this host',
    });
  try {
    while (pending.length > 0 || rotationChecks.size > 0) {
      const at = () => new Date().toISOString();
      const retry: BatchHost[] = [];
      const askedToWait: (number | undefined)[] = [];
      const on = { applianceId, canMove: untried.length > 0 };
      const results = pending.length > 0 ? await attemptOnce(input, on, pending, trail) : new Map();
      const attemptedAt = at();
      // No worker of this appliance took the batch, and the pool has others: the hosts go back
      // to the scan, which knows which appliance has room for them.
      const offline = trail.applianceUnavailable && untried.length > 0;
      const handingBack = offline && input.handsBack === true && patched('batch-hands-back-to-scan');
      // A run begun before that moved itself to the next appliance of the pool.
      const moving = offline && !handingBack && patched('batch-moves-to-another-appliance');
      if (moving) {
        left.push(applianceId);
        applianceId = untried.shift()!;
        trail.applianceUnavailable = false;
        upsertSearchAttributes([{ key: ApplianceIdAttr, value: applianceId }]);
      }
      let waitBeforeRetry = false;
      let fewestTries = Number.POSITIVE_INFINITY;
      for (const host of pending) {
        const result = results.get(host.ip) ?? noResult(host.ip);
        record(host.ip, result, attemptedAt);
        const notTaken = !result.ok && result.failure.code === 'APPLIANCE_UNAVAILABLE';
        if ((moving || handingBack) && notTaken) {
          (handingBack ? handedBack : retry).push(host);
          continue;
        }
        const cachedBy = trail.servedFromCache.get(host.ip);
        if (!result.ok && result.failure.code === 'AUTH_FAILED' && cachedBy && !rotationChecked.has(host.ip)) {
          rotationChecked.add(host.ip);
          rotationChecks.set(cachedBy, [...(rotationChecks.get(cachedBy) ?? []), host]);
          finalResults.set(host.ip, result);
          continue;
        }
        const tried = tries.get(host.ip)! + 1;
        tries.set(host.ip, tried);
        const again = !result.ok && describeCode(result.failure.code).retryable && tried < maxAttempts;
        // A host to try again goes back with the others when the appliance has no worker.
        if (again && handingBack) handedBack.push(host);
        else if (again) {
          retry.push(host);
          waitBeforeRetry = true;
          fewestTries = Math.min(fewestTries, tried);
          if (!result.ok) askedToWait.push(result.failure.retryAfterMs);
        } else finalResults.set(host.ip, result);
      }
      // This round's rotation checks: a changed secret's login is the host's answer;
      // anything else (unchanged, the holder gone, the vault failing) leaves its refusal standing.
      for (const [queue, hosts] of rotationChecks) {
        rotationChecks.delete(queue);
        const checked = await attemptOnce(input, { applianceId, canMove: false }, hosts, trail, { queue });
        const checkedAt = at();
        for (const host of hosts) {
          const result = checked.get(host.ip) ?? noResult(host.ip);
          record(host.ip, result, checkedAt);
          if (result.ok || describeCode(result.failure.code).failedLogin === 'target')
            finalResults.set(host.ip, result);
        }
      }
      pending = retry;
      // Hosts that only move to another appliance go at once; a retry of a failure waits, by the
      // tries of the host that has had the fewest.
      if (waitBeforeRetry) await sleep(waitBeforeRetryMs(profile.retry, fewestTries, askedToWait));
    }
  } catch (err) {
    // Cancelled (in an attempt or between two): what was read from the vault is audited all the same.
    if (trail.reads.length > 0) {
      await CancellationScope.nonCancellable(() => controlPlane.recordSecretUse(secretUse()));
    }
    await Promise.all(trail.purges);
    throw err;
  }

  const counts = Object.fromEntries(REPORT_CATEGORIES.map((c) => [c, 0])) as BatchOutcome['counts'];
  // For the scan's credential breaker: did the credential work anywhere, and how often was it refused?
  // A login whose delegation password the host refused is a failed authentication of the same
  // account (sudo asks the account's own password): it proves nothing and counts as a failure.
  const refusedDelegation = (r: HostScanResult) =>
    r.ok && !r.privileges.ok && describeCode(r.privileges.code).failedLogin === 'target';
  const countRefusedDelegation = patched('delegation-refusal-not-a-login');
  const logins: BatchOutcome['logins'] = {
    loggedIn: [...finalResults.values()].filter((r) => r.ok && !(countRefusedDelegation && refusedDelegation(r)))
      .length,
    // This batch's attempts only: the scan counted those of earlier batches when they ended.
    failedLogins: [...attempts.values()].flat().filter((a) => a.code && describeCode(a.code).failedLogin === 'target')
      .length,
    vaultLoginFailures: trail.reads.filter((r) => r.code && describeCode(r.code).failedLogin === 'vault').length,
  };
  // Handed-back hosts are published by the batch that tries them last.
  const answered = batch.hosts.filter((host) => finalResults.has(host.ip));
  const results: PublishableHostResult[] = answered.map((host) => {
    const result = finalResults.get(host.ip)!;
    // The answer that stands (a refusal stands when the vault's secret had not changed).
    const last = attemptRecord(result, 0, '');
    const category = categoryOf(result);
    counts[category] += 1;
    return {
      ip: host.ip,
      technology: batch.technology,
      category,
      errorCode: last.code,
      vendorCode: last.vendorCode,
      cause: last.message,
      login: batch.plans[host.authRecordId]!.username,
      authRecordId: host.authRecordId,
      collected: result.ok ? result.collected : null,
      attempts: everyAttempt(host.ip),
      flags: trail.plainHttp.has(host.ip) ? ['VAULT_PLAIN_HTTP'] : [],
    };
  });
  // Hosts that logged in pin the key they presented, where none is pinned yet (trust on first use).
  const learnHostKeys = answered.flatMap((host) => {
    const result = finalResults.get(host.ip)!;
    // Pinned under the port the appliance really logged in to (the grant's), not the plan's.
    return result.ok && result.hostKey ? [{ ip: host.ip, port: result.port, sha256: result.hostKey }] : [];
  });
  await CancellationScope.nonCancellable(() =>
    controlPlane.publishHostResults({ scanId: batch.scanId, results, learnHostKeys, secretUse: secretUse() }),
  );
  await Promise.all(trail.purges);
  upsertSearchAttributes([
    { key: ScanStatusAttr, value: 'FINISHED' },
    { key: HostCategoriesAttr, value: REPORT_CATEGORIES.filter((c) => counts[c] > 0) },
  ]);
  const unavailableAppliances = [...left, ...(trail.applianceUnavailable ? [applianceId] : [])];
  return {
    counts,
    logins,
    applianceUnavailable: trail.applianceUnavailable,
    ...(input.alternates && { unavailableAppliances }),
    ...(handedBack.length > 0 && {
      handedBack: handedBack.map(({ ip, authRecordId }) => ({
        ip,
        authRecordId,
        earlier: {
          attempts: everyAttempt(ip),
          tries: tries.get(ip)!,
          handBacks: (earlierOf.get(ip)?.handBacks ?? 0) + 1,
        },
      })),
    }),
    holders: [...trail.holders],
    ...(trail.loans.length > 0 && { loans: trail.loans }),
  };
}
