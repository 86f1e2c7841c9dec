// Turns whatever an activity threw into one catalogue code plus the vendor's details.
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import { isErrorCode, type ErrorCode } from '../domain/errors.js';
import type { LoginProgress } from '../activities/appliance.js';

export interface ClassifiedFailure {
  code: ErrorCode;
  vendorCode: string | null;
  httpStatus: number | null;
  message: string;
}

export function classifyFailure(err: unknown): ClassifiedFailure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && isErrorCode(cause.type)) {
    const details = (cause.details?.[0] ?? {}) as { vendorCode?: string | null; httpStatus?: number | null };
    return {
      code: cause.type,
      vendorCode: details.vendorCode ?? null,
      httpStatus: details.httpStatus ?? null,
      message: cause.message,
    };
  }
  if (cause instanceof TimeoutFailure) {
    // The worker that held the secret stopped polling or heartbeating: the host starts over.
    return {
      code: 'APPLIANCE_LOST',
      vendorCode: null,
      httpStatus: null,
      message: `appliance worker lost (${cause.timeoutType} timeout)`,
    };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { code: 'INTERNAL_ERROR', vendorCode: null, httpStatus: null, message };
}

/** A fetch no worker of the appliance took in time: the appliance is offline. */
export function isApplianceUnavailable(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START';
}

/**
 * The hosts that had refused the login before loginAndCollect was lost (its last heartbeat
 * says): they are not tried again, so a wrong secret costs each host one failed login.
 */
export function loginsRefusedBefore(err: unknown): Set<string> {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (!(cause instanceof TimeoutFailure)) return new Set();
  const details = cause.lastHeartbeatDetails as Partial<LoginProgress> | undefined;
  return new Set(
    Array.isArray(details?.loginRefused) ? details.loginRefused.filter((ip) => typeof ip === 'string') : [],
  );
}
