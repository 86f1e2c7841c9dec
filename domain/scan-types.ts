// Shapes that cross Temporal between the control plane, the workflows and the appliance.
// Pure types: safe to import from workflow code.
import type { ReportCategory, Technology, VaultType } from './categories.js';
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

/** Everything the appliance needs to fetch and use one host's credentials. */
export interface HostPlan {
  authRecordId: string;
  technology: Technology;
  username: string;
  port: number;
  vault: {
    id: string;
    type: VaultType;
    config: Record<string, unknown>;
    /** The scanner's access secret for the vault: crosses Temporal only inside encrypted payloads. */
    access: Record<string, unknown>;
  };
  locator: Record<string, unknown>;
  fields: { password?: string; privateKey?: string; passphrase?: string };
}

export interface TargetPage {
  /** hostKey: the SSH host key pinned for the host and its record's port, if any. */
  hosts: { ip: string; authRecordId: string | null; hostKey: string | null }[];
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
  hosts: { ip: string; authRecordId: string; hostKey: string | null }[];
  plans: Record<string, HostPlan>;
}

/** What a batch child reports to its parent: only the tally, the details are published. */
export type BatchOutcome = Record<ReportCategory, number>;
