// The embedded default's data folder (database, Temporal history, keys, the first admin key) is
// the owner's alone: also a folder an earlier version, or a person, left open to others.
import { chmodSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { restrictToOwner } from '../workers/embedded/data-folder.js';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('the data folder', () => {
  it('becomes readable by its owner only, all the way down, keeping executables executable', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vstest-data-'));
    chmodSync(dir, 0o755);
    mkdirSync(join(dir, 'pglite', 'base'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'temporal.sqlite'), 'x', { mode: 0o644 });
    writeFileSync(join(dir, 'pglite', 'base', 'table'), 'x', { mode: 0o666 });
    writeFileSync(join(dir, 'tool'), 'x', { mode: 0o755 });
    const outside = join(mkdtempSync(join(tmpdir(), 'vstest-outside-')), 'file');
    writeFileSync(outside, 'x', { mode: 0o644 });
    symlinkSync(outside, join(dir, 'link'));

    restrictToOwner(dir);

    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'pglite'))).toBe(0o700);
    expect(mode(join(dir, 'pglite', 'base'))).toBe(0o700);
    expect(mode(join(dir, 'temporal.sqlite'))).toBe(0o600);
    expect(mode(join(dir, 'pglite', 'base', 'table'))).toBe(0o600);
    expect(mode(join(dir, 'tool'))).toBe(0o700);
    // A link is not followed: what it points at outside the folder is left as it was.
    expect(mode(outside)).toBe(0o644);
  });
});
