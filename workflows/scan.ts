// A scan: read targets page by page, publish hosts no record covers, run one child per
// covered host inside a bounded window, continue-as-new before history grows large.
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
import type { HostOutcome, HostPlan, ProfileSettings } from '../domain/scan-types.js';
import { ApplianceIdAttr, ScanIdAttr, ScanStatusAttr, TargetIpAttr } from '../domain/search-attributes.js';
import { controlPlane } from './activity-stubs.js';
import { hostScanWorkflow } from './host-scan.js';
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
  /** Children started per run before continuing as new (keeps each run's history small). */
  childrenPerRun?: number;
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

export function hostWorkflowId(scanId: string, ip: string, technology: string): string {
  return `scan-${scanId}/${technology}/${ip}`;
}

export async function scanWorkflow(input: ScanInput): Promise<ScanSummary> {
  const pageSize = input.pageSize ?? 500;
  const childrenPerRun = input.childrenPerRun ?? 1_000;
  const pagesPerRun = input.pagesPerRun ?? 100;
  const counts = input.counts ?? emptyCounts();
  let cursor = input.cursor ?? 0;
  let cancelRequested = false;
  let endStatus: ScanSummary['status'] | undefined = undefined;
  const running = new Set<Promise<void>>();
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
    runningHosts: running.size,
    counts: { ...counts },
  }));

  if (input.cursor === undefined) await controlPlane.markScanRunning({ scanId: input.scanId });

  const runHost = async (ip: string, plan: HostPlan) => {
    const child = await startChild(hostScanWorkflow, {
      workflowId: hostWorkflowId(input.scanId, ip, plan.technology),
      args: [{ scanId: input.scanId, ip, applianceId: input.applianceId, technology: plan.technology, plan, profile: input.profile }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      typedSearchAttributes: [
        { key: ScanIdAttr, value: input.scanId },
        { key: TargetIpAttr, value: ip },
        { key: ApplianceIdAttr, value: input.applianceId },
        { key: ScanStatusAttr, value: 'RUNNING' },
      ],
    });
    const outcome: HostOutcome = await child.result();
    counts[outcome.category] += 1;
  };

  let startedThisRun = 0;
  let pagesThisRun = 0;
  const roomInThisRun = () => startedThisRun < childrenPerRun && pagesThisRun < pagesPerRun && !workflowInfo().continueAsNewSuggested;
  try {
    await hostScope.run(async () => {
      while (cursor < input.totalHosts && roomInThisRun()) {
        pagesThisRun++;
        const technologies = input.profile.technologies;
        const page = await controlPlane.resolveTargets({ scanId: input.scanId, offset: cursor, limit: Math.min(pageSize, childrenPerRun - startedThisRun), technologies });
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
        for (const host of page.hosts) {
          if (host.authRecordId === null) continue;
          await condition(() => running.size < input.profile.maxParallelHosts);
          const task: Promise<void> = runHost(host.ip, page.plans[host.authRecordId]!)
            .catch((err: unknown) => {
              // A host workflow that failed outright (not cancelled) still counts, as FAILED.
              if (!isCancellation(err)) counts.FAILED += 1;
            })
            .finally(() => running.delete(task));
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
