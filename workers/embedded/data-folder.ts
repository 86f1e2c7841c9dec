// The embedded default's data folder holds the database, Temporal's history, the keys and the
// first admin key: only its owner may read any of it, also when it was made more open before.
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Folders become 0700 and files 0600 (or 0700 if executable), all the way down; links are left alone. */
export function restrictToOwner(path: string): void {
  const stat = lstatSync(path);
  if (stat.isSymbolicLink()) return;
  if (stat.isDirectory()) {
    if ((stat.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
    for (const entry of readdirSync(path)) restrictToOwner(join(path, entry));
    return;
  }
  const wanted = stat.mode & 0o100 ? 0o700 : 0o600;
  if ((stat.mode & 0o777) !== wanted) chmodSync(path, wanted);
}
