// A scanner appliance process: `tsx workers/appliance/main.ts`. Needs the network of the
// targets and the vaults, and Temporal — never the database.
import { createLogger, installTemporalRuntime } from '../logger.js';
import { loadCodecKeyring } from '../temporal/codec-keys.js';
import { createDataConverter } from '../temporal/data-converter.js';
import { connectWorkerConnection, temporalSettingsFromEnv } from '../temporal/connection.js';
import { createApplianceWorkers } from './create-workers.js';

async function run(): Promise<void> {
  const applianceId = process.env.VAULTSCAN_APPLIANCE_ID;
  if (!applianceId) throw new Error('set VAULTSCAN_APPLIANCE_ID to the id of the appliance this process serves');
  const logger = createLogger('appliance');
  installTemporalRuntime(logger);
  const settings = temporalSettingsFromEnv(createDataConverter(loadCodecKeyring(process.env.VAULTSCAN_DATA_DIR)));
  const connection = await connectWorkerConnection(settings);
  const appliance = await createApplianceWorkers({
    connection,
    namespace: settings.namespace,
    dataConverter: settings.dataConverter,
    applianceId,
    maxConcurrentActivities: Number(process.env.VAULTSCAN_APPLIANCE_CONCURRENCY ?? 64),
  });
  logger.info({ sharedQueue: appliance.sharedQueue, ownQueue: appliance.ownQueue }, 'appliance worker polling');
  try {
    await appliance.run();
  } finally {
    await connection.close();
    logger.info('appliance worker stopped; every held secret purged');
  }
}

run().then(
  // Shutdown is complete and every secret purged: nothing left in flight deserves to keep us alive.
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
