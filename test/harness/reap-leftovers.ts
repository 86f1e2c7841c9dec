// vitest globalSetup: a test process killed mid-run (a timeout, Ctrl-C) leaves its servers
// behind; reap the ones only tests start — this checkout's OpenBao dev servers, headless
// Temporal dev servers (npm start's has a UI and is spared) and the vstest- sshd targets —
// but only once orphaned: a server whose parent is still a Node process belongs to a test run
// (or benchmark) that is still going, perhaps another checkout's, and is left alone.
import { readdirSync, readFileSync } from 'node:fs';
import { toolsDir } from '../../scripts/tools.mjs';

const escaped = toolsDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const TEST_SERVERS = [new RegExp(`^${escaped}/.*bao server -dev`), new RegExp(`^${escaped}/.*temporal server start-dev .*--headless`), /sshd -D -e -f \/tmp\/vstest-sshd-/];

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process ended meanwhile
  }
}

/** The parent pid, from /proc/<pid>/stat (the field after the parenthesised command). */
function parentOf(pid: string): string | undefined {
  const stat = read(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
}

export function orphanedTestServers(): number[] {
  const orphans: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const command = read(`/proc/${pid}/cmdline`)?.split('\0').join(' ');
    if (!command || !TEST_SERVERS.some((pattern) => pattern.test(command))) continue;
    const parent = parentOf(pid);
    if (parent && read(`/proc/${parent}/comm`)?.trim() === 'node') continue;
    orphans.push(Number(pid));
  }
  return orphans;
}

export default function reapLeftovers(): void {
  for (const pid of orphanedTestServers()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
