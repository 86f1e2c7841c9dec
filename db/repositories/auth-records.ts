// Authentication records: which account to use on which targets, and where in which vault its
// secret lives. The record names vault fields; it never holds a secret value.
import { asc, eq, inArray } from 'drizzle-orm';
import type { Database } from '../client.js';
import { InvalidValueError } from '../errors.js';
import { authRecords, type CredentialFieldNames } from '../schema.js';
import { withDbErrors } from '../translate-errors.js';
import { TECHNOLOGIES } from '../../domain/categories.js';
import { parseTargets, TargetSpecError, type IpRange } from '../../domain/targets.js';
import { deleteById, firstOrNotFound, pageOf, requireId, requireReference, type Page } from './shared.js';

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
}

function parseRecordTargets(targets: string): IpRange[] {
  try {
    return parseTargets(targets);
  } catch (err) {
    if (err instanceof TargetSpecError) throw new InvalidValueError('targets', err.message);
    throw err;
  }
}

function checkInput(input: Partial<AuthRecordInput>): void {
  if (input.technology !== undefined && !(TECHNOLOGIES as readonly string[]).includes(input.technology)) {
    throw new InvalidValueError('technology', `must be one of ${TECHNOLOGIES.join(', ')}`);
  }
  if (input.vaultId !== undefined) requireReference('vaultId', 'vault record', input.vaultId);
}

export const authRecordRepo = {
  async list(db: Database, page?: Page): Promise<AuthRecord[]> {
    const { limit, offset } = pageOf(page);
    return db.select().from(authRecords).orderBy(asc(authRecords.createdAt), asc(authRecords.id)).limit(limit).offset(offset);
  },

  async get(db: Database, id: string): Promise<AuthRecord> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.select().from(authRecords).where(eq(authRecords.id, id)), ENTITY, id);
  },

  async create(db: Database, input: AuthRecordInput): Promise<AuthRecord> {
    checkInput(input);
    const values = { ...input, ranges: parseRecordTargets(input.targets) };
    const [row] = await withDbErrors({ operation: 'write', name: input.name }, () => db.insert(authRecords).values(values).returning());
    return row!;
  },

  async update(db: Database, id: string, patch: Partial<AuthRecordInput>): Promise<AuthRecord> {
    requireId(ENTITY, id);
    checkInput(patch);
    const changes = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<AuthRecordInput> & { ranges?: IpRange[] };
    if (patch.targets !== undefined) changes.ranges = parseRecordTargets(patch.targets);
    if (Object.keys(changes).length === 0) return authRecordRepo.get(db, id);
    const rows = await withDbErrors({ operation: 'write', name: patch.name }, () => db.update(authRecords).set(changes).where(eq(authRecords.id, id)).returning());
    return firstOrNotFound(rows, ENTITY, id);
  },

  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, authRecords, ENTITY, id);
  },

  /** Every record of these technologies, oldest first (when records overlap, the oldest covers a host). */
  async listForTechnologies(db: Database, technologies: readonly string[]): Promise<AuthRecord[]> {
    if (technologies.length === 0) return [];
    return db
      .select()
      .from(authRecords)
      .where(inArray(authRecords.technology, [...technologies]))
      .orderBy(asc(authRecords.createdAt), asc(authRecords.id));
  },
};
