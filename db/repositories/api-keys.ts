// API keys. A key is 32 random bytes, shown once when created; only its SHA-256 is stored (a
// key is too random to guess, so a slow hash would add nothing), and a lookup is by that hash.
import { createHash, randomBytes } from 'node:crypto';
import { and, count, eq, getTableColumns, isNull } from 'drizzle-orm';
import type { Database } from '../client.js';
import { apiKeys, apiSessions } from '../schema.js';
import { withDbErrors } from '../translate-errors.js';
import type { ApiRole } from '../../domain/roles.js';
import {
  creationOrder,
  firstOrNotFound,
  pageLimit,
  requireId,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';

const ENTITY = 'API key';
const KEY_PREFIX = 'vsk_';

export type ApiKey = Omit<typeof apiKeys.$inferSelect, 'keyHash'>;

export interface ApiKeyInput {
  name: string;
  role: ApiRole;
  expiresAt?: Date | null;
  createdByKeyId?: string | null;
}

/** Why a presented key was not accepted; said to the caller, since keys cannot be guessed. */
export type KeyRefusal = 'unknown' | 'revoked' | 'expired';

export const hashSecretToken = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');

/** A fresh random token with a recognisable prefix (secret scanners can spot a leaked one). */
export const newSecretToken = (prefix: string) => `${prefix}${randomBytes(32).toString('base64url')}`;

const { keyHash: _hash, ...publicColumns } = getTableColumns(apiKeys);

export const apiKeyRepo = {
  /** Creates a key; the returned `key` is the only time its value exists outside the caller. */
  async create(db: Database, input: ApiKeyInput): Promise<{ key: string; record: ApiKey }> {
    const key = newSecretToken(KEY_PREFIX);
    const values = {
      name: input.name,
      role: input.role,
      keyHash: hashSecretToken(key),
      keyPrefix: key.slice(0, KEY_PREFIX.length + 6),
      expiresAt: input.expiresAt ?? null,
      createdByKeyId: input.createdByKeyId ?? null,
    };
    const [record] = await withDbErrors({ operation: 'write', name: input.name }, () =>
      db.insert(apiKeys).values(values).returning(publicColumns),
    );
    return { key, record: record! };
  },

  /** The key's record if it may be used now, else why not. */
  async check(db: Database, presented: string, now = new Date()): Promise<ApiKey | KeyRefusal> {
    if (!presented.startsWith(KEY_PREFIX) || presented.length > 200) return 'unknown';
    const [record] = await db
      .select(publicColumns)
      .from(apiKeys)
      .where(eq(apiKeys.keyHash, hashSecretToken(presented)));
    if (!record) return 'unknown';
    if (record.revokedAt) return 'revoked';
    if (record.expiresAt && record.expiresAt <= now) return 'expired';
    return record;
  },

  async get(db: Database, id: string): Promise<ApiKey> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.select(publicColumns).from(apiKeys).where(eq(apiKeys.id, id)), ENTITY, id);
  },

  /** Oldest first. */
  async list(db: Database, page: KeysetPage = {}): Promise<Paged<ApiKey>> {
    const limit = pageLimit(page);
    const order = creationOrder(apiKeys);
    const rows = await db
      .select({ row: publicColumns, position: order.position })
      .from(apiKeys)
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

  /** Revokes the key at once, with every browser session opened with it. Idempotent. */
  async revoke(db: Database, id: string, now = new Date()): Promise<ApiKey> {
    requireId(ENTITY, id);
    const rows = await db
      .update(apiKeys)
      .set({ revokedAt: now })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning(publicColumns);
    await db.delete(apiSessions).where(eq(apiSessions.apiKeyId, id));
    return rows[0] ?? apiKeyRepo.get(db, id);
  },

  async touch(db: Database, id: string, at: Date): Promise<void> {
    await db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
  },

  /** How many keys exist, usable or not: none means a first start. */
  async count(db: Database): Promise<number> {
    const [row] = await db.select({ n: count() }).from(apiKeys);
    return row?.n ?? 0;
  },
};
