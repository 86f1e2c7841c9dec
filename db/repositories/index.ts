// The repositories, one per aggregate. Each function takes the database (or a transaction) first.
export { assetRepo, type Asset, type AssetInput } from './assets.js';
export { applianceRepo, type Appliance, type ApplianceInput } from './appliances.js';
export { vaultRepo, vaultAad, type VaultInput, type VaultPatch, type VaultRecord } from './vaults.js';
export {
  authRecordRepo,
  rootDelegationOf,
  type AuthRecord,
  type AuthRecordInput,
  type RootDelegation,
} from './auth-records.js';
export {
  profileRepo,
  profileSettings,
  DEFAULT_PROFILE,
  DEFAULT_PROFILE_NAME,
  type OptionProfile,
  type ProfileInput,
} from './option-profiles.js';
export { scanRepo, type Scan, type ScanInput, type ScanStatus, type ScheduledScanRef } from './scans.js';
export {
  scheduleRepo,
  scheduledScanRequest,
  type Schedule,
  type ScheduleInput,
  type ScheduleRefusal,
  type ScheduledScanRequest,
} from './schedules.js';
export {
  resultRepo,
  type AttemptView,
  type HostResult,
  type HostResultInput,
  type PackageRow,
  type ReportRow,
  type ResultFilter,
  type ResultView,
  type SkippedHost,
} from './results.js';
export { DEFAULT_PAGE_SIZE, type KeysetPage, type Paged } from './shared.js';
export {
  knownHostKeyRepo,
  normaliseFingerprint,
  type KnownHostKey,
  type KnownHostKeyInput,
} from './known-host-keys.js';
export { apiKeyRepo, hashSecretToken, type ApiKey, type ApiKeyInput, type KeyRefusal } from './api-keys.js';
export { apiSessionRepo } from './api-sessions.js';
export {
  auditChainKeys,
  auditRepo,
  type AuditEntry,
  type AuditEvent,
  type AuditFilter,
  type AuditVerdict,
} from './audit.js';
export { assetGroupRepo, MAX_GROUP_ASSETS, type AssetGroup, type AssetGroupInput } from './asset-groups.js';
export { tagRepo, type Tag, type TagInput } from './tags.js';
