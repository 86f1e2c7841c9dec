// Test runs clean up after themselves and after crashed runs, never under a run still going:
// another process's vstest- user, sudoers drop-in and sshd survive cleanupAll and the reaper
// while it lives, and go once it is dead.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupAll } from './harness/ssh-targets.js';
import reapLeftovers, { orphanedTestServers } from './harness/reap-leftovers.js';
import { allPids, procCommandLine, procStat } from './harness/proc.js';
import { projectRoot } from '../scripts/tools.mjs';

const userExists = (name: string) => spawnSync('id', ['-u', name]).status === 0;
/** Running, not gone and not a zombie waiting for whoever adopted it to reap it. */
const isRunning = (pid: number) => ![undefined, 'Z'].includes(procStat(pid)?.state);

/** The vstest sshd that a given process started. */
const sshdStartedBy = (parent: number) =>
  allPids().find(
    (pid) => procStat(pid)?.ppid === parent && procCommandLine(pid)?.includes('sshd -D -e -f /tmp/vstest-sshd-'),
  );

describe('cleanup of test targets', () => {
  it("leaves a live run's user, sudoers rule and sshd alone, and removes them once that run is dead", async () => {
    const user = `vstest-other-${process.pid}`;
    const other = spawn(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'test/harness/fixtures/hold-test-target.ts'), user],
      { cwd: projectRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      await new Promise<void>((resolve, reject) => {
        other.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
        other.once('exit', (code) => reject(new Error(`the other run exited early (${code})`)));
      });
      const sshd = sshdStartedBy(other.pid!)!;
      expect(sshd).toBeGreaterThan(0);
      expect(procStat(other.pid!)?.comm).toBe('MainThread');

      await cleanupAll();
      reapLeftovers();
      expect(userExists(user)).toBe(true);
      expect(existsSync(`/etc/sudoers.d/${user}`)).toBe(true);
      expect(orphanedTestServers()).not.toContain(sshd);
      expect(isRunning(sshd)).toBe(true);

      // The other run dies without cleaning up (SIGKILL): its sshd is orphaned.
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
      expect(orphanedTestServers()).toContain(sshd);
      reapLeftovers();
      await new Promise((r) => setTimeout(r, 200));
      expect(isRunning(sshd)).toBe(false);
      await cleanupAll();
      expect(userExists(user)).toBe(false);
      expect(existsSync(`/etc/sudoers.d/${user}`)).toBe(false);
    } finally {
      other.kill('SIGKILL');
      spawnSync('userdel', ['-r', '-f', user], { stdio: 'ignore' });
      spawnSync('rm', ['-f', `/etc/sudoers.d/${user}`]);
    }
  });
});
