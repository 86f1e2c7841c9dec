// RFC 4180 CSV that a spreadsheet opens as text, never as a formula (OWASP, "CSV Injection").

/**
 * A spreadsheet runs a cell as a formula when it starts with = + - @, tab, CR or LF; some also
 * skip leading whitespace first, so the whitespace (and any line break in it) is looked past.
 */
const FORMULA_START = /^\s*[=+\-@\t\r\n]/;
/** What could end the cell early: the comma, the semicolon (many locales' separator), quotes, line breaks. */
const NEEDS_QUOTES = /[",;\r\n]/;

function cell(value: unknown): string {
  let text = value === null || value === undefined ? '' : String(value);
  // A leading single quote makes the spreadsheet read the cell as text.
  if (FORMULA_START.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CRLF-terminated line: a row's cells in column order (the header is the columns' line). */
export function csvLine(columns: readonly string[], row: Readonly<Record<string, unknown>>): string {
  return columns.map((c) => cell(row[c])).join(',') + '\r\n';
}

export const csvHeader = (columns: readonly string[]): string =>
  csvLine(columns, Object.fromEntries(columns.map((c) => [c, c])));

export function toCsv(columns: readonly string[], rows: Readonly<Record<string, unknown>>[]): string {
  return csvHeader(columns) + rows.map((r) => csvLine(columns, r)).join('');
}
