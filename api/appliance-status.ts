// Whether a worker of an appliance is there right now, so an operator launching a scan learns
// at once that its hosts would wait for an appliance that is offline.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { applianceQueue, CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';
import type { applianceProbeWorkflow } from '../workflows/appliance-probe.js';

const { temporal } = protos;

/** How long a live worker has to answer the probe. */
const PROBE_WAIT_MS = 3_000;

/** Whether Temporal lists any worker polling the appliance's queue (a dead one stays listed a while). */
export async function applianceHasPollers(client: Client, applianceId: string): Promise<boolean> {
  const answer = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: applianceQueue(applianceId) },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (answer.pollers ?? []).length > 0;
}

/**
 * No poller listed: no worker. Pollers listed: Temporal keeps a dead one for minutes, so a
 * task on the appliance's queue asks whether one is really there (a few seconds at most).
 */
export async function applianceIsAlive(client: Client, applianceId: string): Promise<boolean> {
  if (!(await applianceHasPollers(client, applianceId))) return false;
  return client.workflow.execute<typeof applianceProbeWorkflow>('applianceProbeWorkflow', {
    taskQueue: CONTROL_PLANE_QUEUE,
    workflowId: `appliance-probe-${applianceId}-${randomUUID()}`,
    args: [{ applianceId, waitMs: PROBE_WAIT_MS }],
    workflowExecutionTimeout: PROBE_WAIT_MS + 10_000,
  });
}
