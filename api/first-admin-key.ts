// The first admin key: on a first start (no API key exists yet) one is created and written to a
// file only its owner can read. Every other key is made with it, through POST /api/v1/api-keys.
import { chmodSync, writeFileSync } from 'node:fs';
import type { Database } from '../db/client.js';
import type { DerivedKeys } from '../db/crypto.js';
import { apiKeyRepo, auditRepo } from '../db/repositories/index.js';

/** Creates the first admin key into `file` (0600) if no key exists; true when it did. */
export async function ensureFirstAdminKey(db: Database, auditKeys: DerivedKeys, file: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    if ((await apiKeyRepo.count(tx)) > 0) return false;
    const { key, record } = await apiKeyRepo.create(tx, { name: 'first admin', role: 'admin' });
    await auditRepo.append(tx, auditKeys, [
      {
        actorKeyId: null,
        actorName: 'vaultscan first start',
        action: 'api-key.create-first',
        recordId: record.id,
        outcome: 'success',
        detail: { role: 'admin' },
      },
    ]);
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    chmodSync(file, 0o600); // a file that already existed keeps its old mode otherwise
    return true;
  });
}
