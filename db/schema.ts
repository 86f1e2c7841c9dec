// The database schema (drizzle, PostgreSQL dialect): one schema for PostgreSQL and PGlite.
// After editing, run `npx drizzle-kit generate` to add a migration under db/migrations/.
import { sql } from 'drizzle-orm';
import {
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
import { REPORT_CATEGORIES } from '../domain/categories.js';
import type { ProfileSettings } from '../domain/scan-types.js';
import type { IpRange } from '../domain/targets.js';

export const SCAN_STATUSES = ['QUEUED', 'RUNNING', 'FINISHED', 'CANCELED', 'FAILED'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];

export const ASSET_KINDS = ['ip', 'range', 'cidr'] as const;

/** Names of the vault item's fields that hold each kind of target secret — names, not values. */
export interface CredentialFieldNames {
  password?: string;
  privateKey?: string;
  passphrase?: string;
}

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

export const appliances = pgTable('appliances', {
  id: id(),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

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
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index('auth_records_vault_idx').on(t.vaultId),
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
    workflowId: text('workflow_id'),
    createdAt: createdAt(),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
    summary: jsonb('summary').$type<Record<string, number>>(),
  },
  (t) => [
    index('scans_created_idx').on(t.createdAt.desc()),
    index('scans_option_profile_idx').on(t.optionProfileId),
    index('scans_appliance_idx').on(t.applianceId),
    check('scans_status_check', sql`${t.status} in (${oneOf(SCAN_STATUSES)})`),
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
