// The vault types this build supports, by name (domain/categories.ts lists the names). A new
// type: its spec file here, its adapter in activities/vault/, one line in each registry.
import type { VaultType } from '../domain/categories.js';
import { awsSecretsManagerSpec } from './aws-secrets-manager.js';
import { beyondtrustSpec } from './beyondtrust.js';
import { cyberarkCcpSpec } from './cyberark-ccp.js';
import { cyberarkConjurSpec } from './cyberark-conjur.js';
import { delineaSpec } from './delinea.js';
import { azureKeyVaultSpec } from './azure-key-vault.js';
import { gcpSecretManagerSpec } from './gcp-secret-manager.js';
import { hashicorpSpec } from './hashicorp.js';
import type { VaultTypeSpec } from './spec.js';

export const VAULT_TYPE_SPECS: Record<VaultType, VaultTypeSpec> = {
  hashicorp: hashicorpSpec,
  'aws-secrets-manager': awsSecretsManagerSpec,
  beyondtrust: beyondtrustSpec,
  'cyberark-ccp': cyberarkCcpSpec,
  'cyberark-conjur': cyberarkConjurSpec,
  delinea: delineaSpec,
  'azure-key-vault': azureKeyVaultSpec,
  'gcp-secret-manager': gcpSecretManagerSpec,
};

export function vaultTypeSpec(type: string): VaultTypeSpec | undefined {
  return Object.prototype.hasOwnProperty.call(VAULT_TYPE_SPECS, type) ? VAULT_TYPE_SPECS[type as VaultType] : undefined;
}

export type { ValidationProblem, VaultTypeSpec } from './spec.js';
