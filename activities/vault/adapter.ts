// The contract every vault type implements. One adapter per file beside this one,
// registered in registry.ts; adding a vault type is a new file plus one line there.
import type { VaultType } from '../../domain/categories.js';

/** Names of the fields to read from the vault item, per kind of target secret. */
export interface CredentialFields {
  password?: string;
  privateKey?: string;
  passphrase?: string;
}

/** What came back from the vault. Buffers, so the purge can zero-fill them. */
export interface FetchedCredential {
  password?: Buffer;
  privateKey?: Buffer;
  passphrase?: Buffer;
}

export interface VaultFetchRequest {
  /** Type-specific, non-secret settings of the vault record (address, auth method, namespace…). */
  config: Record<string, unknown>;
  /** The scanner's own access secret for this vault (token, AppRole secret id…), decrypted. */
  access: Record<string, unknown>;
  /** Where the item lives, type-specific (KV mount, path, version…). */
  locator: Record<string, unknown>;
  fields: CredentialFields;
  signal?: AbortSignal;
}

/** A list of problems, each naming the field and the reason; empty when valid. */
export type ValidationProblem = { field: string; reason: string };

export interface VaultAdapter {
  readonly type: VaultType;
  /**
   * The config settings that decide where the access secret is sent (address, CA, client
   * certificate, auth method, namespace…). Changing one requires entering the access secret
   * again, so a stored secret only ever goes where it was entered for.
   */
  readonly destinationFields: readonly string[];
  /** Whether the access secret would travel over plain HTTP (only with allowInsecureHttp). */
  usesPlainHttp(config: Record<string, unknown>): boolean;
  validateConfig(config: unknown): ValidationProblem[];
  validateAccess(access: unknown, config: Record<string, unknown>): ValidationProblem[];
  validateLocator(locator: unknown): ValidationProblem[];
  /** Reads the requested fields. Throws ScanError with a VAULT_* code on any failure. */
  fetch(request: VaultFetchRequest): Promise<FetchedCredential>;
}
