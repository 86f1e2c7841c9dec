// Tags: static ones put on assets by hand, dynamic ones a rule (domain/tag-rules.ts) evaluated
// against the registered assets and the last results when asked. A scan of a tag covers what
// it selects when the scan starts.
import { and, desc, eq, isNotNull, sql } from 'drizzle-orm';
import type { Database } from '../client.js';
import { assets, assetTags, hostResults, tags } from '../schema.js';
import { normaliseRanges, type IpRange } from '../../domain/targets.js';
import { checkAssetIds, membersOf, rangesOfAssets, replaceMembers, type MembershipTable } from './asset-sets.js';
import { evaluateTagRule, type TagKind, type TagRule, type TagUniverse } from '../../domain/tag-rules.js';
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

const ENTITY = 'tag';

export interface Tag {
  id: string;
  name: string;
  kind: TagKind;
  rule: TagRule | null;
  description: string;
  /** A static tag's assets (a dynamic tag's are found by its rule). */
  assetIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface TagInput {
  name: string;
  kind: TagKind;
  rule?: TagRule;
  description?: string;
  assetIds?: string[];
}

const TAGGED: MembershipTable = {
  table: assetTags,
  owner: assetTags.tagId,
  asset: assetTags.assetId,
  insert: (tx, tagId, assetIds) => tx.insert(assetTags).values(assetIds.map((assetId) => ({ tagId, assetId }))),
};

const toRanges = (rows: { first: string; last: string; version: number }[]): IpRange[] =>
  normaliseRanges(rows.map((r) => ({ first: r.first, last: r.last, version: r.version === 4 ? 4 : 6 })));

/** What a dynamic rule is evaluated against: every asset, and the last results per host. */
async function universe(db: Database): Promise<TagUniverse> {
  const assetRows = await db
    .select({ name: assets.name, first: assets.firstIp, last: assets.lastIp, version: assets.ipVersion })
    .from(assets);
  const lastResults = await db
    .selectDistinctOn([hostResults.ip, hostResults.technology], {
      ip: hostResults.ip,
      technology: hostResults.technology,
      category: hostResults.category,
    })
    .from(hostResults)
    .where(sql`${hostResults.category} <> 'NOT_ATTEMPTED'`)
    .orderBy(hostResults.ip, hostResults.technology, desc(hostResults.finishedAt));
  const osId = sql<string>`${hostResults.facts} ->> 'os.id'`;
  const lastOs = await db
    .selectDistinctOn([hostResults.ip], { ip: hostResults.ip, osId })
    .from(hostResults)
    .where(and(isNotNull(hostResults.facts), sql`${osId} <> ''`))
    .orderBy(hostResults.ip, desc(hostResults.finishedAt));
  return {
    assets: assetRows.map((a) => ({ name: a.name, ranges: toRanges([a]) })),
    lastResults,
    lastOs,
  };
}

export const tagRepo = {
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<Tag>> {
    const limit = pageLimit(page);
    const order = creationOrder(tags);
    const rows = await db
      .select({ row: tags, position: order.position })
      .from(tags)
      .where(order.after(page))
      .orderBy(...order.orderBy)
      .limit(limit + 1);
    const tagged = await membersOf(
      db,
      TAGGED,
      rows.map((r) => r.row.id),
    );
    return toPaged(
      rows,
      limit,
      (r) => [r.position, r.row.id],
      (r) => ({ ...r.row, assetIds: tagged.get(r.row.id) ?? [] }),
    );
  },

  async get(db: Database, id: string): Promise<Tag> {
    requireId(ENTITY, id);
    const row = firstOrNotFound(await db.select().from(tags).where(eq(tags.id, id)), ENTITY, id);
    return { ...row, assetIds: (await membersOf(db, TAGGED, [id])).get(id) ?? [] };
  },

  /** The tag with this id, or else this name (what `?tag=` and a scan's targets may name). */
  async find(db: Database, idOrName: string): Promise<Tag | undefined> {
    const [row] = await db
      .select({ id: tags.id })
      .from(tags)
      .where(isUuid(idOrName) ? eq(tags.id, idOrName) : eq(tags.name, idOrName));
    return row ? tagRepo.get(db, row.id) : undefined;
  },

  /** Runs in the caller's transaction (the route's, which also records the change). */
  async create(db: Database, input: TagInput): Promise<Tag> {
    checkAssetIds(input.assetIds ?? []);
    const [row] = await withDbErrors({ operation: 'write', name: input.name }, () =>
      db
        .insert(tags)
        .values({
          name: input.name,
          kind: input.kind,
          rule: input.kind === 'dynamic' ? (input.rule ?? null) : null,
          description: input.description ?? '',
        })
        .returning(),
    );
    if (input.kind === 'static') await replaceMembers(db, TAGGED, row!.id, input.assetIds ?? []);
    return tagRepo.get(db, row!.id);
  },

  async update(db: Database, id: string, patch: Partial<TagInput>): Promise<Tag> {
    requireId(ENTITY, id);
    if (patch.assetIds) checkAssetIds(patch.assetIds);
    const changes = {
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.kind !== undefined && { kind: patch.kind }),
      ...(patch.rule !== undefined && { rule: patch.rule }),
      ...(patch.kind === 'static' && { rule: null }),
      ...(patch.description !== undefined && { description: patch.description }),
    };
    const rows = await withDbErrors({ operation: 'write', name: patch.name }, () =>
      db
        .update(tags)
        .set({ ...changes, updatedAt: new Date() })
        .where(eq(tags.id, id))
        .returning({ id: tags.id, kind: tags.kind }),
    );
    const [row] = rows;
    firstOrNotFound(rows, ENTITY, id);
    if (row!.kind === 'dynamic') await db.delete(assetTags).where(eq(assetTags.tagId, id));
    else if (patch.assetIds) await replaceMembers(db, TAGGED, id, patch.assetIds);
    return tagRepo.get(db, id);
  },

  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, tags, ENTITY, id);
  },

  /** The registered addresses the tag selects now, merged. */
  async ranges(db: Database, tag: Tag): Promise<IpRange[]> {
    if (tag.kind === 'dynamic' && tag.rule) return evaluateTagRule(tag.rule, await universe(db));
    return rangesOfAssets(db, tag.assetIds);
  },
};
