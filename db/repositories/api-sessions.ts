// Browser sessions opened at /login with an API key. The cookie holds a random token; only its
// SHA-256 is stored. A session never outlives its key: revoking or expiring the key ends it.
import { and, eq, gt, lt } from 'drizzle-orm';
import type { Database } from '../client.js';
import { apiKeys, apiSessions } from '../schema.js';
import { hashSecretToken, newSecretToken, type ApiKey } from './api-keys.js';

export const apiSessionRepo = {
  /** Opens a session for the key; it ends after `ttlMs`, or when the key expires if sooner. */
  async open(db: Database, key: ApiKey, ttlMs: number, now = new Date()): Promise<{ token: string; expiresAt: Date }> {
    const token = newSecretToken('vss_');
    const until = new Date(now.getTime() + ttlMs);
    const expiresAt = key.expiresAt && key.expiresAt < until ? key.expiresAt : until;
    // Ended sessions are dropped as new ones open, so the table stays small.
    await db.delete(apiSessions).where(lt(apiSessions.expiresAt, now));
    await db.insert(apiSessions).values({ tokenHash: hashSecretToken(token), apiKeyId: key.id, expiresAt });
    return { token, expiresAt };
  },

  /** The key behind a live session, or null (unknown, expired, or its key revoked or expired). */
  async keyOf(db: Database, token: string, now = new Date()): Promise<ApiKey | null> {
    if (token.length > 200) return null;
    const [row] = await db
      .select({ key: apiKeys })
      .from(apiSessions)
      .innerJoin(apiKeys, eq(apiKeys.id, apiSessions.apiKeyId))
      .where(and(eq(apiSessions.tokenHash, hashSecretToken(token)), gt(apiSessions.expiresAt, now)));
    if (!row || row.key.revokedAt || (row.key.expiresAt && row.key.expiresAt <= now)) return null;
    const { keyHash: _hash, ...key } = row.key;
    return key;
  },

  async close(db: Database, token: string): Promise<void> {
    await db.delete(apiSessions).where(eq(apiSessions.tokenHash, hashSecretToken(token)));
  },
};
