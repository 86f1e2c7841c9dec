// `npm start`: the whole product on one machine. A Temporal dev server (with its Web UI),
// PGlite in .data/, the control-plane worker and the API in this process, and one local
// appliance worker in its own process — as a real appliance would be, enrolled with a code.
// The stack lives and stops as one: SIGINT, SIGTERM and SIGHUP stop it in order, and so does
// the end of the process that started this one (npm, tsx, a shell) or of any part of it.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from 'pino';
import { projectRoot } from '../../scripts/tools.mjs';
import { createLogger, installTemporalRuntime } from '../../runtime/logger.js';
import { loadCodecKeyring } from '../../temporal/codec-keys.js';
import { createDataConverter } from '../../temporal/data-converter.js';
import { EncryptionCodec } from '../../temporal/encryption-codec.js';
import {
  connectClient,
  connectWorkerConnection,
  ensureSearchAttributes,
  temporalSettingsFromEnv,
  type TemporalSettings,
} from '../../temporal/connection.js';
import { TEMPORAL_TRANSPORT_VARIABLES } from '../../temporal/tls-settings.js';
import { startTemporalDevServer, type TemporalDevServer } from './temporal-dev-server.js';
import { createControlPlaneWorker } from '../control-plane/create-worker.js';
import { startScanReconciler } from '../control-plane/scan-reconciler.js';
import { createControlPlaneActivities } from '../../activities/control-plane.js';
import { openDatabase } from '../../db/client.js';
import { SecretBox } from '../../db/crypto.js';
import { keyringFromEnv } from '../../temporal/keyring.js';
import { applianceRepo, auditChainKeys, auditRepo, profileRepo } from '../../db/repositories/index.js';
import type { Database } from '../../db/client.js';
import { buildApp } from '../../api/app.js';
import { ensureFirstAdminKey } from '../../api/first-admin-key.js';
import { defaultHostnames } from '../../api/plugins/host-check.js';
import { keyFilePath } from '../appliance/appliance-key.js';
import { restrictToOwner } from './data-folder.js';
import { embeddedPortNeeds, portSetting, unavailablePort } from './ports.js';
import { StackLifetime, StopRequested } from './stack-lifetime.js';
import { whenParentProcessEnds } from '../../runtime/parent-watch.js';

const dataDir = process.env.VAULTSCAN_DATA_DIR ?? join(projectRoot, '.data');
const apiHost = process.env.VAULTSCAN_API_HOST ?? '127.0.0.1';
/** How long the ordered stop may take before the process exits anyway (its children follow it). */
const STOP_DEADLINE_MS = 30_000;

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

/** Starts every part, registering how each stops as soon as it is up. */
async function startStack(lifetime: StackLifetime, logger: Logger, apiPort: number): Promise<void> {
  const codecKeyring = loadCodecKeyring(dataDir);
  const dataConverter = createDataConverter(codecKeyring);
  const box = new SecretBox(
    keyringFromEnv('VAULTSCAN_MASTER_KEYS', 'VAULTSCAN_MASTER_KEY_FILE', join(dataDir, 'master.keys')),
  );
  /** A part that ends while the stack runs takes the stack with it. */
  const partEnded = (what: string) => {
    if (!lifetime.stopping) void stopAndExit(lifetime, what, true);
  };

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
    const server = await startTemporalDevServer({
      dbFile: join(dataDir, 'temporal.sqlite'),
      logFile: join(dataDir, 'temporal.log'),
      port: portSetting(process.env, 'VAULTSCAN_TEMPORAL_PORT'),
      uiPort: portSetting(process.env, 'VAULTSCAN_TEMPORAL_UI_PORT'),
      codecEndpoint: `http://${apiHost}:${apiPort}/codec`,
      signal: lifetime.signal,
    });
    dev = server;
    void server.exited.then(({ code, signal }) =>
      partEnded(`the Temporal dev server exited (${signal ?? `code ${code}`})`),
    );
    lifetime.started('the Temporal dev server', async () => {
      const { code, signal, forced } = await server.stop();
      if (forced || code !== 0)
        throw new Error(`it ${forced ? 'ignored SIGTERM for 10 s and was killed' : `exited with ${signal ?? code}`}`);
    });
    settings = { address: server.address, namespace: process.env.TEMPORAL_NAMESPACE || 'default', dataConverter };
  }
  const { address: temporalAddress, namespace } = settings;

  const database = await openDatabase({ url: process.env.DATABASE_URL, pgliteDir: join(dataDir, 'pglite') });
  lifetime.started('the database', () => database.close());
  const local = await applianceRepo.ensure(
    database.db,
    'local',
    'The appliance worker that npm start runs on this machine',
  );
  await profileRepo.getDefault(database.db);

  const client = await connectClient(settings);
  lifetime.started('the Temporal client', () => client.connection.close());
  await ensureSearchAttributes(client, namespace);
  const reconciler = startScanReconciler({ db: database.db, client, logger });
  lifetime.started('the scan reconciler', () => reconciler.stop());

  const connection = await connectWorkerConnection(settings);
  lifetime.started("the control-plane worker's connection", () => connection.close());
  const worker = await createControlPlaneWorker({
    connection,
    namespace,
    dataConverter,
    activities: createControlPlaneActivities({ db: database.db, box }),
  });
  const workerRun = worker.run();
  workerRun.then(
    () => partEnded('the control-plane worker stopped'),
    (err: unknown) => {
      logger.error({ err }, 'the control-plane worker failed');
      partEnded('the control-plane worker failed');
    },
  );
  lifetime.started('the control-plane worker', async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerRun;
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
  lifetime.started('the API', () => app.close());
  const api = `http://${apiHost.includes(':') ? `[${apiHost}]` : apiHost}:${apiPort}`;

  // The local appliance enrols through the API, as any appliance does: with a one-time code.
  // It runs in a session of its own (a terminal's Ctrl-C reaches only this process, which
  // stops the parts in order) and holds an IPC channel to us: when this process is gone, however
  // it went, the channel closes and the appliance stops, purging what it holds.
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
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    detached: true,
  });
  appliance.channel?.unref();
  const applianceExit = new Promise<string>((resolve) => {
    appliance.once('exit', (code, signal) => resolve(signal ?? `code ${code}`));
    appliance.once('error', (err) => resolve(err.message));
  });
  void applianceExit.then((how) => partEnded(`the local appliance exited (${how})`));
  lifetime.started('the local appliance', async () => {
    if (appliance.exitCode === null && appliance.signalCode === null) appliance.kill('SIGTERM');
    const how = await applianceExit;
    if (how !== 'code 0') throw new Error(`it exited with ${how}`);
  });
  await applianceIsPolling(appliance, applianceExit, lifetime.signal);

  console.log(`
vaultscan is running (data in ${dataDir})
  API:          ${api}/api/v1   (admin API key in ${adminKeyFile}${firstStart ? ', written just now' : ''})
  API docs:     ${api}/docs
  Sign in:      ${api}/login   (with an API key: lets the Temporal UI in this browser decode payloads)
  Temporal UI:  ${temporalUiUrl ?? `(your cluster at ${temporalAddress})`}
  Appliance:    "local" (${local.id})
Press Ctrl-C to stop.`);
}

/** Resolves once the appliance says its workers poll; rejects when it exits first or a stop begins. */
function applianceIsPolling(appliance: ChildProcess, exit: Promise<string>, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    appliance.on('message', (message: { appliance?: string }) => {
      if (message?.appliance === 'polling') resolve();
    });
    void exit.then((how) => reject(new Error(`the local appliance exited before it polled (${how})`)));
    if (signal.aborted) reject(new StopRequested());
    signal.addEventListener('abort', () => reject(new StopRequested()), { once: true });
  });
}

/**
 * Stops the stack in order, says how that went, and exits. The first call wins: a Ctrl-C
 * reaches this process twice (from the terminal, and passed on by npm), so a repeated signal
 * cannot mean "hurry"; the deadline below bounds the wait instead.
 */
async function stopAndExit(lifetime: StackLifetime, reason: string, failure = false): Promise<void> {
  if (lifetime.stopping) return;
  // Past the deadline this process exits as it is: the dev server gets SIGTERM from the kernel
  // and the appliance sees its channel close, so nothing of the stack is left running.
  setTimeout(() => {
    console.error(`vaultscan: the stop took longer than ${STOP_DEADLINE_MS / 1000} s; exiting without waiting.`);
    process.exit(1);
  }, STOP_DEADLINE_MS).unref();
  const clean = await lifetime.stop(reason);
  console.log(
    clean
      ? 'vaultscan stopped: every part ended and the data is closed.'
      : 'vaultscan stopped, but not every part ended cleanly (see the warnings above).',
  );
  process.exit(clean && !failure ? 0 : 1);
}

/** A start that cannot go ahead, in one sentence, before anything is touched. */
function refuseToStart(sentence: string): never {
  console.error(`vaultscan: ${sentence}`);
  process.exit(1);
}

async function main(): Promise<void> {
  // Every port must be free before the data folder is opened: a second start next to a running
  // one (or another program) stops here, and leaves the first one's data alone.
  let apiPort: number;
  try {
    apiPort = portSetting(process.env, 'VAULTSCAN_API_PORT');
    const taken = await unavailablePort(embeddedPortNeeds(process.env, apiHost));
    if (taken) refuseToStart(taken);
  } catch (err) {
    refuseToStart((err as Error).message);
  }

  // Everything this process and its children create (PGlite's files, Temporal's SQLite, keys)
  // is for the owner alone; what an earlier version left more open is closed now.
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  restrictToOwner(dataDir);
  const logger = createLogger('vaultscan');
  installTemporalRuntime(logger, { handleSignals: false });
  const lifetime = new StackLifetime(logger);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(signal, () => void stopAndExit(lifetime, `${signal} received`));
  // npm passes on SIGINT and SIGTERM but dies of SIGHUP alone; tsx's CLI dies of SIGHUP too.
  whenParentProcessEnds(() => void stopAndExit(lifetime, 'the process that started it ended'));

  try {
    await lifetime.starting(startStack(lifetime, logger, apiPort));
  } catch (err) {
    if (err instanceof StopRequested || lifetime.stopping) return;
    logger.error({ err }, 'vaultscan failed to start');
    await stopAndExit(lifetime, 'the start failed', true);
  }
}

void main();
