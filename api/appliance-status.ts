// Whether any worker of an appliance is polling its shared queue right now, so an operator
// launching a scan learns at once that its hosts would wait for an appliance that is offline.
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { applianceQueue } from '../workflows/activity-stubs.js';

const { temporal } = protos;

export async function applianceIsPolling(client: Client, applianceId: string): Promise<boolean> {
  const answer = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: applianceQueue(applianceId) },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return (answer.pollers ?? []).length > 0;
}
