// Option profiles: which technologies a scan tries, how many hosts at once, timeouts and retries.
// At most one profile is the default (a partial unique index guards it).
import { eq } from 'drizzle-orm';
import type { Database } from '../client.js';
import { optionProfiles } from '../schema.js';
import { pgErrorOf, UNIQUE_VIOLATION, withDbErrors } from '../translate-errors.js';
import type { ProfileSettings } from '../../domain/scan-types.js';
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

const ENTITY = 'option profile';

export type OptionProfile = typeof optionProfiles.$inferSelect;

export type ProfileInput = ProfileSettings & { name: string; isDefault?: boolean };

export const DEFAULT_PROFILE_NAME = 'Default';

export const DEFAULT_PROFILE: ProfileSettings = {
  technologies: ['unix'],
  maxParallelHosts: 10,
  timeouts: { connectMs: 10_000, commandMs: 60_000, vaultMs: 10_000 },
  retry: { maxAttempts: 3, initialIntervalMs: 1_000, maxIntervalMs: 30_000 },
};

/** The settings a scan workflow carries. */
export function profileSettings(row: OptionProfile): ProfileSettings {
  return {
    technologies: row.technologies as ProfileSettings['technologies'],
    maxParallelHosts: row.maxParallelHosts,
    timeouts: row.timeouts,
    retry: row.retry,
    maxFailedLogins: row.maxFailedLogins,
  };
}

const clearDefault = (tx: Database) =>
  tx.update(optionProfiles).set({ isDefault: false }).where(eq(optionProfiles.isDefault, true));

async function findDefault(db: Database): Promise<OptionProfile | undefined> {
  const [row] = await db.select().from(optionProfiles).where(eq(optionProfiles.isDefault, true));
  return row;
}

export const profileRepo = {
  /** Oldest first. */
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<OptionProfile>> {
    const limit = pageLimit(page);
    const order = creationOrder(optionProfiles);
    const rows = await db
      .select({ row: optionProfiles, position: order.position })
      .from(optionProfiles)
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

  async get(db: Database, id: string): Promise<OptionProfile> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.select().from(optionProfiles).where(eq(optionProfiles.id, id)), ENTITY, id);
  },

  /** With isDefault, the new profile takes over as the default. */
  async create(db: Database, input: ProfileInput): Promise<OptionProfile> {
    return withDbErrors({ operation: 'write', name: input.name }, () =>
      db.transaction(async (tx) => {
        if (input.isDefault) await clearDefault(tx);
        const [row] = await tx.insert(optionProfiles).values(input).returning();
        return row!;
      }),
    );
  },

  async update(db: Database, id: string, patch: Partial<ProfileInput>): Promise<OptionProfile> {
    requireId(ENTITY, id);
    const changes = Object.fromEntries(
      Object.entries(patch).filter(([, v]) => v !== undefined),
    ) as Partial<ProfileInput>;
    if (Object.keys(changes).length === 0) return profileRepo.get(db, id);
    return withDbErrors({ operation: 'write', name: patch.name }, () =>
      db.transaction(async (tx) => {
        if (changes.isDefault) await clearDefault(tx);
        return firstOrNotFound(
          await tx.update(optionProfiles).set(changes).where(eq(optionProfiles.id, id)).returning(),
          ENTITY,
          id,
        );
      }),
    );
  },

  setDefault(db: Database, id: string): Promise<OptionProfile> {
    return profileRepo.update(db, id, { isDefault: true });
  },

  /** Fails with InUseError while scans refer to the profile. */
  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, optionProfiles, ENTITY, id);
  },

  /**
   * The default profile. When there is none, a profile named "Default" becomes it: created with
   * DEFAULT_PROFILE's settings, or, if a profile already has that name, that one. Safe to call
   * concurrently: the partial unique index lets exactly one default exist.
   */
  async getDefault(db: Database): Promise<OptionProfile> {
    const existing = await findDefault(db);
    if (existing) return existing;
    await db
      .insert(optionProfiles)
      .values({ name: DEFAULT_PROFILE_NAME, ...DEFAULT_PROFILE, isDefault: true })
      .onConflictDoNothing();
    const created = await findDefault(db);
    if (created) return created;
    await db
      .update(optionProfiles)
      .set({ isDefault: true })
      .where(eq(optionProfiles.name, DEFAULT_PROFILE_NAME))
      .catch((err: unknown) => {
        // A unique violation means someone else made a default meanwhile: use theirs.
        if (pgErrorOf(err)?.code !== UNIQUE_VIOLATION) throw err;
      });
    const promoted = await findDefault(db);
    if (!promoted) throw new Error('no default option profile could be found or created');
    return promoted;
  },
};
