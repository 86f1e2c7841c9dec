// The contract every vault type's adapter implements: how the appliance speaks to the vault.
// What the type is (its schemas, checks and secret fields) lives in vault-types/; the adapter
// is one file beside this one, registered in registry.ts.
import type { VaultType } from '../../domain/categories.js';
import type { CredentialFieldNames, SecretValues } from '../../domain/secret-fields.js';

export type CredentialFields = CredentialFieldNames;

/** What came back from the vault. Buffers, so the purge can zero-fill them. */
export type FetchedCredential = SecretValues;

export interface VaultAccessRequest {
  /** The vault record's non-secret settings, valid for its type (checked when stored). */
  config: Record<string, unknown>;
  /** The scanner's own access secret for this vault (token, AppRole secret id…), decrypted. */
  access: Record<string, unknown>;
  signal?: AbortSignal;
}

export interface VaultFetchRequest extends VaultAccessRequest {
  /** Where the item lives, in the type's terms (KV mount and path, Safe and Object…). */
  locator: Record<string, unknown>;
  fields: CredentialFields;
  /** Why the secret is read, for vaults that ask (a check-out comment, an access request's reason). */
  reason: string;
}

export interface VaultRead {
  credential: FetchedCredential;
  /**
   * Gives back what the read borrowed (a check-out, an access request), for vaults that lend.
   * Called once, when the secret is no longer needed, whatever happened with it.
   */
  release?: () => Promise<void>;
  /** When the loan ends by itself should release never come (the duration the request asked for). */
  lentUntil?: Date;
}

export interface VaultAdapter {
  readonly type: VaultType;
  /** Reads the requested fields. Throws ScanError with a VAULT_* code on any failure. */
  fetch(request: VaultFetchRequest): Promise<VaultRead>;
  /** Logs in (and out again) without reading an item: the vault test without a record. */
  checkAccess(request: VaultAccessRequest): Promise<void>;
}
