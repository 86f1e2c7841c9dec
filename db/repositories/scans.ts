// Scans: what to scan, with which profile on which appliance, and how far it got.
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Database } from '../client.js';
import { scanAppliances, scans, type ScanStatus } from '../schema.js';
import { withDbErrors } from '../translate-errors.js';
import { countHosts, parseScanTargets, type IpRange } from '../../domain/targets.js';
import { storableText } from '../../domain/text.js';
import {
  creationOrder,
  deleteById,
  firstOrNotFound,
  isUuid,
  pageLimit,
  parseTargetField,
  requireId,
  requireReference,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';
import { InvalidValueError } from '../errors.js';

const ENTITY = 'scan';

export type Scan = typeof scans.$inferSelect;
export type { ScanStatus };

export type ScanInput = ScanFields &
  /** The appliance the scan runs on, or its pool in order (the first is the scan's applianceId). */
  ({ applianceId: string; applianceIds?: never } | { applianceIds: string[]; applianceId?: never });

interface ScanFields {
  title: string;
  /** The target spec as entered. */
  targets: string;
  /** Its parsed form, when the caller already has it; otherwise parsed (and size-checked) here. */
  ranges?: IpRange[];
  optionProfileId: string;
  /** Set when a schedule's run starts the scan: the schedule, and the run's workflow id. */
  schedule?: { scheduleId: string; runWorkflowId: string };
}

/** A scan as a schedule's recent runs show it. */
export interface ScheduledScanRef {
  id: string;
  scheduleRunId: string;
  status: ScanStatus;
}

/** A scan that has ended stays ended: a replayed activity cannot reopen or re-finish it. */
const OPEN_STATUSES: ScanStatus[] = ['QUEUED', 'RUNNING'];

function scanRanges(input: ScanInput): IpRange[] {
  return input.ranges ?? parseTargetField('targets', () => parseScanTargets(input.targets));
}

export const scanRepo = {
  /** Creates a QUEUED scan. Its host count comes from the ranges. */
  async create(db: Database, input: ScanInput): Promise<Scan> {
    requireReference('optionProfileId', 'option profile', input.optionProfileId);
    const pool = input.applianceIds ?? [input.applianceId];
    pool.forEach((id, i) =>
      requireReference(input.applianceIds ? `applianceIds.${i}` : 'applianceId', 'appliance', id),
    );
    const [applianceId] = pool;
    if (applianceId === undefined) throw new InvalidValueError('applianceIds', 'a scan runs on at least one appliance');
    const ranges = scanRanges(input);
    const values = {
      title: input.title,
      targets: input.targets,
      ranges,
      hostCount: Number(countHosts(ranges)),
      optionProfileId: input.optionProfileId,
      applianceId,
      ...(input.schedule && {
        scheduleId: input.schedule.scheduleId,
        scheduleRunId: input.schedule.runWorkflowId,
      }),
    };
    if (input.schedule) requireReference('scheduleId', 'schedule', input.schedule.scheduleId);
    return withDbErrors({ operation: 'write' }, () =>
      db.transaction(async (tx) => {
        const [row] = await tx.insert(scans).values(values).returning();
        await tx
          .insert(scanAppliances)
          .values(pool.map((id, position) => ({ scanId: row!.id, applianceId: id, position })));
        return row!;
      }),
    );
  },

  /** The scan's appliance pool, in the order named. */
  async appliancePool(db: Database, scanId: string): Promise<string[]> {
    return (await scanRepo.appliancePools(db, [scanId])).get(scanId) ?? [];
  },

  /** The appliance pools of these scans, in one read. */
  async appliancePools(db: Database, scanIds: string[]): Promise<Map<string, string[]>> {
    const ids = scanIds.filter(isUuid);
    const pools = new Map<string, string[]>();
    if (ids.length === 0) return pools;
    const rows = await db
      .select()
      .from(scanAppliances)
      .where(inArray(scanAppliances.scanId, ids))
      .orderBy(asc(scanAppliances.scanId), asc(scanAppliances.position));
    for (const row of rows) pools.set(row.scanId, [...(pools.get(row.scanId) ?? []), row.applianceId]);
    return pools;
  },

  async get(db: Database, id: string): Promise<Scan> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.select().from(scans).where(eq(scans.id, id)), ENTITY, id);
  },

  /** Newest first; only a schedule's scans when `scheduleId` is given. */
  async list(db: Database, page: KeysetPage & { scheduleId?: string } = {}): Promise<Paged<Scan>> {
    const limit = pageLimit(page);
    const order = creationOrder(scans, 'desc');
    if (page.scheduleId !== undefined && !isUuid(page.scheduleId)) return { rows: [], next: null };
    const rows = await db
      .select({ row: scans, position: order.position })
      .from(scans)
      .where(and(order.after(page), page.scheduleId === undefined ? undefined : eq(scans.scheduleId, page.scheduleId)))
      .orderBy(...order.orderBy)
      .limit(limit + 1);
    return toPaged(
      rows,
      limit,
      (r) => [r.position, r.row.id],
      (r) => r.row,
    );
  },

  /** The scan a schedule's run started, if it started one. */
  async findByScheduleRun(db: Database, runWorkflowId: string): Promise<Scan | undefined> {
    const [row] = await db.select().from(scans).where(eq(scans.scheduleRunId, runWorkflowId));
    return row;
  },

  /** The scans these runs of a schedule started (a run that was refused started none). */
  async byScheduleRuns(db: Database, runWorkflowIds: string[]): Promise<ScheduledScanRef[]> {
    if (runWorkflowIds.length === 0) return [];
    const rows = await db
      .select({ id: scans.id, scheduleRunId: scans.scheduleRunId, status: scans.status })
      .from(scans)
      .where(inArray(scans.scheduleRunId, runWorkflowIds));
    return rows.map((r) => ({ id: r.id, scheduleRunId: r.scheduleRunId!, status: r.status }));
  },

  async setWorkflowId(db: Database, id: string, workflowId: string): Promise<Scan> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.update(scans).set({ workflowId }).where(eq(scans.id, id)).returning(), ENTITY, id);
  },

  /** QUEUED → RUNNING, stamping started_at; a no-op for a scan that is already running or ended. */
  async markRunning(db: Database, id: string): Promise<Scan> {
    requireId(ENTITY, id);
    await db
      .update(scans)
      .set({ status: 'RUNNING', startedAt: new Date() })
      .where(and(eq(scans.id, id), eq(scans.status, 'QUEUED')));
    return scanRepo.get(db, id);
  },

  /**
   * Ends an open scan (FINISHED, CANCELED or FAILED) with its summary, stamping finished_at.
   * Ending it again keeps the first ending, so the activity may safely be retried.
   */
  async finish(
    db: Database,
    id: string,
    status: Exclude<ScanStatus, 'QUEUED' | 'RUNNING'>,
    summary?: Record<string, number>,
    reason?: string,
  ): Promise<Scan> {
    requireId(ENTITY, id);
    await db
      .update(scans)
      .set({
        status,
        finishedAt: new Date(),
        ...(summary && { summary }),
        ...(reason !== undefined && { statusReason: storableText(reason).slice(0, 2000) }),
      })
      .where(and(eq(scans.id, id), inArray(scans.status, OPEN_STATUSES)));
    return scanRepo.get(db, id);
  },

  /** Scans not yet ended, oldest first (for reconciling them with their workflows). */
  async listOpen(db: Database, limit = 500): Promise<Scan[]> {
    return db
      .select()
      .from(scans)
      .where(inArray(scans.status, OPEN_STATUSES))
      .orderBy(asc(scans.createdAt))
      .limit(limit);
  },

  /** Replaces the summary (e.g. progress counts while the scan runs). */
  async setSummary(db: Database, id: string, summary: Record<string, number>): Promise<Scan> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.update(scans).set({ summary }).where(eq(scans.id, id)).returning(), ENTITY, id);
  },

  /** Deletes the scan and, by cascade, its results. */
  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, scans, ENTITY, id);
  },
};
