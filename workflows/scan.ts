// A scan: read targets page by page, publish hosts no record covers, queue the covered hosts by
// the authentication record that covers them, and run them in batches of one record (one child
// workflow per batch) inside a window of maxParallelHosts hosts plus one batch (the appliance
// keeps logins to maxParallelHosts). The credential breaker holds back a record whose
// credential has not yet worked, and stops one that keeps failing. Continue-as-new before
// history grows large. A scan may have a pool of appliances: each batch goes to the one with the
// fewest hosts running (appliance-pool.ts); a batch whose appliance goes offline hands its hosts
// back, and they are queued again for another of the pool, within that appliance's window.
import {
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  condition,
  continueAsNew,
  isCancellation,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
  patched,
} from '@temporalio/workflow';
import { REPORT_CATEGORIES, type ReportCategory } from '../domain/categories.js';
import type {
  BatchOutcome,
  HostBatch,
  HostPlan,
  ProfileSettings,
  SkippedTarget,
  VaultLoan,
} from '../domain/scan-types.js';
import { groupBy } from '../domain/group-by.js';
import { ApplianceIdAttr, ScanIdAttr, ScanStatusAttr, TargetIpsAttr } from '../domain/search-attributes.js';
import { controlPlane, purgeOnHolder } from './activity-stubs.js';
import { CredentialBreaker, type BreakerState, type Suspension } from './credential-breaker.js';
import { hostBatchWorkflow } from './host-batch.js';
import { AppliancePool, mayHandBack, probeAppliances, type PoolState } from './appliance-pool.js';
import { cancelSignal, progressQuery, type ScanProgress } from './messages.js';

type QueuedHost = HostBatch['hosts'][number];

export interface ScanInput {
  scanId: string;
  /** The appliance the scan runs on: the first of its pool. */
  applianceId: string;
  /** The scan's appliance pool, in the order named (applianceId first); absent: applianceId alone. */
  applianceIds?: string[];
  /** Carried across continue-as-new: what the pool learnt of its appliances. */
  pool?: PoolState;
  profile: ProfileSettings;
  totalHosts: number;
  /** Carried across continue-as-new: hosts already read, and the tally so far. */
  cursor?: number;
  counts?: Record<ReportCategory, number>;
  /** Carried across continue-as-new: covered hosts read but not yet handed out, and their plans. */
  queued?: { hosts: QueuedHost[]; plans: Record<string, HostPlan> };
  /** Carried across continue-as-new: the appliance processes whose caches hold this scan's credentials. */
  holders?: string[];
  /** Carried across continue-as-new: what the scan's vault reads borrowed, by holding process. */
  loans?: VaultLoan[];
  /** Carried across continue-as-new: the credential breaker's counts. */
  breaker?: BreakerState;
  pageSize?: number;
  /** Hosts per batch child; by default maxParallelHosts, at most 25. */
  hostsPerBatch?: number;
  /** Batch children started per run before continuing as new (keeps each run's history small). */
  batchesPerRun?: number;
  /** Pages read per run before continuing as new (bounds runs over hosts no record covers). */
  pagesPerRun?: number;
}

export interface ScanSummary {
  scanId: string;
  status: 'FINISHED' | 'CANCELED';
  totalHosts: number;
  counts: Record<ReportCategory, number>;
}

/** How often a pool's lost or silent appliances are asked again whether a worker is back. */
export const POOL_PROBE_INTERVAL = '30 seconds';

/** Failed logins in a row that suspend a credential, unless the option profile says otherwise. */
export const DEFAULT_MAX_FAILED_LOGINS = 3;

const emptyCounts = (): Record<ReportCategory, number> =>
  Object.fromEntries(REPORT_CATEGORIES.map((c) => [c, 0])) as Record<ReportCategory, number>;

/** `scan-<id>/<technology>/<ip>` for one host, `…/<first ip>..<last ip>` for a batch. */
export function batchWorkflowId(scanId: string, technology: string, ips: string[]): string {
  const span = ips.length === 1 ? ips[0] : `${ips[0]}..${ips[ips.length - 1]}`;
  return `scan-${scanId}/${technology}/${span}`;
}

/**
 * As many hosts as may be logged into at once, at most 25: the fewer batches, the less the
 * Temporal server works per host (and 25 keep a batch's collected data well under its payload
 * limit). The scan hands out one batch beyond maxParallelHosts, so while a batch waits on its
 * slowest host, the next batch's hosts take the login slots its other hosts freed.
 */
export function defaultHostsPerBatch(maxParallelHosts: number): number {
  return Math.min(25, Math.max(1, maxParallelHosts));
}

export async function scanWorkflow(input: ScanInput): Promise<ScanSummary> {
  const pageSize = input.pageSize ?? 500;
  const hostsPerBatch = Math.min(
    input.hostsPerBatch ?? defaultHostsPerBatch(input.profile.maxParallelHosts),
    input.profile.maxParallelHosts,
  );
  const batchesPerRun = input.batchesPerRun ?? 400;
  // One batch beyond maxParallelHosts is handed out to each appliance, so its credentials are
  // fetched by the time a login slot frees; an appliance logs into at most maxParallelHosts hosts at once.
  const inFlightLimit = input.profile.maxParallelHosts + hostsPerBatch;
  const pagesPerRun = input.pagesPerRun ?? 100;
  const counts = input.counts ?? emptyCounts();
  const breaker = new CredentialBreaker(input.profile.maxFailedLogins ?? DEFAULT_MAX_FAILED_LOGINS, input.breaker);
  const plans: Record<string, HostPlan> = { ...input.queued?.plans };
  const queues = new Map<string, QueuedHost[]>();
  for (const host of input.queued?.hosts ?? [])
    queues.set(host.authRecordId, [...(queues.get(host.authRecordId) ?? []), host]);
  const queuedHosts = () => [...queues.values()].reduce((n, q) => n + q.length, 0);
  let cursor = input.cursor ?? 0;
  let cancelRequested = false;
  let endStatus: ScanSummary['status'] | undefined = undefined;
  const running = new Set<Promise<void>>();
  const holders = new Set(input.holders ?? []);
  const loans: VaultLoan[] = [...(input.loans ?? [])];
  /**
   * When the scan ends, each process that cached its credentials purges them and gives back
   * what it borrowed (the TTL would, later). A process that does not answer is gone with its
   * loans: the vault ends each when the time asked for runs out, and the scan's trail says so.
   */
  const forgetCachedCredentials = async () => {
    if (!patched('forget-cached-credentials')) return;
    await CancellationScope.nonCancellable(async () => {
      const queues = [...holders];
      const answers = await Promise.allSettled(
        queues.map((queue) => purgeOnHolder(queue).forgetScan({ scanId: input.scanId })),
      );
      const gone = new Set(queues.filter((_, i) => answers[i]!.status === 'rejected'));
      const unreturned = loans.filter((loan) => gone.has(loan.holder));
      if (unreturned.length > 0)
        // Each loan names the process (and so the appliance) that holds it.
        await controlPlane.recordUnreturnedLoans({
          scanId: input.scanId,
          applianceId: input.applianceId,
          loans: unreturned,
        });
    });
  };
  let runningHosts = 0;
  // Bumped whenever a batch ends or a probe brings an appliance back: the loop waits for it
  // when nothing can be handed out.
  let batchesEnded = 0;
  let poolChanged = 0;
  // Once a batch found no worker of an appliance, no more batches go to it (a pool's probe may
  // bring it back); once none of the pool is left, the hosts left are not handed to nobody.
  const pool = new AppliancePool(input.applianceIds ?? [input.applianceId], input.pool);
  const pooled = pool.members.length > 1;
  const done = () => Object.values(counts).reduce((a, b) => a + b, 0);
  const tally = (published: Partial<Record<ReportCategory, number>>) => {
    for (const [category, n] of Object.entries(published)) counts[category as ReportCategory] += n ?? 0;
  };

  const hostScope = new CancellationScope();
  const requestCancel = () => {
    cancelRequested = true;
    hostScope.cancel();
  };
  setHandler(cancelSignal, requestCancel);
  setHandler(progressQuery, (): ScanProgress => ({
    status: endStatus ?? (cancelRequested ? 'CANCELING' : 'RUNNING'),
    totalHosts: input.totalHosts,
    doneHosts: done(),
    runningHosts,
    counts: { ...counts },
    ...(pooled && {
      appliances: pool.members.map((applianceId) => ({
        applianceId,
        state: pool.stateOf(applianceId),
        runningHosts: pool.runningOn(applianceId),
      })),
    }),
  }));

  if (input.cursor === undefined) await controlPlane.markScanRunning({ scanId: input.scanId });

  /**
   * Hosts that will not be tried (again), published at once, each with its cause (one record's);
   * a host an earlier batch handed back keeps the attempts it had.
   */
  const publishSkipped = async (
    hosts: QueuedHost[],
    code: Suspension['code'] | 'INTERNAL_ERROR' | 'APPLIANCE_UNAVAILABLE',
    causeOf: (host: QueuedHost) => string,
  ) => {
    if (hosts.length === 0) return;
    const plan = plans[hosts[0]!.authRecordId]!;
    tally(
      await controlPlane.publishSkipped({
        scanId: input.scanId,
        technology: plan.technology,
        hosts: hosts.map((host) => ({
          ip: host.ip,
          code,
          cause: causeOf(host),
          authRecordId: host.authRecordId,
          login: plan.username,
          ...(host.earlier && { attempts: host.earlier.attempts }),
        })),
      }),
    );
  };
  /** A host set aside, as the report says it: "not tried again" when a batch had handed it back. */
  const notTried = (reason: string) => (host: QueuedHost) =>
    `${host.earlier ? 'not tried again' : 'not tried'}: ${reason}`;

  const runBatch = async (batch: HostBatch, recordId: string, applianceId: string) => {
    const ips = batch.hosts.map((h) => h.ip);
    const plan = plans[recordId]!;
    // The pool's others: a batch whose appliance has none of its workers may hand its hosts back
    // (handsBack: this scan queues them again; a batch of a scan that did not say so moves itself).
    const alternates = mayHandBack(batch.hosts, pool.members.length) ? pool.alternatesTo(applianceId) : [];
    breaker.handedOut(recordId, ips.length);
    runningHosts += ips.length;
    pool.started(applianceId, ips.length);
    try {
      const child = await startChild(hostBatchWorkflow, {
        workflowId: batchWorkflowId(input.scanId, batch.technology, ips),
        args: [
          {
            batch,
            applianceId,
            profile: input.profile,
            ...(alternates.length > 0 && { alternates, handsBack: true }),
          },
        ],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        typedSearchAttributes: [
          { key: ScanIdAttr, value: input.scanId },
          { key: TargetIpsAttr, value: ips },
          { key: ApplianceIdAttr, value: applianceId },
          { key: ScanStatusAttr, value: 'RUNNING' },
        ],
      });
      const outcome: BatchOutcome = await child.result();
      for (const category of REPORT_CATEGORIES) counts[category] += outcome.counts[category];
      breaker.reported(recordId, plan.vaultId, ips.length, outcome.logins);
      for (const queue of outcome.holders ?? []) holders.add(queue);
      loans.push(...(outcome.loans ?? []));
      // Appliances the batch found without workers (before it moved on, or at its end).
      const unavailable = outcome.unavailableAppliances ?? (outcome.applianceUnavailable ? [applianceId] : []);
      for (const id of unavailable) pool.markLost(id);
      // Hosts it handed back (their appliance had no worker) go first when the window next has room.
      if (outcome.handedBack) queues.set(recordId, [...outcome.handedBack, ...(queues.get(recordId) ?? [])]);
    } catch (err) {
      if (isCancellation(err)) throw err;
      breaker.reported(recordId, plan.vaultId, ips.length, { loggedIn: 0, failedLogins: 0, vaultLoginFailures: 0 });
      // A batch workflow that failed outright still answers for each of its hosts, so the
      // report has a row for every host the counts include.
      const message = err instanceof Error ? err.message : String(err);
      await CancellationScope.nonCancellable(() =>
        publishSkipped(batch.hosts, 'INTERNAL_ERROR', () => `the batch that scanned this host failed: ${message}`),
      );
    } finally {
      runningHosts -= ips.length;
      pool.ended(applianceId, ips.length);
      batchesEnded++;
    }
  };

  /** Suspended records' queued hosts are published as such; the next batch the window allows. */
  const nextBatch = async (): Promise<{ batch: HostBatch; recordId: string; applianceId: string } | undefined> => {
    for (const [recordId, queue] of queues) {
      if (queue.length === 0) continue;
      const plan = plans[recordId]!;
      if (pool.candidates().length === 0) {
        const reason = pooled
          ? `no worker of any appliance of the scan's pool (${pool.members.join(', ')}) took its work in time`
          : `no worker of appliance ${input.applianceId} took this scan's work in time`;
        await publishSkipped(queue.splice(0), 'APPLIANCE_UNAVAILABLE', notTried(reason));
        continue;
      }
      const suspension = breaker.suspension(recordId, plan.vaultId);
      if (suspension) {
        await publishSkipped(queue.splice(0), suspension.code, notTried(suspension.message));
        continue;
      }
      const appliance = pool.pick(inFlightLimit);
      if (!appliance) continue;
      const size = Math.min(queue.length, hostsPerBatch, breaker.allowance(recordId, plan.vaultId), appliance.room);
      if (size <= 0) continue;
      return {
        recordId,
        applianceId: appliance.applianceId,
        batch: {
          scanId: input.scanId,
          technology: plan.technology,
          hosts: queue.splice(0, size),
          plans: { [recordId]: plan },
        },
      };
    }
    return undefined;
  };

  let startedThisRun = 0;
  let pagesThisRun = 0;
  const roomInThisRun = () =>
    startedThisRun < batchesPerRun && pagesThisRun < pagesPerRun && !workflowInfo().continueAsNewSuggested;

  /** Reads the next page: uncovered hosts are published, covered ones queued by record. */
  const readPage = async (): Promise<boolean> => {
    pagesThisRun++;
    const technologies = input.profile.technologies;
    const page = await controlPlane.resolveTargets({
      scanId: input.scanId,
      offset: cursor,
      limit: Math.min(pageSize, (batchesPerRun - startedThisRun) * hostsPerBatch),
      technologies,
    });
    const addresses = page.addresses ?? page.hosts.length;
    if (addresses === 0) return false;
    cursor += addresses;
    Object.assign(plans, page.plans);
    // What will not be tried, per technology. A page from before several technologies per
    // host has no `skipped`: its uncovered hosts have a null record, for the first technology.
    const skipped: SkippedTarget[] =
      page.skipped ??
      page.hosts
        .filter((h) => h.authRecordId === null)
        .map((h) => ({
          ip: h.ip,
          technology: technologies[0] ?? 'unix',
          code: technologies.length === 0 ? 'TECHNOLOGY_DISABLED' : 'NO_AUTH_RECORD',
        }));
    for (const [technology, hosts] of groupBy(skipped, (h) => h.technology)) {
      tally(
        await controlPlane.publishSkipped({
          scanId: input.scanId,
          technology,
          hosts: hosts.map(({ ip, code, authRecordId, login }) => ({
            ip,
            code,
            ...(authRecordId && { authRecordId }),
            ...(login && { login }),
          })),
        }),
      );
    }
    for (const { ip, authRecordId } of page.hosts) {
      if (authRecordId === null) continue;
      const queue = queues.get(authRecordId) ?? [];
      queue.push({ ip, authRecordId });
      queues.set(authRecordId, queue);
    }
    return true;
  };

  /**
   * A pool asks its appliances whether a worker is there before handing out work, so none waits
   * for an appliance that is offline, and asks the lost or silent ones again every
   * POOL_PROBE_INTERVAL while the scan runs: one that answers takes batches again.
   */
  let scanning = true;
  const probe = async (ids: string[]) => {
    const answers = await probeAppliances(ids);
    ids.forEach((id, i) => pool.probed(id, answers[i]!));
    poolChanged++;
  };
  const probeWhileScanning = async () => {
    while (scanning) {
      await condition(() => !scanning, POOL_PROBE_INTERVAL);
      const ids = pool.unreachable();
      if (scanning && ids.length > 0) await probe(ids);
    }
  };
  let prober: Promise<void> | undefined;

  try {
    await hostScope.run(async () => {
      for (;;) {
        // A pool asks its appliances before the first batch goes out (not for hosts none covers).
        if (pooled && !prober && queuedHosts() > 0) {
          await probe([...pool.members]);
          prober = probeWhileScanning();
        }
        const next = roomInThisRun() ? await nextBatch() : undefined;
        if (next) {
          const task: Promise<void> = runBatch(next.batch, next.recordId, next.applianceId).finally(() =>
            running.delete(task),
          );
          running.add(task);
          startedThisRun++;
          continue;
        }
        // Nothing to hand out now: read on while the queue is short, else wait for a batch.
        if (roomInThisRun() && cursor < input.totalHosts && queuedHosts() < pageSize) {
          if (await readPage()) continue;
        }
        if (running.size === 0) break;
        const seen = { batches: batchesEnded, pool: poolChanged };
        await condition(() => batchesEnded !== seen.batches || poolChanged !== seen.pool);
      }
      scanning = false;
      await prober;
    });
  } catch (err) {
    scanning = false;
    // A probe is short and answers false when cancelled: nothing of it outlives the scan.
    await prober?.catch(() => undefined);
    if (!isCancellation(err)) {
      // Whatever broke, the scan's row says so before the workflow fails.
      await Promise.allSettled(running);
      const reason = `the scan's workflow failed: ${err instanceof Error ? err.message : String(err)}`;
      await forgetCachedCredentials();
      await CancellationScope.nonCancellable(() =>
        controlPlane.finishScan({ scanId: input.scanId, status: 'FAILED', counts, reason }),
      );
      throw err;
    }
    // Cancelled from anywhere (our signal, the Web UI, a parent): the scan ends CANCELED.
    cancelRequested = true;
  }
  // Children finish their own cleanup (purge) before we record the end.
  await Promise.allSettled(running);

  const moreToDo = cursor < input.totalHosts || queuedHosts() > 0;
  if (!cancelRequested && moreToDo) {
    await condition(allHandlersFinished);
    const queued = [...queues.values()].flat();
    const queuedPlans = Object.fromEntries(
      [...new Set(queued.map((h) => h.authRecordId))].map((id) => [id, plans[id]!]),
    );
    return continueAsNew<typeof scanWorkflow>({
      ...input,
      cursor,
      counts,
      queued: { hosts: queued, plans: queuedPlans },
      breaker: breaker.snapshot(),
      ...(pooled && { pool: pool.snapshot() }),
      holders: [...holders],
      loans,
    });
  }
  const status = cancelRequested ? 'CANCELED' : 'FINISHED';
  await forgetCachedCredentials();
  endStatus = status;
  await CancellationScope.nonCancellable(() => controlPlane.finishScan({ scanId: input.scanId, status, counts }));
  upsertSearchAttributes([{ key: ScanStatusAttr, value: status }]);
  return { scanId: input.scanId, status, totalHosts: input.totalHosts, counts };
}
