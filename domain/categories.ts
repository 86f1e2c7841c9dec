/** The Authentication Report's verdict for one host and one technology. */
export const REPORT_CATEGORIES = [
  'PASSED',
  'INSUFFICIENT_PRIVILEGES',
  'FAILED',
  'NOT_ATTEMPTED',
  'UNREACHABLE',
] as const;
export type ReportCategory = (typeof REPORT_CATEGORIES)[number];

export const TECHNOLOGIES = ['unix'] as const;
export type Technology = (typeof TECHNOLOGIES)[number];

export const VAULT_TYPES = ['hashicorp'] as const;
export type VaultType = (typeof VAULT_TYPES)[number];
