// A scanner appliance process: `tsx workers/appliance/main.ts`. Needs the network of the
// targets and the vaults, and Temporal — never the database. The first start of an appliance
// enrols it: VAULTSCAN_ENROLMENT_CODE (from POST /api/v1/appliances) and VAULTSCAN_API_URL make a
// key pair in its data folder and register the public half; later starts read the key file.
import { createLogger, installTemporalRuntime } from '../../runtime/logger.js';
import { loadCodecKeyring } from '../../temporal/codec-keys.js';
import { createDataConverter } from '../../temporal/data-converter.js';
import { connectWorkerConnection, temporalSettingsFromEnv } from '../../temporal/connection.js';
import { createApplianceWorkers } from './create-workers.js';
import { enrolAppliance, enrolledWithCode, keyFilePath, loadApplianceKey } from './appliance-key.js';
import { whenLauncherDisconnects } from '../../runtime/parent-watch.js';

/** Stops the workers as SIGTERM does (held secrets purged); unset until they run. */
let stopWorkers: (() => void) | undefined;
// Until the workers run there is nothing to drain or purge: a stop is a plain exit. Once they
// run, the Temporal runtime's own signal handling drains them.
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const exitBeforeRunning = () => process.exit(0);
for (const signal of STOP_SIGNALS) process.once(signal, exitBeforeRunning);
// npm start runs its appliance with an IPC channel: the channel closes when npm start's process
// is gone, however it went, and the appliance goes with it.
whenLauncherDisconnects(() => (stopWorkers ? stopWorkers() : process.exit(0)));

/** Enrols when given a code, then loads the key; says what to set when there is none. */
async function applianceKey(applianceId: string) {
  const dataDir = process.env.VAULTSCAN_DATA_DIR;
  const file = process.env.VAULTSCAN_APPLIANCE_KEY_FILE ?? (dataDir ? keyFilePath(dataDir, applianceId) : undefined);
  const code = process.env.VAULTSCAN_ENROLMENT_CODE;
  // A restart with the code it already enrolled with still set reads the key file; a new code
  // enrols again (a key rotation).
  if (code && !(file && enrolledWithCode(file, code))) {
    const apiUrl = process.env.VAULTSCAN_API_URL;
    if (!apiUrl)
      throw new Error(
        'set VAULTSCAN_API_URL (e.g. https://vaultscan.example.com) to enrol with VAULTSCAN_ENROLMENT_CODE',
      );
    if (!file)
      throw new Error('set VAULTSCAN_DATA_DIR (or VAULTSCAN_APPLIANCE_KEY_FILE): enrolment writes the key there');
    await enrolAppliance({ apiUrl, applianceId, code, file });
  }
  const key = await loadApplianceKey({ file: file ?? '', fromEnv: process.env.VAULTSCAN_APPLIANCE_KEY });
  if (!key.current()) {
    throw new Error(
      `this appliance has no key${file ? ` at ${file}` : ''}: enrol it once with VAULTSCAN_ENROLMENT_CODE (POST /api/v1/appliances/${applianceId}/enrolment-codes) and VAULTSCAN_API_URL`,
    );
  }
  return key;
}

async function run(): Promise<void> {
  const applianceId = process.env.VAULTSCAN_APPLIANCE_ID;
  if (!applianceId) throw new Error('set VAULTSCAN_APPLIANCE_ID to the id of the appliance this process serves');
  const logger = createLogger('appliance');
  installTemporalRuntime(logger);
  const key = await applianceKey(applianceId);
  logger.info({ keyId: key.current()!.keyId }, 'appliance key loaded');
  const settings = temporalSettingsFromEnv(createDataConverter(loadCodecKeyring(process.env.VAULTSCAN_DATA_DIR)));
  const connection = await connectWorkerConnection(settings);
  const appliance = await createApplianceWorkers({
    connection,
    namespace: settings.namespace,
    dataConverter: settings.dataConverter,
    applianceId,
    key,
    maxConcurrentActivities: Number(process.env.VAULTSCAN_APPLIANCE_CONCURRENCY ?? 64),
    // Raise it (ms) only for option profiles whose hosts take longer than an hour to collect.
    ...(process.env.VAULTSCAN_SECRET_MAX_LIFETIME_MS && {
      secretMaxLifetimeMs: Number(process.env.VAULTSCAN_SECRET_MAX_LIFETIME_MS),
    }),
  });
  logger.info({ sharedQueue: appliance.sharedQueue, ownQueue: appliance.ownQueue }, 'appliance worker polling');
  const running = appliance.run();
  stopWorkers = () => appliance.shutdown();
  for (const signal of STOP_SIGNALS) process.off(signal, exitBeforeRunning);
  process.send?.({ appliance: 'polling' }); // npm start waits for this before it says it runs
  let heldAtStop: number | undefined;
  try {
    ({ heldAtStop } = await running);
  } finally {
    await connection.close();
    // heldAtStop: the secrets (handles, cached reads) still held when the workers stopped, all
    // purged now. After scans that ended normally it is 0: their workflows purged everything.
    logger.info({ heldAtStop }, 'appliance worker stopped; every held secret purged');
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
