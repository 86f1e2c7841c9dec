// Asset groups: named sets of registered assets with a business impact. A scan or a schedule
// that targets a group covers its members as they are when it starts.
import { asc, eq, inArray } from 'drizzle-orm';
import type { Database } from '../client.js';
import { InvalidValueError } from '../errors.js';
import { assetGroupMembers, assetGroups, assets } from '../schema.js';
import type { BusinessImpact } from '../../domain/categories.js';
import { normaliseRanges, type IpRange } from '../../domain/targets.js';
import { withDbErrors } from '../translate-errors.js';
import {
  creationOrder,
  deleteById,
  firstOrNotFound,
  isUuid,
  pageLimit,
  requireId,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';

const ENTITY = 'asset group';

export interface AssetGroup {
  id: string;
  name: string;
  businessImpact: BusinessImpact;
  description: string;
  /** Member assets, oldest membership first. */
  assetIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface AssetGroupInput {
  name: string;
  businessImpact: BusinessImpact;
  description?: string;
  /** The whole membership: replaces the current one when given on update. */
  assetIds: string[];
}

/** The largest group a request may name asset by asset. */
export const MAX_GROUP_ASSETS = 10_000;

function checkAssetIds(ids: string[]): void {
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (!isUuid(id)) throw new InvalidValueError(`assetIds.${i}`, 'is not an asset id');
    if (seen.has(id)) throw new InvalidValueError(`assetIds.${i}`, 'names the same asset twice');
    seen.add(id);
  });
}

async function membersOf(db: Database, groupIds: string[]): Promise<Map<string, string[]>> {
  const members = new Map<string, string[]>(groupIds.map((id) => [id, []]));
  if (groupIds.length === 0) return members;
  const rows = await db
    .select({ groupId: assetGroupMembers.groupId, assetId: assetGroupMembers.assetId })
    .from(assetGroupMembers)
    .innerJoin(assets, eq(assets.id, assetGroupMembers.assetId))
    .where(inArray(assetGroupMembers.groupId, groupIds))
    .orderBy(asc(assets.createdAt), asc(assets.id));
  for (const row of rows) members.get(row.groupId)?.push(row.assetId);
  return members;
}

/** Sets the membership; an id that is no asset is a 400 naming it. */
async function setMembers(tx: Database, groupId: string, assetIds: string[]): Promise<void> {
  await tx.delete(assetGroupMembers).where(eq(assetGroupMembers.groupId, groupId));
  if (assetIds.length === 0) return;
  const known = new Set(
    (await tx.select({ id: assets.id }).from(assets).where(inArray(assets.id, assetIds))).map((r) => r.id),
  );
  const missing = assetIds.findIndex((id) => !known.has(id));
  if (missing >= 0) throw new InvalidValueError(`assetIds.${missing}`, `asset ${assetIds[missing]} does not exist`);
  await tx.insert(assetGroupMembers).values(assetIds.map((assetId) => ({ groupId, assetId })));
}

export const assetGroupRepo = {
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<AssetGroup>> {
    const limit = pageLimit(page);
    const order = creationOrder(assetGroups);
    const rows = await db
      .select({ row: assetGroups, position: order.position })
      .from(assetGroups)
      .where(order.after(page))
      .orderBy(...order.orderBy)
      .limit(limit + 1);
    const members = await membersOf(
      db,
      rows.map((r) => r.row.id),
    );
    return toPaged(
      rows,
      limit,
      (r) => [r.position, r.row.id],
      (r) => ({ ...r.row, assetIds: members.get(r.row.id) ?? [] }),
    );
  },

  async get(db: Database, id: string): Promise<AssetGroup> {
    requireId(ENTITY, id);
    const row = firstOrNotFound(await db.select().from(assetGroups).where(eq(assetGroups.id, id)), ENTITY, id);
    return { ...row, assetIds: (await membersOf(db, [id])).get(id) ?? [] };
  },

  /** Runs in the caller's transaction (the route's, which also records the change). */
  async create(db: Database, input: AssetGroupInput): Promise<AssetGroup> {
    checkAssetIds(input.assetIds);
    const [row] = await withDbErrors({ operation: 'write', name: input.name }, () =>
      db
        .insert(assetGroups)
        .values({ name: input.name, businessImpact: input.businessImpact, description: input.description ?? '' })
        .returning(),
    );
    await setMembers(db, row!.id, input.assetIds);
    return assetGroupRepo.get(db, row!.id);
  },

  async update(db: Database, id: string, patch: Partial<AssetGroupInput>): Promise<AssetGroup> {
    requireId(ENTITY, id);
    if (patch.assetIds) checkAssetIds(patch.assetIds);
    const changes = {
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.businessImpact !== undefined && { businessImpact: patch.businessImpact }),
      ...(patch.description !== undefined && { description: patch.description }),
    };
    const rows = await withDbErrors({ operation: 'write', name: patch.name }, () =>
      db
        .update(assetGroups)
        .set({ ...changes, updatedAt: new Date() })
        .where(eq(assetGroups.id, id))
        .returning({ id: assetGroups.id }),
    );
    firstOrNotFound(rows, ENTITY, id);
    if (patch.assetIds) await setMembers(db, id, patch.assetIds);
    return assetGroupRepo.get(db, id);
  },

  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, assetGroups, ENTITY, id);
  },

  /** The addresses the group's assets cover now, merged (what a scan of the group targets). */
  async ranges(db: Database, id: string): Promise<IpRange[]> {
    const group = await assetGroupRepo.get(db, id);
    if (group.assetIds.length === 0) return [];
    const rows = await db
      .select({ first: assets.firstIp, last: assets.lastIp, version: assets.ipVersion })
      .from(assets)
      .where(inArray(assets.id, group.assetIds));
    return normaliseRanges(rows.map((r) => ({ first: r.first, last: r.last, version: r.version === 4 ? 4 : 6 })));
  },
};
