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

export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  return [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\r\n') + '\r\n';
}
