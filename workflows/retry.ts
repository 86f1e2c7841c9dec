import type { ProfileSettings } from '../domain/scan-types.js';

/** Exponential backoff between a host's attempts, capped by the option profile. */
export function backoffMs(retry: ProfileSettings['retry'], failedAttempts: number): number {
  return Math.min(retry.maxIntervalMs, retry.initialIntervalMs * 2 ** (failedAttempts - 1));
}
