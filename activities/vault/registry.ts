// The vault types this build supports. A new type: one adapter file plus one line here.
import type { VaultType } from '../../domain/categories.js';
import type { VaultAdapter } from './adapter.js';
import { awsSecretsManagerVault } from './aws-secrets-manager.js';
import { beyondtrustVault } from './beyondtrust.js';
import { cyberarkCcpVault } from './cyberark-ccp.js';
import { cyberarkConjurVault } from './cyberark-conjur.js';
import { delineaVault } from './delinea.js';
import { azureKeyVault } from './azure-key-vault.js';
import { gcpSecretManager } from './gcp-secret-manager.js';
import { hashicorpVault } from './hashicorp.js';

export const vaultAdapters: Record<VaultType, VaultAdapter> = {
  hashicorp: hashicorpVault,
  'aws-secrets-manager': awsSecretsManagerVault,
  beyondtrust: beyondtrustVault,
  'cyberark-ccp': cyberarkCcpVault,
  'cyberark-conjur': cyberarkConjurVault,
  delinea: delineaVault,
  'azure-key-vault': azureKeyVault,
  'gcp-secret-manager': gcpSecretManager,
};

export function getVaultAdapter(type: string): VaultAdapter | undefined {
  return Object.prototype.hasOwnProperty.call(vaultAdapters, type) ? vaultAdapters[type as VaultType] : undefined;
}
