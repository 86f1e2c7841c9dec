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

/** What `sshd -T` (the SSH server's effective configuration, which only root may print) says → sshd.* facts. */
export function parseSshdConfig(text: string): Record<string, string> {
  const keys: Record<string, string> = {
    permitrootlogin: 'sshd.permitRootLogin',
    passwordauthentication: 'sshd.passwordAuthentication',
    kbdinteractiveauthentication: 'sshd.kbdInteractiveAuthentication',
    pubkeyauthentication: 'sshd.pubkeyAuthentication',
    permitemptypasswords: 'sshd.permitEmptyPasswords',
    x11forwarding: 'sshd.x11Forwarding',
    maxauthtries: 'sshd.maxAuthTries',
  };
  const facts: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z0-9]+) (.+)$/.exec(line.trim());
    const fact = m && keys[m[1]!];
    if (fact && !(fact in facts)) facts[fact] = m[2]!;
  }
  return facts;
}

/** At most this many account names in one fact; the rest is counted. */
const MAX_NAMES = 50;
const names = (list: string[]) =>
  list.length > MAX_NAMES ? `${list.slice(0, MAX_NAMES).join(',')},… (${list.length} in all)` : list.join(',');

/**
 * `passwd -S -a` (every account's password status, without any hash; root only) → accounts.*
 * facts: how many accounts, with a usable password, locked; which have an empty password (they
 * log in without one) and which have a password that never expires. Debian prints P, L and NP,
 * libuser's passwd PS, LK and NP.
 */
export function parsePasswordStatus(text: string): Record<string, string> {
  let total = 0;
  let withPassword = 0;
  let locked = 0;
  const empty: string[] = [];
  const neverExpires: string[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const [name, status] = cols;
    if (!name || !status || !/^(P|PS|L|LK|NP)$/.test(status)) continue;
    total += 1;
    if (status === 'NP') empty.push(name);
    else if (status === 'L' || status === 'LK') locked += 1;
    else {
      withPassword += 1;
      // name status date min max warn inactive: a maximum age of 99999 days (or -1) is none.
      const max = cols[4] === undefined ? undefined : Number(cols[4]);
      if (max !== undefined && (max === -1 || max >= 99999)) neverExpires.push(name);
    }
  }
  return {
    'accounts.total': String(total),
    'accounts.withPassword': String(withPassword),
    'accounts.locked': String(locked),
    'accounts.emptyPassword': names(empty),
    'accounts.passwordNeverExpires': names(neverExpires),
  };
}

/** An account name as sudoers takes it: quoted when it has characters sudoers gives a meaning. */
function sudoersUser(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9._-]*$/.test(name) ? name : `"${name.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * One sudoers line that lets the account run exactly these commands as root, and nothing else
 * (a drop-in such as /etc/sudoers.d/vaultscan; check it with visudo -c). NOPASSWD when the scan
 * has no password to give sudo.
 */
export function sudoersRule(username: string, commands: string[], nopasswd: boolean): string {
  const escaped = commands.map((c) => c.replace(/[\\,:=]/g, '\\$&'));
  return `${sudoersUser(username)} ALL=(root) ${nopasswd ? 'NOPASSWD: ' : ''}${escaped.join(', ')}`;
}
