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

/** The appliance of a queue, shared (`appliance.<id>`) or a worker's own (`appliance.<id>.<uuid>`). */
export function applianceOfQueue(queue: string): string | undefined {
  return /^appliance\.([0-9a-f-]{36})(?:\.|$)/.exec(queue)?.[1];
}

/**
 * The database activities, all as local activities: they run in the control-plane worker that
 * runs the workflow (which has the database), with no task queue round trip and one history
 * marker instead of three events. That worker polls no activity queue at all, so nobody else
 * on the namespace can schedule them (and each refuses to run unless local).
 */
export const controlPlane = proxyLocalActivities<ControlPlaneActivities>({
  startToCloseTimeout: '2 minutes',
  // Retried while the database is away, but not for ever: then the step fails and says so.
  scheduleToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});

/**
 * The first step of a schedule's run (startScheduledScan). Retried for a minute at most: long
 * enough for the row of a schedule being created to appear (it follows the Temporal schedule by
 * moments) or a database blip to pass; then the run fails, saying why, and the next one tries
 * afresh. Never a run that waits for ever.
 */
export const scheduledRunSteps = proxyLocalActivities<Pick<ControlPlaneActivities, 'startScheduledScan'>>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 minute',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

const applianceLostMs = (p: ProfileSettings) => p.timeouts.applianceLostMs ?? 30_000;
const heartbeatMs = (p: ProfileSettings) => p.timeouts.heartbeatMs ?? 15_000;

/** How long a batch waits for any worker of its appliance before calling the appliance unavailable. */
export const applianceUnavailableMs = (p: ProfileSettings) => p.timeouts.applianceUnavailableMs ?? 120_000;

/**
 * How long a batch of an appliance pool waits for a worker of its appliance before it moves to
 * another of the pool: not the minutes a lone appliance is given to come back, since another
 * can serve now (and one that is merely busy sheds the batch to the others).
 */
export const POOL_MOVE_AFTER_MS = 15_000;

/** How long the batch's fetch waits for a worker of its appliance: shorter when it can move. */
export const fetchWaitMs = (p: ProfileSettings, canMove: boolean) =>
  canMove ? Math.min(POOL_MOVE_AFTER_MS, applianceUnavailableMs(p)) : applianceUnavailableMs(p);

/**
 * fetchCredentials on the appliance's shared queue: any of its workers may take it. If none
 * does within waitMs, the appliance is offline: the batch says so and moves on or ends.
 */
export function sharedApplianceActivities(applianceId: string, profile: ProfileSettings, waitMs: number) {
  return proxyActivities<Pick<ApplianceActivities, 'fetchCredentials'>>({
    taskQueue: applianceQueue(applianceId),
    scheduleToStartTimeout: waitMs,
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
const loginAndCollectMs = (p: ProfileSettings) => 2 * (p.timeouts.connectMs + 4 * p.timeouts.commandMs) + 10_000;

/**
 * How long the appliance may hold a batch's fetched secrets at most: the wait for the holder's
 * queue plus the whole login-and-collect step, and a minute's slack. Past it they are purged,
 * in use or not: no secret outlives the step that needs it.
 */
export const secretLifetimeMs = (p: ProfileSettings) => applianceLostMs(p) + loginAndCollectMs(p) + 60_000;

export function ownQueueActivities(queue: string, profile: ProfileSettings) {
  return proxyActivities<Pick<ApplianceActivities, 'loginAndCollect'>>({
    taskQueue: queue,
    scheduleToStartTimeout: applianceLostMs(profile),
    startToCloseTimeout: loginAndCollectMs(profile),
    heartbeatTimeout: heartbeatMs(profile),
    retry: { maximumAttempts: 1 },
  });
}

/**
 * fetchCredentials again on the process that served a host a cached secret the host refused:
 * only its cache can tell whether the vault's secret changed since. If that process is gone,
 * the host keeps its refusal.
 */
export function holderFetchActivities(queue: string, profile: ProfileSettings) {
  return proxyActivities<Pick<ApplianceActivities, 'fetchCredentials'>>({
    taskQueue: queue,
    scheduleToStartTimeout: applianceLostMs(profile),
    startToCloseTimeout: profile.timeouts.vaultMs + 5_000,
    retry: { maximumAttempts: 1 },
  });
}
/**
 * The purge of what a holder did not answer for. If the holder is gone, so are its secrets, and
 * a purge addressed to its queue would wait for nobody: it gets a few seconds to be taken, and
 * no retry waits for it (the store's lifetime purges whatever a live holder kept).
 */
export function purgeOnHolder(queue: string) {
  return proxyActivities<Pick<ApplianceActivities, 'purgeSecrets' | 'forgetScan'>>({
    taskQueue: queue,
    scheduleToStartTimeout: '5 seconds',
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 1 },
  });
}
