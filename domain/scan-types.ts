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
    /** How long a batch's fetch may wait for any worker of the appliance before its hosts are APPLIANCE_UNAVAILABLE. */
    applianceUnavailableMs?: number;
  };
  retry: { maxAttempts: number; initialIntervalMs: number; maxIntervalMs: number };
  /** Failed logins in a row after which a credential (or a vault's access) is not tried again in the scan. */
  maxFailedLogins?: number;
}

/**
 * What the workflows need to know of the record covering a host: enough to batch, report and
 * pin. Where the secret lives and how to reach the vault never cross Temporal in the clear:
 * the control plane seals them, per batch, to the appliance that runs it (SealedGrant).
 */
export interface HostPlan {
  authRecordId: string;
  /** The vault record its secret comes from (an id: for the breaker, never the way in). */
  vaultId: string;
  technology: Technology;
  username: string;
  port: number;
}

/** A host and one technology that will not be tried on it, with the reason. */
export interface SkippedTarget {
  ip: string;
  technology: Technology;
  code: 'NO_AUTH_RECORD' | 'TECHNOLOGY_DISABLED';
  /** The record of a switched-off technology that covers the host. */
  authRecordId?: string;
  login?: string;
}

/**
 * One page of the scan's addresses: each host once per technology it will be scanned with
 * (the record that covers it), and what will not be tried (`skipped`). Pages from before
 * several technologies per host carry no `skipped` and a null record for an uncovered host.
 */
export interface TargetPage {
  hosts: { ip: string; authRecordId: string | null }[];
  plans: Record<string, HostPlan>;
  skipped?: SkippedTarget[];
  /** How many addresses the page read (a host scanned with two technologies is listed twice). */
  addresses?: number;
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
  /** How long the vault asked us to wait before the next try (its Retry-After), in ms. */
  retryAfterMs?: number;
}

/**
 * What a host went through in batches that handed it back to the scan (no worker of their
 * appliance took it): its attempts so far, and how many of them count against maxAttempts.
 */
export interface EarlierAttempts {
  attempts: AttemptRecord[];
  tries: number;
  /** How many batches handed the host back: bounded by the pool's size (appliance-pool.ts). */
  handBacks?: number;
}

/** A host of a batch, with the record that covers it. */
export interface BatchHost {
  ip: string;
  authRecordId: string;
  /** Set when an earlier batch of a pool handed the host back: its attempts carry on from there. */
  earlier?: EarlierAttempts;
}

/** A batch of hosts of one technology, each with the record that covers it. */
export interface HostBatch {
  scanId: string;
  technology: Technology;
  hosts: BatchHost[];
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
  /** Served by the appliance process's cache of this scan's reads, not read from the vault again. */
  fromCache?: boolean;
  /** The appliance that read it (a batch may move to another appliance of the scan's pool). */
  applianceId?: string;
  /** The vault lent the secret (a check-out, an access request) until this time (ISO), if it was given back no sooner. */
  lentUntil?: string;
}

/** What a batch child reports to its parent: the tally (the details are published) and its logins. */
export interface BatchOutcome {
  counts: Record<ReportCategory, number>;
  logins: {
    /** Hosts logged into. */
    loggedIn: number;
    /** Logins the hosts refused (counted against lockout). */
    failedLogins: number;
    /** Times the vault refused the scanner's own credentials. */
    vaultLoginFailures: number;
  };
  /** No worker of the appliance took the batch in time. */
  applianceUnavailable: boolean;
  /** Every appliance the batch found without workers, the one it moved away from included (absent before pools). */
  unavailableAppliances?: string[];
  /**
   * Hosts given back to the scan unpublished, because no worker of the batch's appliance took
   * them and the pool has others: the scan queues them again, for an appliance that has room.
   */
  handedBack?: BatchHost[];
  /** The queues of the appliance processes that held the batch's secrets (absent before caching existed). */
  holders?: string[];
  /** What the batch's vault reads borrowed (check-outs, access requests), and which process holds each. */
  loans?: VaultLoan[];
}

/** A secret a vault lent: given back by the process holding it, or by the vault itself at lentUntil. */
export interface VaultLoan {
  /** The task queue of the appliance process that holds it. */
  holder: string;
  vaultId: string;
  authRecordId: string;
  locator: Record<string, unknown>;
  lentUntil: string;
}
