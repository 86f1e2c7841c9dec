// Scanner appliances: each one's workers poll the task queue appliance.<id>.
import { asc, eq } from 'drizzle-orm';
import type { Database } from '../client.js';
import { appliances } from '../schema.js';
import { withDbErrors } from '../translate-errors.js';
import { deleteById, firstOrNotFound, pageOf, requireId, type Page } from './shared.js';

const ENTITY = 'appliance';

export type Appliance = typeof appliances.$inferSelect;

export interface ApplianceInput {
  name: string;
  description?: string;
}

export const applianceRepo = {
  async list(db: Database, page?: Page): Promise<Appliance[]> {
    const { limit, offset } = pageOf(page);
    return db
      .select()
      .from(appliances)
      .orderBy(asc(appliances.createdAt), asc(appliances.id))
      .limit(limit)
      .offset(offset);
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

  /** The appliance of that name, created if missing (the embedded default's local appliance). */
  async ensure(db: Database, name: string, description = ''): Promise<Appliance> {
    await db.insert(appliances).values({ name, description }).onConflictDoNothing({ target: appliances.name });
    return firstOrNotFound(await db.select().from(appliances).where(eq(appliances.name, name)), ENTITY, name);
  },
};
