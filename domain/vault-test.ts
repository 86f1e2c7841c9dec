// A vault record tried from an appliance (POST /vaults/:id/test): what is asked and what comes
// back. Never a secret: only whether the vault let the appliance in (and, for an item, which
// of the asked-for fields it holds), or the code, the vendor's code and the cause.
import type { ErrorCode } from './errors.js';
import type { CredentialFieldNames, SecretField } from './secret-fields.js';

/** An item to read as the test, in the vault type's terms; without one, only the login is tried. */
export interface VaultTestItem {
  locator: Record<string, unknown>;
  fields: CredentialFieldNames;
}

export interface VaultTestOutcome {
  ok: boolean;
  code: ErrorCode | null;
  vendorCode: string | null;
  httpStatus: number | null;
  cause: string | null;
  /** The asked-for fields the item holds (names of the kinds, never values). */
  fields: SecretField[];
  /** How long the appliance's calls to the vault took. */
  durationMs: number | null;
}

export const failedVaultTest = (
  failure: { code: ErrorCode; vendorCode: string | null; httpStatus: number | null; message: string },
  durationMs: number | null = null,
): VaultTestOutcome => ({
  ok: false,
  code: failure.code,
  vendorCode: failure.vendorCode,
  httpStatus: failure.httpStatus,
  cause: failure.message,
  fields: [],
  durationMs,
});

/** What a test's grant is bound to in place of a scan: no scan's grant opens for it, nor its for a scan. */
export const vaultTestScope = (testId: string) => `vault-test/${testId}`;
