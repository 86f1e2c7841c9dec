// Registered assets: the IPs, ranges and CIDR blocks scans are allowed to target.
import { eq } from 'drizzle-orm';
import type { Database } from '../client.js';
import { InvalidValueError } from '../errors.js';
import { assets } from '../schema.js';
import { normaliseRanges, parseTargetEntry, type IpRange } from '../../domain/targets.js';
import {
  creationOrder,
  deleteById,
  firstOrNotFound,
  pageLimit,
  parseTargetField,
  requireId,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';

const ENTITY = 'asset';

type AssetRow = typeof assets.$inferSelect;

export interface Asset extends AssetRow {
  /** The asset's one range, as a list (ready for rangesWithin / containsIp). */
  ranges: IpRange[];
}

export interface AssetInput {
  name: string;
  /** One IP, one range a-b or one CIDR block. */
  value: string;
}

const toAsset = (row: AssetRow): Asset => ({
  ...row,
  ranges: [{ first: row.firstIp, last: row.lastIp, version: row.ipVersion === 4 ? 4 : 6 }],
});

function parseValue(value: string) {
  const entry = value.trim();
  if (/[\s,]/.test(entry.replace(/\s*-\s*/, '-'))) {
    throw new InvalidValueError(
      'value',
      'an asset is one IP address, range or CIDR block; register each entry separately',
    );
  }
  const { kind, range } = parseTargetField('value', () => parseTargetEntry(entry));
  return { kind, value: entry, firstIp: range.first, lastIp: range.last, ipVersion: range.version };
}

export const assetRepo = {
  /**
   * Oldest first; with `keep`, only the assets it keeps (read on in chunks until the page is
   * full, so a filter that keeps few still pages by position, never by offset).
   */
  async list(db: Database, page: KeysetPage = {}, keep?: (asset: Asset) => boolean): Promise<Paged<Asset>> {
    const limit = pageLimit(page);
    const order = creationOrder(assets);
    const chunk = keep ? Math.max(500, limit + 1) : limit + 1;
    const kept: { position: string; row: AssetRow }[] = [];
    let after = page.after;
    for (;;) {
      const rows = await db
        .select({ row: assets, position: order.position })
        .from(assets)
        .where(order.after({ after }))
        .orderBy(...order.orderBy)
        .limit(chunk);
      for (const r of rows) if (!keep || keep(toAsset(r.row))) kept.push(r);
      const last = rows.at(-1);
      if (rows.length < chunk || kept.length > limit || !last) break;
      after = [last.position, last.row.id];
    }
    return toPaged(
      kept.slice(0, limit + 1),
      limit,
      (r) => [r.position, r.row.id],
      (r) => toAsset(r.row),
    );
  },

  async get(db: Database, id: string): Promise<Asset> {
    requireId(ENTITY, id);
    return toAsset(firstOrNotFound(await db.select().from(assets).where(eq(assets.id, id)), ENTITY, id));
  },

  async create(db: Database, input: AssetInput): Promise<Asset> {
    const [row] = await db
      .insert(assets)
      .values({ name: input.name, ...parseValue(input.value) })
      .returning();
    return toAsset(row!);
  },

  async update(db: Database, id: string, patch: Partial<AssetInput>): Promise<Asset> {
    requireId(ENTITY, id);
    const changes = {
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.value !== undefined && parseValue(patch.value)),
    };
    if (Object.keys(changes).length === 0) return assetRepo.get(db, id);
    return toAsset(
      firstOrNotFound(await db.update(assets).set(changes).where(eq(assets.id, id)).returning(), ENTITY, id),
    );
  },

  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, assets, ENTITY, id);
  },

  /** Everything registered, merged into sorted ranges: what scans may target. */
  async coveredRanges(db: Database): Promise<IpRange[]> {
    const rows = await db
      .select({ first: assets.firstIp, last: assets.lastIp, ipVersion: assets.ipVersion })
      .from(assets);
    return normaliseRanges(rows.map((r) => ({ first: r.first, last: r.last, version: r.ipVersion === 4 ? 4 : 6 })));
  },
};
