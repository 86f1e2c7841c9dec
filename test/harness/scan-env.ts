// A complete vaultscan stack for end-to-end tests, built from the product's own parts:
// a Temporal dev server, a database, the control-plane worker, the API on a real port, and
// appliance workers as separate processes. Every log line goes to files the tests can search.
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createLogger, installTemporalRuntime } from '../../runtime/logger.js';
import { parseKeyring } from '../../temporal/keyring.js';
import { createDataConverter } from '../../temporal/data-converter.js';
import { EncryptionCodec } from '../../temporal/encryption-codec.js';
import { connectClient, connectWorkerConnection } from '../../temporal/connection.js';
import { startTemporalDevServer, type TemporalDevServer } from '../../workers/embedded/temporal-dev-server.js';
import { createControlPlaneWorker } from '../../workers/control-plane/create-worker.js';
import { startScanReconciler } from '../../workers/control-plane/scan-reconciler.js';
import { createControlPlaneActivities } from '../../activities/control-plane.js';
import { openDatabase, type OpenedDatabase } from '../../db/client.js';
import { SecretBox } from '../../db/crypto.js';
import { auditChainKeys } from '../../db/repositories/index.js';
import { buildApp } from '../../api/app.js';
import {
  createApplianceWorkers,
  type ApplianceWorkerOptions,
  type ApplianceWorkers,
} from '../../workers/appliance/create-workers.js';
import { spawnAppliance, type ApplianceProcess } from './appliance-process.js';
import { spawnControlPlane, type ControlPlaneProcess } from './control-plane-process.js';
import { freePort } from '../../runtime/net.js';
import { saveHistories } from './saved-histories.js';
import { bundleControlPlaneWorkflows, PGLITE_TEMPLATE_ENV, WORKFLOW_BUNDLE_ENV } from './shared-fixtures.js';
import { ensureFirstAdminKey } from '../../api/first-admin-key.js';
import { enrolAppliance, keyFilePath, loadApplianceKey } from '../../workers/appliance/appliance-key.js';

export interface ScanEnvironment {
  workDir: string;
  logFiles: string[];
  /** The dev server now running (another object after restartTemporal). */
  temporal: TemporalDevServer;
  client: Client;
  database: OpenedDatabase;
  apiUrl: string;
  /** The Temporal Web UI, when started with webUi. */
  uiUrl: string | undefined;
  /** The first admin key, as a first start writes it. */
  adminKey: string;
  codecKeys: string;
  /** Calls the API with the admin key, or the key given. */
  api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    options?: { key?: string },
  ): Promise<{ status: number; body: T; text: string }>;
  /** A new API key with this role (created with the admin key). */
  createKey(role: 'admin' | 'operator' | 'auditor', name?: string): Promise<string>;
  /** Starts an appliance process; the first start of an appliance enrols it with a fresh code. */
  startAppliance(applianceId: string): Promise<ApplianceProcess>;
  /** The appliance process's data folder (its key file lives there). */
  applianceDataDir(applianceId: string): string;
  /** Enrols the appliance (a fresh key in its data folder) without starting a worker; returns the key file. */
  enrolAppliance(applianceId: string): Promise<string>;
  /** Appliance workers inside this process, with simulated vaults or technologies. */
  startSimulatedAppliance(
    applianceId: string,
    overrides: Pick<ApplianceWorkerOptions, 'vaults' | 'technologies' | 'maxConcurrentActivities'>,
  ): Promise<ApplianceWorkers>;
  /** Keeps a workflow's runs for the replay test, when VAULTSCAN_SAVE_HISTORIES=1 (saved-histories.ts). */
  saveHistories(workflowId: string, name: string): Promise<void>;
  /** Ends every appliance process this environment started (SIGKILL: as a crash would). */
  killAppliances(signal: NodeJS.Signals): Promise<void>;
  /**
   * Ends the dev server with the signal (SIGKILL: as a crash would) and starts it again on the
   * same port; with `temporal.dbFile` it keeps what it had. Resolves once it serves again.
   */
  restartTemporal(signal: NodeJS.Signals, downMs?: number): Promise<void>;
  /** The control-plane process now running, with `controlPlane: 'process'`. */
  controlPlane: ControlPlaneProcess | undefined;
  /** Starts a control-plane process (after the last one was killed); resolves once it polls. */
  startControlPlane(): Promise<ControlPlaneProcess>;
  stop(): Promise<void>;
}

const newKeys = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;

export interface ScanEnvironmentOptions {
  databaseUrl?: string;
  /** The Web UI origin the codec endpoint lets in (CORS), when no UI runs here. */
  temporalUiUrl?: string;
  /** Run the dev server's Web UI, pointed at this API's codec endpoint (uiUrl is then set). */
  webUi?: boolean;
  /** Called with the API before it listens: a test may add hooks that observe its requests. */
  instrumentApi?: (app: FastifyInstance) => void;
  /**
   * The dev server keeps its workflows in a SQLite file in the work folder (so a restart keeps
   * them), on a port fixed at the first start (so clients and workers find it again).
   */
  temporalDbFile?: boolean;
  /**
   * 'process': the control-plane worker runs as its own process (workers/control-plane/main.ts),
   * which a test may kill; it needs databaseUrl. Default: a worker inside this process.
   */
  controlPlane?: 'in-process' | 'process';
}

export async function startScanEnvironment(options: ScanEnvironmentOptions = {}): Promise<ScanEnvironment> {
  const workDir = mkdtempSync(join(tmpdir(), 'vstest-scan-'));
  const controlLog = join(workDir, 'control-plane.log');
  const logger = createLogger('test-control-plane', createWriteStream(controlLog));
  installTemporalRuntime(logger, { level: 'INFO' });
  const logFiles = [controlLog];
  const stops: (() => Promise<unknown>)[] = [];

  const codecKeys = newKeys('test');
  const dataConverter = createDataConverter(parseKeyring(codecKeys, 'test'));
  const masterKeys = newKeys('master');
  const box = new SecretBox(parseKeyring(masterKeys, 'test'));
  if (options.controlPlane === 'process' && !options.databaseUrl)
    throw new Error('a control-plane process needs a PostgreSQL databaseUrl');

  // With a Web UI, the API's port is chosen first: the UI is told the codec endpoint at start.
  const apiPort = options.webUi ? await freePort() : 0;
  const temporalOptions = {
    ...(options.webUi ? { codecEndpoint: `http://127.0.0.1:${apiPort}/codec` } : { ui: false }),
    ...(options.temporalDbFile && {
      dbFile: join(workDir, 'temporal.db'),
      port: await freePort(),
      logFile: join(workDir, 'temporal.log'),
    }),
  };
  let temporal = await startTemporalDevServer(temporalOptions);
  stops.push(() => temporal.stop());
  const settings = { address: temporal.address, namespace: 'default', dataConverter };
  const database = await openDatabase({
    url: options.databaseUrl,
    pgliteTemplate: process.env[PGLITE_TEMPLATE_ENV],
  });
  stops.push(() => database.close());
  const client = await connectClient(settings);
  stops.push(() => client.connection.close());
  // As the control plane runs it, but looking often: a test need not wait 30 s.
  const reconciler = startScanReconciler({ db: database.db, client, logger, intervalMs: 500 });
  stops.push(() => reconciler.stop());

  let controlPlane: ControlPlaneProcess | undefined;
  const controlPlanes: ControlPlaneProcess[] = [];
  const startControlPlane = async () => {
    const logFile = join(workDir, `control-plane-${controlPlanes.length + 1}.log`);
    logFiles.push(logFile);
    const started = spawnControlPlane({
      temporalAddress: temporal.address,
      databaseUrl: options.databaseUrl!,
      codecKeys,
      masterKeys,
      logFile,
    });
    controlPlanes.push(started);
    controlPlane = started;
    await started.ready;
    return started;
  };
  if (options.controlPlane === 'process') {
    stops.push(() => Promise.all(controlPlanes.map((c) => c.kill('SIGTERM'))));
    await startControlPlane();
  } else {
    const connection = await connectWorkerConnection(settings);
    // The run's bundle (shared-fixtures.ts), or one of our own.
    const bundled = process.env[WORKFLOW_BUNDLE_ENV];
    const workflowBundle = bundled ? { codePath: bundled } : await bundleControlPlaneWorkflows();
    const worker: Worker = await createControlPlaneWorker({
      connection,
      namespace: 'default',
      dataConverter,
      activities: createControlPlaneActivities({ db: database.db, box }),
      workflowBundle,
    });
    const workerRun = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await workerRun;
      await connection.close();
    });
  }

  const adminKeyFile = join(workDir, 'admin-api-key');
  await ensureFirstAdminKey(database.db, auditChainKeys(box), adminKeyFile);
  const adminKey = readFileSync(adminKeyFile, 'utf8').trim();
  const app: FastifyInstance = await buildApp({
    logger,
    allowedHostnames: ['127.0.0.1', 'localhost'],
    ...((temporal.uiUrl ?? options.temporalUiUrl) && { temporalUiUrl: temporal.uiUrl ?? options.temporalUiUrl }),
    codec: new EncryptionCodec(parseKeyring(codecKeys, 'test'), { acceptPlaintext: true }),
    db: database.db,
    box,
    temporal: client,
  });
  options.instrumentApi?.(app);
  await app.listen({ host: '127.0.0.1', port: apiPort });
  stops.push(() => app.close());
  const address = app.server.address();
  const apiUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const appliances: ApplianceProcess[] = [];
  stops.push(() => Promise.all(appliances.map((a) => a.kill('SIGTERM'))));

  const call: ScanEnvironment['api'] = async (method, path, body, callOptions) => {
    const res = await fetch(`${apiUrl}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${callOptions?.key ?? adminKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* CSV and empty bodies stay text */
    }
    return { status: res.status, body: parsed as never, text };
  };
  const enrolmentCode = async (applianceId: string): Promise<string> => {
    const res = await call('POST', `/appliances/${applianceId}/enrolment-codes`);
    if (res.status !== 201) throw new Error(`no enrolment code for ${applianceId}: ${res.text}`);
    return res.body.code;
  };
  const applianceDataDir = (applianceId: string) => join(workDir, `appliance-${applianceId}`);
  const enrol = async (applianceId: string): Promise<string> => {
    const file = keyFilePath(applianceDataDir(applianceId), applianceId);
    if (!existsSync(file)) await enrolAppliance({ apiUrl, applianceId, code: await enrolmentCode(applianceId), file });
    return file;
  };

  return {
    workDir,
    logFiles,
    get temporal() {
      return temporal;
    },
    get controlPlane() {
      return controlPlane;
    },
    startControlPlane,
    async restartTemporal(signal, downMs = 0) {
      if (!options.temporalDbFile)
        throw new Error('restartTemporal needs temporalDbFile: a new server would know nothing');
      if (temporal.process.exitCode === null && temporal.process.signalCode === null) temporal.process.kill(signal);
      await temporal.exited;
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      const port = Number(temporal.address.split(':').at(-1));
      temporal = await startTemporalDevServer({ ...temporalOptions, port });
    },
    client,
    database,
    apiUrl,
    uiUrl: temporal.uiUrl,
    adminKey,
    codecKeys,
    api: call,
    async createKey(role, name = `${role} ${randomBytes(4).toString('hex')}`) {
      const res = await call('POST', '/api-keys', { name, role });
      if (res.status !== 201) throw new Error(`could not create a ${role} key: ${res.text}`);
      return res.body.key;
    },
    applianceDataDir,
    async startAppliance(applianceId) {
      const logFile = join(workDir, `appliance-${appliances.length + 1}.log`);
      logFiles.push(logFile);
      const dataDir = applianceDataDir(applianceId);
      // Its first start enrols the appliance; later starts (after a crash) use the key file.
      const enrolled = existsSync(keyFilePath(dataDir, applianceId));
      const enrolment = enrolled ? undefined : { code: await enrolmentCode(applianceId), apiUrl };
      const appliance = spawnAppliance({
        temporalAddress: temporal.address,
        applianceId,
        codecKeys,
        logFile,
        dataDir,
        ...(enrolment && { enrolment }),
      });
      appliances.push(appliance);
      await appliance.ready;
      return appliance;
    },
    enrolAppliance: enrol,
    saveHistories: (workflowId, name) =>
      saveHistories(
        client,
        workflowId,
        name,
        new EncryptionCodec(parseKeyring(codecKeys, 'test'), { acceptPlaintext: true }),
      ),
    async startSimulatedAppliance(applianceId, overrides) {
      const file = await enrol(applianceId);
      const applianceConnection = await connectWorkerConnection(settings);
      const workers = await createApplianceWorkers({
        connection: applianceConnection,
        namespace: 'default',
        dataConverter,
        applianceId,
        key: await loadApplianceKey({ file }),
        ...overrides,
      });
      const running = workers.run();
      stops.push(async () => {
        workers.shutdown();
        await running;
        await applianceConnection.close();
      });
      return workers;
    },
    async killAppliances(signal) {
      await Promise.all(appliances.map((a) => a.kill(signal)));
    },
    async stop() {
      for (const stop of stops.reverse()) {
        const started = Date.now();
        await Promise.race([stop().catch(() => undefined), new Promise((r) => setTimeout(r, 30_000))]);
        if (Date.now() - started > 5_000)
          console.warn(`scan-env: a shutdown step took ${Date.now() - started} ms: ${stop.toString().slice(0, 120)}`);
      }
    },
  };
}
