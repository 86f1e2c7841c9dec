// Small helpers every repository uses: paging, id checks, delete-by-id.
import { eq } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { Database } from '../client.js';
import { InvalidReferenceError, InvalidValueError, NotFoundError } from '../errors.js';
import { withDbErrors } from '../translate-errors.js';
import { TargetSpecError } from '../../domain/targets.js';

export interface Page {
  limit?: number;
  offset?: number;
}

export const DEFAULT_PAGE_SIZE = 100;

export function pageOf(page: Page = {}): { limit: number; offset: number } {
  const limit = page.limit ?? DEFAULT_PAGE_SIZE;
  const offset = page.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 0) throw new InvalidValueError('limit', 'must be a whole number, 0 or more');
  if (!Number.isInteger(offset) || offset < 0)
    throw new InvalidValueError('offset', 'must be a whole number, 0 or more');
  return { limit, offset };
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
