// Request and response schemas: validation (400 naming the field) and the OpenAPI document.
import { Type, type TSchema } from '@fastify/type-provider-typebox';
import {
  BUSINESS_IMPACTS,
  TECHNOLOGIES,
  REPORT_CATEGORIES,
  VAULT_TYPES,
  type VaultType,
} from '../domain/categories.js';
import { MAX_GROUP_ASSETS } from '../db/repositories/asset-groups.js';
import { TAG_KINDS, TAG_OUTCOMES, type TagOutcome } from '../domain/tag-rules.js';
import { SECRET_FIELDS, SECRET_FIELD_NAMES } from '../domain/secret-fields.js';
import { VAULT_TYPE_SPECS, type VaultTypeSpec } from '../vault-types/index.js';
import { DURATION_PATTERN, LIMITS, OVERLAP_POLICIES } from '../domain/schedule-timing.js';

const Name = Type.String({ minLength: 1, maxLength: 200 });
export const Id = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Id });
/** The most appliances a scan's pool may name. */
export const MAX_POOL_APPLIANCES = 16;

/** A list's paging parameters: `limit` (1 to `max`, `fallback` when absent) and `cursor`. */
export const paging = (max = 500, fallback = 100) => ({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: max, description: `Items per page (default ${fallback})` })),
  cursor: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 512,
      description: 'The nextCursor of the previous page of this list, with the same filters; opaque',
    }),
  ),
});
export const Page = Type.Object(paging(), { additionalProperties: false });
/** Results carry whole package inventories: smaller pages. */
export const RESULTS_PAGE = { max: 100, fallback: 50 } as const;
export const ResultsPage = Type.Object(paging(RESULTS_PAGE.max, RESULTS_PAGE.fallback), {
  additionalProperties: false,
});

/** What every list answers: a page of items, and where the next page starts. */
export const Paged = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()], {
      description: 'Pass as `cursor` for the next page; null on the last page',
    }),
  });
const Timestamps = { createdAt: Type.String(), updatedAt: Type.String() };

export const AssetBody = Type.Object(
  {
    name: Name,
    value: Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'One IP, one range a-b or one CIDR block, IPv4 or IPv6',
    }),
  },
  { additionalProperties: false },
);
export const Asset = Type.Object({
  id: Id,
  name: Type.String(),
  kind: Type.String(),
  value: Type.String(),
  ...Timestamps,
});

export const AssetGroupBody = Type.Object(
  {
    name: Name,
    businessImpact: Type.Enum(BUSINESS_IMPACTS, {
      description: 'How much the business loses if these assets are compromised',
    }),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    assetIds: Type.Array(Id, {
      maxItems: MAX_GROUP_ASSETS,
      description: 'The member assets (the whole membership: a PATCH with assetIds replaces it)',
    }),
  },
  { additionalProperties: false },
);
export const AssetGroup = Type.Object({
  id: Id,
  name: Type.String(),
  businessImpact: Type.String(),
  description: Type.String(),
  assetIds: Type.Array(Id),
  ...Timestamps,
});
export const GroupHosts = Type.Object({
  items: Type.Array(Type.String(), { description: "The addresses the group's assets cover, in order" }),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

/** One condition a host must meet: one of address, assetName, osFamily, or technology with outcome. */
const TagCondition = Type.Object(
  {
    address: Type.Optional(
      Type.String({ minLength: 1, maxLength: 2000, description: 'Its address is in these IPs, ranges or CIDRs' }),
    ),
    assetName: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: "Its asset's name matches: * any run of characters, ? one; case-insensitive",
      }),
    ),
    osFamily: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "The OS the last scan saw (/etc/os-release's ID: debian, ubuntu, rhel…)",
      }),
    ),
    technology: Type.Optional(Type.Enum(TECHNOLOGIES, { description: 'With outcome: the last scan of it' })),
    outcome: Type.Optional(
      Type.Enum(Object.keys(TAG_OUTCOMES) as TagOutcome[], {
        description: 'passed: PASSED; insufficientPrivileges; failed: FAILED or UNREACHABLE',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);
export const TagRuleSchema = Type.Object(
  {
    match: Type.Optional(Type.Enum(['all', 'any'], { description: 'all conditions (the default) or any' })),
    conditions: Type.Array(TagCondition, { minItems: 1, maxItems: 20 }),
  },
  { additionalProperties: false, description: "A dynamic tag's rule, evaluated when asked" },
);
export const TagBody = Type.Object(
  {
    name: Name,
    kind: Type.Enum(TAG_KINDS),
    description: Type.Optional(Type.String({ maxLength: 2000 })),
    assetIds: Type.Optional(
      Type.Array(Id, { maxItems: MAX_GROUP_ASSETS, description: "A static tag's assets (the whole set)" }),
    ),
    rule: Type.Optional(TagRuleSchema),
  },
  { additionalProperties: false },
);
export const Tag = Type.Object({
  id: Id,
  name: Type.String(),
  kind: Type.String(),
  description: Type.String(),
  assetIds: Type.Array(Id),
  rule: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  ...Timestamps,
});
export const AssetQuery = Type.Object(
  {
    ...paging(),
    tag: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Only assets with this tag (id or name)' }),
    ),
  },
  { additionalProperties: false },
);

export const ApplianceBody = Type.Object(
  { name: Name, description: Type.Optional(Type.String({ maxLength: 2000 })) },
  { additionalProperties: false },
);
export const Appliance = Type.Object({
  id: Id,
  name: Type.String(),
  description: Type.String(),
  taskQueue: Type.String(),
  enrolled: Type.Boolean({ description: 'Whether the appliance has enrolled its key (vault access is sealed to it)' }),
  keyId: Type.Union([Type.String(), Type.Null()], {
    description: "Fingerprint of the appliance's enrolled public key",
  }),
  enrolledAt: Type.Union([Type.String(), Type.Null()]),
  online: Type.Union([Type.Boolean(), Type.Null()], {
    description: 'Whether a worker polled its queue in the last 90 s (null: Temporal could not be asked)',
  }),
  workers: Type.Union([Type.Integer(), Type.Null()], {
    description: 'Worker processes that polled its queue in the last 90 s, read from the queue’s pollers',
  }),
  lastPollAt: Type.Union([Type.String(), Type.Null()]),
  ...Timestamps,
  enrolment: Type.Optional(
    Type.Object(
      { code: Type.String(), expiresAt: Type.String() },
      { description: 'Only in the answer to POST: the one-time code the appliance process enrols with' },
    ),
  ),
});

/**
 * Size bounds on what a vault type shapes, written as JSON. Each reaches a Temporal payload
 * (sealed into a batch's grants), so it is bounded where it enters. A config holds a URL, names
 * and a CA bundle: 64 KiB is some thirty PEM certificates. Access holds a token or AppRole
 * secret id (under 200 bytes), with room for a client certificate and key (about 6 KiB). A
 * locator names a mount, a path and a version: a few hundred bytes.
 */
export const JSON_SIZE_BOUNDS = { config: 64 * 1024, access: 16 * 1024, locator: 4 * 1024 } as const;

/** A vault type's part (config, access, locator) as the API takes it: its schema, size-bounded. */
const vaultPart = (spec: VaultTypeSpec, part: 'config' | 'access' | 'locator', description: string) =>
  Type.Object(spec[part].properties, {
    additionalProperties: false,
    title: `${spec.type} ${part}`,
    description,
    maxJsonBytes: JSON_SIZE_BOUNDS[part],
  });

const vaultBodyOf = (spec: VaultTypeSpec) =>
  Type.Object(
    {
      name: Name,
      type: Type.Literal(spec.type),
      config: vaultPart(spec, 'config', `${spec.label}: non-secret settings`),
      access: vaultPart(
        spec,
        'access',
        `${spec.label}: the scanner's own credentials for the vault, write-only, never returned`,
      ),
    },
    { additionalProperties: false, title: `${spec.label} vault record` },
  );
const vaultBodies = Type.Union(Object.values(VAULT_TYPE_SPECS).map(vaultBodyOf));

/** One body per vault type, told apart by `type`: errors name the field of that type's schema. */
export const VaultBody = Type.Unsafe<{
  name: string;
  type: VaultType;
  config: Record<string, unknown>;
  access: Record<string, unknown>;
}>({
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string', enum: VAULT_TYPES } },
  oneOf: vaultBodies.anyOf,
  discriminator: { propertyName: 'type' },
});

/** Marks a vault part whose type the request cannot name itself: documented as one of the types', checked by type (vault-parts.ts). */
export const anyVaultPart = (part: 'config' | 'access' | 'locator', description: string) =>
  Type.Record(Type.String(), Type.Unknown(), {
    description: `${description} (at most ${JSON_SIZE_BOUNDS[part]} bytes as JSON; the shape of each vault type: GET /api/v1/vault-types)`,
    maxJsonBytes: JSON_SIZE_BOUNDS[part],
    'x-vault-part': part,
  });

export const VaultPatch = Type.Object(
  {
    name: Type.Optional(Name),
    config: Type.Optional(anyVaultPart('config', "Settings of the vault's type, replacing the stored ones")),
    access: Type.Optional(anyVaultPart('access', "The scanner's own credentials, replacing the stored ones")),
  },
  { additionalProperties: false },
);
export const Vault = Type.Object({
  id: Id,
  name: Type.String(),
  type: Type.String(),
  config: Type.Record(Type.String(), Type.Unknown()),
  ...Timestamps,
});

export const CredentialFields = Type.Object(
  Object.fromEntries(
    SECRET_FIELD_NAMES.map((f) => [
      f,
      Type.Optional(
        Type.String({
          minLength: 1,
          maxLength: 256,
          description: `The item's field holding ${SECRET_FIELDS[f].description}`,
        }),
      ),
    ]),
  ),
  { additionalProperties: false, minProperties: 1, description: 'Names of the vault item fields holding each secret' },
);
/** The root-delegation password from another vault record, when the login's vault does not hold it. */
const RootDelegation = Type.Object(
  {
    vaultId: Id,
    locator: anyVaultPart('locator', "Where the root-delegation password lives in that vault, in its type's terms"),
    field: Type.String({ minLength: 1, maxLength: 256, description: "The item's field holding it" }),
  },
  {
    additionalProperties: false,
    description:
      "Take the root-delegation password (sudo) from this vault record's item instead of fields.rootPassword of the login's item",
  },
);
/** An authentication record's settings for its technology; shown per technology in the OpenAPI document. */
const technologySettings = (description: string) =>
  Type.Record(Type.String(), Type.Unknown(), {
    description: `${description} (the shape of each technology: GET /api/v1/technologies)`,
    // A database's settings may carry its CA certificate(s).
    maxJsonBytes: 32 * 1024,
    'x-technology-settings': true,
  });
export const AuthRecordBody = Type.Object(
  {
    name: Name,
    technology: Type.Enum(TECHNOLOGIES),
    targets: Type.String({ minLength: 1, maxLength: 10_000 }),
    username: Type.String({ minLength: 1, maxLength: 256 }),
    port: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 65535, description: "Default: the technology's port (unix 22)" }),
    ),
    vaultId: Id,
    locator: anyVaultPart('locator', "Where the secret lives in the vault, in the vault type's terms"),
    fields: CredentialFields,
    rootDelegation: Type.Optional(RootDelegation),
    settings: Type.Optional(technologySettings("The technology's own settings; default {}")),
  },
  { additionalProperties: false },
);
export const AuthRecordPatch = Type.Partial(
  Type.Object({
    ...Type.Omit(AuthRecordBody, ['rootDelegation']).properties,
    rootDelegation: Type.Union([RootDelegation, Type.Null()], {
      description: "Where the root-delegation password lives; null takes it from the record's own item again",
    }),
  }),
  { additionalProperties: false },
);
export const AuthRecord = Type.Object({
  id: Id,
  name: Type.String(),
  technology: Type.String(),
  targets: Type.String(),
  username: Type.String(),
  port: Type.Integer(),
  vaultId: Id,
  locator: Type.Record(Type.String(), Type.Unknown()),
  fields: Type.Record(Type.String(), Type.Unknown()),
  rootDelegation: Type.Union([
    Type.Object({ vaultId: Id, locator: Type.Record(Type.String(), Type.Unknown()), field: Type.String() }),
    Type.Null(),
  ]),
  settings: Type.Record(Type.String(), Type.Unknown()),
  ...Timestamps,
});

export const ProfileBody = Type.Object(
  {
    name: Name,
    technologies: Type.Array(Type.Enum(TECHNOLOGIES), { uniqueItems: true }),
    maxParallelHosts: Type.Integer({
      minimum: 1,
      maximum: 1000,
      description:
        'Hosts of a scan logged into at once by an appliance process; one batch more has its credentials fetched and waits for a free slot',
    }),
    timeouts: Type.Object(
      {
        connectMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
        commandMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
        vaultMs: Type.Integer({ minimum: 100, maximum: 600_000 }),
        applianceLostMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 3_600_000 })),
        heartbeatMs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 600_000 })),
        applianceUnavailableMs: Type.Optional(
          Type.Integer({
            minimum: 1000,
            maximum: 3_600_000,
            description:
              'How long a batch waits for a worker of the appliance to take it; then its hosts are NOT_ATTEMPTED (APPLIANCE_UNAVAILABLE). Default 120000',
          }),
        ),
      },
      { additionalProperties: false },
    ),
    retry: Type.Object(
      {
        maxAttempts: Type.Integer({ minimum: 1, maximum: 10 }),
        initialIntervalMs: Type.Integer({ minimum: 0, maximum: 600_000 }),
        maxIntervalMs: Type.Integer({ minimum: 0, maximum: 3_600_000 }),
      },
      { additionalProperties: false },
    ),
    maxFailedLogins: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100,
        description:
          'Failed logins in a row after which an authentication record (or a vault) is not tried again in the scan; until its credential has worked once, at most this many of its hosts are tried at a time. Default 3',
      }),
    ),
    isDefault: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export const ProfilePatch = Type.Partial(ProfileBody, { additionalProperties: false });
export const Profile = Type.Intersect([
  ProfileBody,
  Type.Object({ id: Id, isDefault: Type.Boolean(), maxFailedLogins: Type.Integer(), ...Timestamps }),
]);

const TargetNames = (what: string) =>
  Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 100, description: what }));
export const ScanBody = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 300 }),
    targets: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 10_000,
        description: 'IPs, ranges and CIDRs, comma or space separated; all inside registered assets',
      }),
    ),
    assetIds: Type.Optional(Type.Array(Id, { maxItems: 100, description: 'Registered assets, by id' })),
    groupIds: Type.Optional(
      Type.Array(Id, { maxItems: 100, description: 'Asset groups, by id: their members when the scan starts' }),
    ),
    tags: TargetNames('Tags, by id or name: what they select when the scan starts'),
    optionProfileId: Type.Optional(Id),
    applianceId: Type.Optional({ ...Id, description: 'The appliance to scan from (default: the first registered)' }),
    applianceIds: Type.Optional(
      Type.Array(Id, {
        minItems: 1,
        maxItems: MAX_POOL_APPLIANCES,
        description:
          'Instead of applianceId, a pool: hosts are spread over those of them with live workers, and a batch whose appliance goes offline moves to another',
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Name what to scan with targets, assetIds, groupIds or tags, alone or combined',
  },
);
/** GET /scans: newest first; `scheduleId` lists one schedule's scans. */
export const ScanListQuery = Type.Object(
  {
    ...paging(),
    scheduleId: Type.Optional({ ...Id, description: 'Only the scans this schedule’s runs started' }),
  },
  { additionalProperties: false },
);
const Counts = Type.Object(Object.fromEntries(REPORT_CATEGORIES.map((c) => [c, Type.Integer()])));
const SetSummary = Type.Object({
  id: Id,
  name: Type.String(),
  label: Type.String({ description: "The group's business impact, or the tag's kind" }),
  addresses: Type.Integer({ description: 'Addresses the group or tag covers now' }),
  scannedHosts: Type.Integer({ description: 'Of those, hosts this scan has a result for' }),
  passedHosts: Type.Integer({ description: 'Hosts every technology tried on PASSED' }),
  passedPercent: Type.Number({ description: 'passedHosts of scannedHosts, in percent' }),
  counts: Counts,
});
export const ScanSummary = Type.Object({
  scanId: Id,
  byGroup: Type.Array(SetSummary),
  byTag: Type.Array(SetSummary),
});
export const Scan = Type.Object({
  id: Id,
  title: Type.String(),
  targets: Type.String(),
  status: Type.String(),
  statusReason: Type.Union([Type.String(), Type.Null()], {
    description: 'Why the scan ended as it did, when it did not simply finish',
  }),
  hostCount: Type.Integer(),
  optionProfileId: Id,
  applianceId: Id,
  applianceIds: Type.Array(Id, { description: 'The appliance pool, in order (applianceId first)' }),
  workflowId: Type.Union([Type.String(), Type.Null()]),
  scheduleId: Type.Union([Id, Type.Null()], {
    description:
      'The schedule whose run started the scan (null: launched through POST /scans, or its schedule was deleted)',
  }),
  createdAt: Type.String(),
  startedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  progress: Type.Object({
    doneHosts: Type.Integer({ description: 'Hosts with at least one result' }),
    doneResults: Type.Integer({ description: 'Results so far: one per host and technology (the sum of counts)' }),
    totalHosts: Type.Integer(),
    counts: Counts,
  }),
});

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
export const HostResultView = Type.Object({
  ip: Type.String(),
  technology: Type.String(),
  category: Type.Enum(REPORT_CATEGORIES),
  errorCode: Nullable(Type.String()),
  vendorCode: Nullable(Type.String()),
  cause: Nullable(Type.String()),
  login: Nullable(Type.String()),
  authRecordId: Nullable(Type.String()),
  flags: Type.Array(Type.String()),
  finishedAt: Type.String(),
  collected: Nullable(
    Type.Object({
      facts: Type.Record(Type.String(), Type.Unknown()),
      packageCount: Type.Integer(),
      packages: Type.Array(Type.Object({ name: Type.String(), version: Type.String(), arch: Type.String() })),
    }),
  ),
  attempts: Type.Array(
    Type.Object({
      attemptNo: Type.Integer(),
      code: Nullable(Type.String()),
      vendorCode: Nullable(Type.String()),
      httpStatus: Nullable(Type.Integer()),
      message: Nullable(Type.String()),
      at: Type.String(),
    }),
  ),
});
export const ReportQuery = Type.Object(
  { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('csv')])) },
  { additionalProperties: false },
);

/** A PATCH body: every field optional, unknown fields still refused. */
export function Type_Partial<T extends TSchema>(schema: T) {
  return Type.Partial(schema, { additionalProperties: false });
}

const Fingerprint = Type.String({
  minLength: 43,
  maxLength: 60,
  description: 'SSH SHA-256 fingerprint as ssh-keygen -lf prints it: "SHA256:" and 43 base64 characters',
});
export const KnownHostKeyBody = Type.Object(
  {
    ip: Type.String({ minLength: 1, maxLength: 45, description: 'One IPv4 or IPv6 address' }),
    port: Type.Integer({ minimum: 1, maximum: 65535 }),
    sha256: Fingerprint,
  },
  { additionalProperties: false },
);
export const KnownHostKeyPatch = Type.Object({ sha256: Fingerprint }, { additionalProperties: false });
export const KnownHostKeyQuery = Type.Object(
  {
    ...paging(),
    ip: Type.Optional(Type.String({ maxLength: 45 })),
  },
  { additionalProperties: false },
);
export const KnownHostKey = Type.Object({
  id: Id,
  ip: Type.String(),
  port: Type.Integer(),
  sha256: Type.String(),
  source: Type.Union([Type.Literal('learned'), Type.Literal('operator')]),
  learnedInScanId: Type.Union([Type.String(), Type.Null()]),
  ...Timestamps,
});

const Duration = (description: string) =>
  Type.String({
    pattern: DURATION_PATTERN,
    description: `${description}: a whole number and s, m, h or d ("90s", "6h")`,
  });
const Overlap = Type.Enum(OVERLAP_POLICIES, {
  description:
    'When a run is due while the previous one is still going: skip it (default), buffer_one / buffer_all (run it after), cancel_other / terminate_other (stop the running scan: it ends CANCELED, secrets purged), allow_all (run both)',
});
const Note = Type.String({ maxLength: 1000, description: 'Shown with the schedule, here and in the Temporal Web UI' });
const scheduleTiming = {
  cron: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
    maxItems: LIMITS.cronExpressions,
    description:
      'Cron expressions, five fields (minute hour day-of-month month day-of-week) or @hourly, @daily, @weekly, @monthly, @yearly; day-of-month and day-of-week must both match',
  }),
  intervals: Type.Array(
    Type.Object(
      {
        every: Duration('How often (1s to 366d), counted from the Unix epoch'),
        offset: Type.Optional(Duration('Shifts each run by this much (shorter than every)')),
      },
      { additionalProperties: false },
    ),
    { maxItems: LIMITS.intervals },
  ),
  timeZone: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'The IANA time zone cron expressions are read in (default UTC)',
  }),
  overlap: Overlap,
  catchupWindow: Duration('How late a missed run may still start after an outage (10s to 7d; default 1h)'),
  pauseOnFailure: Type.Boolean({ description: 'Pause the schedule when a run fails (default false)' }),
  paused: Type.Boolean({ description: 'Takes no runs until resumed (default false)' }),
  note: Note,
};
const optionalTiming = {
  cron: Type.Optional(scheduleTiming.cron),
  intervals: Type.Optional(scheduleTiming.intervals),
  timeZone: Type.Optional(scheduleTiming.timeZone),
  overlap: Type.Optional(scheduleTiming.overlap),
  catchupWindow: Type.Optional(scheduleTiming.catchupWindow),
  pauseOnFailure: Type.Optional(scheduleTiming.pauseOnFailure),
  paused: Type.Optional(scheduleTiming.paused),
  note: Type.Optional(scheduleTiming.note),
};
export const ScheduleBody = Type.Object(
  { name: Name, scan: ScanBody, ...optionalTiming },
  { additionalProperties: false, description: 'Give at least one cron expression or one interval' },
);
export const SchedulePatch = Type.Object(
  { name: Type.Optional(Name), scan: Type.Optional(ScanBody), ...optionalTiming },
  {
    additionalProperties: false,
    description:
      'What is given replaces what is there: scan the whole stored request, cron and intervals their whole lists',
  },
);
export const ScheduleNoteBody = Type.Object({ note: Type.Optional(Note) }, { additionalProperties: false });
export const ScheduleTriggerBody = Type.Object(
  {
    overlap: Type.Optional({
      ...Overlap,
      description:
        'Default: the schedule’s own. allow_all runs now even while another run is going; buffer_one runs when it ends',
    }),
  },
  { additionalProperties: false },
);
const NullableString = Type.Union([Type.String(), Type.Null()]);
export const Schedule = Type.Object({
  id: Id,
  name: Type.String(),
  scan: Type.Object({
    title: Type.String(),
    targets: Type.Union([Type.String(), Type.Null()]),
    assetIds: Type.Array(Id),
    groupIds: Type.Array(Id),
    tags: Type.Array(Type.String()),
    optionProfileId: Type.Union([Id, Type.Null()], { description: 'null: the default profile at each run' }),
    applianceId: Type.Union([Id, Type.Null()], { description: 'null: the first appliance at each run' }),
    applianceIds: Type.Array(Id, {
      description: 'The appliance pool, in order; empty: the first appliance at each run',
    }),
  }),
  temporalScheduleId: Type.String({ description: 'Its Temporal Schedule, as the Web UI lists it' }),
  state: Type.Union([Type.Literal('active'), Type.Literal('paused'), Type.Literal('missing')], {
    description: 'missing: the Temporal Schedule was deleted outside vaultscan; it takes no runs (DELETE this one)',
  }),
  note: NullableString,
  timing: Type.Union([
    Type.Object({
      cron: Type.Array(Type.String()),
      intervals: Type.Array(Type.Object({ every: Type.String(), offset: Type.String() })),
      timeZone: Type.String(),
      overlap: Type.Enum(OVERLAP_POLICIES),
      catchupWindow: Type.String(),
      pauseOnFailure: Type.Boolean(),
    }),
    Type.Null(),
  ]),
  nextRuns: Type.Array(Type.String()),
  recentRuns: Type.Array(
    Type.Object({
      workflowId: Type.String(),
      scheduledAt: Type.String(),
      startedAt: Type.String(),
      running: Type.Boolean(),
      scanId: Type.Union([Id, Type.Null()]),
      scanStatus: NullableString,
      refusal: Type.Union([Type.Object({ field: Type.String(), reason: Type.String() }), Type.Null()]),
    }),
    { description: 'Newest first; a run whose request no longer held started no scan (refusal says why)' },
  ),
  counts: Type.Union([
    Type.Object({
      runs: Type.Integer(),
      skippedOverlap: Type.Integer(),
      missedCatchupWindow: Type.Integer(),
    }),
    Type.Null(),
  ]),
  lastRefusal: Type.Union([
    Type.Object({ at: Type.String(), runWorkflowId: Type.String(), field: Type.String(), reason: Type.String() }),
    Type.Null(),
  ]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
