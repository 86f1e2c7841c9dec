// Typed failures of the data layer, each naming the field at fault, so the API can answer
// 400 / 404 / 409 without parsing database messages. Messages never contain secret values.

export abstract class DataError extends Error {
  /** The HTTP status the API should answer with (Fastify's convention, so it applies unmapped). */
  abstract readonly statusCode: 400 | 404 | 409;
  constructor(
    message: string,
    /** The input field at fault, as the API names it ("name", "vaultId"…), when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The row asked for does not exist. */
export class NotFoundError extends DataError {
  override readonly name = 'NotFoundError';
  readonly statusCode = 404;
  constructor(
    readonly entity: string,
    readonly id: string,
  ) {
    super(`${entity} ${id} does not exist`);
  }
}

/** A unique value is taken ("an appliance named X already exists"). */
export class ConflictError extends DataError {
  override readonly name = 'ConflictError';
  readonly statusCode = 409;
}

/** The row is still referenced by others and cannot be deleted. */
export class InUseError extends DataError {
  override readonly name = 'InUseError';
  readonly statusCode = 409;
}

/** A field points at a row that does not exist (a foreign key on insert or update). */
export class InvalidReferenceError extends DataError {
  override readonly name = 'InvalidReferenceError';
  readonly statusCode = 400;
  constructor(field: string, entity: string) {
    super(`${field}: no ${entity} has this id`, field);
  }
}

/** A field's value is unusable (e.g. a target spec that does not parse). */
export class InvalidValueError extends DataError {
  override readonly name = 'InvalidValueError';
  readonly statusCode = 400;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`, field);
  }
}
