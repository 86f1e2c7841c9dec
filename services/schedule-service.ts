// Recurring scans, on Temporal's own Schedules. The Temporal Schedule `schedule-<id>` is the one
// truth about when and whether a schedule runs (cron, intervals, time zone, overlap, catch-up,
// paused, note, next and recent runs): the API reads it with describe(), as the Web UI does, so
// the two always agree. The `schedules` row keeps the scan request each run makes (and is what
// scans refer to). Each run is scheduledScanWorkflow (workflows/scheduled-scan.ts), which starts
// an ordinary scan through the scan service.
//
// The two are kept consistent under failure:
// - create: everything is checked first (timing, and the scan request as POST /scans checks it,
//   storing nothing); then the Temporal Schedule, then the row. A Schedule Temporal refuses
//   leaves nothing; a row that cannot be stored takes its Temporal Schedule away again. (A run
//   due in the moment between the two waits for the row: startScheduledScan is retried.)
// - delete: the Temporal Schedule first, then the row. If the second fails, the row remains
//   with its Schedule gone: GET says state "missing", and DELETE again finishes the job. (The
//   other order could leave a Schedule without a row, firing runs nobody can see through the API.)
// - update: Temporal first, then the row; a row that cannot be stored puts the Schedule back
//   as it was.
// A Temporal Schedule deleted elsewhere (the Web UI, the CLI) shows as state "missing": its row
// takes no runs, PATCH of timing, pause, resume and trigger answer 409, DELETE removes the row.
import { randomUUID } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
} from '@temporalio/client';
import type { Database } from '../db/client.js';
import {
  scanRepo,
  scheduleRepo,
  type Schedule,
  type ScheduledScanRequest,
  type ScheduleRefusal,
} from '../db/repositories/index.js';
import {
  checkCatchupWindow,
  checkCron,
  checkIntervals,
  checkTimeZone,
  checkTiming,
  cronOfCalendar,
  formatDuration,
  LIMITS,
  overlapFromTemporal,
  requireSomeTiming,
  temporalOverlap,
  TimingError,
  type CheckedTiming,
  type OverlapPolicy,
} from '../domain/schedule-timing.js';
import type { ScanStatus } from '../db/schema.js';
import { CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';
import type { scheduledScanWorkflow } from '../workflows/scheduled-scan.js';
import { createScanService, ScanRequestError, type ScanRequest } from './scan-service.js';

/**
 * The request as a schedule stores it: one appliance named is a pool of one, and each id in the
 * form the database gives back (a UUID's letters in lower case), so the row and the stored
 * request name the same appliances.
 */
function storedRequest({ applianceId, applianceIds, ...rest }: ScanRequest): ScheduledScanRequest {
  const pool = (applianceIds ?? (applianceId === undefined ? undefined : [applianceId]))?.map((id) => id.toLowerCase());
  return { ...rest, ...(pool && { applianceIds: pool }) };
}

/** The Temporal Schedule of a schedule; its runs' workflow ids are this and the time they were due. */
export const temporalScheduleId = (id: string) => `schedule-${id}`;

/** How long one call to Temporal may take before the answer is that Temporal is unavailable. */
const TEMPORAL_CALL_MS = 10_000;

export interface ScheduleTimingInput {
  cron: string[];
  intervals: { every: string; offset?: string }[];
  timeZone: string;
  overlap: OverlapPolicy;
  catchupWindow: string;
  pauseOnFailure: boolean;
}

export interface ScheduleCreateInput extends ScheduleTimingInput {
  name: string;
  /** POST /scans's request, as each run makes it (applianceId is stored as a pool of one). */
  scan: ScanRequest;
  paused: boolean;
  note?: string;
}

export type SchedulePatch = Partial<ScheduleTimingInput> & {
  name?: string;
  scan?: ScanRequest;
  paused?: boolean;
  note?: string;
};

/** The request cannot make a schedule: the field at fault and why (the API answers 400). */
export class ScheduleRequestError extends Error {
  override readonly name = 'ScheduleRequestError';
  constructor(
    readonly field: string,
    readonly reason: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(`${field}: ${reason}`);
  }
}

/** Temporal could not be reached (or did not answer in time): nothing was changed (the API answers 503). */
export class ScheduleTemporalError extends Error {
  override readonly name = 'ScheduleTemporalError';
  constructor(override readonly cause: unknown) {
    super('Temporal is unavailable: the schedule was not changed');
  }
}

/** The schedule's Temporal Schedule is gone (deleted outside vaultscan): it cannot be run or changed (409). */
export class ScheduleMissingError extends Error {
  override readonly name = 'ScheduleMissingError';
  constructor(readonly scheduleId: string) {
    super(
      `the Temporal schedule ${temporalScheduleId(scheduleId)} does not exist (deleted outside vaultscan, in the Web UI or the CLI): this schedule takes no runs; DELETE it, and create it again if it is still wanted`,
    );
  }
}

/** A run is going and the overlap policy would skip the one asked for (409). */
export class ScheduleBusyError extends Error {
  override readonly name = 'ScheduleBusyError';
  constructor(
    readonly scheduleId: string,
    readonly running: string[],
  ) {
    super(
      `a run of this schedule is still going (${running.join(', ')}) and its overlap policy is skip: trigger with {"overlap":"allow_all"} to start another now, or {"overlap":"buffer_one"} to start one when it ends`,
    );
  }
}

/** Runs a change to the rows in one transaction: the API records it in the audit trail there. */
export type Commit = <T>(change: (tx: Database) => Promise<T>) => Promise<T>;

export interface ScheduleRun {
  /** The run's workflow id (`schedule-<id>-<time due>`), as the Web UI lists it. */
  workflowId: string;
  scheduledAt: string;
  startedAt: string;
  /** Whether the run (and so its scan) is still going. */
  running: boolean;
  /** The scan the run started; null when it started none (refusal tells why, while it is the last one). */
  scanId: string | null;
  scanStatus: ScanStatus | null;
  refusal: { field: string; reason: string } | null;
}

/** A schedule as the API shows it: the row, and Temporal's own account of its timing and state. */
export interface ScheduleDetails {
  id: string;
  name: string;
  scan: {
    title: string;
    targets: string | null;
    assetIds: string[];
    groupIds: string[];
    tags: string[];
    optionProfileId: string | null;
    applianceId: string | null;
    applianceIds: string[];
  };
  temporalScheduleId: string;
  state: 'active' | 'paused' | 'missing';
  /** Temporal's note (why it is paused, among others); for a missing one, what that means. */
  note: string | null;
  /** The timing, as Temporal holds it; null while the Temporal Schedule is missing. */
  timing: {
    cron: string[];
    intervals: { every: string; offset: string }[];
    timeZone: string;
    overlap: OverlapPolicy;
    catchupWindow: string;
    pauseOnFailure: boolean;
  } | null;
  nextRuns: string[];
  /** The most recent runs, newest first (Temporal keeps the last ten). */
  recentRuns: ScheduleRun[];
  counts: { runs: number; skippedOverlap: number; missedCatchupWindow: number } | null;
  lastRefusal: ScheduleRefusal | null;
  createdAt: string;
  updatedAt: string;
}

const isoOf = (d: Date) => d.toISOString();

const specOf = (timing: Pick<CheckedTiming, 'cron' | 'intervals' | 'timeZone'>): ScheduleSpec => ({
  cronExpressions: timing.cron,
  intervals: timing.intervals.map((i) => ({ every: i.everyMs, offset: i.offsetMs })),
  timezone: timing.timeZone,
});

/** What every run of the schedule starts: its id is all it carries; the request is read from the row. */
const actionOf = (id: string): ScheduleOptionsStartWorkflowAction<typeof scheduledScanWorkflow> => ({
  type: 'startWorkflow',
  workflowType: 'scheduledScanWorkflow',
  taskQueue: CONTROL_PLANE_QUEUE,
  workflowId: temporalScheduleId(id),
  args: [{ scheduleId: id }],
});

/** Temporal's refusal of a spec (the SDK throws it as a TypeError): the field it is about. */
function fieldOfTemporalRefusal(message: string): string {
  if (/time ?zone/i.test(message)) return 'timeZone';
  if (/interval|phase/i.test(message)) return 'intervals';
  return 'cron';
}

/** Where a failed compensation is reported (a pino or Fastify logger). */
export interface ScheduleLogger {
  error(details: Record<string, unknown>, message: string): void;
}

export function createScheduleService(deps: {
  db: Database;
  temporal: Client;
  logger?: ScheduleLogger;
  /** How long one call to Temporal may take (10 s). */
  callTimeoutMs?: number;
}) {
  const { db, temporal } = deps;
  const callTimeoutMs = deps.callTimeoutMs ?? TEMPORAL_CALL_MS;
  const scans = createScanService({ db });
  const handleOf = (id: string): ScheduleHandle => temporal.schedule.getHandle(temporalScheduleId(id));
  const defaultCommit: Commit = (change) => db.transaction(change);

  /** A call to Temporal: refusals of the spec are 400s, a missing Schedule is 409, the rest 503. */
  async function temporalCall<T>(id: string, call: () => Promise<T>): Promise<T> {
    try {
      return await temporal.withDeadline(Date.now() + callTimeoutMs, call);
    } catch (err) {
      if (err instanceof TimingError) throw new ScheduleRequestError(err.field, err.reason);
      if (err instanceof ScheduleNotFoundError) throw new ScheduleMissingError(id);
      if (err instanceof TypeError) throw new ScheduleRequestError(fieldOfTemporalRefusal(err.message), err.message);
      if (err instanceof ScheduleAlreadyRunning) throw err;
      throw new ScheduleTemporalError(err);
    }
  }

  /** Puts something Temporal-side back after the rows could not follow; says so when that fails too. */
  async function undo(what: string, id: string, step: () => Promise<unknown>): Promise<void> {
    try {
      await temporal.withDeadline(Date.now() + callTimeoutMs, step);
    } catch (err) {
      deps.logger?.error(
        { err, scheduleId: id, temporalScheduleId: temporalScheduleId(id) },
        `could not ${what} after its row could not be stored`,
      );
    }
  }

  /** The scan request checked as POST /scans would check it, storing nothing (fields named `scan.<field>`). */
  async function checkScan(request: ScanRequest): Promise<void> {
    try {
      await scans.check(request);
    } catch (err) {
      if (err instanceof ScanRequestError) throw new ScheduleRequestError(`scan.${err.field}`, err.reason, err.detail);
      throw err;
    }
  }

  const checked = <T>(check: () => T): T => {
    try {
      return check();
    } catch (err) {
      if (err instanceof TimingError) throw new ScheduleRequestError(err.field, err.reason);
      throw err;
    }
  };

  return {
    /** Creates the Temporal Schedule, then the row (through `commit`); returns the row. */
    async create(input: ScheduleCreateInput, commit: Commit = defaultCommit): Promise<Schedule> {
      const timing = checked(() => checkTiming(input));
      await checkScan(input.scan);
      const id = randomUUID();
      await temporalCall(id, () =>
        temporal.schedule.create({
          scheduleId: temporalScheduleId(id),
          spec: specOf(timing),
          action: actionOf(id),
          policies: {
            overlap: temporalOverlap(input.overlap),
            catchupWindow: timing.catchupWindowMs,
            pauseOnFailure: input.pauseOnFailure,
          },
          state: { paused: input.paused, ...(input.note !== undefined && { note: input.note }) },
        }),
      );
      try {
        return await commit((tx) => scheduleRepo.create(tx, { id, name: input.name, scan: storedRequest(input.scan) }));
      } catch (err) {
        await undo('delete the Temporal schedule', id, () => handleOf(id).delete());
        throw err;
      }
    },

    /**
     * Changes what is given. Timing and state go to Temporal (checked against what it holds:
     * a schedule keeps at least one cron expression or interval), the name and scan request to
     * the row; the row failing puts Temporal's side back.
     */
    async update(id: string, patch: SchedulePatch, commit: Commit = defaultCommit): Promise<Schedule> {
      await scheduleRepo.get(db, id);
      if (patch.scan) await checkScan(patch.scan);
      const cron = patch.cron && checked(() => checkCron(patch.cron!));
      const intervals = patch.intervals && checked(() => checkIntervals(patch.intervals!));
      const timeZone = patch.timeZone && checked(() => checkTimeZone(patch.timeZone!));
      const catchupWindowMs = patch.catchupWindow && checked(() => checkCatchupWindow(patch.catchupWindow!));
      const temporalSide = [
        'cron',
        'intervals',
        'timeZone',
        'overlap',
        'catchupWindow',
        'pauseOnFailure',
        'paused',
        'note',
      ].some((k) => patch[k as keyof SchedulePatch] !== undefined);
      let previous: ScheduleDescription | undefined;
      if (temporalSide)
        await temporalCall(id, () =>
          handleOf(id).update((current) => {
            previous = current;
            // Thrown from here, a TimingError leaves the Schedule as it was (the update is not sent).
            requireSomeTiming(
              cron ? cron.length : (current.spec.calendars?.length ?? 0),
              intervals ? intervals.length : (current.spec.intervals?.length ?? 0),
            );
            return {
              spec: {
                ...(cron ? { cronExpressions: cron } : { calendars: current.spec.calendars ?? [] }),
                intervals: intervals
                  ? intervals.map((i) => ({ every: i.everyMs, offset: i.offsetMs }))
                  : (current.spec.intervals ?? []),
                timezone: timeZone ?? current.spec.timezone ?? LIMITS.defaultTimeZone,
              },
              action: actionOf(id),
              policies: {
                overlap: patch.overlap ? temporalOverlap(patch.overlap) : current.policies.overlap,
                catchupWindow: catchupWindowMs ?? current.policies.catchupWindow,
                pauseOnFailure: patch.pauseOnFailure ?? current.policies.pauseOnFailure,
              },
              state: {
                paused: patch.paused ?? current.state.paused,
                ...((patch.note ?? current.state.note) !== undefined && { note: patch.note ?? current.state.note }),
                ...(current.state.remainingActions !== undefined && {
                  remainingActions: current.state.remainingActions,
                }),
              },
            };
          }),
        );
      try {
        return await commit((tx) =>
          scheduleRepo.update(tx, id, {
            ...(patch.name !== undefined && { name: patch.name }),
            ...(patch.scan !== undefined && { scan: storedRequest(patch.scan) }),
          }),
        );
      } catch (err) {
        const before = previous;
        if (before)
          await undo('put the Temporal schedule back', id, () =>
            handleOf(id).update(() => ({
              spec: before.spec,
              action: actionOf(id),
              policies: before.policies,
              state: {
                paused: before.state.paused,
                ...(before.state.note !== undefined && { note: before.state.note }),
                ...(before.state.remainingActions !== undefined && {
                  remainingActions: before.state.remainingActions,
                }),
              },
            })),
          );
        throw err;
      }
    },

    /** Deletes the Temporal Schedule (gone already is fine), then the row. Running scans go on. */
    async remove(id: string, commit: Commit = defaultCommit): Promise<void> {
      await scheduleRepo.get(db, id);
      try {
        await temporalCall(id, () => handleOf(id).delete());
      } catch (err) {
        if (!(err instanceof ScheduleMissingError)) throw err;
      }
      await commit((tx) => scheduleRepo.remove(tx, id));
    },

    async pause(id: string, note: string): Promise<void> {
      await scheduleRepo.get(db, id);
      await temporalCall(id, () => handleOf(id).pause(note));
    },

    async resume(id: string, note: string): Promise<void> {
      await scheduleRepo.get(db, id);
      await temporalCall(id, () => handleOf(id).unpause(note));
    },

    /**
     * A run now, paused or not, under the schedule's own overlap policy unless another is given
     * (so its rules, pauseOnFailure among them, hold for this run too). Under skip, a run still
     * going is a conflict, said at once rather than a trigger Temporal would silently skip.
     */
    async trigger(id: string, overlap?: OverlapPolicy): Promise<{ overlap: OverlapPolicy }> {
      await scheduleRepo.get(db, id);
      const { policies, info } = await temporalCall(id, () => handleOf(id).describe());
      const policy = overlap ?? overlapFromTemporal(policies.overlap);
      const going = info.runningActions.map((a) => a.workflow.workflowId);
      if (policy === 'skip' && going.length > 0) throw new ScheduleBusyError(id, going);
      await temporalCall(id, () => handleOf(id).trigger(temporalOverlap(policy)));
      return { overlap: policy };
    },

    /** The row with Temporal's account of it: timing, state, next runs, recent runs and their scans. */
    async details(row: Schedule): Promise<ScheduleDetails> {
      const base = {
        id: row.id,
        name: row.name,
        scan: {
          title: row.title,
          targets: row.targets,
          assetIds: row.targetSets.assetIds ?? [],
          groupIds: row.targetSets.groupIds ?? [],
          tags: row.targetSets.tags ?? [],
          optionProfileId: row.optionProfileId,
          applianceId: row.applianceId,
          applianceIds: row.applianceIds,
        },
        temporalScheduleId: temporalScheduleId(row.id),
        lastRefusal: row.lastRefusal ?? null,
        createdAt: isoOf(row.createdAt),
        updatedAt: isoOf(row.updatedAt),
      };
      let description: ScheduleDescription;
      try {
        description = await temporalCall(row.id, () => handleOf(row.id).describe());
      } catch (err) {
        if (!(err instanceof ScheduleMissingError)) throw err;
        return {
          ...base,
          state: 'missing',
          note: err.message,
          timing: null,
          nextRuns: [],
          recentRuns: [],
          counts: null,
        };
      }
      const { info, spec, policies, state } = description;
      const running = new Set(info.runningActions.map((a) => a.workflow.workflowId));
      const runIds = info.recentActions.map((a) => a.action.workflow.workflowId);
      const scansOf = new Map((await scanRepo.byScheduleRuns(db, runIds)).map((s) => [s.scheduleRunId, s]));
      return {
        ...base,
        state: state.paused ? 'paused' : 'active',
        note: state.note || null,
        timing: {
          cron: (spec.calendars ?? []).map(cronOfCalendar),
          intervals: (spec.intervals ?? []).map((i) => ({
            every: formatDuration(i.every),
            offset: formatDuration(i.offset),
          })),
          timeZone: spec.timezone || LIMITS.defaultTimeZone,
          overlap: overlapFromTemporal(policies.overlap),
          catchupWindow: formatDuration(policies.catchupWindow),
          pauseOnFailure: policies.pauseOnFailure,
        },
        nextRuns: info.nextActionTimes.map(isoOf),
        recentRuns: [...info.recentActions].reverse().map((a) => {
          const workflowId = a.action.workflow.workflowId;
          const scan = scansOf.get(workflowId);
          const refused = row.lastRefusal?.runWorkflowId === workflowId ? row.lastRefusal : undefined;
          return {
            workflowId,
            scheduledAt: isoOf(a.scheduledAt),
            startedAt: isoOf(a.takenAt),
            running: running.has(workflowId),
            scanId: scan?.id ?? null,
            scanStatus: scan?.status ?? null,
            refusal: refused ? { field: refused.field, reason: refused.reason } : null,
          };
        }),
        counts: {
          runs: info.numActionsTaken,
          skippedOverlap: info.numActionsSkippedOverlap,
          missedCatchupWindow: info.numActionsMissedCatchupWindow,
        },
      };
    },
  };
}

export type ScheduleService = ReturnType<typeof createScheduleService>;
