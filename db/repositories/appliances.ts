// Scanner appliances: each one's workers poll the task queue appliance.<id>.
import { and, eq, gt, isNull } from 'drizzle-orm';
import type { Database } from '../client.js';
import { InvalidValueError } from '../errors.js';
import { appliances, enrolmentCodes } from '../schema.js';
import { hashSecretToken, newSecretToken } from './api-keys.js';
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

const ENTITY = 'appliance';

export type Appliance = typeof appliances.$inferSelect;

export interface ApplianceInput {
  name: string;
  description?: string;
}

export const applianceRepo = {
  /** Oldest first. */
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<Appliance>> {
    const limit = pageLimit(page);
    const order = creationOrder(appliances);
    const rows = await db
      .select({ row: appliances, position: order.position })
      .from(appliances)
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

  async get(db: Database, id: string): Promise<Appliance> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.select().from(appliances).where(eq(appliances.id, id)), ENTITY, id);
  },

  async create(db: Database, input: ApplianceInput): Promise<Appliance> {
    const [row] = await withDbErrors({ operation: 'write', name: input.name }, () =>
      db
        .insert(appliances)
        .values({ name: input.name, description: input.description ?? '' })
        .returning(),
    );
    return row!;
  },

  async update(db: Database, id: string, patch: Partial<ApplianceInput>): Promise<Appliance> {
    requireId(ENTITY, id);
    const changes = {
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.description !== undefined && { description: patch.description }),
    };
    if (Object.keys(changes).length === 0) return applianceRepo.get(db, id);
    const rows = await withDbErrors({ operation: 'write', name: patch.name }, () =>
      db.update(appliances).set(changes).where(eq(appliances.id, id)).returning(),
    );
    return firstOrNotFound(rows, ENTITY, id);
  },

  /** Fails with InUseError while scans refer to the appliance. */
  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, appliances, ENTITY, id);
  },

  /** A one-time code with which an appliance process enrols its public key; shown once. */
  async createEnrolmentCode(
    db: Database,
    applianceId: string,
    ttlMs: number,
    now = new Date(),
  ): Promise<{ code: string; expiresAt: Date }> {
    const appliance = await applianceRepo.get(db, applianceId);
    const code = newSecretToken('vse_');
    const expiresAt = new Date(now.getTime() + ttlMs);
    await db.insert(enrolmentCodes).values({ applianceId: appliance.id, codeHash: hashSecretToken(code), expiresAt });
    return { code, expiresAt };
  },

  /**
   * Uses an enrolment code (once, before it expires) to register the appliance's public key,
   * replacing any earlier key: from then on vault access is sealed only to the new one.
   */
  async enrol(
    db: Database,
    applianceId: string,
    code: string,
    key: { publicKey: string; keyId: string },
    now = new Date(),
  ): Promise<Appliance> {
    requireId(ENTITY, applianceId);
    const codeHash = hashSecretToken(code);
    const used = await db
      .update(enrolmentCodes)
      .set({ usedAt: now })
      .where(
        and(
          eq(enrolmentCodes.codeHash, codeHash),
          eq(enrolmentCodes.applianceId, applianceId),
          isNull(enrolmentCodes.usedAt),
          gt(enrolmentCodes.expiresAt, now),
        ),
      )
      .returning({ id: enrolmentCodes.id });
    if (used.length === 0) {
      const [known] = await db
        .select()
        .from(enrolmentCodes)
        .where(and(eq(enrolmentCodes.codeHash, codeHash), eq(enrolmentCodes.applianceId, applianceId)));
      const why = !known
        ? 'is not an enrolment code of this appliance'
        : known.usedAt
          ? 'was already used: create a new one'
          : 'has expired: create a new one';
      throw new InvalidValueError('code', why);
    }
    const [row] = await db
      .update(appliances)
      .set({ publicKey: key.publicKey, keyId: key.keyId, enrolledAt: now })
      .where(eq(appliances.id, applianceId))
      .returning();
    return firstOrNotFound(row ? [row] : [], ENTITY, applianceId);
  },

  /** The appliance of that name, created if missing (the embedded default's local appliance). */
  async ensure(db: Database, name: string, description = ''): Promise<Appliance> {
    await db.insert(appliances).values({ name, description }).onConflictDoNothing({ target: appliances.name });
    return firstOrNotFound(await db.select().from(appliances).where(eq(appliances.name, name)), ENTITY, name);
  },
};
