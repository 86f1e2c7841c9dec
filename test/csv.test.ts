// toCsv: RFC 4180 output that a spreadsheet opens as text, never as a formula (OWASP, "CSV Injection").
import { describe, expect, it } from 'vitest';
import { toCsv } from '../api/csv.js';

/** The one cell a single-column, single-row CSV holds, as written (header and CRLFs cut off). */
const cell = (value: unknown) => toCsv(['c'], [{ c: value }]).slice('c\r\n'.length, -'\r\n'.length);

describe('toCsv', () => {
  it('writes a header and one CRLF-terminated line per row, in column order', () => {
    expect(
      toCsv(
        ['ip', 'category', 'code'],
        [
          { code: 'AUTH_FAILED', ip: '10.0.0.1', category: 'FAILED' },
          { ip: '10.0.0.2', category: 'PASSED', code: null },
        ],
      ),
    ).toBe('ip,category,code\r\n10.0.0.1,FAILED,AUTH_FAILED\r\n10.0.0.2,PASSED,\r\n');
  });

  it('leaves ordinary values as they are', () => {
    for (const value of ['10.2.0.11', 'fe80::1', 'AUTH_FAILED', 'a=b', 'x-1', 'plain text', ' leading space'])
      expect(cell(value)).toBe(value);
    expect(cell(undefined)).toBe('');
    expect(cell(42)).toBe('42');
  });

  it('puts a quote before a cell that starts with a formula character', () => {
    expect(cell('=1+1')).toBe("'=1+1");
    expect(cell('+1')).toBe("'+1");
    expect(cell('-1')).toBe("'-1");
    expect(cell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(cell('\t=1+1')).toBe("'\t=1+1");
    expect(cell('\r=1+1')).toBe(`"'\r=1+1"`);
    expect(cell('\n=cmd')).toBe(`"'\n=cmd"`);
    expect(cell(-5)).toBe("'-5");
  });

  it('also when the formula character comes after leading whitespace or a line break', () => {
    expect(cell('  =1+1')).toBe("'  =1+1");
    expect(cell(' @SUM(A1)')).toBe("' @SUM(A1)");
    expect(cell('\u00a0+1')).toBe("'\u00a0+1");
    expect(cell('\r\n=cmd')).toBe(`"'\r\n=cmd"`);
    expect(cell(' \n -1')).toBe(`"' \n -1"`);
    expect(cell('  \tx')).toBe("'  \tx");
  });

  it('quotes a cell holding a separator, a quote or a line break, so nothing in it starts a new cell', () => {
    expect(cell('a,b')).toBe('"a,b"');
    // The list separator of many locales, where a spreadsheet splits on it instead of the comma.
    expect(cell('a;=1+1')).toBe('"a;=1+1"');
    expect(cell('say "hi"')).toBe('"say ""hi"""');
    expect(cell('ok\n=cmd')).toBe('"ok\n=cmd"');
    expect(cell('ok\r\n@x')).toBe('"ok\r\n@x"');
  });

  it("gives OWASP's two examples their escaped output", () => {
    expect(cell('=1+2";=1+2')).toBe(`"'=1+2"";=1+2"`);
    expect(cell(`=1+2'" ;,=1+2`)).toBe(`"'=1+2'"" ;,=1+2"`);
  });
});
