// How activities report failures to workflows: the catalogue code becomes the failure type,
// the vendor's code and HTTP status travel as details. Messages never carry secrets.
import { ApplicationFailure } from '@temporalio/common';
import { describeCode } from '../domain/errors.js';
import { ScanError } from '../domain/scan-error.js';
import type { HostFailure } from '../domain/scan-types.js';

export interface FailureDetails {
  vendorCode: string | null;
  httpStatus: number | null;
}

export function toActivityFailure(err: unknown): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ScanError) {
    const details: FailureDetails = { vendorCode: err.vendorCode ?? null, httpStatus: err.httpStatus ?? null };
    // The workflow owns retries (so every attempt is recorded); the activity never retries itself.
    return ApplicationFailure.create({ type: err.code, message: err.message, details: [details], nonRetryable: !describeCode(err.code).retryable });
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : 'unexpected failure';
  return ApplicationFailure.create({ type: 'INTERNAL_ERROR', message, details: [{ vendorCode: null, httpStatus: null }] });
}

/** Runs an activity body and rethrows anything it throws as a classified ApplicationFailure. */
export async function classified<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    throw toActivityFailure(err);
  }
}

/** The same classification as data, for batch activities that report each host's failure. */
export function toHostFailure(err: unknown): HostFailure {
  if (err instanceof ScanError) return { code: err.code, vendorCode: err.vendorCode ?? null, httpStatus: err.httpStatus ?? null, message: err.message };
  const message = err instanceof Error ? `${err.name}: ${err.message}` : 'unexpected failure';
  return { code: 'INTERNAL_ERROR', vendorCode: null, httpStatus: null, message };
}
