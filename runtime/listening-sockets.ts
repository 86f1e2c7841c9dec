// Who listens on a TCP port, from Linux's /proc: a listening socket is a line of
// /proc/<pid>/net/tcp{,6} (state 0A) with an inode, and a process holds that socket when one
// of its /proc/<pid>/fd links reads socket:[inode]. Elsewhere (no /proc) every answer is
// undefined and callers fall back to what a connection can tell.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const TCP_LISTEN = '0A';

/** Inodes of the sockets listening on a port (any address), as process pid's network namespace sees them. */
export function listeningSocketInodes(port: number, pid: number | 'self' = 'self'): Set<string> | undefined {
  const inodes = new Set<string>();
  let readAny = false;
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const localPort = fields[1]?.split(':')[1];
      if (fields[3] === TCP_LISTEN && localPort && parseInt(localPort, 16) === port) inodes.add(fields[9]!);
    }
  }
  return readAny ? inodes : undefined;
}

/** The inodes of the sockets a process holds open; empty once it is gone. */
export function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return inodes;
}

/** Whether process pid itself holds a socket listening on port; undefined where /proc cannot tell. */
export function listensOn(pid: number, port: number): boolean | undefined {
  const listening = listeningSocketInodes(port, pid);
  if (listening === undefined) return undefined;
  if (listening.size === 0) return false;
  for (const inode of socketInodesOf(pid)) if (listening.has(inode)) return true;
  return false;
}

export interface PortHolder {
  pid: number;
  /** Its command line, shortened to fit a message. */
  command: string;
}

/** The processes listening on a port (this network namespace), for a message that names them. */
export function portHolders(port: number): PortHolder[] {
  const listening = listeningSocketInodes(port);
  if (!listening?.size) return [];
  const holders: PortHolder[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (![...socketInodesOf(pid)].some((inode) => listening.has(inode))) continue;
    let command = '';
    try {
      command = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .replace(/[\0\s]+/g, ' ')
        .trim();
    } catch {
      /* gone meanwhile */
    }
    holders.push({ pid, command: command.length > 80 ? `${command.slice(0, 77)}...` : command });
  }
  return holders;
}
