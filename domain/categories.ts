/** The Authentication Report's verdict for one host and one technology. */
export const REPORT_CATEGORIES = [
  'PASSED',
  'INSUFFICIENT_PRIVILEGES',
  'FAILED',
  'NOT_ATTEMPTED',
  'UNREACHABLE',
] as const;
export type ReportCategory = (typeof REPORT_CATEGORIES)[number];

/** How much the business loses if a group's assets are compromised (the scale Qualys uses). */
export const BUSINESS_IMPACTS = ['critical', 'high', 'medium', 'low', 'minor'] as const;
export type BusinessImpact = (typeof BUSINESS_IMPACTS)[number];

export const TECHNOLOGIES = ['unix', 'postgresql', 'mysql'] as const;
export type Technology = (typeof TECHNOLOGIES)[number];

export const VAULT_TYPES = [
  'hashicorp',
  'aws-secrets-manager',
  'beyondtrust',
  'cyberark-ccp',
  'cyberark-conjur',
  'delinea',
  'azure-key-vault',
  'gcp-secret-manager',
] as const;
export type VaultType = (typeof VAULT_TYPES)[number];

/**
 * The target secrets a technology can log in with (any one of them): a vault type serves the
 * technologies whose login secrets it can supply. A database logs in with its password alone:
 * no key, no passphrase, no root delegation (an authentication record naming one is refused).
 */
export const TECHNOLOGY_LOGIN_SECRETS = {
  unix: ['password', 'privateKey'],
  postgresql: ['password'],
  mysql: ['password'],
} as const satisfies Record<Technology, readonly ('password' | 'privateKey')[]>;
