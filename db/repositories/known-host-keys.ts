// Pinned SSH host keys, one per address and port. Learned keys come from a scan's first
// successful login; an operator can register a key up front, replace it, or delete it to
// accept a legitimate change (the next successful login then learns the new key).
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import type { Database } from '../client.js';
import { InvalidValueError } from '../errors.js';
import { knownHostKeys } from '../schema.js';
import { withDbErrors } from '../translate-errors.js';
import { normaliseIp } from '../../domain/targets.js';
import {
  deleteById,
  firstOrNotFound,
  pageLimit,
  parseTargetField,
  positionOf,
  requireId,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';

const ENTITY = 'known host key';

export type KnownHostKey = typeof knownHostKeys.$inferSelect;

export interface KnownHostKeyInput {
  ip: string;
  port: number;
  /** "SHA256:…" as ssh-keygen -lf prints it, or the bare base64 part. */
  sha256: string;
}

/** A SHA-256 digest in unpadded base64 is 43 characters. */
export function normaliseFingerprint(value: string, field = 'sha256'): string {
  const bare = value
    .trim()
    .replace(/^SHA256:/i, '')
    .replace(/=+$/, '');
  if (!/^[A-Za-z0-9+/]{43}$/.test(bare))
    throw new InvalidValueError(
      field,
      'must be an SSH SHA-256 fingerprint, like "SHA256:" followed by 43 base64 characters (ssh-keygen -lf prints it)',
    );
  return bare;
}

const normaliseAddress = (ip: string) => parseTargetField('ip', () => normaliseIp(ip.trim()));

const endpointKey = (ip: string, port: number) => `${ip}|${port}`;

export const knownHostKeyRepo = {
  /** By address and port (one key each, so the order is total). */
  async list(db: Database, filter: KeysetPage & { ip?: string } = {}): Promise<Paged<KnownHostKey>> {
    const limit = pageLimit(filter);
    const at = positionOf(filter, 2);
    const rows = await db
      .select()
      .from(knownHostKeys)
      .where(
        and(
          filter.ip ? eq(knownHostKeys.ip, normaliseAddress(filter.ip)) : undefined,
          at ? sql`(${knownHostKeys.ip}, ${knownHostKeys.port}) > (${at[0]}, ${at[1]}::integer)` : undefined,
        ),
      )
      .orderBy(asc(knownHostKeys.ip), asc(knownHostKeys.port))
      .limit(limit + 1);
    return toPaged(
      rows,
      limit,
      (r) => [r.ip, String(r.port)],
      (r) => r,
    );
  },

  async get(db: Database, id: string): Promise<KnownHostKey> {
    requireId(ENTITY, id);
    return firstOrNotFound(await db.select().from(knownHostKeys).where(eq(knownHostKeys.id, id)), ENTITY, id);
  },

  /** An operator pins a key before the first scan (409 if one is pinned already). */
  async create(db: Database, input: KnownHostKeyInput): Promise<KnownHostKey> {
    const row = {
      ip: normaliseAddress(input.ip),
      port: input.port,
      sha256: normaliseFingerprint(input.sha256),
      source: 'operator' as const,
    };
    const [created] = await withDbErrors({ operation: 'write' }, () =>
      db.insert(knownHostKeys).values(row).returning(),
    );
    return created!;
  },

  /** An operator replaces the pinned key (a host re-keyed on purpose). */
  async update(db: Database, id: string, input: { sha256?: string }): Promise<KnownHostKey> {
    requireId(ENTITY, id);
    if (input.sha256 === undefined) return knownHostKeyRepo.get(db, id);
    const set = { sha256: normaliseFingerprint(input.sha256), source: 'operator' as const, learnedInScanId: null };
    const rows = await withDbErrors({ operation: 'write' }, () =>
      db.update(knownHostKeys).set(set).where(eq(knownHostKeys.id, id)).returning(),
    );
    return firstOrNotFound(rows, ENTITY, id);
  },

  remove(db: Database, id: string): Promise<void> {
    return deleteById(db, knownHostKeys, ENTITY, id);
  },

  /** The pinned keys of these endpoints, by "ip|port", and who pinned each (an operator, or a first login). */
  async forEndpoints(
    db: Database,
    endpoints: { ip: string; port: number }[],
  ): Promise<Map<string, Pick<KnownHostKey, 'sha256' | 'source'>>> {
    const pinned = new Map<string, Pick<KnownHostKey, 'sha256' | 'source'>>();
    if (endpoints.length === 0) return pinned;
    const ips = [...new Set(endpoints.map((e) => normaliseAddress(e.ip)))];
    const rows = await db
      .select({
        ip: knownHostKeys.ip,
        port: knownHostKeys.port,
        sha256: knownHostKeys.sha256,
        source: knownHostKeys.source,
      })
      .from(knownHostKeys)
      .where(inArray(knownHostKeys.ip, ips));
    for (const row of rows) pinned.set(endpointKey(row.ip, row.port), { sha256: row.sha256, source: row.source });
    return pinned;
  },

  /** Trust on first use: pins the keys of endpoints that have none yet; never replaces one. Returns the new pins. */
  async learn(
    db: Database,
    keys: { ip: string; port: number; sha256: string; scanId: string }[],
  ): Promise<KnownHostKey[]> {
    if (keys.length === 0) return [];
    const rows = keys.map((k) => ({
      ip: normaliseAddress(k.ip),
      port: k.port,
      sha256: normaliseFingerprint(k.sha256),
      source: 'learned' as const,
      learnedInScanId: k.scanId,
    }));
    return withDbErrors({ operation: 'write' }, () =>
      db
        .insert(knownHostKeys)
        .values(rows)
        .onConflictDoNothing({ target: [knownHostKeys.ip, knownHostKeys.port] })
        .returning(),
    );
  },

  endpointKey,
};
