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

export interface HostOutcome {
  ip: string;
  technology: Technology;
  category: ReportCategory;
  code: ErrorCode | null;
}
