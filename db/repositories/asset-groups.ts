// Asset groups: named sets of registered assets with a business impact. A scan or a schedule
// that targets a group covers its members as they are when it starts.
import { eq } from 'drizzle-orm';
import type { Database } from '../client.js';
import { assetGroupMembers, assetGroups } from '../schema.js';
import type { BusinessImpact } from '../../domain/categories.js';
import type { IpRange } from '../../domain/targets.js';
import { checkAssetIds, membersOf, rangesOfAssets, replaceMembers, type MembershipTable } from './asset-sets.js';
import { withDbErrors } from '../translate-errors.js';
import {
  creationOrder,
  deleteById,
  firstOrNotFound,
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

const MEMBERS: MembershipTable = {
  table: assetGroupMembers,
  owner: assetGroupMembers.groupId,
  asset: assetGroupMembers.assetId,
  insert: (tx, groupId, assetIds) =>
    tx.insert(assetGroupMembers).values(assetIds.map((assetId) => ({ groupId, assetId }))),
};

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
      MEMBERS,
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
    return { ...row, assetIds: (await membersOf(db, MEMBERS, [id])).get(id) ?? [] };
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
    await replaceMembers(db, MEMBERS, row!.id, input.assetIds);
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
    if (patch.assetIds) await replaceMembers(db, MEMBERS, id, patch.assetIds);
    return assetGroupRepo.get(db, id);
  },

  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, assetGroups, ENTITY, id);
  },

  /** The addresses the group's assets cover now, merged (what a scan of the group targets). */
  ranges(db: Database, group: AssetGroup): Promise<IpRange[]> {
    return rangesOfAssets(db, group.assetIds);
  },
};
