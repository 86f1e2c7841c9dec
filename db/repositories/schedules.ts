// Schedules: the scan request each run of a recurring scan makes, and what its scans refer to.
// Timing and state are not here: they live in the Temporal Schedule (services/schedule-service.ts).
import { asc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../client.js';
import { scheduleAppliances, schedules, type ScheduleRefusal, type ScheduleTargetSets } from '../schema.js';
import { withDbErrors } from '../translate-errors.js';
import { groupBy } from '../../domain/group-by.js';
import {
  creationOrder,
  deleteById,
  firstOrNotFound,
  isUuid,
  pageLimit,
  requireId,
  requireReference,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';

const ENTITY = 'schedule';

/** The row, with its appliance pool in the order named (empty: the first appliance at each run). */
export type Schedule = typeof schedules.$inferSelect & { applianceIds: string[] };
export type { ScheduleRefusal };

/** What a run starts: POST /scans's request, stored as entered. */
export interface ScheduledScanRequest extends ScheduleTargetSets {
  title: string;
  targets?: string;
  /** Absent: the default option profile at the time of each run. */
  optionProfileId?: string;
  /** The appliance pool, in order; absent: the first registered appliance at the time of each run. */
  applianceIds?: string[];
}

export interface ScheduleInput {
  /** Chosen by the caller: the Temporal Schedule `schedule-<id>` is created before this row. */
  id: string;
  name: string;
  scan: ScheduledScanRequest;
}

const requestColumns = (scan: ScheduledScanRequest) => {
  if (scan.optionProfileId !== undefined)
    requireReference('scan.optionProfileId', 'option profile', scan.optionProfileId);
  scan.applianceIds?.forEach((id, i) => requireReference(`scan.applianceIds.${i}`, 'appliance', id));
  return {
    title: scan.title,
    targets: scan.targets ?? null,
    targetSets: {
      ...(scan.assetIds?.length && { assetIds: scan.assetIds }),
      ...(scan.groupIds?.length && { groupIds: scan.groupIds }),
      ...(scan.tags?.length && { tags: scan.tags }),
    },
    optionProfileId: scan.optionProfileId ?? null,
    // The first of the pool, kept on the row too (what a schedule before pools named).
    applianceId: scan.applianceIds?.[0] ?? null,
  };
};

type ScheduleRow = typeof schedules.$inferSelect;

/** The rows with their appliance pools, in one read. */
async function withPools(db: Database, rows: ScheduleRow[]): Promise<Schedule[]> {
  if (rows.length === 0) return [];
  const members = await db
    .select()
    .from(scheduleAppliances)
    .where(
      inArray(
        scheduleAppliances.scheduleId,
        rows.map((r) => r.id),
      ),
    )
    .orderBy(asc(scheduleAppliances.position));
  const poolOf = groupBy(members, (m) => m.scheduleId);
  return rows.map((row) => ({ ...row, applianceIds: (poolOf.get(row.id) ?? []).map((m) => m.applianceId) }));
}

async function replacePool(db: Database, scheduleId: string, applianceIds: string[]): Promise<void> {
  await db.delete(scheduleAppliances).where(eq(scheduleAppliances.scheduleId, scheduleId));
  if (applianceIds.length > 0)
    await db
      .insert(scheduleAppliances)
      .values(applianceIds.map((applianceId, position) => ({ scheduleId, applianceId, position })));
}

/** The stored scan request, as the scan service takes it. */
export function scheduledScanRequest(row: Schedule): ScheduledScanRequest {
  return {
    title: row.title,
    ...(row.targets !== null && { targets: row.targets }),
    ...row.targetSets,
    ...(row.optionProfileId !== null && { optionProfileId: row.optionProfileId }),
    ...(row.applianceIds.length > 0 && { applianceIds: row.applianceIds }),
  };
}

export const scheduleRepo = {
  /** Oldest first. */
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<Schedule>> {
    const limit = pageLimit(page);
    const order = creationOrder(schedules);
    const rows = await db
      .select({ row: schedules, position: order.position })
      .from(schedules)
      .where(order.after(page))
      .orderBy(...order.orderBy)
      .limit(limit + 1);
    const paged = toPaged(
      rows,
      limit,
      (r) => [r.position, r.row.id],
      (r) => r.row,
    );
    return { ...paged, rows: await withPools(db, paged.rows) };
  },

  async get(db: Database, id: string): Promise<Schedule> {
    requireId(ENTITY, id);
    const row = firstOrNotFound(await db.select().from(schedules).where(eq(schedules.id, id)), ENTITY, id);
    return (await withPools(db, [row]))[0]!;
  },

  /** The row, or undefined when there is none (a run whose schedule is being created or was deleted). */
  async find(db: Database, id: string): Promise<Schedule | undefined> {
    if (!isUuid(id)) return undefined;
    const [row] = await db.select().from(schedules).where(eq(schedules.id, id));
    return row && (await withPools(db, [row]))[0];
  },

  async create(db: Database, input: ScheduleInput): Promise<Schedule> {
    requireId(ENTITY, input.id);
    await withDbErrors({ operation: 'write', name: input.name }, () =>
      db.transaction(async (tx) => {
        await tx.insert(schedules).values({ id: input.id, name: input.name, ...requestColumns(input.scan) });
        await replacePool(tx, input.id, input.scan.applianceIds ?? []);
      }),
    );
    return scheduleRepo.get(db, input.id);
  },

  async update(db: Database, id: string, patch: { name?: string; scan?: ScheduledScanRequest }): Promise<Schedule> {
    requireId(ENTITY, id);
    const changes = {
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.scan !== undefined && requestColumns(patch.scan)),
    };
    if (Object.keys(changes).length === 0) return scheduleRepo.get(db, id);
    await withDbErrors({ operation: 'write', name: patch.name }, () =>
      db.transaction(async (tx) => {
        const rows = await tx.update(schedules).set(changes).where(eq(schedules.id, id)).returning();
        firstOrNotFound(rows, ENTITY, id);
        if (patch.scan !== undefined) await replacePool(tx, id, patch.scan.applianceIds ?? []);
      }),
    );
    return scheduleRepo.get(db, id);
  },

  /** The schedules whose scans target this asset group (by name: what a refusal to delete it says). */
  async usingGroup(db: Database, groupId: string): Promise<string[]> {
    const rows = await db
      .select({ name: schedules.name })
      .from(schedules)
      .where(sql`jsonb_exists(coalesce(${schedules.targetSets} -> 'groupIds', '[]'::jsonb), ${groupId})`);
    return rows.map((r) => r.name);
  },

  /** Keeps the last refused run; a later refusal replaces it. */
  async recordRefusal(db: Database, id: string, refusal: ScheduleRefusal): Promise<void> {
    requireId(ENTITY, id);
    // updated_at stays: the schedule itself did not change.
    await db
      .update(schedules)
      .set({ lastRefusal: refusal, updatedAt: sql`${schedules.updatedAt}` })
      .where(eq(schedules.id, id));
  },

  /** Deletes the row; its scans stay, no longer linked (ON DELETE SET NULL). */
  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, schedules, ENTITY, id);
  },
};
