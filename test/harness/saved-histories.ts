// Histories of real runs, kept under test/histories/ for the replay test: every workflow type,
// captured from the end-to-end and continue-as-new scans. Refresh them after a deliberate
// change of a workflow's shape (see ARCHITECTURE.md, "Changing a workflow"):
//   VAULTSCAN_SAVE_HISTORIES=1 npx vitest run test/scan-e2e.test.ts test/scan-workflow.test.ts
//   VAULTSCAN_SAVE_HISTORIES=1 npx vitest run test/schedules.test.ts   (a schedule's runs)
// Payloads are stored decoded (no codec key is needed to replay, and they hold no secret: the
// vault grants in them are sealed to an appliance key that is not kept).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const HISTORIES_DIR = fileURLToPath(new URL('../histories', import.meta.url));

export const savingHistories = () => process.env.VAULTSCAN_SAVE_HISTORIES === '1';

const isPayload = (value: unknown): value is Payload =>
  typeof value === 'object' && value !== null && 'metadata' in value && 'data' in value;

/** Replaces every encrypted payload in the tree with its decoded form, in place. */
async function decodeInPlace(node: unknown, codec: PayloadCodec): Promise<void> {
  if (typeof node !== 'object' || node === null || ArrayBuffer.isView(node)) return;
  for (const [key, value] of Object.entries(node)) {
    if (isPayload(value)) {
      const [decoded] = await codec.decode([value]);
      (node as Record<string, unknown>)[key] = decoded;
    } else if (Array.isArray(value) && value.some(isPayload)) {
      (node as Record<string, unknown>)[key] = await codec.decode(value as Payload[]);
    } else await decodeInPlace(value, codec);
  }
}

/**
 * Saves every run of a workflow (a continue-as-new chain is several) as `<name>-<n>.json`,
 * when VAULTSCAN_SAVE_HISTORIES=1; otherwise does nothing.
 */
export async function saveHistories(client: Client, workflowId: string, name: string, codec: PayloadCodec) {
  if (!savingHistories()) return;
  mkdirSync(HISTORIES_DIR, { recursive: true });
  const found: { runId: string; startTime: Date }[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = "${workflowId}"` }))
    found.push({ runId: wf.runId, startTime: wf.startTime });
  const runs = found.sort((a, b) => a.startTime.getTime() - b.startTime.getTime()).map((r) => r.runId);
  for (const [n, runId] of runs.entries()) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    await decodeInPlace(history, codec);
    writeFileSync(join(HISTORIES_DIR, `${name}-${n + 1}.json`), `${historyToJSON(history)}\n`);
  }
}
