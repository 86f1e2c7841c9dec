import type { ErrorCode } from './errors.js';

/**
 * A classified failure: our catalogue code, plus the vendor's own code and HTTP status
 * when a vault or target supplied them. The message must never contain a secret.
 */
export class ScanError extends Error {
  override readonly name = 'ScanError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly vendorCode?: string,
    readonly httpStatus?: number,
    /** How long the other side asked us to wait before trying again (Retry-After), in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
