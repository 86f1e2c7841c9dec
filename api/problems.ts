// The API's one way of saying what was wrong: a status, the field at fault and the reason.
export class ApiProblem extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly field?: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export const badRequest = (field: string, reason: string, details?: Record<string, unknown>) =>
  new ApiProblem(400, `${field}: ${reason}`, field, details);
