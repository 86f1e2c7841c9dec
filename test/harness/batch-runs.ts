// A scan's batch workflows as Temporal's visibility lists them: every run (a pool's batch that
// handed its hosts back runs again under the same id), with its hosts, its appliance and when it
// ran. For tests that check where and when hosts ran.
import type { Client } from '@temporalio/client';

export interface BatchRun {
  workflowId: string;
  ips: string[];
  applianceId: string;
  startedAt: number;
  closedAt: number;
}

/** Every run of the scan's batch workflows, in the order they started. */
export async function batchRuns(client: Client, scanId: string): Promise<BatchRun[]> {
  const runs: BatchRun[] = [];
  for await (const wf of client.workflow.list({ query: `VaultscanScanId = "${scanId}"` })) {
    const ips = wf.searchAttributes.VaultscanTargetIps as string[] | undefined;
    if (!ips) continue;
    runs.push({
      workflowId: wf.workflowId,
      ips,
      applianceId: (wf.searchAttributes.VaultscanApplianceId as string[])[0]!,
      startedAt: wf.startTime.getTime(),
      closedAt: wf.closeTime?.getTime() ?? Number.POSITIVE_INFINITY,
    });
  }
  return runs.sort((a, b) => a.startedAt - b.startedAt);
}
