// Vault records: how the scanner reaches a password vault. The scanner's access secret for the
// vault is sealed (db/crypto.ts) under the row's own id before it is written, and no read but
// loadAccess / loadWithAccess (for the control plane's host plans) ever opens it.
import { randomUUID } from 'node:crypto';
import { and, eq, getTableColumns } from 'drizzle-orm';
import type { Database } from '../client.js';
import { SecretBox, type SecretSealer } from '../crypto.js';
import { vaultRecords } from '../schema.js';
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

const ENTITY = 'vault record';

const { accessCiphertext: _sealed, ...publicColumns } = getTableColumns(vaultRecords);

/** A vault record as every read returns it: without its access secret. */
export type VaultRecord = Omit<typeof vaultRecords.$inferSelect, 'accessCiphertext'>;

export interface VaultInput {
  name: string;
  type: string;
  /** Non-secret, type-specific settings. */
  config: Record<string, unknown>;
  /** The scanner's own credentials for the vault (token, AppRole secret id…), in plaintext. */
  access: Record<string, unknown>;
}

/** The type of a vault record is fixed at creation. */
export type VaultPatch = Partial<Omit<VaultInput, 'type'>>;

/** The associated data that binds a sealed access secret to its row. */
export const vaultAad = (id: string) => `vault_records:${id}`;

function openAccess(box: SecretSealer, id: string, envelope: string): Record<string, unknown> {
  const access = box.open(envelope, vaultAad(id));
  if (!access || typeof access !== 'object' || Array.isArray(access))
    throw new Error(`the access secret of vault record ${id} is not an object`);
  return access as Record<string, unknown>;
}

export const vaultRepo = {
  /** Oldest first. */
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<VaultRecord>> {
    const limit = pageLimit(page);
    const order = creationOrder(vaultRecords);
    const rows = await db
      .select({ row: publicColumns, position: order.position })
      .from(vaultRecords)
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

  async get(db: Database, id: string): Promise<VaultRecord> {
    requireId(ENTITY, id);
    return firstOrNotFound(
      await db.select(publicColumns).from(vaultRecords).where(eq(vaultRecords.id, id)),
      ENTITY,
      id,
    );
  },

  async create(db: Database, box: SecretSealer, input: VaultInput): Promise<VaultRecord> {
    // The id is chosen here so the ciphertext can be bound to it before the row exists.
    const id = randomUUID();
    const row = {
      id,
      name: input.name,
      type: input.type,
      config: input.config,
      accessCiphertext: box.seal(input.access, vaultAad(id)),
    };
    const [created] = await withDbErrors({ operation: 'write', name: input.name }, () =>
      db.insert(vaultRecords).values(row).returning(publicColumns),
    );
    return created!;
  },

  async update(db: Database, box: SecretSealer, id: string, patch: VaultPatch): Promise<VaultRecord> {
    requireId(ENTITY, id);
    const changes = {
      ...(patch.name !== undefined && { name: patch.name }),
      ...(patch.config !== undefined && { config: patch.config }),
      ...(patch.access !== undefined && { accessCiphertext: box.seal(patch.access, vaultAad(id)) }),
    };
    if (Object.keys(changes).length === 0) return vaultRepo.get(db, id);
    const rows = await withDbErrors({ operation: 'write', name: patch.name }, () =>
      db.update(vaultRecords).set(changes).where(eq(vaultRecords.id, id)).returning(publicColumns),
    );
    return firstOrNotFound(rows, ENTITY, id);
  },

  /** Fails with InUseError while authentication records use the vault (never cascades). */
  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, vaultRecords, ENTITY, id);
  },

  /** The opened access secret: only for the control-plane activity that builds host plans. */
  async loadAccess(db: Database, box: SecretSealer, id: string): Promise<Record<string, unknown>> {
    requireId(ENTITY, id);
    const [row] = await db
      .select({ sealed: vaultRecords.accessCiphertext })
      .from(vaultRecords)
      .where(eq(vaultRecords.id, id));
    return openAccess(box, id, firstOrNotFound(row ? [row] : [], ENTITY, id).sealed);
  },

  /** The record and its opened access secret, in one read. */
  async loadWithAccess(
    db: Database,
    box: SecretSealer,
    id: string,
  ): Promise<VaultRecord & { access: Record<string, unknown> }> {
    requireId(ENTITY, id);
    const { accessCiphertext, ...record } = firstOrNotFound(
      await db.select().from(vaultRecords).where(eq(vaultRecords.id, id)),
      ENTITY,
      id,
    );
    return { ...record, access: openAccess(box, id, accessCiphertext) };
  },

  /**
   * After a master-key rotation: re-seals every access secret not yet under the active key.
   * Returns how many rows it re-sealed. Safe to run while the API writes (compare-and-swap).
   */
  async resealAll(db: Database, box: SecretBox): Promise<number> {
    const rows = await db.select({ id: vaultRecords.id, sealed: vaultRecords.accessCiphertext }).from(vaultRecords);
    let resealed = 0;
    for (const row of rows) {
      if (SecretBox.keyIdOf(row.sealed) === box.activeKeyId) continue;
      const fresh = box.seal(openAccess(box, row.id, row.sealed), vaultAad(row.id));
      const updated = await db
        .update(vaultRecords)
        .set({ accessCiphertext: fresh })
        .where(and(eq(vaultRecords.id, row.id), eq(vaultRecords.accessCiphertext, row.sealed)))
        .returning({ id: vaultRecords.id });
      resealed += updated.length;
    }
    return resealed;
  },
};
