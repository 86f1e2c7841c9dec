// The scan's credential circuit breaker: a wrong secret must not lock a directory account out
// across the fleet. Until an authentication record's credential has logged in somewhere in
// this scan, at most `limit` of its hosts are tried at once, less the failed logins it already
// has; after `limit` failed logins in a row (no success between), its remaining hosts are not
// tried. Likewise a vault that refused the scanner's own credentials `limit` times is not asked
// again. Pure and deterministic (workflow code); its state crosses continue-as-new.

export interface RecordState {
  /** Logged in at least once in this scan: its hosts are no longer held back. */
  proven: boolean;
  /** Failed logins since its last success. */
  failedInARow: number;
  /** Hosts handed out and not yet reported. */
  inFlight: number;
}

export interface BreakerState {
  records: Record<string, RecordState>;
  /** Vault logins refused, per vault record. */
  vaultFailures: Record<string, number>;
}

/** Why a record's hosts are set aside; the report says "not tried: <message>". */
export type Suspension = { code: 'CREDENTIAL_SUSPENDED' | 'VAULT_ACCESS_SUSPENDED'; message: string };

export interface BatchLogins {
  loggedIn: number;
  failedLogins: number;
  vaultLoginFailures: number;
}

export class CredentialBreaker {
  private readonly state: BreakerState;

  constructor(
    private readonly limit: number,
    state?: BreakerState,
  ) {
    this.state = state ?? { records: {}, vaultFailures: {} };
  }

  private record(recordId: string): RecordState {
    return (this.state.records[recordId] ??= { proven: false, failedInARow: 0, inFlight: 0 });
  }

  /** Why a record's hosts are no longer tried in this scan, if they are not. */
  suspension(recordId: string, vaultId: string): Suspension | undefined {
    const vaultFailures = this.state.vaultFailures[vaultId] ?? 0;
    if (vaultFailures >= this.limit) {
      return {
        code: 'VAULT_ACCESS_SUSPENDED',
        message: `the vault refused the scanner's credentials ${vaultFailures} times in this scan; it is not asked again`,
      };
    }
    const record = this.record(recordId);
    if (record.failedInARow >= this.limit) {
      return {
        code: 'CREDENTIAL_SUSPENDED',
        message: `this authentication record's credential failed ${record.failedInARow} logins in a row in this scan; it is not tried again, so the account is not locked out`,
      };
    }
    return undefined;
  }

  /**
   * How many more of the record's hosts may be handed out now. Each host in flight may cost a
   * failed login, and each batch in flight a vault login (a batch has a host or more), so while
   * unproven, failures already counted plus hosts in flight stay within the limit.
   */
  allowance(recordId: string, vaultId: string): number {
    if (this.suspension(recordId, vaultId)) return 0;
    const record = this.record(recordId);
    if (record.proven) return Number.POSITIVE_INFINITY;
    const failures = record.failedInARow + (this.state.vaultFailures[vaultId] ?? 0);
    // Not suspended, each count is below the limit, so one host alone (one login, one vault
    // login at most) keeps both within it: with none in flight, one may go, or the record's
    // hosts would wait for an answer that never comes.
    const atLeast = record.inFlight === 0 ? 1 : 0;
    return Math.max(atLeast, this.limit - failures - record.inFlight);
  }

  handedOut(recordId: string, hosts: number): void {
    this.record(recordId).inFlight += hosts;
  }

  /** A batch of the record came back: `hosts` is how many it had. */
  reported(recordId: string, vaultId: string, hosts: number, logins: BatchLogins): void {
    const record = this.record(recordId);
    record.inFlight = Math.max(0, record.inFlight - hosts);
    // Logins within a batch run together: one success among them resets the count.
    if (logins.loggedIn > 0) {
      record.proven = true;
      record.failedInARow = 0;
    } else {
      record.failedInARow += logins.failedLogins;
    }
    if (logins.vaultLoginFailures > 0) {
      this.state.vaultFailures[vaultId] = (this.state.vaultFailures[vaultId] ?? 0) + logins.vaultLoginFailures;
    }
  }

  snapshot(): BreakerState {
    return JSON.parse(JSON.stringify(this.state)) as BreakerState;
  }
}
