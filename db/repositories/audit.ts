// The audit trail: who did what, to which record, when, from where, and how it ended; and
// every use of a vault's secrets. Rows are appended in the transaction of the change they
// record, chained: each row's MAC (HMAC-SHA256 under a key derived from the master keyring)
// covers its content and the MAC of the row before. Someone who can write to the database but
// does not hold the master key can neither alter a row nor recompute the chain after it.
import { createHmac } from 'node:crypto';
import { and, asc, desc, eq, gt, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import { stringify } from 'safe-stable-stringify';
import type { Database } from '../client.js';
import type { DerivedKeys, SecretBox } from '../crypto.js';
import { storableValue } from '../../domain/text.js';
import { auditEvents, type AuditOutcome } from '../schema.js';
import { InvalidValueError } from '../errors.js';
import { pageLimit, positionOf, toPaged, type KeysetPage, type Paged } from './shared.js';

export type AuditEvent = typeof auditEvents.$inferSelect;

export interface AuditEntry {
  actorKeyId: string | null;
  actorName: string;
  action: string;
  recordId?: string | null;
  scanId?: string | null;
  applianceId?: string | null;
  clientIp?: string | null;
  outcome: AuditOutcome;
  status?: number | null;
  /** Non-secret particulars only: never a value a vault or a person entered as a secret. */
  detail?: Record<string, unknown>;
}

/** Which events to list; `after` (newest first) is the seq of the last row of the page before. */
export interface AuditFilter extends KeysetPage {
  from?: Date;
  to?: Date;
  actorKeyId?: string;
  recordId?: string;
  scanId?: string;
  action?: string;
}

export type AuditVerdict =
  | { intact: true; rows: number; headHash: string }
  | { intact: false; rows: number; firstBroken: { seq: number; reason: string } };

/** The keys the chain is computed with: derived from the master keyring, rotating with it. */
export const auditChainKeys = (box: SecretBox): DerivedKeys => box.derivedKeys('audit-chain/v1');

const GENESIS = '0'.repeat(64);
// Any fixed number: every writer of the trail takes this lock, so the chain stays one line.
const AUDIT_CHAIN_LOCK = 0x61756469; // "audi"

type Hashed = Omit<AuditEvent, 'seq' | 'hash'>;

/** The MAC of a row: its content (keys sorted, so jsonb's reordering cannot change it) and the previous one. */
function hashOf(row: Hashed, key: Buffer): string {
  const content = String(
    stringify({
      at: row.at.toISOString(),
      actorKeyId: row.actorKeyId,
      actorName: row.actorName,
      action: row.action,
      recordId: row.recordId,
      scanId: row.scanId,
      applianceId: row.applianceId,
      clientIp: row.clientIp,
      outcome: row.outcome,
      status: row.status,
      detail: row.detail,
    }),
  );
  return createHmac('sha256', key)
    .update(row.keyId)
    .update('\n')
    .update(row.prevHash)
    .update('\n')
    .update(content)
    .digest('hex');
}

export const auditRepo = {
  /**
   * Appends entries to the trail. Pass the transaction that makes the change being recorded:
   * then the change and its record commit, or roll back, together.
   */
  async append(db: Database, keys: DerivedKeys, entries: AuditEntry[], now = new Date()): Promise<void> {
    if (entries.length === 0) return;
    const keyId = keys.activeKeyId;
    const key = keys.keyFor(keyId)!;
    await db.transaction(async (tx) => {
      await tx.execute(sql`select pg_advisory_xact_lock(${AUDIT_CHAIN_LOCK})`);
      const [head] = await tx
        .select({ hash: auditEvents.hash })
        .from(auditEvents)
        .orderBy(desc(auditEvents.seq))
        .limit(1);
      let prevHash = head?.hash ?? GENESIS;
      const rows = entries.map((given) => {
        const entry = storableValue(given);
        const row: Hashed = {
          at: now,
          actorKeyId: entry.actorKeyId,
          actorName: entry.actorName,
          action: entry.action,
          recordId: entry.recordId ?? null,
          scanId: entry.scanId ?? null,
          applianceId: entry.applianceId ?? null,
          clientIp: entry.clientIp ?? null,
          outcome: entry.outcome,
          status: entry.status ?? null,
          detail: entry.detail ?? {},
          keyId,
          prevHash,
        };
        const hash = hashOf(row, key);
        prevHash = hash;
        return { ...row, hash };
      });
      await tx.insert(auditEvents).values(rows);
    });
  },

  /** Newest first, filtered, a keyset page at a time (seq is the order: it is unique). */
  async list(db: Database, filter: AuditFilter): Promise<Paged<AuditEvent>> {
    const limit = pageLimit(filter);
    const before = positionOf(filter, 1)?.[0];
    const where: SQL[] = [];
    if (filter.from) where.push(gte(auditEvents.at, filter.from));
    if (filter.to) where.push(lte(auditEvents.at, filter.to));
    if (filter.actorKeyId) where.push(eq(auditEvents.actorKeyId, filter.actorKeyId));
    if (filter.recordId) where.push(eq(auditEvents.recordId, filter.recordId));
    if (filter.scanId) where.push(eq(auditEvents.scanId, filter.scanId));
    if (filter.action) where.push(eq(auditEvents.action, filter.action));
    if (before !== undefined) {
      if (!/^\d{1,18}$/.test(before)) throw new InvalidValueError('cursor', 'names no position in this list');
      where.push(lt(auditEvents.seq, Number(before)));
    }
    const rows = await db
      .select()
      .from(auditEvents)
      .where(and(...where))
      .orderBy(desc(auditEvents.seq))
      .limit(limit + 1);
    return toPaged(
      rows,
      limit,
      (r) => [String(r.seq)],
      (r) => r,
    );
  },

  /** Walks the whole chain in order and names the first row that does not hold. */
  async verify(db: Database, keys: DerivedKeys, pageSize = 1000): Promise<AuditVerdict> {
    let prevHash = GENESIS;
    let rows = 0;
    for (let afterSeq = 0; ;) {
      const page = await db
        .select()
        .from(auditEvents)
        .where(gt(auditEvents.seq, afterSeq))
        .orderBy(asc(auditEvents.seq))
        .limit(pageSize);
      for (const row of page) {
        if (row.prevHash !== prevHash) {
          const reason = 'it does not follow the row before it: a row before it was deleted, inserted or altered';
          return { intact: false, rows, firstBroken: { seq: row.seq, reason } };
        }
        const key = keys.keyFor(row.keyId);
        if (!key) {
          const reason = `it was written under master key "${row.keyId}", which is no longer in the keyring`;
          return { intact: false, rows, firstBroken: { seq: row.seq, reason } };
        }
        if (hashOf(row, key) !== row.hash) {
          return { intact: false, rows, firstBroken: { seq: row.seq, reason: 'its content was altered' } };
        }
        prevHash = row.hash;
        rows++;
      }
      if (page.length < pageSize) return { intact: true, rows, headHash: prevHash };
      afterSeq = page[page.length - 1]!.seq;
    }
  },
};
