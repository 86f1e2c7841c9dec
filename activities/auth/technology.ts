// The contract every authentication technology implements. One technology per file beside
// this one, registered in registry.ts.
import type { ErrorCode } from '../../domain/errors.js';
import type { Technology } from '../../domain/categories.js';
import type { SecretValues } from '../../domain/secret-fields.js';

/** The account and the secrets fetched for it (domain/secret-fields.ts says which kinds). */
export type TargetCredentials = { username: string } & SecretValues;

export interface TargetEndpoint {
  ip: string;
  port: number;
}

export interface ConnectOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  signal?: AbortSignal;
  /**
   * The host key pinned for this endpoint (for a record that trusts only registered keys, only
   * one an operator registered): any other key fails with HOST_KEY_MISMATCH before credentials
   * are sent; what none pinned means is the record's host-key policy (unix: hostKeyPolicy).
   */
  expectedHostKey?: string | null;
  /** The record's technology settings (technologies/<name>.ts), checked by the API and sealed in its grant. */
  settings?: Record<string, unknown>;
}

export interface PackageRecord {
  name: string;
  version: string;
  arch: string;
}

export interface CollectedData {
  /** Small named facts: os id/name/version, kernel, package manager… */
  facts: Record<string, string>;
  packages: PackageRecord[];
}

export type PrivilegeCheck = { ok: true; method: string } | { ok: false; code: ErrorCode; message: string };

/** A logged-in session on one host. Holds references to the credential buffers, never copies. */
export interface AuthSession {
  /**
   * The key to pin for this endpoint on first use (SHA-256, unpadded base64): the key the host
   * presented, where the record's policy pins on first use (unix: hostKeyPolicy tofu); none
   * where it trusts only registered keys or checks none. The workflow pins what this says.
   */
  readonly hostKey?: string;
  checkPrivileges(): Promise<PrivilegeCheck>;
  collect(options: { commandTimeoutMs: number; signal?: AbortSignal }): Promise<CollectedData>;
  close(): Promise<void>;
}

export interface AuthTechnology {
  readonly name: Technology;
  readonly defaultPort: number;
  /** Logs in. Throws ScanError (TARGET_UNREACHABLE, AUTH_FAILED, …) on failure. */
  connect(endpoint: TargetEndpoint, credentials: TargetCredentials, options: ConnectOptions): Promise<AuthSession>;
}
