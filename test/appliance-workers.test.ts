// Appliance workers as the appliance process builds them (createApplianceWorkers), against a
// headless Temporal dev server: what they do with held secrets without anyone asking.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeConnection } from '@temporalio/worker';
import { startTemporalDevServer, type TemporalDevServer } from '../workers/embedded/temporal-dev-server.js';
import { connectWorkerConnection } from '../temporal/connection.js';
import { createDataConverter } from '../temporal/data-converter.js';
import { parseKeyring } from '../temporal/keyring.js';
import { createApplianceWorkers } from '../workers/appliance/create-workers.js';
import { ScanError } from '../domain/scan-error.js';
import { createLogger, installTemporalRuntime } from '../runtime/logger.js';

const dataConverter = createDataConverter(parseKeyring(`test:${randomBytes(32).toString('base64')}`, 'test'));
let temporal: TemporalDevServer;
let connection: NativeConnection;

beforeAll(async () => {
  // The SDK's warnings and errors only, through the product's logger.
  installTemporalRuntime(createLogger('test-appliance-workers'), { level: 'WARN' });
  temporal = await startTemporalDevServer({ ui: false });
  connection = await connectWorkerConnection({ address: temporal.address, namespace: 'default', dataConverter });
});
afterAll(async () => {
  await connection?.close();
  await temporal?.stop();
});

describe('appliance workers', () => {
  it('sweep a secret nobody used once its TTL ran out, on their own, while they keep running', async () => {
    const workers = await createApplianceWorkers({
      connection,
      namespace: 'default',
      dataConverter,
      applianceId: `sweep-${randomBytes(3).toString('hex')}`,
      // No vault access is opened here: the key is only what the workers need to start.
      key: { forKeyId: async () => undefined },
      secretTtlMs: 200,
    });
    let stopped = false;
    const running = workers.run().finally(() => (stopped = true));
    try {
      const held = {
        password: Buffer.from('pw-sweeper-secret'),
        privateKey: Buffer.from('key-sweeper-secret'),
        passphrase: Buffer.from('pass-sweeper-secret'),
      };
      const handle = workers.store.put(held);
      // Only the sweeper may purge it: nothing here reads the handle or sweeps until it is gone.
      await expect.poll(() => workers.store.size, { timeout: 5_000, interval: 50 }).toBe(0);
      // Still running: this was the sweeper, not the purge that comes with shutdown.
      expect(stopped).toBe(false);
      for (const buffer of [held.password, held.privateKey, held.passphrase])
        expect(buffer.every((b) => b === 0)).toBe(true);
      expect(() => workers.store.credential(handle)).toThrow(ScanError);
    } finally {
      workers.shutdown();
      await running;
    }
  });
});
