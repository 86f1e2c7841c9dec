// Parsers for what Unix hosts print; pure, so they are easy to test on odd input.
import type { PackageRecord } from './technology.js';

/** /etc/os-release → os.id, os.name, os.version, os.prettyName. */
export function parseOsRelease(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) values[m[1]!] = m[2]!.replace(/^(["'])(.*)\1$/, '$2');
  }
  return {
    'os.id': values.ID ?? '',
    'os.name': values.NAME ?? '',
    'os.version': values.VERSION_ID ?? '',
    'os.prettyName': values.PRETTY_NAME ?? '',
  };
}

/** Tab-separated package lines; with a dpkg status column, only installed ("ii") packages count. */
export function parsePackageLines(text: string, withDpkgStatus: boolean): PackageRecord[] {
  const packages: PackageRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const cols = line.split('\t');
    if (withDpkgStatus) {
      const status = cols.shift() ?? '';
      if (!status.startsWith('ii')) continue;
    }
    const [name, version, arch] = cols;
    if (name && version) packages.push({ name, version, arch: arch ?? '' });
  }
  return packages;
}
