// Is a worker of the appliance there right now? Temporal's list of pollers keeps a dead one
// for minutes, and a live idle one has not polled for up to a minute, so the list cannot tell;
// a task on the appliance's shared queue that some worker takes within a few seconds can.
import { proxyActivities } from '@temporalio/workflow';
import type { ApplianceActivities } from '../activities/appliance.js';
import { applianceQueue } from './activity-stubs.js';

export async function applianceProbeWorkflow(input: { applianceId: string; waitMs: number }): Promise<boolean> {
  const { ping } = proxyActivities<Pick<ApplianceActivities, 'ping'>>({
    taskQueue: applianceQueue(input.applianceId),
    scheduleToStartTimeout: input.waitMs,
    startToCloseTimeout: '5 seconds',
    retry: { maximumAttempts: 1 },
  });
  try {
    await ping();
    return true;
  } catch {
    return false;
  }
}
