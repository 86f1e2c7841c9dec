// Writes the vault support matrix into README.md, between its markers (npm run docs:vault-matrix).
// A test fails when the README's table and the registrations disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { vaultMatrixMarkdown } from '../vault-types/matrix.js';

export const MATRIX_START = '<!-- vault-matrix:start (npm run docs:vault-matrix) -->';
export const MATRIX_END = '<!-- vault-matrix:end -->';

/** The README with its matrix section replaced by the current one. */
export function withCurrentMatrix(readme: string): string {
  const start = readme.indexOf(MATRIX_START);
  const end = readme.indexOf(MATRIX_END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the markers ${MATRIX_START} … ${MATRIX_END}`);
  return `${readme.slice(0, start + MATRIX_START.length)}\n\n${vaultMatrixMarkdown()}\n\n${readme.slice(end)}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const path = new URL('../README.md', import.meta.url);
  writeFileSync(path, withCurrentMatrix(readFileSync(path, 'utf8')));
}
