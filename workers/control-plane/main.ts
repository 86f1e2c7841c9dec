// The control-plane process of a production deployment: `tsx workers/control-plane/main.ts`.
// Needs DATABASE_URL (PostgreSQL), VAULTSCAN_MASTER_KEYS, VAULTSCAN_CODEC_KEYS and TEMPORAL_ADDRESS.
import { createLogger, installTemporalRuntime } from '../../runtime/logger.js';
import { loadCodecKeyring } from '../../temporal/codec-keys.js';
import { createDataConverter } from '../../temporal/data-converter.js';
import {
  connectClient,
  connectWorkerConnection,
  ensureSearchAttributes,
  temporalSettingsFromEnv,
} from '../../temporal/connection.js';
import { createControlPlaneWorker } from './create-worker.js';
import { startScanReconciler } from './scan-reconciler.js';
import { createControlPlaneActivities } from '../../activities/control-plane.js';
import { openDatabase } from '../../db/client.js';
import { loadKeyring, SecretBox } from '../../db/crypto.js';

async function run(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL to the PostgreSQL database (the embedded PGlite is for npm start only)');
  const logger = createLogger('control-plane');
  installTemporalRuntime(logger);
  const settings = temporalSettingsFromEnv(createDataConverter(loadCodecKeyring()));
  const box = new SecretBox(loadKeyring());
  const database = await openDatabase({ url });
  const client = await connectClient(settings);
  await ensureSearchAttributes(client, settings.namespace);
  const reconciler = startScanReconciler({ db: database.db, client, logger });
  const connection = await connectWorkerConnection(settings);
  const worker = await createControlPlaneWorker({
    connection,
    namespace: settings.namespace,
    dataConverter: settings.dataConverter,
    activities: createControlPlaneActivities({ db: database.db, box }),
  });
  logger.info('control-plane worker polling');
  try {
    await worker.run();
  } finally {
    await reconciler.stop();
    await client.connection.close();
    await connection.close();
    await database.close();
  }
}

run().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
