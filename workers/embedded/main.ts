// `npm start`: the whole product on one machine. A Temporal dev server (with its Web UI),
// PGlite in .data/, the control-plane worker and the API in this process, and one local
// appliance worker in its own process — as a real appliance would be, enrolled with a code.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { projectRoot } from '../../scripts/tools.mjs';
import { createLogger, installTemporalRuntime } from '../logger.js';
import { loadCodecKeyring } from '../temporal/codec-keys.js';
import { createDataConverter } from '../temporal/data-converter.js';
import { EncryptionCodec } from '../temporal/encryption-codec.js';
import {
  connectClient,
  connectWorkerConnection,
  ensureSearchAttributes,
  temporalSettingsFromEnv,
  type TemporalSettings,
} from '../temporal/connection.js';
import { TEMPORAL_TRANSPORT_VARIABLES } from '../temporal/tls-settings.js';
import { startTemporalDevServer, type TemporalDevServer } from './temporal-dev-server.js';
import { createControlPlaneWorker } from '../control-plane/create-worker.js';
import { startScanReconciler } from '../control-plane/scan-reconciler.js';
import { createControlPlaneActivities } from '../../activities/control-plane.js';
import { openDatabase } from '../../db/client.js';
import { SecretBox } from '../../db/crypto.js';
import { keyringFromEnv } from '../temporal/keyring.js';
import { applianceRepo, auditChainKeys, auditRepo, profileRepo } from '../../db/repositories/index.js';
import type { Database } from '../../db/client.js';
import { buildApp } from '../../api/app.js';
import { ensureFirstAdminKey } from '../../api/first-admin-key.js';
import { defaultHostnames } from '../../api/plugins/host-check.js';
import { keyFilePath } from '../appliance/appliance-key.js';
import { restrictToOwner } from './data-folder.js';

const dataDir = process.env.VAULTSCAN_DATA_DIR ?? join(projectRoot, '.data');
const apiHost = process.env.VAULTSCAN_API_HOST ?? '127.0.0.1';
const apiPort = Number(process.env.VAULTSCAN_API_PORT ?? 8800);

const adminKeyFile = join(dataDir, 'admin-api-key');

/** Whether the local appliance's key file holds the key the database has enrolled for it. */
function localKeyIsEnrolled(applianceId: string, enrolledKeyId: string | null): boolean {
  const file = keyFilePath(dataDir, applianceId);
  if (!enrolledKeyId || !existsSync(file)) return false;
  return (JSON.parse(readFileSync(file, 'utf8')) as { keyId?: string }).keyId === enrolledKeyId;
}

/** A one-time code for the local appliance, recorded in the audit trail as any other. */
async function localEnrolmentCode(db: Database, box: SecretBox, applianceId: string): Promise<string> {
  return db.transaction(async (tx) => {
    const { code } = await applianceRepo.createEnrolmentCode(tx, applianceId, 10 * 60_000);
    await auditRepo.append(tx, auditChainKeys(box), [
      {
        actorKeyId: null,
        actorName: 'npm start',
        action: 'appliance.enrolment-code',
        recordId: applianceId,
        applianceId,
        outcome: 'success',
        detail: {},
      },
    ]);
    return code;
  });
}

async function main(): Promise<void> {
  // Everything this process and its children create (PGlite's files, Temporal's SQLite, keys)
  // is for the owner alone; what an earlier version left more open is closed now.
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  restrictToOwner(dataDir);
  const logger = createLogger('vaultscan');
  installTemporalRuntime(logger, { handleSignals: false });
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse())
      await stop().catch((err: unknown) => logger.warn({ err }, 'shutdown step failed'));
  };
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping…');
      void stopAll().then(() => process.exit(0));
    });
  }

  try {
    const codecKeyring = loadCodecKeyring(dataDir);
    const dataConverter = createDataConverter(codecKeyring);
    const box = new SecretBox(
      keyringFromEnv('VAULTSCAN_MASTER_KEYS', 'VAULTSCAN_MASTER_KEY_FILE', join(dataDir, 'master.keys')),
    );

    // A cluster named by TEMPORAL_ADDRESS is reached as every process reaches it (TLS, API
    // key); otherwise our own dev server, in plain text on loopback, whatever else is set.
    let settings: TemporalSettings;
    let dev: TemporalDevServer | undefined;
    const applianceEnv = { ...process.env };
    if (process.env.TEMPORAL_ADDRESS) {
      settings = temporalSettingsFromEnv(dataConverter);
    } else {
      const ignored = TEMPORAL_TRANSPORT_VARIABLES.filter((name) => process.env[name]);
      if (ignored.length > 0)
        logger.warn({ ignored }, 'these apply only with TEMPORAL_ADDRESS: the embedded dev server speaks plain text');
      for (const name of TEMPORAL_TRANSPORT_VARIABLES) delete applianceEnv[name];
      dev = await startTemporalDevServer({
        dbFile: join(dataDir, 'temporal.sqlite'),
        port: Number(process.env.VAULTSCAN_TEMPORAL_PORT ?? 7233),
        uiPort: Number(process.env.VAULTSCAN_TEMPORAL_UI_PORT ?? 8233),
        codecEndpoint: `http://${apiHost}:${apiPort}/codec`,
      });
      stops.push(() => dev!.stop());
      settings = { address: dev.address, namespace: process.env.TEMPORAL_NAMESPACE || 'default', dataConverter };
    }
    const { address: temporalAddress, namespace } = settings;

    const database = await openDatabase({ url: process.env.DATABASE_URL, pgliteDir: join(dataDir, 'pglite') });
    stops.push(() => database.close());
    const local = await applianceRepo.ensure(
      database.db,
      'local',
      'The appliance worker that npm start runs on this machine',
    );
    await profileRepo.getDefault(database.db);

    const client = await connectClient(settings);
    stops.push(() => client.connection.close());
    await ensureSearchAttributes(client, namespace);
    const reconciler = startScanReconciler({ db: database.db, client, logger });
    stops.push(() => reconciler.stop());

    const connection = await connectWorkerConnection(settings);
    const worker = await createControlPlaneWorker({
      connection,
      namespace,
      dataConverter,
      activities: createControlPlaneActivities({ db: database.db, box }),
    });
    const workerRun = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await workerRun;
      await connection.close();
    });

    const firstStart = await ensureFirstAdminKey(database.db, auditChainKeys(box), adminKeyFile);
    const temporalUiUrl = process.env.VAULTSCAN_TEMPORAL_UI_URL ?? dev?.uiUrl;
    const app = await buildApp({
      logger,
      codec: new EncryptionCodec(codecKeyring, { acceptPlaintext: true }),
      temporalUiUrl,
      allowedHostnames: defaultHostnames(apiHost, process.env.VAULTSCAN_API_HOSTNAMES),
      db: database.db,
      box,
      temporal: client,
    });
    await app.listen({ host: apiHost, port: apiPort });
    stops.push(() => app.close());
    const api = `http://${apiHost.includes(':') ? `[${apiHost}]` : apiHost}:${apiPort}`;

    // The local appliance enrols through the API, as any appliance does: with a one-time code.
    const enrolment = localKeyIsEnrolled(local.id, local.keyId)
      ? {}
      : { VAULTSCAN_ENROLMENT_CODE: await localEnrolmentCode(database.db, box, local.id), VAULTSCAN_API_URL: api };
    const appliance = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'workers/appliance/main.ts')], {
      env: {
        ...applianceEnv,
        TEMPORAL_ADDRESS: temporalAddress,
        TEMPORAL_NAMESPACE: namespace,
        VAULTSCAN_APPLIANCE_ID: local.id,
        VAULTSCAN_DATA_DIR: dataDir,
        ...enrolment,
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const applianceExit = new Promise((resolve) => appliance.once('exit', resolve));
    stops.push(async () => {
      if (appliance.exitCode === null) appliance.kill('SIGTERM');
      await applianceExit;
    });

    console.log(`
vaultscan is running (data in ${dataDir})
  API:          ${api}/api/v1   (admin API key in ${adminKeyFile}${firstStart ? ', written just now' : ''})
  API docs:     ${api}/docs
  Sign in:      ${api}/login   (with an API key: lets the Temporal UI in this browser decode payloads)
  Temporal UI:  ${temporalUiUrl ?? `(your cluster at ${temporalAddress})`}
  Appliance:    "local" (${local.id})
Press Ctrl-C to stop.`);
  } catch (err) {
    logger.error({ err }, 'vaultscan failed to start');
    await stopAll();
    process.exit(1);
  }
}

void main();
