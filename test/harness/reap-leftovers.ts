// vitest globalSetup: a test process killed mid-run (a timeout, Ctrl-C) leaves its servers
// behind; reap the ones only tests start — this checkout's OpenBao dev servers, headless
// Temporal dev servers, in-memory ones with a UI and a codec endpoint (the Web UI tests';
// npm start's keeps a database file and is spared), the vstest- sshd targets and private
// PostgreSQL clusters (private-postgres.ts) —
// but only once orphaned: a server whose parent is still a Node process belongs to a test run
// (or benchmark) that is still going, perhaps another checkout's, and is left alone.
import { toolsDir } from '../../scripts/tools.mjs';
import { allPids, isNodeProcess, procCommandLine, procStat } from './proc.js';

const escaped = toolsDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const TEST_SERVERS = [
  new RegExp(`^${escaped}/.*bao server -dev`),
  new RegExp(`^${escaped}/.*temporal server start-dev .*--headless`),
  new RegExp(`^${escaped}/.*temporal server start-dev (?!.*--db-filename).*--ui-codec-endpoint`),
  /sshd -D -e -f \/tmp\/vstest-sshd-/,
  /^\S*\/bin\/postgres -D \S*\/vstest-pg-\w+\/data /,
  new RegExp(`^\\S*python\\S* ${escaped}/venv/bin/moto_server -H 127\\.0\\.0\\.1 `),
  /^\S*\/bin\/postgres -D \S*\/vstest-pgc-\w+\/data /, // pg-cluster.ts's private clusters
  /^\/usr\/sbin\/mariadbd --no-defaults --user=mysql --datadir=\S*\/vstest-mariadb-/, // mariadb-server.ts's
];

export function orphanedTestServers(): number[] {
  return allPids().filter((pid) => {
    const command = procCommandLine(pid);
    if (!command || !TEST_SERVERS.some((pattern) => pattern.test(command))) return false;
    const parent = procStat(pid)?.ppid;
    return parent === undefined || !isNodeProcess(parent);
  });
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
