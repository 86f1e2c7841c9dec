// Authentication records: which account to use on which targets, and where in which vault its
// secret lives. The record names vault fields; it never holds a secret value.
import { and, asc, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Database, Transaction } from '../client.js';
import { ConflictError, InUseError, InvalidValueError } from '../errors.js';
import { authRecords, scans } from '../schema.js';
import type { CredentialFieldNames } from '../../domain/secret-fields.js';
import { withDbErrors } from '../translate-errors.js';
import { TECHNOLOGIES } from '../../domain/categories.js';
import { formatRange, overlappingRanges, parseTargets, type IpRange } from '../../domain/targets.js';
import {
  deleteById,
  firstOrNotFound,
  creationOrder,
  isUuid,
  pageLimit,
  parseTargetField,
  requireId,
  requireReference,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';

const ENTITY = 'authentication record';

export type AuthRecord = typeof authRecords.$inferSelect;

export interface AuthRecordInput {
  name: string;
  technology: string;
  /** Target spec: IPs, ranges and CIDR blocks, separated by commas or whitespace. */
  targets: string;
  username: string;
  port: number;
  vaultId: string;
  locator: Record<string, unknown>;
  fields: CredentialFieldNames;
  /** The root-delegation password from another vault record's item; null removes it. */
  rootDelegation?: RootDelegation | null;
  /** The technology's own settings (default {}). */
  settings?: Record<string, unknown>;
}

/** Where the root-delegation password lives when another vault record holds it. */
export interface RootDelegation {
  vaultId: string;
  locator: Record<string, unknown>;
  /** The item's field holding it. */
  field: string;
}

/** The record's root delegation, if it takes it from another vault record. */
export function rootDelegationOf(record: AuthRecord): RootDelegation | null {
  return record.rootVaultId && record.rootLocator && record.rootField
    ? { vaultId: record.rootVaultId, locator: record.rootLocator, field: record.rootField }
    : null;
}

/** The input's root delegation as the table's columns (all null to remove it). */
function rootColumns(delegation: RootDelegation | null) {
  return {
    rootVaultId: delegation?.vaultId ?? null,
    rootLocator: delegation?.locator ?? null,
    rootField: delegation?.field ?? null,
  };
}

const parseRecordTargets = (targets: string): IpRange[] => parseTargetField('targets', () => parseTargets(targets));

function checkInput(input: Partial<AuthRecordInput>): void {
  if (input.technology !== undefined && !(TECHNOLOGIES as readonly string[]).includes(input.technology)) {
    throw new InvalidValueError('technology', `must be one of ${TECHNOLOGIES.join(', ')}`);
  }
  if (input.vaultId !== undefined) requireReference('vaultId', 'vault record', input.vaultId);
  if (input.rootDelegation) requireReference('rootDelegation.vaultId', 'vault record', input.rootDelegation.vaultId);
}

/**
 * A host is covered by at most one record per technology, so which account scans it is never
 * a matter of which record is older. Record writes take one lock, so two concurrent writes
 * cannot each miss the other's targets.
 */
async function refuseOverlap(tx: Transaction, technology: string, ranges: IpRange[], exceptId?: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtext('vaultscan.auth_records'))`);
  const sameTechnology = eq(authRecords.technology, technology);
  const others = await tx
    .select({ name: authRecords.name, ranges: authRecords.ranges })
    .from(authRecords)
    .where(exceptId ? and(sameTechnology, ne(authRecords.id, exceptId)) : sameTechnology)
    .orderBy(asc(authRecords.createdAt));
  for (const other of others) {
    const shared = overlappingRanges(ranges, other.ranges);
    if (shared.length === 0) continue;
    const named =
      shared.slice(0, 5).map(formatRange).join(', ') + (shared.length > 5 ? ` and ${shared.length - 5} more` : '');
    throw new ConflictError(
      `targets: ${named} already covered by the ${technology} authentication record "${other.name}"; a host can be covered by one record per technology`,
      'targets',
    );
  }
}

export const authRecordRepo = {
  /** Oldest first. */
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<AuthRecord>> {
    const limit = pageLimit(page);
    const order = creationOrder(authRecords);
    const rows = await db
      .select({ row: authRecords, position: order.position })
      .from(authRecords)
      .where(order.after(page))
      .orderBy(...order.orderBy)
      .limit(limit + 1);
    return toPaged(
      rows,
      limit,
      (r) => [r.position, r.row.id],
      (r) => r.row,
    );
  },

  async get(db: Database, id: string): Promise<AuthRecord> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.select().from(authRecords).where(eq(authRecords.id, id)), ENTITY, id);
  },

  async create(db: Database, input: AuthRecordInput): Promise<AuthRecord> {
    checkInput(input);
    const { rootDelegation, ...rest } = input;
    const values = { ...rest, ...rootColumns(rootDelegation ?? null), ranges: parseRecordTargets(input.targets) };
    const [row] = await withDbErrors({ operation: 'write', name: input.name }, () =>
      db.transaction(async (tx) => {
        await refuseOverlap(tx, values.technology, values.ranges);
        return tx.insert(authRecords).values(values).returning();
      }),
    );
    return row!;
  },

  async update(db: Database, id: string, patch: Partial<AuthRecordInput>): Promise<AuthRecord> {
    requireId(ENTITY, id);
    checkInput(patch);
    const { rootDelegation, ...rest } = patch;
    const changes = {
      ...(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) as Partial<
        Omit<AuthRecordInput, 'rootDelegation'>
      > & { ranges?: IpRange[] }),
      ...(rootDelegation !== undefined && rootColumns(rootDelegation)),
    };
    if (patch.targets !== undefined) changes.ranges = parseRecordTargets(patch.targets);
    if (Object.keys(changes).length === 0) return authRecordRepo.get(db, id);
    const rows = await withDbErrors({ operation: 'write', name: patch.name }, () =>
      db.transaction(async (tx) => {
        if (changes.ranges || changes.technology) {
          const [current] = await tx
            .select({ technology: authRecords.technology, ranges: authRecords.ranges })
            .from(authRecords)
            .where(eq(authRecords.id, id));
          if (current)
            await refuseOverlap(tx, changes.technology ?? current.technology, changes.ranges ?? current.ranges, id);
        }
        return tx.update(authRecords).set(changes).where(eq(authRecords.id, id)).returning();
      }),
    );
    return firstOrNotFound(rows, ENTITY, id);
  },

  /**
   * Refused (409, naming the scan) while a queued or running scan has targets the record covers:
   * a record stays while a scan may still need it. (Results outlive their record once it goes.)
   */
  async remove(db: Database, id: string): Promise<void> {
    requireId(ENTITY, id);
    const [record] = await db.select().from(authRecords).where(eq(authRecords.id, id));
    if (record) {
      const open = await db
        .select({ id: scans.id, title: scans.title, ranges: scans.ranges })
        .from(scans)
        .where(inArray(scans.status, ['QUEUED', 'RUNNING']));
      const using = open.find((scan) => overlappingRanges(scan.ranges, record.ranges).length > 0);
      if (using)
        throw new InUseError(
          `the authentication record covers targets of scan "${using.title}" (${using.id}), which is running: delete it once the scan has ended, or cancel the scan`,
        );
    }
    return deleteById(db, authRecords, ENTITY, id);
  },

  /** The records with these ids that still exist. */
  async getMany(db: Database, ids: string[]): Promise<AuthRecord[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    return db.select().from(authRecords).where(inArray(authRecords.id, valid));
  },

  /**
   * Every record of these technologies, oldest first. Records no longer overlap within a
   * technology; where older data still does, the oldest covers a host.
   */
  async listForTechnologies(db: Database, technologies: readonly string[]): Promise<AuthRecord[]> {
    if (technologies.length === 0) return [];
    return db
      .select()
      .from(authRecords)
      .where(inArray(authRecords.technology, [...technologies]))
      .orderBy(asc(authRecords.createdAt), asc(authRecords.id));
  },
};
