// The Authentication Report, streamed: keyset pages of the scan's results are written to the
// response as they come from the database, as a JSON document or as CSV, so the API holds about
// one page in memory whatever the scan's size, and the first byte leaves before the last row is
// read. A failure half-way (the database gone) cuts the response short: a JSON reader then
// sees an unterminated document, never a complete-looking one.
import { Readable } from 'node:stream';
import type { Database } from '../db/client.js';
import { auditRepo, resultRepo, type ReportRow, type Scan } from '../db/repositories/index.js';
import { describeCode, isErrorCode } from '../domain/errors.js';
import { csvHeader, csvLine } from './csv.js';
import { scanSummaryBySet } from './scan-summary.js';

export const REPORT_COLUMNS = [
  'ip',
  'technology',
  'status',
  'cause',
  'errorCode',
  'vendorCode',
  'remedy',
  'login',
  'authRecord',
  'flags',
  'attempts',
  'finishedAt',
] as const;

/** Rows per database page: about 300 KB of JSON, large enough that a round trip is no cost. */
export const REPORT_PAGE_SIZE = 1_000;

/** One host's line, the same in JSON and CSV; `remedy` says what the operator should do. */
function reportLine(row: ReportRow): Record<(typeof REPORT_COLUMNS)[number], string | number | null> {
  return {
    ip: row.ip,
    technology: row.technology,
    status: row.category,
    cause: row.cause,
    errorCode: row.errorCode,
    vendorCode: row.vendorCode,
    remedy: isErrorCode(row.errorCode) ? describeCode(row.errorCode).remedy : null,
    login: row.login,
    authRecord: row.authRecordName,
    flags: row.flags.join(' '),
    attempts: row.attempts,
    finishedAt: row.finishedAt.toISOString(),
  };
}

/** The loans no live appliance process gave back at the scan's end (a handful at most: one per credential). */
async function unreturnedLoans(db: Database, scanId: string) {
  const found = await auditRepo.list(db, { scanId, action: 'vault.loan-unreturned', limit: 1_000 });
  return found.rows.map((e) => ({
    vaultId: e.recordId,
    authRecordId: e.detail.authRecordId ?? null,
    locator: e.detail.locator ?? null,
    lentUntil: e.detail.lentUntil ?? null,
    note: 'its appliance process did not answer at the end of the scan: the vault ends the loan at lentUntil',
  }));
}

async function* asJson(db: Database, scan: Scan, pageSize: number): AsyncGenerator<string> {
  const head = {
    scanId: scan.id,
    title: scan.title,
    status: scan.status,
    vaultLoansUnreturned: await unreturnedLoans(db, scan.id),
    // "x of y hosts, z % passed" per asset group and per tag (as they are now).
    ...(await scanSummaryBySet(db, scan.id)),
  };
  yield `${JSON.stringify(head).slice(0, -1)},"hosts":[`;
  let separator = '';
  for await (const page of resultRepo.reportPages(db, scan.id, { pageSize })) {
    yield separator + page.map((row) => JSON.stringify(reportLine(row))).join(',');
    separator = ',';
  }
  yield ']}';
}

async function* asCsv(db: Database, scan: Scan, pageSize: number): AsyncGenerator<string> {
  yield csvHeader(REPORT_COLUMNS);
  for await (const page of resultRepo.reportPages(db, scan.id, { pageSize })) {
    yield page.map((row) => csvLine(REPORT_COLUMNS, reportLine(row))).join('');
  }
}

/**
 * The report as a byte stream. It reads the next page only when the response has taken the
 * last one (a slow client slows the reads; it does not fill memory), and stops reading when
 * the client goes away.
 */
export function authenticationReportStream(
  db: Database,
  scan: Scan,
  format: 'json' | 'csv',
  pageSize = REPORT_PAGE_SIZE,
): Readable {
  return Readable.from(format === 'csv' ? asCsv(db, scan, pageSize) : asJson(db, scan, pageSize), {
    objectMode: false,
  });
}
