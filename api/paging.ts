// Keyset paging for every list. A page's nextCursor names the last row it showed; the cursor is
// opaque to clients and authenticated: an HMAC-SHA256, under a key derived from the master
// keyring, covers the position and the list it was given out for (path and filters), so an
// altered cursor, or one from another list, is refused with a 400 naming `cursor`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DerivedKeys, SecretBox } from '../db/crypto.js';
import { DEFAULT_PAGE_SIZE, type KeysetPage, type Paged } from '../db/repositories/index.js';
import { badRequest } from './problems.js';

/** The keys cursors are signed with: derived from the master keyring, rotating with it. */
export const listCursorKeys = (box: SecretBox): DerivedKeys => box.derivedKeys('list-cursor/v1');

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const refused = () =>
  badRequest(
    'cursor',
    'is not a cursor of this list: pass the nextCursor of the previous page of the same list (same path and filters), unchanged',
  );

export interface ListCursors {
  encode(list: string, position: readonly string[]): string;
  /** The position a cursor of `list` names; a 400 naming `cursor` for anything else. */
  decode(list: string, cursor: string): string[];
}

export function createListCursors(keys: DerivedKeys): ListCursors {
  const mac = (key: Buffer, list: string, payload: string) =>
    createHmac('sha256', key).update(`vaultscan-cursor/v1\n${list}\n${payload}`).digest();
  return {
    encode(list, position) {
      const keyId = keys.activeKeyId;
      const payload = Buffer.from(JSON.stringify([keyId, ...position])).toString('base64url');
      return `${payload}.${mac(keys.keyFor(keyId)!, list, payload).toString('base64url')}`;
    },
    decode(list, cursor) {
      const [payload, tag, ...rest] = cursor.split('.');
      if (!payload || !tag || rest.length > 0 || !BASE64URL.test(payload) || !BASE64URL.test(tag)) throw refused();
      let parts: unknown;
      try {
        parts = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        throw refused();
      }
      if (!Array.isArray(parts) || parts.length < 2 || !parts.every((p) => typeof p === 'string')) throw refused();
      const [keyId, ...position] = parts as string[];
      const key = keys.keyFor(keyId!);
      const given = Buffer.from(tag, 'base64url');
      const expected = key && mac(key, list, payload);
      if (!expected || given.length !== expected.length || !timingSafeEqual(given, expected)) throw refused();
      return position;
    },
  };
}

/**
 * The identity a cursor is bound to: the list's path and the filters it was read with (keys
 * sorted, so their order in the query string does not matter).
 */
export function listIdentity(path: string, filters: Record<string, unknown> = {}): string {
  const set = Object.entries(filters)
    .filter(([, value]) => value !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return set.length === 0 ? path : `${path}?${JSON.stringify(set)}`;
}

/** A validated list query's paging parameters, and the rest of it: the list's filters. */
export function splitListQuery(query: unknown): {
  limit?: number;
  cursor?: string;
  filters: Record<string, unknown>;
} {
  const split: { limit?: number; cursor?: string; filters: Record<string, unknown> } = { filters: {} };
  if (!query || typeof query !== 'object') return split;
  for (const [key, value] of Object.entries(query)) {
    if (key === 'limit' && typeof value === 'number') split.limit = value;
    else if (key === 'cursor' && typeof value === 'string') split.cursor = value;
    else split.filters[key] = value;
  }
  return split;
}

/** What a repository needs from a list request's `limit` and `cursor`. */
export function pageRequest(
  cursors: ListCursors,
  list: string,
  query: { limit?: number; cursor?: string },
  defaultLimit = DEFAULT_PAGE_SIZE,
): KeysetPage & { limit: number } {
  return {
    limit: query.limit ?? defaultLimit,
    ...(query.cursor !== undefined && { after: cursors.decode(list, query.cursor) }),
  };
}

/** The answer every list gives: its items and the cursor of the next page (null on the last). */
export function pageAnswer<Row, View>(
  cursors: ListCursors,
  list: string,
  paged: Paged<Row>,
  view: (row: Row) => View,
): { items: View[]; nextCursor: string | null } {
  return { items: paged.rows.map(view), nextCursor: paged.next && cursors.encode(list, paged.next) };
}
