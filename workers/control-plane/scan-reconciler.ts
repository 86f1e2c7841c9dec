// A scan's row follows its workflow whatever ends it. The workflow records its own end when it
// can (finished, cancelled through the API or the Web UI, failed in its own code); what no
// workflow code sees (terminated in the Web UI, timed out, a control plane that crashed before
// the row was written) is found here: at start and then periodically, every open scan whose
// workflow has closed is ended the way its workflow was.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Database } from '../../db/client.js';
import { resultRepo, scanRepo, type Scan } from '../../db/repositories/index.js';

export interface ScanReconcilerOptions {
  db: Database;
  client: Client;
  logger: Logger;
  /** How often to look; a closed workflow's scan is ended within this. */
  intervalMs?: number;
}

type Ending = { status: 'FINISHED' | 'CANCELED' | 'FAILED'; reason?: string };

/** How a scan ends when its workflow closed the way `status` says; undefined while it runs. */
async function endingOf(client: Client, scan: Scan): Promise<Ending | undefined> {
  let description;
  try {
    description = await client.workflow.getHandle(scan.workflowId ?? `scan-${scan.id}`).describe();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    // A scan whose workflow was never started (or is long gone from Temporal's retention).
    if (scan.status === 'QUEUED' && Date.now() - scan.createdAt.getTime() < 60_000) return undefined;
    return { status: 'FAILED', reason: 'its workflow does not exist in Temporal' };
  }
  switch (description.status.name) {
    case 'RUNNING':
    case 'CONTINUED_AS_NEW': // describe follows the chain to its latest run, so this is rare
      return undefined;
    case 'COMPLETED':
      return { status: 'FINISHED' };
    case 'CANCELLED':
      return { status: 'CANCELED', reason: 'its workflow was cancelled in Temporal' };
    case 'TERMINATED':
      return { status: 'FAILED', reason: 'its workflow was terminated in Temporal (the Web UI or the CLI)' };
    case 'TIMED_OUT':
      return { status: 'FAILED', reason: 'its workflow timed out in Temporal' };
    default:
      return { status: 'FAILED', reason: `its workflow ended ${description.status.name.toLowerCase()} in Temporal` };
  }
}

/** One pass: ends every open scan whose workflow has closed. Returns how many it ended. */
export async function reconcileScans(db: Database, client: Client): Promise<number> {
  let ended = 0;
  for (const scan of await scanRepo.listOpen(db)) {
    const ending = await endingOf(client, scan);
    if (!ending) continue;
    // The counts are what was published: the row and the report agree.
    await scanRepo.finish(db, scan.id, ending.status, await resultRepo.countByCategory(db, scan.id), ending.reason);
    ended++;
  }
  return ended;
}

/** Reconciles now and then every intervalMs, until stopped. */
export function startScanReconciler(options: ScanReconcilerOptions): { stop(): Promise<void> } {
  const intervalMs = options.intervalMs ?? 30_000;
  let current: Promise<void> | undefined;
  // One pass at a time: a slow one is not overtaken by the next.
  const pass = () => {
    current ??= reconcileScans(options.db, options.client)
      .then(
        (ended) => {
          if (ended > 0) options.logger.info({ ended }, 'ended scans whose workflows had closed');
        },
        (err: unknown) => options.logger.warn({ err }, 'could not reconcile scans with their workflows'),
      )
      .finally(() => (current = undefined));
  };
  pass();
  const timer = setInterval(pass, intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await current;
    },
  };
}
