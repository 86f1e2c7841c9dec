// The control-plane worker: runs the workflows and the activities that touch the database.
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkflowBundleOption } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { ControlPlaneActivities } from '../../activities/control-plane.js';
import { CONTROL_PLANE_QUEUE } from '../../workflows/activity-stubs.js';

export const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

export interface ControlPlaneWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  dataConverter: DataConverter;
  activities: ControlPlaneActivities;
  /** A prebuilt bundle (tests build it once); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkflowBundleOption;
}

export function createControlPlaneWorker(options: ControlPlaneWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: CONTROL_PLANE_QUEUE,
    dataConverter: options.dataConverter,
    activities: options.activities,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
    maxCachedWorkflows: 500,
    // Its activities are the database's: they run only as local activities of its own
    // workflows, so this worker takes no activity task from the queue (see mustBeLocal).
    enableNonLocalActivities: false,
    shutdownGraceTime: '5 seconds',
  });
}
