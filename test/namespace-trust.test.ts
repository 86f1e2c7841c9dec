// What someone who can reach the Temporal namespace, but is not vaultscan's control plane, can
// make vaultscan do: nothing. Without the codec key their inputs are refused; with it (every
// appliance has it) the database activities still refuse to run unless the control plane's own
// workflows call them locally.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { createControlPlaneActivities } from '../activities/control-plane.js';
import { CONTROL_PLANE_QUEUE } from '../workflows/activity-stubs.js';
import { SecretBox } from '../db/crypto.js';
import { parseKeyring } from '../temporal/keyring.js';
import { EncryptionCodec } from '../temporal/encryption-codec.js';

let env: ScanEnvironment;

beforeAll(async () => {
  env = await startScanEnvironment();
});
afterAll(async () => {
  await env?.stop();
});

describe('a stranger on the Temporal namespace', () => {
  it('without the codec key cannot hand the control plane a workflow input', async () => {
    const connection = await Connection.connect({ address: env.temporal.address });
    const stranger = new Client({ connection, namespace: 'default' }); // no codec: plain JSON
    try {
      const handle = await stranger.workflow.start('hostBatchWorkflow', {
        taskQueue: CONTROL_PLANE_QUEUE,
        workflowId: `forged-${randomUUID()}`,
        args: [{ batch: { scanId: randomUUID(), technology: 'unix', hosts: [], plans: {} } }],
      });
      // The workflow task fails on decoding the input; its failure (itself encrypted) says why.
      const codec = new EncryptionCodec(parseKeyring(env.codecKeys, 'test'), { acceptPlaintext: true });
      await expect
        .poll(
          async () => {
            const events = (await handle.fetchHistory()).events ?? [];
            const encoded = events.flatMap(
              (e) => e.workflowTaskFailedEventAttributes?.failure?.encodedAttributes ?? [],
            );
            const decoded = await codec.decode(encoded);
            return decoded.map((p) => Buffer.from(p.data ?? []).toString()).join('\n');
          },
          { timeout: 20_000 },
        )
        .toMatch(/refused a payload that is not encrypted/);
      expect((await handle.describe()).status.name).toBe('RUNNING'); // stuck, having done nothing
      await handle.terminate('test over');
    } finally {
      await connection.close();
    }
  });

  it('with the codec key still cannot run the database activities: they run only locally', async () => {
    const box = new SecretBox(parseKeyring(`t:${Buffer.alloc(32, 7).toString('base64')}`, 'test'));
    const activities = createControlPlaneActivities({ db: env.database.db, box });
    const scheduled = new MockActivityEnvironment({ isLocal: false });
    await expect(
      scheduled.run(activities.finishScan, { scanId: randomUUID(), status: 'FINISHED' as const, counts: {} as never }),
    ).rejects.toMatchObject({
      type: 'FORBIDDEN',
      nonRetryable: true,
    });
    await expect(
      scheduled.run(activities.publishHostResults, {
        scanId: randomUUID(),
        results: [],
        learnHostKeys: [{ ip: '192.0.2.1', port: 22, sha256: 'A'.repeat(43) }],
        secretUse: { scanId: randomUUID(), applianceId: randomUUID(), reads: [] },
      }),
    ).rejects.toMatchObject({ type: 'FORBIDDEN' });
    expect(await env.database.query(`select * from known_host_keys where ip = '192.0.2.1'`)).toEqual([]);
  });
});
