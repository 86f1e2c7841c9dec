// Small helpers every repository uses: keyset paging, id checks, delete-by-id.
import { asc, desc, eq, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Database } from '../client.js';
import { InvalidReferenceError, InvalidValueError, NotFoundError } from '../errors.js';
import { withDbErrors } from '../translate-errors.js';
import { TargetSpecError } from '../../domain/targets.js';

/**
 * A keyset page: at most `limit` rows after the row at `after`, a position this list gave out
 * (the values of its order columns, as text). Never an offset: a page deep in a large list
 * costs what the first one does, and rows added or removed meanwhile shift nothing.
 */
export interface KeysetPage {
  limit?: number;
  after?: readonly string[];
}

/** A page of rows, and the position of its last row when more follow (null: the last page). */
export interface Paged<T> {
  rows: T[];
  next: string[] | null;
}

export const DEFAULT_PAGE_SIZE = 100;

export function pageLimit(page: KeysetPage = {}): number {
  const limit = page.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidValueError('limit', 'must be a whole number, 1 or more');
  return limit;
}

/** A position of `arity` values, or a 400: positions come from cursors, checked before they reach SQL. */
export function positionOf(page: KeysetPage, arity: number): readonly string[] | undefined {
  if (page.after === undefined) return undefined;
  if (page.after.length !== arity) throw new InvalidValueError('cursor', 'names no position in this list');
  return page.after;
}

/**
 * Queries fetch limit + 1 rows: the extra one only says that another page follows, so the
 * last page says so itself (next = null) instead of leading to an empty one.
 */
export function toPaged<Fetched, Row>(
  fetched: Fetched[],
  limit: number,
  position: (row: Fetched) => string[],
  row: (fetched: Fetched) => Row,
): Paged<Row> {
  const shown = fetched.slice(0, limit);
  const last = shown[shown.length - 1];
  return { rows: shown.map(row), next: fetched.length > limit && last ? position(last) : null };
}

/** A timestamptz as exact text: a JavaScript Date keeps milliseconds, PostgreSQL microseconds. */
export const exactTime = (column: PgColumn): SQL<string> =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * Creation order, a total one: (created_at, id), oldest first or newest first. `position` is
 * selected with each row; `after` continues from one.
 */
export function creationOrder(table: { createdAt: PgColumn; id: PgColumn }, direction: 'asc' | 'desc' = 'asc') {
  const by = direction === 'asc' ? asc : desc;
  return {
    position: exactTime(table.createdAt),
    orderBy: [by(table.createdAt), by(table.id)] as const,
    after(page: KeysetPage): SQL | undefined {
      const at = positionOf(page, 2);
      if (!at) return undefined;
      const row = sql`(${table.createdAt}, ${table.id})`;
      const from = sql`(${at[0]}::timestamptz, ${at[1]}::uuid)`;
      return direction === 'asc' ? sql`${row} > ${from}` : sql`${row} < ${from}`;
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (value: string) => UUID.test(value);

/** A malformed id names no row: "not found", rather than a SQL syntax error. */
export function requireId(entity: string, id: string): void {
  if (!isUuid(id)) throw new NotFoundError(entity, id);
}

/** A malformed id in a reference field is a bad reference to that entity. */
export function requireReference(field: string, entity: string, id: string): void {
  if (!isUuid(id)) throw new InvalidReferenceError(field, entity);
}

export function firstOrNotFound<T>(rows: T[], entity: string, id: string): T {
  const row = rows[0];
  if (row === undefined) throw new NotFoundError(entity, id);
  return row;
}

/** Deletes one row by id; "in use" when other rows still reference it (never cascades to them). */
export async function deleteById(
  db: Database,
  table: PgTable & { id: PgColumn },
  entity: string,
  id: string,
): Promise<void> {
  requireId(entity, id);
  const deleted = await withDbErrors({ operation: 'delete' }, () =>
    db.delete(table).where(eq(table.id, id)).returning({ id: table.id }),
  );
  firstOrNotFound(deleted, entity, id);
}

/** Parses an address or target spec; a spec that does not parse is a 400 on the given field. */
export function parseTargetField<T>(field: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof TargetSpecError) throw new InvalidValueError(field, err.message);
    throw err;
  }
}
