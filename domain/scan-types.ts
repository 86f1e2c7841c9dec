// Shapes that cross Temporal between the control plane, the workflows and the appliance.
// Pure types: safe to import from workflow code.
import type { ReportCategory, Technology } from './categories.js';
import type { ErrorCode } from './errors.js';

export interface ProfileSettings {
  technologies: Technology[];
  maxParallelHosts: number;
  timeouts: {
    connectMs: number;
    commandMs: number;
    vaultMs: number;
    /** How long work may wait on one appliance worker's own queue before we call it lost. */
    applianceLostMs?: number;
    /** How long a running activity may go without a heartbeat before we call its worker lost. */
    heartbeatMs?: number;
  };
  retry: { maxAttempts: number; initialIntervalMs: number; maxIntervalMs: number };
}

/**
 * What the workflows need to know of the record covering a host: enough to batch, report and
 * pin. Where the secret lives and how to reach the vault never cross Temporal in the clear:
 * the control plane seals them, per batch, to the appliance that runs it (SealedGrant).
 */
export interface HostPlan {
  authRecordId: string;
  technology: Technology;
  username: string;
  port: number;
}

export interface TargetPage {
  hosts: { ip: string; authRecordId: string | null }[];
  plans: Record<string, HostPlan>;
}

export interface AttemptRecord {
  attemptNo: number;
  code: ErrorCode | null;
  vendorCode: string | null;
  httpStatus: number | null;
  message: string | null;
  at: string;
}

/** A failure of one host's step, as data: batch activities report per host instead of throwing. */
export interface HostFailure {
  code: ErrorCode;
  vendorCode: string | null;
  httpStatus: number | null;
  message: string;
}

/** A batch of hosts of one technology, each with the record that covers it. */
export interface HostBatch {
  scanId: string;
  technology: Technology;
  hosts: { ip: string; authRecordId: string }[];
  plans: Record<string, HostPlan>;
}

/**
 * One read of a vault, as the audit trail records it: which record, where in the vault, for
 * how many hosts, and how it ended. Never a value.
 */
export interface SecretRead {
  vaultId: string;
  authRecordId: string;
  locator: Record<string, unknown>;
  hosts: number;
  outcome: 'success' | 'failed';
  code: ErrorCode | null;
  vendorCode: string | null;
  /** The vault was reached over plain HTTP (allowed by the record's allowInsecureHttp). */
  plainHttp: boolean;
}

/** What a batch child reports to its parent: only the tally, the details are published. */
export type BatchOutcome = Record<ReportCategory, number>;
