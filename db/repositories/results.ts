// What a scan found, per host and technology: the verdict, every attempt, the package inventory.
// publish is idempotent — a retried publishResults activity leaves exactly one copy.
import { and, asc, count, countDistinct, eq, getTableColumns, inArray, sql, type SQL } from 'drizzle-orm';
import type { Database, Transaction } from '../client.js';
import { InvalidValueError } from '../errors.js';
import { authRecords, hostAttempts, hostPackages, hostResults } from '../schema.js';
import { withDbErrors } from '../translate-errors.js';
import { REPORT_CATEGORIES, type ReportCategory } from '../../domain/categories.js';
import { describeCode, type ErrorCode } from '../../domain/errors.js';
import type { AttemptRecord } from '../../domain/scan-types.js';
import { ipSortKey, normaliseIp, type IpRange } from '../../domain/targets.js';
import { storableValue } from '../../domain/text.js';
import {
  firstOrNotFound,
  isUuid,
  pageLimit,
  parseTargetField,
  positionOf,
  requireId,
  requireReference,
  toPaged,
  type KeysetPage,
  type Paged,
} from './shared.js';

export interface SkippedHost {
  ip: string;
  code: ErrorCode;
  /** What the report says; the code's summary when absent. */
  cause?: string;
  authRecordId?: string;
  login?: string;
  /** Attempts it had before it was set aside (handed back by a batch whose appliance had no worker). */
  attempts?: AttemptRecord[];
}

/**
 * The ones of these authentication record ids that still exist: a record deleted while a scan
 * ran leaves its hosts' results without a record rather than failing to publish them.
 */
async function existingRecordIds(db: Database, ids: string[]): Promise<Set<string>> {
  const wanted = [...new Set(ids.filter(isUuid))];
  if (wanted.length === 0) return new Set();
  const rows = await db.select({ id: authRecords.id }).from(authRecords).where(inArray(authRecords.id, wanted));
  return new Set(rows.map((r) => r.id));
}

export interface PackageRow {
  name: string;
  version: string;
  arch: string;
}

export interface HostResultInput {
  scanId: string;
  ip: string;
  technology: string;
  category: ReportCategory;
  errorCode: string | null;
  vendorCode: string | null;
  cause: string | null;
  login: string | null;
  authRecordId: string | null;
  facts: Record<string, string> | null;
  packages: PackageRow[];
  attempts: AttemptRecord[];
  /** E.g. VAULT_PLAIN_HTTP: the secret came from a vault reached over plain HTTP. */
  flags?: string[];
}

export type HostResult = Omit<typeof hostResults.$inferSelect, 'ipKey'>;

export interface AttemptView {
  attemptNo: number;
  code: string | null;
  vendorCode: string | null;
  httpStatus: number | null;
  message: string | null;
  at: Date;
}

export interface ResultView extends HostResult {
  attempts: AttemptView[];
  /** Present when asked for (includePackages). */
  packages?: PackageRow[];
}

export interface ResultFilter extends KeysetPage {
  category?: ReportCategory;
  includePackages?: boolean;
}

/** One line of the Authentication Report: a host's verdict, its cause and how many attempts it took. */
export interface ReportRow {
  ip: string;
  technology: string;
  category: ReportCategory;
  errorCode: string | null;
  vendorCode: string | null;
  cause: string | null;
  login: string | null;
  authRecordId: string | null;
  authRecordName: string | null;
  flags: string[];
  finishedAt: Date;
  attempts: number;
}

const { ipKey: _ipKey, ...resultColumns } = getTableColumns(hostResults);

const hostIp = (ip: string): { ip: string; ipKey: string } =>
  parseTargetField('ip', () => ({ ip: normaliseIp(ip), ipKey: ipSortKey(ip).toString() }));

function checkCategory(category: string): void {
  if (!(REPORT_CATEGORIES as readonly string[]).includes(category))
    throw new InvalidValueError('category', `must be one of ${REPORT_CATEGORIES.join(', ')}`);
}

const emptyCounts = () => Object.fromEntries(REPORT_CATEGORIES.map((c) => [c, 0])) as Record<ReportCategory, number>;

async function attemptsOf(db: Database, resultIds: string[]): Promise<Map<string, AttemptView[]>> {
  const byResult = new Map<string, AttemptView[]>(resultIds.map((id) => [id, []]));
  if (resultIds.length === 0) return byResult;
  const rows = await db
    .select()
    .from(hostAttempts)
    .where(inArray(hostAttempts.resultId, resultIds))
    .orderBy(asc(hostAttempts.resultId), asc(hostAttempts.attemptNo));
  for (const { resultId, ...attempt } of rows) byResult.get(resultId)?.push(attempt);
  return byResult;
}

async function packagesOf(db: Database, resultIds: string[]): Promise<Map<string, PackageRow[]>> {
  const byResult = new Map<string, PackageRow[]>(resultIds.map((id) => [id, []]));
  if (resultIds.length === 0) return byResult;
  const rows = await db
    .select()
    .from(hostPackages)
    .where(inArray(hostPackages.resultId, resultIds))
    .orderBy(asc(hostPackages.name), asc(hostPackages.version), asc(hostPackages.arch));
  for (const { resultId, ...pkg } of rows) byResult.get(resultId)?.push(pkg);
  return byResult;
}

/**
 * A scan's results (of one category, if given) after a position in address order: (ip_key,
 * technology) is unique within a scan, so the order is total; host_results_scan_order_idx
 * serves it.
 */
function inScanAfter(scanId: string, page: KeysetPage & { category?: ReportCategory }): SQL {
  const at = positionOf(page, 2);
  return and(
    eq(hostResults.scanId, scanId),
    page.category ? eq(hostResults.category, page.category) : undefined,
    at ? sql`(${hostResults.ipKey}, ${hostResults.technology}) > (${at[0]}::numeric, ${at[1]})` : undefined,
  )!;
}

const addressOrder = [asc(hostResults.ipKey), asc(hostResults.technology)] as const;

function checkResult(input: HostResultInput): void {
  requireReference('scanId', 'scan', input.scanId);
  if (input.authRecordId !== null) requireReference('authRecordId', 'authentication record', input.authRecordId);
  checkCategory(input.category);
}

/** Columns an upsert replaces when the host already has a result in this scan. */
const REPLACED_ON_REPUBLISH = [
  'ipKey',
  'category',
  'errorCode',
  'vendorCode',
  'cause',
  'login',
  'authRecordId',
  'facts',
  'packageCount',
  'flags',
  'finishedAt',
] as const;
const replaceFromExcluded = Object.fromEntries(
  REPLACED_ON_REPUBLISH.map((key) => [key, sql.raw(`excluded.${getTableColumns(hostResults)[key].name}`)]),
);

/**
 * Hosts' results, their attempts and their packages; replaces any earlier copy. Set-based: a
 * handful of statements for the whole batch, whatever its size, instead of five per host.
 */
/** Each result's attempts, as rows of host_attempts, in one statement. */
async function insertAttempts(tx: Transaction, results: { resultId: string; attempts: AttemptRecord[] }[]) {
  const rows = results.flatMap(({ resultId, attempts }) =>
    attempts.map((a) => ({ ...a, resultId, at: new Date(a.at) })),
  );
  if (rows.length > 0) await tx.insert(hostAttempts).values(rows);
}

async function writeResults(tx: Transaction, inputs: HostResultInput[]): Promise<string[]> {
  const finishedAt = new Date();
  const rows = inputs.map(({ packages, attempts: _attempts, flags, ...fields }) => ({
    ...fields,
    flags: flags ?? [],
    ...hostIp(fields.ip),
    packageCount: packages.length,
    finishedAt,
  }));
  const keyOf = (r: { ip: string; technology: string }) => `${r.ip} ${r.technology}`;
  const seen = new Set<string>();
  for (const row of rows) {
    if (seen.has(keyOf(row)))
      throw new InvalidValueError('results', `${row.ip} (${row.technology}) appears more than once in one publish`);
    seen.add(keyOf(row));
  }
  const written = await tx
    .insert(hostResults)
    .values(rows)
    .onConflictDoUpdate({
      target: [hostResults.scanId, hostResults.ip, hostResults.technology],
      set: replaceFromExcluded,
    })
    .returning({ id: hostResults.id, ip: hostResults.ip, technology: hostResults.technology });
  const idOf = new Map(written.map((w) => [keyOf(w), w.id]));
  const resultIds = rows.map((row) => idOf.get(keyOf(row))!);

  await tx.delete(hostAttempts).where(inArray(hostAttempts.resultId, resultIds));
  await insertAttempts(
    tx,
    inputs.map((input, i) => ({ resultId: resultIds[i]!, attempts: input.attempts })),
  );

  await tx.delete(hostPackages).where(inArray(hostPackages.resultId, resultIds));
  // One statement with one parameter whatever the inventory sizes: each host's packages travel
  // as a JSON array and are expanded server-side, far cheaper than thousands of VALUES tuples.
  const inventories = inputs.flatMap((input, i) =>
    input.packages.length > 0
      ? [{ r: resultIds[i], p: input.packages.map(({ name, version, arch }) => ({ name, version, arch })) }]
      : [],
  );
  if (inventories.length > 0) {
    await tx.execute(sql`insert into host_packages (result_id, name, version, arch)
      select h.r, t.name, t.version, t.arch
      from jsonb_to_recordset(${JSON.stringify(inventories)}::jsonb) as h(r uuid, p jsonb)
      cross join lateral jsonb_to_recordset(h.p) as t(name text, version text, arch text)`);
  }
  return resultIds;
}

export const resultRepo = {
  /**
   * Writes one host's result, its attempts and its package inventory in one transaction.
   * Publishing again replaces them: one result, its attempts and one copy of the packages.
   */
  async publish(db: Database, input: HostResultInput): Promise<{ resultId: string }> {
    const { resultIds } = await resultRepo.publishMany(db, [input]);
    return { resultId: resultIds[0]! };
  },

  /** A batch of hosts' results in one transaction (one commit instead of one per host). */
  async publishMany(db: Database, given: HostResultInput[]): Promise<{ resultIds: string[] }> {
    // What hosts and vaults said (causes, facts, package names) is stored as said, minus what
    // PostgreSQL cannot store: one NUL from a host must not keep a batch from publishing.
    const inputs = given.map((input) => storableValue(input));
    for (const input of inputs) checkResult(input);
    if (inputs.length === 0) return { resultIds: [] };
    return withDbErrors({ operation: 'write' }, () =>
      db.transaction(async (tx) => {
        const known = await existingRecordIds(
          tx,
          inputs.flatMap((i) => (i.authRecordId ? [i.authRecordId] : [])),
        );
        const rows = inputs.map((i) =>
          i.authRecordId && !known.has(i.authRecordId) ? { ...i, authRecordId: null } : i,
        );
        return { resultIds: await writeResults(tx, rows) };
      }),
    );
  },

  /**
   * Hosts that were not tried (again), each with the code that says why (no record covers it,
   * the technology is off, its credential was suspended, its batch failed, no appliance of the
   * pool is left), many at once, with the attempts any had. A host that already has a result
   * keeps it. Returns how many were new, per category.
   */
  async publishSkipped(
    db: Database,
    scanId: string,
    technology: string,
    hosts: SkippedHost[],
  ): Promise<Partial<Record<ReportCategory, number>>> {
    requireReference('scanId', 'scan', scanId);
    if (hosts.length === 0) return {};
    const finishedAt = new Date();
    const known = await existingRecordIds(
      db,
      hosts.flatMap((h) => (h.authRecordId ? [h.authRecordId] : [])),
    );
    const stored = storableValue(hosts);
    const rows = stored.map((h) => ({
      scanId,
      technology,
      ...hostIp(h.ip),
      category: describeCode(h.code).category,
      errorCode: h.code,
      cause: h.cause ?? describeCode(h.code).summary,
      login: h.login ?? null,
      authRecordId: h.authRecordId && known.has(h.authRecordId) ? h.authRecordId : null,
      finishedAt,
    }));
    const attemptsOf = new Map(stored.map((h, i) => [rows[i]!.ip, h.attempts ?? []]));
    const inserted = await withDbErrors({ operation: 'write' }, () =>
      db.transaction(async (tx) => {
        const written = await tx
          .insert(hostResults)
          .values(rows)
          .onConflictDoNothing()
          .returning({ id: hostResults.id, ip: hostResults.ip, category: hostResults.category });
        await insertAttempts(
          tx,
          written.map(({ id, ip }) => ({ resultId: id, attempts: attemptsOf.get(ip) ?? [] })),
        );
        return written;
      }),
    );
    const counts: Partial<Record<ReportCategory, number>> = {};
    for (const { category } of inserted) counts[category] = (counts[category] ?? 0) + 1;
    return counts;
  },

  /**
   * The scan's results on the addresses of `ranges` (a group's, a tag's): hosts with a result,
   * hosts whose every technology tried PASSED, and results per category. One aggregate query.
   */
  async summaryWithin(
    db: Database,
    scanId: string,
    ranges: IpRange[],
  ): Promise<{ hosts: number; passedHosts: number; counts: Record<ReportCategory, number> }> {
    const counts = emptyCounts();
    if (!isUuid(scanId) || ranges.length === 0) return { hosts: 0, passedHosts: 0, counts };
    const within = sql.join(
      ranges.map(
        (r) =>
          sql`${hostResults.ipKey} between ${ipSortKey(r.first).toString()}::numeric and ${ipSortKey(r.last).toString()}::numeric`,
      ),
      sql` or `,
    );
    const where = and(eq(hostResults.scanId, scanId), sql`(${within})`);
    const byCategory = await db
      .select({ category: hostResults.category, n: count() })
      .from(hostResults)
      .where(where)
      .groupBy(hostResults.category);
    for (const row of byCategory) counts[row.category] = Number(row.n);
    const perHost = db
      .select({
        ip: hostResults.ip,
        tried: sql<number>`count(*) filter (where ${hostResults.category} <> 'NOT_ATTEMPTED')`.as('tried'),
        passed: sql<number>`count(*) filter (where ${hostResults.category} = 'PASSED')`.as('passed'),
      })
      .from(hostResults)
      .where(where)
      .groupBy(hostResults.ip)
      .as('per_host');
    const [totals] = await db
      .select({
        hosts: count(),
        passedHosts: sql<number>`count(*) filter (where ${perHost.tried} > 0 and ${perHost.tried} = ${perHost.passed})`,
      })
      .from(perHost);
    const hosts = Number(totals?.hosts ?? 0);
    const passedHosts = Number(totals?.passedHosts ?? 0);
    return { hosts, passedHosts, counts };
  },

  /** How many of the scan's hosts have at least one result (a host has one per technology). */
  async countHosts(db: Database, scanId: string): Promise<number> {
    if (!isUuid(scanId)) return 0;
    const [row] = await db
      .select({ n: countDistinct(hostResults.ip) })
      .from(hostResults)
      .where(eq(hostResults.scanId, scanId));
    return Number(row?.n ?? 0);
  },

  async countByCategory(db: Database, scanId: string): Promise<Record<ReportCategory, number>> {
    const counts = emptyCounts();
    if (!isUuid(scanId)) return counts; // a malformed id has no results, rather than a SQL error
    const rows = await db
      .select({ category: hostResults.category, n: count() })
      .from(hostResults)
      .where(eq(hostResults.scanId, scanId))
      .groupBy(hostResults.category);
    for (const row of rows) counts[row.category] = Number(row.n);
    return counts;
  },

  /** A page of results in address order, each with its attempts (and, if asked, its packages). */
  async list(db: Database, scanId: string, filter: ResultFilter = {}): Promise<Paged<ResultView>> {
    const limit = pageLimit(filter);
    if (!isUuid(scanId)) return { rows: [], next: null };
    const fetched = await db
      .select({ ...resultColumns, ipKey: hostResults.ipKey })
      .from(hostResults)
      .where(inScanAfter(scanId, filter))
      .orderBy(...addressOrder)
      .limit(limit + 1);
    const page = toPaged(
      fetched,
      limit,
      (r) => [r.ipKey, r.technology],
      ({ ipKey: _key, ...row }) => row,
    );
    const ids = page.rows.map((r) => r.id);
    const attempts = await attemptsOf(db, ids);
    const packages = filter.includePackages ? await packagesOf(db, ids) : undefined;
    return {
      rows: page.rows.map((r) => ({
        ...r,
        attempts: attempts.get(r.id) ?? [],
        ...(packages && { packages: packages.get(r.id) ?? [] }),
      })),
      next: page.next,
    };
  },

  /** One host's result with its attempts and full package inventory. */
  async get(
    db: Database,
    scanId: string,
    ip: string,
    technology: string,
  ): Promise<ResultView & { packages: PackageRow[] }> {
    const what = `result for ${ip} (${technology}) of scan`;
    requireId(what, scanId);
    const where = and(
      eq(hostResults.scanId, scanId),
      eq(hostResults.ip, hostIp(ip).ip),
      eq(hostResults.technology, technology),
    );
    const row = firstOrNotFound(await db.select(resultColumns).from(hostResults).where(where), what, scanId);
    const [attempts, packages] = [await attemptsOf(db, [row.id]), await packagesOf(db, [row.id])];
    return { ...row, attempts: attempts.get(row.id) ?? [], packages: packages.get(row.id) ?? [] };
  },

  /**
   * The Authentication Report's lines, a keyset page at a time, in address order: per host and
   * technology the category, the cause (our code, the vendor's), the login and record used,
   * and how many attempts it took. No count and no offset: page 1,000 costs what page 1 does,
   * and a caller that writes each page out as it comes holds one page in memory, whatever the
   * scan's size.
   */
  async *reportPages(
    db: Database,
    scanId: string,
    options: { pageSize?: number; category?: ReportCategory } = {},
  ): AsyncGenerator<ReportRow[]> {
    requireId('scan', scanId);
    const limit = pageLimit({ limit: options.pageSize ?? 1_000 });
    let after: string[] | undefined;
    do {
      const fetched = await db
        .select({
          ipKey: hostResults.ipKey,
          ip: hostResults.ip,
          technology: hostResults.technology,
          category: hostResults.category,
          errorCode: hostResults.errorCode,
          vendorCode: hostResults.vendorCode,
          cause: hostResults.cause,
          login: hostResults.login,
          authRecordId: hostResults.authRecordId,
          authRecordName: authRecords.name,
          flags: hostResults.flags,
          finishedAt: hostResults.finishedAt,
          attempts: sql<number>`(select count(*) from ${hostAttempts} where ${hostAttempts.resultId} = ${hostResults.id})::integer`,
        })
        .from(hostResults)
        .leftJoin(authRecords, eq(authRecords.id, hostResults.authRecordId))
        .where(inScanAfter(scanId, { after, category: options.category }))
        .orderBy(...addressOrder)
        .limit(limit + 1);
      const page = toPaged(
        fetched,
        limit,
        (r) => [r.ipKey, r.technology],
        ({ ipKey: _key, ...row }) => row,
      );
      if (page.rows.length > 0) yield page.rows;
      after = page.next ?? undefined;
    } while (after);
  },
};
