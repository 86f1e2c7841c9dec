// vitest globalSetup: a test process killed mid-run (a timeout, Ctrl-C) leaves its servers
// behind; reap the ones only tests start — this checkout's OpenBao dev servers, headless
// Temporal dev servers (npm start's has a UI and is spared) and the vstest- sshd targets.
import { spawnSync } from 'node:child_process';
import { toolsDir } from '../../scripts/tools.mjs';

export default function reapLeftovers(): void {
  spawnSync('pkill', ['-f', `^${toolsDir}/.*bao server -dev`]);
  spawnSync('pkill', ['-f', `^${toolsDir}/.*temporal server start-dev .*--headless`]);
  spawnSync('pkill', ['-f', 'sshd -D -e -f /tmp/vstest-sshd-']);
}
