// Whether a worker of an appliance is there right now, so an operator launching a scan learns
// at once that its hosts would wait for an appliance that is offline.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import protos from '@temporalio/proto';
import { applianceQueue, CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';
import type { applianceProbeWorkflow } from '../workflows/appliance-probe.js';
import { PROBE_WAIT_MS } from '../workflows/appliance-pool.js';

const { temporal } = protos;

/** The workers Temporal lists as polling the appliance's shared queue (a dead one stays listed a while). */
async function pollersOf(client: Client, applianceId: string) {
  const answer = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: applianceQueue(applianceId) },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return answer.pollers ?? [];
}

/** Whether Temporal lists any worker polling the appliance's queue. */
export async function applianceHasPollers(client: Client, applianceId: string): Promise<boolean> {
  return (await pollersOf(client, applianceId)).length > 0;
}

/** A live worker polls again at least this often (long polls last about a minute). */
export const POLLER_FRESH_MS = 90_000;

/** What the appliance's queue says of its workers: how many polled lately, and when last. */
export interface ApplianceWorkers {
  /** Whether any worker polled within POLLER_FRESH_MS; null when Temporal could not be asked. */
  online: boolean | null;
  /** Worker processes that polled within POLLER_FRESH_MS (a process that just died may count). */
  workers: number | null;
  lastPollAt: string | null;
}

export async function applianceWorkers(
  client: Client,
  applianceId: string,
  now = Date.now(),
): Promise<ApplianceWorkers> {
  let pollers;
  try {
    pollers = await pollersOf(client, applianceId);
  } catch {
    return { online: null, workers: null, lastPollAt: null };
  }
  const times = pollers.map((p) => {
    const t = p.lastAccessTime;
    return t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;
  });
  const fresh = new Set(pollers.filter((_, i) => now - times[i]! <= POLLER_FRESH_MS).map((p) => p.identity ?? ''));
  const last = Math.max(0, ...times);
  return { online: fresh.size > 0, workers: fresh.size, lastPollAt: last > 0 ? new Date(last).toISOString() : null };
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
