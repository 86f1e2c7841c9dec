// The vault types this build supports. A new type: one adapter file plus one line here.
import type { VaultType } from '../../domain/categories.js';
import type { VaultAdapter } from './adapter.js';
import { azureKeyVault } from './azure-key-vault.js';
import { gcpSecretManager } from './gcp-secret-manager.js';
import { hashicorpVault } from './hashicorp.js';

export const vaultAdapters: Record<VaultType, VaultAdapter> = {
  hashicorp: hashicorpVault,
  'azure-key-vault': azureKeyVault,
  'gcp-secret-manager': gcpSecretManager,
};

export function getVaultAdapter(type: string): VaultAdapter | undefined {
  return Object.prototype.hasOwnProperty.call(vaultAdapters, type) ? vaultAdapters[type as VaultType] : undefined;
}
