// What asset groups and static tags share: a set of registered assets, by id. Checking the ids a
// request names, replacing a set's members, reading each set's members, and the addresses they
// cover. The join table is the caller's (asset_group_members, asset_tags).
import { asc, eq, inArray } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Database } from '../client.js';
import { InvalidValueError } from '../errors.js';
import { assets } from '../schema.js';
import { normaliseRanges, type IpRange } from '../../domain/targets.js';
import { isUuid } from './shared.js';

/** A join table from a set (a group, a tag) to its assets. */
export interface MembershipTable {
  table: PgTable;
  owner: PgColumn;
  asset: PgColumn;
  /** Adds these members (the table's insert, in its own column names). */
  insert(tx: Database, ownerId: string, assetIds: string[]): Promise<unknown>;
}

/** Ids a request names: each an id, none twice (400 naming assetIds.N). */
export function checkAssetIds(ids: string[]): void {
  const seen = new Set<string>();
  ids.forEach((id, i) => {
    if (!isUuid(id)) throw new InvalidValueError(`assetIds.${i}`, 'is not an asset id');
    if (seen.has(id)) throw new InvalidValueError(`assetIds.${i}`, 'names the same asset twice');
    seen.add(id);
  });
}

/** Each set's assets, oldest asset first. */
export async function membersOf(
  db: Database,
  join: MembershipTable,
  ownerIds: string[],
): Promise<Map<string, string[]>> {
  const members = new Map<string, string[]>(ownerIds.map((id) => [id, []]));
  if (ownerIds.length === 0) return members;
  const rows = await db
    .select({ owner: join.owner, asset: join.asset })
    .from(join.table)
    .innerJoin(assets, eq(assets.id, join.asset))
    .where(inArray(join.owner, ownerIds))
    .orderBy(asc(assets.createdAt), asc(assets.id));
  for (const row of rows) members.get(String(row.owner))?.push(String(row.asset));
  return members;
}

/** Replaces the set's members; an id that is no asset is a 400 naming it. */
export async function replaceMembers(
  tx: Database,
  join: MembershipTable,
  ownerId: string,
  assetIds: string[],
): Promise<void> {
  await tx.delete(join.table).where(eq(join.owner, ownerId));
  if (assetIds.length === 0) return;
  const known = new Set(
    (await tx.select({ id: assets.id }).from(assets).where(inArray(assets.id, assetIds))).map((r) => r.id),
  );
  const missing = assetIds.findIndex((id) => !known.has(id));
  if (missing >= 0) throw new InvalidValueError(`assetIds.${missing}`, `asset ${assetIds[missing]} does not exist`);
  await join.insert(tx, ownerId, assetIds);
}

/** The addresses these assets cover, merged. */
export async function rangesOfAssets(db: Database, assetIds: string[]): Promise<IpRange[]> {
  if (assetIds.length === 0) return [];
  const rows = await db
    .select({ first: assets.firstIp, last: assets.lastIp, version: assets.ipVersion })
    .from(assets)
    .where(inArray(assets.id, assetIds));
  return normaliseRanges(rows.map((r) => ({ first: r.first, last: r.last, version: r.version === 4 ? 4 : 6 })));
}
