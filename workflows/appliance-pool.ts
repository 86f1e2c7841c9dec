// A scan's appliance pool: which appliance gets the next batch. Deterministic (no I/O): the scan
// workflow tells it what batches and probes learnt. Batches go to the appliance with the fewest
// hosts running that has room; an appliance a batch found without workers gets no more batches
// until a probe finds one of its workers again; one that did not answer a probe is passed over
// while another answers.
import { proxyActivities } from '@temporalio/workflow';
import type { ApplianceActivities } from '../activities/appliance.js';
import type { BatchHost } from '../domain/scan-types.js';
import { applianceQueue } from './activity-stubs.js';

/** Carried across continue-as-new. */
export interface PoolState {
  /** A batch found no worker of these: no batch goes to them until a probe is answered. */
  lost: string[];
  /** These did not answer the last probe: used only while no other member can take work. */
  silent: string[];
}

export type ApplianceState = 'live' | 'silent' | 'lost';

export class AppliancePool {
  private readonly lost: Set<string>;
  private readonly silent: Set<string>;
  private readonly running = new Map<string, number>();

  constructor(
    readonly members: readonly string[],
    state?: PoolState,
  ) {
    this.lost = new Set(state?.lost ?? []);
    this.silent = new Set(state?.silent ?? []);
  }

  /** Members that may take a batch now: those not lost, the silent ones only if all others are. */
  candidates(): string[] {
    const notLost = this.members.filter((m) => !this.lost.has(m));
    const answering = notLost.filter((m) => !this.silent.has(m));
    return answering.length > 0 ? answering : notLost;
  }

  /**
   * The candidate with the fewest hosts running that has room (ties: the order named), with its
   * room; undefined when none has any.
   */
  pick(limit: number): { applianceId: string; room: number } | undefined {
    const [applianceId] = this.byLoad().filter((m) => this.runningOn(m) < limit);
    return applianceId === undefined ? undefined : { applianceId, room: limit - this.runningOn(applianceId) };
  }

  /**
   * The other candidates, least loaded first: a batch given some hands its hosts back when its
   * own appliance has no worker (runs begun before that moved to them, in this order).
   */
  alternatesTo(applianceId: string): string[] {
    return this.byLoad().filter((m) => m !== applianceId);
  }

  runningOn(applianceId: string): number {
    return this.running.get(applianceId) ?? 0;
  }

  started(applianceId: string, hosts: number): void {
    this.running.set(applianceId, this.runningOn(applianceId) + hosts);
  }

  ended(applianceId: string, hosts: number): void {
    this.running.set(applianceId, this.runningOn(applianceId) - hosts);
  }

  markLost(applianceId: string): void {
    if (this.members.includes(applianceId)) this.lost.add(applianceId);
  }

  /** What a probe found: an answer brings the appliance back, silence sets it aside. */
  probed(applianceId: string, answered: boolean): void {
    if (answered) {
      this.lost.delete(applianceId);
      this.silent.delete(applianceId);
    } else if (!this.lost.has(applianceId)) this.silent.add(applianceId);
  }

  /** Members worth probing again: lost or silent. */
  unreachable(): string[] {
    return this.members.filter((m) => this.lost.has(m) || this.silent.has(m));
  }

  stateOf(applianceId: string): ApplianceState {
    return this.lost.has(applianceId) ? 'lost' : this.silent.has(applianceId) ? 'silent' : 'live';
  }

  snapshot(): PoolState {
    return { lost: [...this.lost], silent: [...this.silent] };
  }

  private byLoad(): string[] {
    // A stable sort keeps the order named among equals.
    return [...this.candidates()].sort((a, b) => this.runningOn(a) - this.runningOn(b));
  }
}

/**
 * Whether a batch of these hosts may hand them back when its appliance has no worker: not once
 * one of them has been handed back as often as the pool has other appliances, so a host cannot
 * go round a pool whose appliances answer probes but take no work; that batch waits its
 * appliance's full time and ends there.
 */
export function mayHandBack(hosts: readonly BatchHost[], poolSize: number): boolean {
  return poolSize > 1 && hosts.every((h) => (h.earlier?.handBacks ?? 0) < poolSize - 1);
}

/** How long a live appliance has to take a probe. */
export const PROBE_WAIT_MS = 3_000;

/**
 * Asks each appliance whether a worker is there (a ping on its shared queue, taken within waitMs
 * or not at all); answers in the order asked. Temporal's list of pollers keeps a dead worker for
 * minutes and a live idle one has not polled for up to a minute, so that list cannot tell.
 */
export async function probeAppliances(applianceIds: string[], waitMs = PROBE_WAIT_MS): Promise<boolean[]> {
  return Promise.all(
    applianceIds.map(async (applianceId) => {
      const { ping } = proxyActivities<Pick<ApplianceActivities, 'ping'>>({
        taskQueue: applianceQueue(applianceId),
        scheduleToStartTimeout: waitMs,
        startToCloseTimeout: '5 seconds',
        retry: { maximumAttempts: 1 },
      });
      try {
        await ping();
        return true;
      } catch {
        return false;
      }
    }),
  );
}
