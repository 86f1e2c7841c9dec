// Checking a presented API key, with the answer kept for a few seconds: under load the API
// would otherwise ask the database once per request, behind a scan's writes. Concurrent
// checks of one key share one lookup, and a kept answer is refreshed in the background while
// it is still served, so no request waits on the database for a key it just used. Revoking
// through this process forgets the key at once; another API process stops accepting it
// within the TTL (plus one lookup).
import { LRUCache } from 'lru-cache';
import type { Database } from '../db/client.js';
import { apiKeyRepo, hashSecretToken, type ApiKey, type KeyRefusal } from '../db/repositories/index.js';

export interface KeyChecker {
  check(presented: string): Promise<ApiKey | KeyRefusal>;
  /** Drops what is kept about a key (it was just revoked). */
  forget(keyId: string): void;
}

export const KEY_CHECK_TTL_MS = 5_000;

// lru-cache keeps objects; a refusal is kept wrapped.
type Answer = { answer: ApiKey | KeyRefusal };

export function createKeyChecker(db: Database, ttlMs = KEY_CHECK_TTL_MS): KeyChecker {
  // Kept by the key's hash, never by the key itself (the key travels as the lookup's context).
  const answers = new LRUCache<string, Answer, string>({
    max: 10_000,
    ttl: ttlMs,
    allowStale: true,
    noDeleteOnStaleGet: true,
    fetchMethod: async (_hash, _stale, { context }) => ({ answer: await apiKeyRepo.check(db, context) }),
  });
  return {
    async check(presented) {
      const kept = await answers.fetch(hashSecretToken(presented), { context: presented });
      const answer = kept!.answer;
      // An expiry passes while an answer is kept: checked on every use.
      if (typeof answer !== 'string' && answer.expiresAt && answer.expiresAt <= new Date()) return 'expired';
      return answer;
    },
    forget(keyId) {
      for (const [hash, kept] of answers.entries()) {
        if (typeof kept.answer !== 'string' && kept.answer.id === keyId) answers.delete(hash);
      }
    },
  };
}
