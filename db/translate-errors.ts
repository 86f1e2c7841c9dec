// Turns the database's constraint violations into the typed errors of db/errors.ts, naming the
// API field at fault. Works for postgres.js and PGlite errors, also when drizzle wraps them.
import { ConflictError, InUseError, InvalidReferenceError, InvalidValueError } from './errors.js';

interface UniqueRule {
  field: string;
  /** "an appliance", "a vault record"… */
  what: string;
}

export const UNIQUE_CONSTRAINTS: Record<string, UniqueRule> = {
  appliances_name_unique: { field: 'name', what: 'an appliance' },
  vault_records_name_unique: { field: 'name', what: 'a vault record' },
  auth_records_name_unique: { field: 'name', what: 'an authentication record' },
  option_profiles_name_unique: { field: 'name', what: 'an option profile' },
  option_profiles_one_default: { field: 'isDefault', what: 'a default option profile' },
  host_results_scan_ip_technology: { field: 'ip', what: 'a result for this host and technology' },
  host_attempts_result_attempt: { field: 'attemptNo', what: 'an attempt with this number' },
  known_host_keys_endpoint_unique: { field: 'ip', what: 'a pinned host key for this address and port' },
  api_keys_name_unique: { field: 'name', what: 'an API key' },
  asset_groups_name_unique: { field: 'name', what: 'an asset group' },
  tags_name_unique: { field: 'name', what: 'a tag' },
  asset_tags_tag_id_asset_id_pk: { field: 'assetIds', what: 'this asset with the tag' },
  asset_group_members_group_id_asset_id_pk: { field: 'assetIds', what: 'this asset in the group' },
  schedules_name_unique: { field: 'name', what: 'a schedule' },
  // One scan per scheduled run: a retried run step finds its scan instead of making a second.
  scans_schedule_run_id_unique: { field: 'scheduleRunId', what: 'a scan of this scheduled run' },
  // Random 256-bit values: a clash is never a user's doing, but is still named rather than a 500.
  api_keys_key_hash_unique: { field: 'key', what: 'an API key with this value' },
  api_sessions_token_hash_unique: { field: 'session', what: 'a session with this token' },
  enrolment_codes_code_hash_unique: { field: 'code', what: 'an enrolment code with this value' },
};

interface ForeignKeyRule {
  /** The referencing field, as the API names it. */
  field: string;
  /** The referenced entity. */
  entity: string;
  /** Why the referenced row cannot be deleted. */
  inUse: string;
}

export const FOREIGN_KEYS: Record<string, ForeignKeyRule> = {
  auth_records_vault_id_vault_records_id_fk: {
    field: 'vaultId',
    entity: 'vault record',
    inUse: 'the vault record is used by authentication records; delete them or point them at another vault first',
  },
  auth_records_root_vault_id_vault_records_id_fk: {
    field: 'rootDelegation.vaultId',
    entity: 'vault record',
    inUse:
      'the vault record holds the root-delegation password of authentication records; point their rootDelegation elsewhere first',
  },
  asset_tags_asset_id_assets_id_fk: { field: 'assetIds', entity: 'asset', inUse: 'the asset has tags' },
  asset_tags_tag_id_tags_id_fk: { field: 'tagId', entity: 'tag', inUse: 'the tag is on assets' },
  asset_group_members_asset_id_assets_id_fk: { field: 'assetIds', entity: 'asset', inUse: 'the asset is in groups' },
  asset_group_members_group_id_asset_groups_id_fk: {
    field: 'groupId',
    entity: 'asset group',
    inUse: 'the group has members',
  },
  scans_option_profile_id_option_profiles_id_fk: {
    field: 'optionProfileId',
    entity: 'option profile',
    inUse: 'the option profile is used by scans',
  },
  scans_appliance_id_appliances_id_fk: { field: 'applianceId', entity: 'appliance', inUse: 'the appliance has scans' },
  scan_appliances_appliance_id_appliances_id_fk: {
    field: 'applianceIds',
    entity: 'appliance',
    inUse: 'the appliance is in the appliance pool of scans',
  },
  scan_appliances_scan_id_scans_id_fk: { field: 'scanId', entity: 'scan', inUse: 'the scan has an appliance pool' },
  schedule_appliances_appliance_id_appliances_id_fk: {
    field: 'scan.applianceIds',
    entity: 'appliance',
    inUse: 'the appliance is in the appliance pool of schedules: take it out of their scan.applianceIds (PATCH) first',
  },
  schedule_appliances_schedule_id_schedules_id_fk: {
    field: 'scheduleId',
    entity: 'schedule',
    inUse: 'the schedule has an appliance pool',
  },
  scans_schedule_id_schedules_id_fk: { field: 'scheduleId', entity: 'schedule', inUse: 'the schedule has scans' },
  schedules_option_profile_id_option_profiles_id_fk: {
    field: 'scan.optionProfileId',
    entity: 'option profile',
    inUse: 'the option profile is named by schedules: point their scan.optionProfileId elsewhere (PATCH) first',
  },
  schedules_appliance_id_appliances_id_fk: {
    field: 'scan.applianceId',
    entity: 'appliance',
    inUse: 'the appliance is named by schedules: point their scan.applianceId elsewhere (PATCH) first',
  },
  host_results_scan_id_scans_id_fk: { field: 'scanId', entity: 'scan', inUse: 'the scan has results' },
  host_results_auth_record_id_auth_records_id_fk: {
    field: 'authRecordId',
    entity: 'authentication record',
    inUse: 'the authentication record has results',
  },
  host_attempts_result_id_host_results_id_fk: {
    field: 'resultId',
    entity: 'host result',
    inUse: 'the host result has attempts',
  },
  api_sessions_api_key_id_api_keys_id_fk: { field: 'apiKeyId', entity: 'API key', inUse: 'the API key has sessions' },
  enrolment_codes_appliance_id_appliances_id_fk: {
    field: 'applianceId',
    entity: 'appliance',
    inUse: 'the appliance has enrolment codes',
  },
  known_host_keys_learned_in_scan_id_scans_id_fk: {
    field: 'learnedInScanId',
    entity: 'scan',
    inUse: 'the scan learned host keys',
  },
};

export const CHECK_CONSTRAINTS: Record<string, { field: string; reason: string }> = {
  tags_kind_check: { field: 'kind', reason: "must be 'static' or 'dynamic'" },
  tags_rule_check: { field: 'rule', reason: 'a dynamic tag has a rule, a static one none' },
  asset_groups_business_impact_check: {
    field: 'businessImpact',
    reason: 'must be critical, high, medium, low or minor',
  },
  assets_kind_check: { field: 'kind', reason: "must be 'ip', 'range' or 'cidr'" },
  assets_ip_version_check: { field: 'value', reason: 'must be an IPv4 or IPv6 target' },
  auth_records_port_check: { field: 'port', reason: 'must be between 1 and 65535' },
  auth_records_root_delegation_check: { field: 'rootDelegation', reason: 'needs vaultId, locator and field together' },
  option_profiles_parallel_check: { field: 'maxParallelHosts', reason: 'must be at least 1' },
  option_profiles_failed_logins_check: { field: 'maxFailedLogins', reason: 'must be at least 1' },
  scans_status_check: { field: 'status', reason: 'is not a scan status' },
  host_results_category_check: { field: 'category', reason: 'is not a report category' },
  known_host_keys_port_check: { field: 'port', reason: 'must be between 1 and 65535' },
  api_keys_role_check: { field: 'role', reason: 'must be admin, operator or auditor' },
  audit_events_outcome_check: { field: 'outcome', reason: 'is not an audit outcome' },
};

export const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';
// PostgreSQL 17 (and so PGlite) reports ON DELETE RESTRICT with its own code.
const RESTRICT_VIOLATION = '23001';
const CHECK_VIOLATION = '23514';

/** SQLSTATE and constraint name of a PostgreSQL error, looking through wrappers' `cause`. */
export function pgErrorOf(err: unknown): { code: string; constraint?: string } | undefined {
  for (
    let e: unknown = err, depth = 0;
    e && typeof e === 'object' && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const fields = e as { code?: unknown; constraint_name?: unknown; constraint?: unknown };
    if (typeof fields.code === 'string' && /^[0-9A-Z]{5}$/.test(fields.code)) {
      const constraint = fields.constraint_name ?? fields.constraint;
      return { code: fields.code, constraint: typeof constraint === 'string' ? constraint : undefined };
    }
  }
  return undefined;
}

export interface ErrorContext {
  /** 'delete' turns a foreign-key violation into "still in use"; otherwise it is a bad reference. */
  operation: 'write' | 'delete';
  /** The unique name the caller tried to use, to quote it back. */
  name?: string;
}

/** The typed error for a constraint violation, or the original error when it is something else. */
export function translateDbError(err: unknown, context: ErrorContext): unknown {
  const pg = pgErrorOf(err);
  if (!pg?.constraint) return err;
  if (pg.code === UNIQUE_VIOLATION) {
    const rule = UNIQUE_CONSTRAINTS[pg.constraint];
    if (!rule) return err;
    const named = rule.field === 'name' && context.name !== undefined ? ` named "${context.name}"` : '';
    return new ConflictError(`${rule.field}: ${rule.what}${named} already exists`, rule.field);
  }
  if (pg.code === FOREIGN_KEY_VIOLATION || pg.code === RESTRICT_VIOLATION) {
    const rule = FOREIGN_KEYS[pg.constraint];
    if (!rule) return err;
    const stillReferenced = pg.code === RESTRICT_VIOLATION || context.operation === 'delete';
    return stillReferenced ? new InUseError(rule.inUse) : new InvalidReferenceError(rule.field, rule.entity);
  }
  if (pg.code === CHECK_VIOLATION) {
    const rule = CHECK_CONSTRAINTS[pg.constraint];
    return rule ? new InvalidValueError(rule.field, rule.reason) : err;
  }
  return err;
}

/** Runs a statement (or a transaction) and rethrows its constraint violations as typed errors. */
export async function withDbErrors<T>(context: ErrorContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw translateDbError(err, context);
  }
}
