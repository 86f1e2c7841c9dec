// Checking a presented API key, with the answer kept for a few seconds: under load the API
// would otherwise ask the database once per request, behind a scan's writes. Revoking through
// this process forgets the key at once; another API process stops accepting it within the TTL.
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/client.js';
import { apiKeyRepo, hashSecretToken, type ApiKey, type KeyRefusal } from '../db/repositories/index.js';

export interface KeyChecker {
  check(presented: string): Promise<ApiKey | KeyRefusal>;
  /** Drops what is kept about a key (it was just revoked). */
  forget(keyId: string): void;
}

export const KEY_CHECK_TTL_MS = 5_000;

export function createKeyChecker(db: Database, ttlMs = KEY_CHECK_TTL_MS): KeyChecker {
  // Kept by the key's hash, never by the key itself.
  const answers = new LRUCache<string, ApiKey | KeyRefusal>({ max: 10_000, ttl: ttlMs });
  return {
    async check(presented) {
      const id = hashSecretToken(presented);
      let answer = answers.get(id);
      if (answer === undefined) {
        answer = await apiKeyRepo.check(db, presented);
        answers.set(id, answer);
      }
      // An expiry passes while an answer is kept: checked on every use.
      if (typeof answer !== 'string' && answer.expiresAt && answer.expiresAt <= new Date()) return 'expired';
      return answer;
    },
    forget(keyId) {
      for (const [id, answer] of answers.entries())
        if (typeof answer !== 'string' && answer.id === keyId) answers.delete(id);
    },
  };
}
