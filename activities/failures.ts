// How activities report failures to workflows: the catalogue code becomes the failure type,
// the vendor's code and HTTP status travel as details. Messages never carry secrets.
import { ApplicationFailure } from '@temporalio/common';
import { describeCode } from '../domain/errors.js';
import { ScanError } from '../domain/scan-error.js';
import type { HostFailure } from '../domain/scan-types.js';
import { storableText } from '../domain/text.js';

export interface FailureDetails {
  vendorCode: string | null;
  httpStatus: number | null;
}

/** Any error as our catalogue's terms: a ScanError keeps its code, anything else is INTERNAL_ERROR. */
export function toHostFailure(err: unknown): HostFailure {
  // Vendors' and hosts' words are kept, made storable (no NUL, no lone surrogate).
  if (err instanceof ScanError)
    return {
      code: err.code,
      vendorCode: err.vendorCode === undefined ? null : storableText(err.vendorCode),
      httpStatus: err.httpStatus ?? null,
      message: storableText(err.message),
      ...(err.retryAfterMs !== undefined && { retryAfterMs: err.retryAfterMs }),
    };
  const message = err instanceof Error ? `${err.name}: ${err.message}` : 'unexpected failure';
  return { code: 'INTERNAL_ERROR', vendorCode: null, httpStatus: null, message: storableText(message) };
}

/** The same classification as a Temporal failure, for activities that throw. */
export function toActivityFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  const { code, vendorCode, httpStatus, message } = toHostFailure(err);
  const details: FailureDetails = { vendorCode, httpStatus };
  // The workflow owns retries (so every attempt is recorded); the activity never retries a
  // classified failure itself.
  const nonRetryable = err instanceof ScanError ? !describeCode(code).retryable : undefined;
  return ApplicationFailure.create({ type: code, message, details: [details], nonRetryable });
}

/** Runs an activity body and rethrows anything it throws as a classified ApplicationFailure. */
export async function classified<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toActivityFailure(err);
  }
}
