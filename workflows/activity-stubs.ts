// Activity proxies, one place for their timeouts. Retries of the steps that touch a host
// belong to the workflows (so every attempt lands in the report), hence maximumAttempts: 1.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ApplianceActivities } from '../activities/appliance.js';
import type { ControlPlaneActivities } from '../activities/control-plane.js';
import type { ProfileSettings } from '../domain/scan-types.js';

export const CONTROL_PLANE_QUEUE = 'vaultscan.control-plane';

export function applianceQueue(applianceId: string): string {
  return `appliance.${applianceId}`;
}

export const controlPlane = proxyActivities<ControlPlaneActivities>({
  taskQueue: CONTROL_PLANE_QUEUE,
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});

/**
 * The same database activities as local activities: they run in the control-plane worker that
 * runs the workflow (which has the database), with no task queue round trip and one history
 * marker instead of three events. Their input (a batch's collected data) never enters history.
 */
export const controlPlaneLocal = proxyLocalActivities<
  Pick<ControlPlaneActivities, 'publishHostResults' | 'recordSecretUse' | 'sealBatchAccess'>
>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});

const applianceLostMs = (p: ProfileSettings) => p.timeouts.applianceLostMs ?? 30_000;
const heartbeatMs = (p: ProfileSettings) => p.timeouts.heartbeatMs ?? 15_000;

/** fetchCredentials on the appliance's shared queue: any of its workers may take it. */
export function sharedApplianceActivities(applianceId: string, profile: ProfileSettings) {
  return proxyActivities<Pick<ApplianceActivities, 'fetchCredentials'>>({
    taskQueue: applianceQueue(applianceId),
    startToCloseTimeout: profile.timeouts.vaultMs + 5_000,
    retry: { maximumAttempts: 1 },
  });
}

/**
 * The steps that need the secrets, on the queue of the one worker holding them. If that
 * worker dies nobody else can take them: schedule-to-start and heartbeat timeouts notice it.
 * A batch's hosts run at once, each after waiting for a login slot. At most one batch beyond
 * maxParallelHosts is in flight, so every waiting host gets a slot once the hosts now logged
 * in are done: one host's budget to wait and one to run bound the whole step.
 */
export function ownQueueActivities(queue: string, profile: ProfileSettings) {
  const hostMs = profile.timeouts.connectMs + 4 * profile.timeouts.commandMs;
  return proxyActivities<Omit<ApplianceActivities, 'fetchCredentials'>>({
    taskQueue: queue,
    scheduleToStartTimeout: applianceLostMs(profile),
    startToCloseTimeout: 2 * hostMs + 10_000,
    heartbeatTimeout: heartbeatMs(profile),
    retry: { maximumAttempts: 1 },
  });
}
