// The one catalogue of failure codes. Pure data, no I/O: imported by workflows and activities alike.
import type { ReportCategory } from './categories.js';

export interface ErrorCodeInfo {
  /** Worth another attempt (with backoff) — the condition may clear by itself. */
  retryable: boolean;
  /** Where a host whose last attempt ended with this code lands in the Authentication Report. */
  category: ReportCategory;
  summary: string;
}

const catalogue = {
  VAULT_UNREACHABLE: {
    retryable: true,
    category: 'FAILED',
    summary: 'The vault could not be reached (DNS, connection refused or reset).',
  },
  VAULT_TLS_ERROR: {
    retryable: false,
    category: 'FAILED',
    summary: "The vault's TLS certificate or handshake was rejected.",
  },
  VAULT_AUTH_FAILED: {
    retryable: false,
    category: 'FAILED',
    summary: "The vault rejected the scanner's own credentials.",
  },
  VAULT_PERMISSION_DENIED: {
    retryable: false,
    category: 'FAILED',
    summary: 'The vault refused to release this secret to the scanner.',
  },
  VAULT_SECRET_NOT_FOUND: {
    retryable: false,
    category: 'FAILED',
    summary: 'The secret, or the field named in the authentication record, does not exist in the vault.',
  },
  VAULT_RATE_LIMITED: { retryable: true, category: 'FAILED', summary: 'The vault throttled the scanner.' },
  VAULT_UNAVAILABLE: {
    retryable: true,
    category: 'FAILED',
    summary: 'The vault is sealed, in maintenance or answered with a server error.',
  },
  VAULT_BAD_RESPONSE: {
    retryable: false,
    category: 'FAILED',
    summary: 'The vault answered with something the scanner could not use.',
  },
  VAULT_TIMEOUT: { retryable: true, category: 'FAILED', summary: 'The vault did not answer in time.' },
  TARGET_UNREACHABLE: {
    retryable: true,
    category: 'UNREACHABLE',
    summary: "The host did not answer on the service's port.",
  },
  TARGET_TIMEOUT: {
    retryable: true,
    category: 'UNREACHABLE',
    summary: 'The host did not complete the connection in time.',
  },
  HOST_KEY_MISMATCH: {
    retryable: false,
    category: 'FAILED',
    summary: "The host's key does not match the pinned fingerprint.",
  },
  AUTH_FAILED: { retryable: false, category: 'FAILED', summary: 'The host rejected the credentials from the vault.' },
  AUTH_METHOD_REJECTED: {
    retryable: false,
    category: 'FAILED',
    summary: 'The host does not accept this authentication method.',
  },
  PRIVILEGE_ESCALATION_FAILED: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    summary: 'Logged in, but root delegation (sudo) was refused.',
  },
  INSUFFICIENT_PRIVILEGES: {
    retryable: false,
    category: 'INSUFFICIENT_PRIVILEGES',
    summary: 'Logged in, but the account lacks rights the checks need.',
  },
  COLLECTION_FAILED: {
    retryable: true,
    category: 'FAILED',
    summary: 'Logged in, but collecting data from the host failed.',
  },
  NO_AUTH_RECORD: {
    retryable: false,
    category: 'NOT_ATTEMPTED',
    summary: 'No authentication record covers this host.',
  },
  TECHNOLOGY_DISABLED: {
    retryable: false,
    category: 'NOT_ATTEMPTED',
    summary: 'The option profile disables this technology.',
  },
  CONFIG_INVALID: {
    retryable: false,
    category: 'FAILED',
    summary: 'The vault or authentication record is misconfigured.',
  },
  SECRET_EXPIRED: {
    retryable: true,
    category: 'FAILED',
    summary: "The fetched secret's handle expired before it was used.",
  },
  APPLIANCE_LOST: {
    retryable: true,
    category: 'FAILED',
    summary: 'The appliance worker holding the secret went away.',
  },
  INTERNAL_ERROR: { retryable: true, category: 'FAILED', summary: 'An unexpected error inside vaultscan.' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof catalogue;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(catalogue, value);
}

export function describeCode(code: ErrorCode): ErrorCodeInfo {
  return catalogue[code];
}
