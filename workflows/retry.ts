import type { ProfileSettings } from '../domain/scan-types.js';

/** Exponential backoff between a host's attempts, capped by the option profile. */
export function backoffMs(retry: ProfileSettings['retry'], failedAttempts: number): number {
  return Math.min(retry.maxIntervalMs, retry.initialIntervalMs * 2 ** (failedAttempts - 1));
}

/** The longest a vault's Retry-After holds a host back: past this, the next try goes ahead. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** The wait before hosts go round again: the backoff, or longer when a vault asked for it. */
export function waitBeforeRetryMs(
  retry: ProfileSettings['retry'],
  failedAttempts: number,
  retryAfterMs: (number | undefined)[],
): number {
  const asked = Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ...retryAfterMs.map((ms) => ms ?? 0)));
  return Math.max(backoffMs(retry, failedAttempts), asked);
}
