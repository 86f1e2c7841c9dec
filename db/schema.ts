// The database schema (drizzle, PostgreSQL dialect): one schema for PostgreSQL and PGlite.
// After editing, run `npx drizzle-kit generate` to add a migration under db/migrations/.
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { BUSINESS_IMPACTS, REPORT_CATEGORIES } from '../domain/categories.js';
import { API_ROLES } from '../domain/roles.js';
import type { CredentialFieldNames } from '../domain/secret-fields.js';
import { TAG_KINDS, type TagRule } from '../domain/tag-rules.js';
import type { ProfileSettings } from '../domain/scan-types.js';
import type { IpRange } from '../domain/targets.js';

export const SCAN_STATUSES = ['QUEUED', 'RUNNING', 'FINISHED', 'CANCELED', 'FAILED'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];

export const ASSET_KINDS = ['ip', 'range', 'cidr'] as const;

const oneOf = (values: readonly string[]) => sql.raw(values.map((v) => `'${v}'`).join(', '));
const id = () =>
  uuid('id')
    .primaryKey()
    .default(sql`gen_random_uuid()`);
const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => at('created_at').notNull().defaultNow();
const updatedAt = () =>
  at('updated_at')
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date());

export const assets = pgTable(
  'assets',
  {
    id: id(),
    name: text('name').notNull(),
    kind: text('kind', { enum: ASSET_KINDS }).notNull(),
    /** The entry as the user typed it. */
    value: text('value').notNull(),
    firstIp: text('first_ip').notNull(),
    lastIp: text('last_ip').notNull(),
    ipVersion: integer('ip_version').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('assets_kind_check', sql`${t.kind} in (${oneOf(ASSET_KINDS)})`),
    check('assets_ip_version_check', sql`${t.ipVersion} in (4, 6)`),
  ],
);

/** A named set of assets, with its business impact: a target of scans and schedules. */
export const assetGroups = pgTable(
  'asset_groups',
  {
    id: id(),
    name: text('name').notNull().unique(),
    businessImpact: text('business_impact', { enum: BUSINESS_IMPACTS }).notNull(),
    description: text('description').notNull().default(''),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [check('asset_groups_business_impact_check', sql`${t.businessImpact} in (${oneOf(BUSINESS_IMPACTS)})`)],
);

/** A group's assets. An asset deleted leaves its groups; a group deleted frees its assets. */
export const assetGroupMembers = pgTable(
  'asset_group_members',
  {
    groupId: uuid('group_id')
      .notNull()
      .references(() => assetGroups.id, { onDelete: 'cascade' }),
    assetId: uuid('asset_id')
      .notNull()
      .references(() => assets.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.groupId, t.assetId] }), index('asset_group_members_asset_idx').on(t.assetId)],
);

/**
 * A tag: static (put on assets by hand) or dynamic (a rule over addresses, asset names and what
 * the last scan saw, evaluated when asked: a scan of the tag covers what matches when it starts).
 */
export const tags = pgTable(
  'tags',
  {
    id: id(),
    name: text('name').notNull().unique(),
    kind: text('kind', { enum: TAG_KINDS }).notNull(),
    rule: jsonb('rule').$type<TagRule>(),
    description: text('description').notNull().default(''),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    check('tags_kind_check', sql`${t.kind} in (${oneOf(TAG_KINDS)})`),
    check('tags_rule_check', sql`(${t.kind} = 'dynamic') = (${t.rule} is not null)`),
  ],
);

/** The assets a static tag is on. */
export const assetTags = pgTable(
  'asset_tags',
  {
    tagId: uuid('tag_id')
      .notNull()
      .references(() => tags.id, { onDelete: 'cascade' }),
    assetId: uuid('asset_id')
      .notNull()
      .references(() => assets.id, { onDelete: 'cascade' }),
  },
  (t) => [primaryKey({ columns: [t.tagId, t.assetId] }), index('asset_tags_asset_idx').on(t.assetId)],
);

export const appliances = pgTable('appliances', {
  id: id(),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  /**
   * The appliance's HPKE public key (X25519, raw, base64), presented once with an enrolment
   * code. Vault access secrets are sealed to it; its private key never leaves the appliance.
   */
  publicKey: text('public_key'),
  /** Short fingerprint of publicKey, carried by every sealed secret to name the key it needs. */
  keyId: text('key_id'),
  enrolledAt: at('enrolled_at'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** One-time, expiring codes with which an appliance process enrols its public key. */
export const enrolmentCodes = pgTable(
  'enrolment_codes',
  {
    id: id(),
    applianceId: uuid('appliance_id')
      .notNull()
      .references(() => appliances.id, { onDelete: 'cascade' }),
    /** SHA-256 of the code (hex): the code is shown once and never stored. */
    codeHash: text('code_hash').notNull().unique(),
    expiresAt: at('expires_at').notNull(),
    usedAt: at('used_at'),
    createdAt: createdAt(),
  },
  (t) => [index('enrolment_codes_appliance_idx').on(t.applianceId)],
);

export const vaultRecords = pgTable('vault_records', {
  id: id(),
  name: text('name').notNull().unique(),
  type: text('type').notNull(),
  /** Type-specific settings that are not secret (address, auth method, namespace…). */
  config: jsonb('config').$type<Record<string, unknown>>().notNull(),
  /** The scanner's own access secret for this vault, sealed by SecretBox (db/crypto.ts). */
  accessCiphertext: text('access_ciphertext').notNull(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const authRecords = pgTable(
  'auth_records',
  {
    id: id(),
    name: text('name').notNull().unique(),
    technology: text('technology').notNull(),
    /** The target spec as entered; `ranges` is its parsed, merged form. */
    targets: text('targets').notNull(),
    ranges: jsonb('ranges').$type<IpRange[]>().notNull(),
    username: text('username').notNull(),
    port: integer('port').notNull(),
    // RESTRICT: a vault still used by a record cannot be deleted.
    vaultId: uuid('vault_id')
      .notNull()
      .references(() => vaultRecords.id, { onDelete: 'restrict' }),
    locator: jsonb('locator').$type<Record<string, unknown>>().notNull(),
    fields: jsonb('fields').$type<CredentialFieldNames>().notNull(),
    // Root delegation from another vault record's item (all three, or none). RESTRICT: that
    // vault cannot be deleted while a record takes its root password from it.
    rootVaultId: uuid('root_vault_id').references(() => vaultRecords.id, { onDelete: 'restrict' }),
    rootLocator: jsonb('root_locator').$type<Record<string, unknown>>(),
    rootField: text('root_field'),
    /** The technology's own settings (technologies/<name>.ts), checked by the API. */
    settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('auth_records_vault_idx').on(t.vaultId),
    index('auth_records_root_vault_idx').on(t.rootVaultId),
    check(
      'auth_records_root_delegation_check',
      sql`(${t.rootVaultId} is null) = (${t.rootLocator} is null) and (${t.rootVaultId} is null) = (${t.rootField} is null)`,
    ),
    check('auth_records_port_check', sql`${t.port} between 1 and 65535`),
  ],
);

export const optionProfiles = pgTable(
  'option_profiles',
  {
    id: id(),
    name: text('name').notNull().unique(),
    technologies: text('technologies').array().notNull(),
    maxParallelHosts: integer('max_parallel_hosts').notNull(),
    timeouts: jsonb('timeouts').$type<ProfileSettings['timeouts']>().notNull(),
    retry: jsonb('retry').$type<ProfileSettings['retry']>().notNull(),
    /** Failed logins in a row after which a credential is not tried again in a scan. */
    maxFailedLogins: integer('max_failed_logins').notNull().default(3),
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // At most one default profile.
    uniqueIndex('option_profiles_one_default')
      .on(t.isDefault)
      .where(sql`is_default`),
    check('option_profiles_parallel_check', sql`${t.maxParallelHosts} > 0`),
    check('option_profiles_failed_logins_check', sql`${t.maxFailedLogins} > 0`),
  ],
);

/** Why a scheduled run started no scan: the request no longer held when the run came. */
export interface ScheduleRefusal {
  /** When the run was refused (ISO 8601). */
  at: string;
  /** The run's workflow id, as the schedule's recent actions name it. */
  runWorkflowId: string;
  /** The field of the stored scan request at fault ("targets", "applianceId"…), and why. */
  field: string;
  reason: string;
}

/**
 * Recurring scans. When and whether a schedule runs (cron, intervals, time zone, paused, next
 * and recent runs) lives in the Temporal Schedule `schedule-<id>` alone: the API and the Web UI
 * read the same. This row is what each run starts a scan from, and what scans refer to.
 */
/** What a schedule's scans target besides addresses: ids of assets and groups, tags by id or name. */
export interface ScheduleTargetSets {
  assetIds?: string[];
  groupIds?: string[];
  tags?: string[];
}

export const schedules = pgTable(
  'schedules',
  {
    id: id(),
    name: text('name').notNull().unique(),
    /** The scan request each run makes, as entered; every run checks it again, as POST /scans would. */
    title: text('title').notNull(),
    /** Addresses as entered; null when the request names only assets, groups or tags. */
    targets: text('targets'),
    /** The assets, groups and tags the request names (resolved again at each run). */
    targetSets: jsonb('target_sets').$type<ScheduleTargetSets>().notNull().default({}),
    // Null: the default profile and the first appliance at the time of each run. RESTRICT: a
    // profile or appliance a schedule names is not deleted from under it.
    optionProfileId: uuid('option_profile_id').references(() => optionProfiles.id, { onDelete: 'restrict' }),
    applianceId: uuid('appliance_id').references(() => appliances.id, { onDelete: 'restrict' }),
    lastRefusal: jsonb('last_refusal').$type<ScheduleRefusal>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('schedules_option_profile_idx').on(t.optionProfileId),
    index('schedules_appliance_idx').on(t.applianceId),
  ],
);

export const scans = pgTable(
  'scans',
  {
    id: id(),
    title: text('title').notNull(),
    /** The target spec as entered; `ranges` is its parsed, merged form. */
    targets: text('targets').notNull(),
    ranges: jsonb('ranges').$type<IpRange[]>().notNull(),
    hostCount: integer('host_count').notNull(),
    optionProfileId: uuid('option_profile_id')
      .notNull()
      .references(() => optionProfiles.id, { onDelete: 'restrict' }),
    applianceId: uuid('appliance_id')
      .notNull()
      .references(() => appliances.id, { onDelete: 'restrict' }),
    status: text('status', { enum: SCAN_STATUSES }).notNull().default('QUEUED'),
    /** Why a scan ended as it did, when it did not simply finish (FAILED, CANCELED from elsewhere). */
    statusReason: text('status_reason'),
    workflowId: text('workflow_id'),
    /** The schedule whose run started the scan; SET NULL: a scan outlives its schedule. */
    scheduleId: uuid('schedule_id').references(() => schedules.id, { onDelete: 'set null' }),
    /** That run's workflow id (`schedule-<id>-<time>`): one scan per run, however often its step is retried. */
    scheduleRunId: text('schedule_run_id').unique(),
    createdAt: createdAt(),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
    summary: jsonb('summary').$type<Record<string, number>>(),
  },
  (t) => [
    index('scans_created_idx').on(t.createdAt.desc()),
    index('scans_option_profile_idx').on(t.optionProfileId),
    index('scans_appliance_idx').on(t.applianceId),
    index('scans_schedule_idx').on(t.scheduleId, t.createdAt.desc()),
    check('scans_status_check', sql`${t.status} in (${oneOf(SCAN_STATUSES)})`),
  ],
);

/**
 * The appliances a scan may run its batches on, in the order named (the first is the scan's
 * applianceId). A pool of one is the common case. RESTRICT: an appliance a scan ran on stays.
 */
export const scanAppliances = pgTable(
  'scan_appliances',
  {
    scanId: uuid('scan_id')
      .notNull()
      .references(() => scans.id, { onDelete: 'cascade' }),
    applianceId: uuid('appliance_id')
      .notNull()
      .references(() => appliances.id, { onDelete: 'restrict' }),
    position: integer('position').notNull(),
  },
  (t) => [primaryKey({ columns: [t.scanId, t.applianceId] }), index('scan_appliances_appliance_idx').on(t.applianceId)],
);

/**
 * A schedule's appliance pool, in the order named; none: the first registered appliance at each
 * run. RESTRICT: an appliance a schedule names is not deleted from under it.
 */
export const scheduleAppliances = pgTable(
  'schedule_appliances',
  {
    scheduleId: uuid('schedule_id')
      .notNull()
      .references(() => schedules.id, { onDelete: 'cascade' }),
    applianceId: uuid('appliance_id')
      .notNull()
      .references(() => appliances.id, { onDelete: 'restrict' }),
    position: integer('position').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.scheduleId, t.applianceId] }),
    index('schedule_appliances_appliance_idx').on(t.applianceId),
  ],
);

export const hostResults = pgTable(
  'host_results',
  {
    id: id(),
    scanId: uuid('scan_id')
      .notNull()
      .references(() => scans.id, { onDelete: 'cascade' }),
    ip: text('ip').notNull(),
    /** The address as a 128-bit number, so results list in numeric, not text, order. */
    ipKey: numeric('ip_key', { precision: 39, scale: 0 }).notNull(),
    technology: text('technology').notNull(),
    category: text('category', { enum: REPORT_CATEGORIES }).notNull(),
    errorCode: text('error_code'),
    vendorCode: text('vendor_code'),
    cause: text('cause'),
    login: text('login'),
    // Results outlive the record that produced them.
    authRecordId: uuid('auth_record_id').references(() => authRecords.id, { onDelete: 'set null' }),
    facts: jsonb('facts').$type<Record<string, string>>(),
    packageCount: integer('package_count').notNull().default(0),
    /** What a reviewer should know about how this result was obtained, e.g. VAULT_PLAIN_HTTP. */
    flags: text('flags')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    finishedAt: at('finished_at').notNull().defaultNow(),
  },
  (t) => [
    unique('host_results_scan_ip_technology').on(t.scanId, t.ip, t.technology),
    index('host_results_scan_order_idx').on(t.scanId, t.ipKey, t.technology),
    index('host_results_scan_category_idx').on(t.scanId, t.category, t.ipKey),
    index('host_results_auth_record_idx').on(t.authRecordId),
    check('host_results_category_check', sql`${t.category} in (${oneOf(REPORT_CATEGORIES)})`),
  ],
);

export const hostAttempts = pgTable(
  'host_attempts',
  {
    resultId: uuid('result_id')
      .notNull()
      .references(() => hostResults.id, { onDelete: 'cascade' }),
    attemptNo: integer('attempt_no').notNull(),
    code: text('code'),
    vendorCode: text('vendor_code'),
    httpStatus: integer('http_status'),
    message: text('message'),
    at: at('at').notNull(),
  },
  (t) => [primaryKey({ name: 'host_attempts_result_attempt', columns: [t.resultId, t.attemptNo] })],
);

/**
 * A host's package inventory. No row-level foreign key: checking one per package made two
 * thirds of publishing's database time (a Debian host has ~1,500). Rows are only written with
 * the id of the result written in the same transaction, and a statement-level trigger on
 * host_results (migration 0002) deletes them with their result, as a cascade would.
 */
export const hostPackages = pgTable(
  'host_packages',
  {
    resultId: uuid('result_id').notNull(),
    name: text('name').notNull(),
    version: text('version').notNull(),
    arch: text('arch').notNull(),
  },
  (t) => [index('host_packages_result_idx').on(t.resultId)],
);

/**
 * SSH host keys pinned per address and port: learned on the first successful login (trust on
 * first use) or registered by an operator. A later login that meets another key stops before
 * any credential is sent (HOST_KEY_MISMATCH).
 */
export const knownHostKeys = pgTable(
  'known_host_keys',
  {
    id: id(),
    ip: text('ip').notNull(),
    port: integer('port').notNull(),
    /** SHA-256 of the key blob, unpadded base64 (as `ssh-keygen -lf` prints after "SHA256:"). */
    sha256: text('sha256').notNull(),
    source: text('source', { enum: ['learned', 'operator'] }).notNull(),
    /** The scan that learned it; null when an operator registered it. */
    learnedInScanId: uuid('learned_in_scan_id').references(() => scans.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('known_host_keys_endpoint_unique').on(t.ip, t.port),
    check('known_host_keys_port_check', sql`${t.port} between 1 and 65535`),
  ],
);

/** API keys: each carries one role. Only a hash of the key is kept; the key is shown once. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: id(),
    name: text('name').notNull().unique(),
    role: text('role', { enum: API_ROLES }).notNull(),
    /** SHA-256 of the key (hex). */
    keyHash: text('key_hash').notNull().unique(),
    /** The key's first characters, so a person can tell keys apart in a list. */
    keyPrefix: text('key_prefix').notNull(),
    createdAt: createdAt(),
    expiresAt: at('expires_at'),
    lastUsedAt: at('last_used_at'),
    revokedAt: at('revoked_at'),
    /** The key that created this one (null for the first admin key). */
    createdByKeyId: uuid('created_by_key_id'),
  },
  (t) => [check('api_keys_role_check', sql`${t.role} in (${oneOf(API_ROLES)})`)],
);

/** Browser sessions opened at /login with an API key; they end with the key. */
export const apiSessions = pgTable(
  'api_sessions',
  {
    id: id(),
    /** SHA-256 of the cookie's value (hex). */
    tokenHash: text('token_hash').notNull().unique(),
    apiKeyId: uuid('api_key_id')
      .notNull()
      .references(() => apiKeys.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: at('expires_at').notNull(),
  },
  (t) => [index('api_sessions_key_idx').on(t.apiKeyId)],
);

export const AUDIT_OUTCOMES = ['success', 'denied', 'rejected', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * The audit trail: append-only (a trigger refuses UPDATE, DELETE and TRUNCATE, migration 0003)
 * and hash-chained: each row's hash covers its content and the previous row's hash, so a row
 * altered or deleted behind the database's back breaks the chain at that row. Never holds a
 * secret value: actions, ids, outcomes and codes only.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    at: at('at').notNull(),
    /** The API key that acted; null for the system (a scan's vault reads, the first start). */
    actorKeyId: uuid('actor_key_id'),
    actorName: text('actor_name').notNull(),
    /** "POST /api/v1/vaults", "vault.read", "appliance.enrol"… */
    action: text('action').notNull(),
    recordId: text('record_id'),
    scanId: uuid('scan_id'),
    applianceId: uuid('appliance_id'),
    clientIp: text('client_ip'),
    outcome: text('outcome', { enum: AUDIT_OUTCOMES }).notNull(),
    /** The HTTP status of an API call. */
    status: integer('status'),
    /** Non-secret particulars: field names changed, locator, hosts served, error code… */
    detail: jsonb('detail').$type<Record<string, unknown>>().notNull(),
    /** The master key the row's MAC key was derived from (keys rotate; old ones still verify). */
    keyId: text('key_id').notNull(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    index('audit_events_at_idx').on(t.at),
    index('audit_events_actor_idx').on(t.actorKeyId, t.seq),
    index('audit_events_record_idx').on(t.recordId, t.seq),
    index('audit_events_scan_idx').on(t.scanId, t.seq),
    check('audit_events_outcome_check', sql`${t.outcome} in (${oneOf(AUDIT_OUTCOMES)})`),
  ],
);
