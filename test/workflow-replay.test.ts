// Scans in flight across an upgrade must replay on the new code. Histories of real runs of
// every workflow type (captured by the end-to-end and workflow tests, see
// test/harness/saved-histories.ts) are replayed against the workflows as they are now: a
// change that would break a running scan fails here. How to change a workflow safely, and
// when to refresh these files: ARCHITECTURE.md, "Changing a workflow".
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Worker, DefaultLogger, Runtime } from '@temporalio/worker';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { workflowsPath } from '../workers/control-plane/create-worker.js';
import { HISTORIES_DIR } from './harness/saved-histories.js';

const files = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('saved workflow histories replay on the current code', () => {
  it('covers every workflow type the control plane runs', () => {
    const types = new Set(
      files.map(
        (f) =>
          (
            JSON.parse(readFileSync(join(HISTORIES_DIR, f), 'utf8')) as {
              events: { workflowExecutionStartedEventAttributes?: { workflowType: { name: string } } }[];
            }
          ).events[0]!.workflowExecutionStartedEventAttributes!.workflowType.name,
      ),
    );
    expect([...types].sort()).toEqual([
      'applianceProbeWorkflow',
      'hostBatchWorkflow',
      'scanWorkflow',
      'scheduledScanWorkflow',
      'vaultTestWorkflow',
    ]);
  });

  it('replays each without a nondeterminism error', async () => {
    try {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
    } catch {
      /* installed already by another test file in this process */
    }
    const histories = files.map((f) => ({
      workflowId: f.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(readFileSync(join(HISTORIES_DIR, f), 'utf8'))),
    }));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowsPath }, histories)) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(histories.length).toBeGreaterThanOrEqual(10);
  }, 120_000);
});
