// One run of a schedule (services/schedule-service.ts creates the Temporal Schedule that starts
// it): the stored scan request becomes an ordinary scan, with its own id, linked to the schedule,
// and runs as this workflow's child `scan-<id>`, so POST /scans/:id/cancel reaches it as any
// scan. The run lasts as long as its scan: that is what the overlap policy sees (skip: no second
// scan while one runs). When the run is closed from outside (the policy's cancel_other or
// terminate_other, a person in the Web UI), the scan is asked to cancel and ends CANCELED, its
// secrets purged; deleting the schedule closes no run, so a running scan goes on.
import {
  ApplicationFailure,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  isCancellation,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { scanSearchAttributes } from '../domain/search-attributes.js';
import { scheduledRunSteps } from './activity-stubs.js';
import { scanWorkflow, type ScanSummary } from './scan.js';

export interface ScheduledScanInput {
  scheduleId: string;
}

export interface ScheduledScanResult {
  scheduleId: string;
  scanId: string;
  status: ScanSummary['status'];
}

export async function scheduledScanWorkflow(input: ScheduledScanInput): Promise<ScheduledScanResult> {
  const runWorkflowId = workflowInfo().workflowId;
  let start;
  try {
    start = await scheduledRunSteps.startScheduledScan({ scheduleId: input.scheduleId, runWorkflowId });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw ApplicationFailure.nonRetryable(
      `schedule ${input.scheduleId}: this run started no scan: ${cause}`,
      'SCHEDULED_SCAN_NOT_STARTED',
    );
  }
  if ('refused' in start) {
    const { field, reason } = start.refused;
    throw ApplicationFailure.nonRetryable(
      `schedule ${input.scheduleId}: its scan request no longer holds, so this run started no scan: ${field}: ${reason}`,
      'SCHEDULED_SCAN_REFUSED',
      { field, reason },
    );
  }
  const scan = await startChild(scanWorkflow, {
    workflowId: start.workflowId,
    args: [start.input],
    typedSearchAttributes: scanSearchAttributes(start.searchAttributes),
    // The run closed from outside: the scan cancels itself cleanly (secrets purged, row CANCELED).
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    // The run cancelled (cancel_other): it ends only once its scan has, so the next run's scan never overlaps it.
    cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  const summary = await scan.result();
  return { scheduleId: input.scheduleId, scanId: summary.scanId, status: summary.status };
}
