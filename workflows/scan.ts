// A scan: read targets page by page, publish hosts no record covers, run the covered hosts
// in batches (one child workflow per batch) inside a window of maxParallelHosts hosts plus one
// batch (the appliance keeps logins to maxParallelHosts), and continue-as-new before history
// grows large.
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
} from '@temporalio/workflow';
import { REPORT_CATEGORIES, type ReportCategory } from '../domain/categories.js';
import { groupBy } from '../domain/group-by.js';
import type { BatchOutcome, HostBatch, ProfileSettings, TargetPage } from '../domain/scan-types.js';
import { ApplianceIdAttr, ScanIdAttr, ScanStatusAttr, TargetIpsAttr } from '../domain/search-attributes.js';
import { controlPlane } from './activity-stubs.js';
import { hostBatchWorkflow } from './host-batch.js';
import { cancelSignal, progressQuery, type ScanProgress } from './messages.js';

export interface ScanInput {
  scanId: string;
  applianceId: string;
  profile: ProfileSettings;
  totalHosts: number;
  /** Carried across continue-as-new: hosts already handed out, and the tally so far. */
  cursor?: number;
  counts?: Record<ReportCategory, number>;
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

/** Splits a page's covered hosts into batches of one technology each, in address order. */
function batchesOf(scanId: string, page: TargetPage, size: number): HostBatch[] {
  const covered = page.hosts.flatMap(({ ip, authRecordId }) => (authRecordId === null ? [] : [{ ip, authRecordId }]));
  const batches: HostBatch[] = [];
  for (const [technology, hosts] of groupBy(covered, (h) => page.plans[h.authRecordId]!.technology)) {
    for (let i = 0; i < hosts.length; i += size) {
      const chunk = hosts.slice(i, i + size);
      const plans = Object.fromEntries(
        [...new Set(chunk.map((h) => h.authRecordId))].map((id) => [id, page.plans[id]!]),
      );
      batches.push({ scanId, technology, hosts: chunk, plans });
    }
  }
  return batches;
}

export async function scanWorkflow(input: ScanInput): Promise<ScanSummary> {
  const pageSize = input.pageSize ?? 500;
  const hostsPerBatch = Math.min(
    input.hostsPerBatch ?? defaultHostsPerBatch(input.profile.maxParallelHosts),
    input.profile.maxParallelHosts,
  );
  const batchesPerRun = input.batchesPerRun ?? 400;
  // One batch beyond maxParallelHosts is handed out, so its credentials are fetched by the time
  // a login slot frees; the appliance logs into at most maxParallelHosts hosts at once.
  const inFlightLimit = input.profile.maxParallelHosts + hostsPerBatch;
  const pagesPerRun = input.pagesPerRun ?? 100;
  const counts = input.counts ?? emptyCounts();
  let cursor = input.cursor ?? 0;
  let cancelRequested = false;
  let endStatus: ScanSummary['status'] | undefined = undefined;
  const running = new Set<Promise<void>>();
  let runningHosts = 0;
  const done = () => Object.values(counts).reduce((a, b) => a + b, 0);

  const hostScope = new CancellationScope();
  setHandler(cancelSignal, () => {
    cancelRequested = true;
    hostScope.cancel();
  });
  setHandler(progressQuery, (): ScanProgress => ({
    status: endStatus ?? (cancelRequested ? 'CANCELING' : 'RUNNING'),
    totalHosts: input.totalHosts,
    doneHosts: done(),
    runningHosts,
    counts: { ...counts },
  }));

  if (input.cursor === undefined) await controlPlane.markScanRunning({ scanId: input.scanId });

  const runBatch = async (batch: HostBatch) => {
    const ips = batch.hosts.map((h) => h.ip);
    const child = await startChild(hostBatchWorkflow, {
      workflowId: batchWorkflowId(input.scanId, batch.technology, ips),
      args: [{ batch, applianceId: input.applianceId, profile: input.profile }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      typedSearchAttributes: [
        { key: ScanIdAttr, value: input.scanId },
        { key: TargetIpsAttr, value: ips },
        { key: ApplianceIdAttr, value: input.applianceId },
        { key: ScanStatusAttr, value: 'RUNNING' },
      ],
    });
    const outcome: BatchOutcome = await child.result();
    for (const category of REPORT_CATEGORIES) counts[category] += outcome[category];
  };

  let startedThisRun = 0;
  let pagesThisRun = 0;
  const roomInThisRun = () =>
    startedThisRun < batchesPerRun && pagesThisRun < pagesPerRun && !workflowInfo().continueAsNewSuggested;
  try {
    await hostScope.run(async () => {
      while (cursor < input.totalHosts && roomInThisRun()) {
        pagesThisRun++;
        const technologies = input.profile.technologies;
        const page = await controlPlane.resolveTargets({
          scanId: input.scanId,
          offset: cursor,
          limit: Math.min(pageSize, (batchesPerRun - startedThisRun) * hostsPerBatch),
          technologies,
        });
        if (page.hosts.length === 0) break;
        cursor += page.hosts.length;

        const uncovered = page.hosts.filter((h) => h.authRecordId === null);
        if (uncovered.length > 0) {
          const code = technologies.length === 0 ? 'TECHNOLOGY_DISABLED' : 'NO_AUTH_RECORD';
          const published = await controlPlane.publishNotAttempted({
            scanId: input.scanId,
            hosts: uncovered.map((h) => ({ ip: h.ip, code })),
            technology: technologies[0] ?? 'unix',
          });
          for (const [category, n] of Object.entries(published)) counts[category as ReportCategory] += n ?? 0;
        }
        for (const batch of batchesOf(input.scanId, page, hostsPerBatch)) {
          const size = batch.hosts.length;
          await condition(() => runningHosts + size <= inFlightLimit);
          runningHosts += size;
          const task: Promise<void> = runBatch(batch)
            .catch((err: unknown) => {
              // A batch workflow that failed outright (not cancelled) still counts, as FAILED.
              if (!isCancellation(err)) counts.FAILED += size;
            })
            .finally(() => {
              runningHosts -= size;
              running.delete(task);
            });
          running.add(task);
          startedThisRun++;
        }
      }
      await Promise.all(running);
    });
  } catch (err) {
    if (!isCancellation(err)) throw err;
  }
  // Children finish their own cleanup (purge) before we record the end.
  await Promise.allSettled(running);

  if (!cancelRequested && cursor < input.totalHosts) {
    await condition(allHandlersFinished);
    return continueAsNew<typeof scanWorkflow>({ ...input, cursor, counts });
  }
  const status = cancelRequested ? 'CANCELED' : 'FINISHED';
  endStatus = status;
  await controlPlane.finishScan({ scanId: input.scanId, status, counts });
  upsertSearchAttributes([{ key: ScanStatusAttr, value: status }]);
  return { scanId: input.scanId, status, totalHosts: input.totalHosts, counts };
}
