// Temporal over TLS, mTLS and with an API key, end to end. The dev server cannot serve TLS, so
// a TLS-terminating HTTP/2 proxy (test/harness/tls-proxy.ts) sits in front of it; the client
// (grpc-js) and the worker connection (Rust core) are built only from Temporal's environment
// variables, as every vaultscan process builds them, and must run a workflow through it.
import { generateApplianceKeyPair } from '../activities/secrets/sealed-access.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import {
  connectClient,
  connectWorkerConnection,
  temporalSettingsFromEnv,
  type TemporalSettings,
} from '../temporal/connection.js';
import type { Environment } from '../temporal/tls-settings.js';
import { startTemporalDevServer, type TemporalDevServer } from '../workers/embedded/temporal-dev-server.js';
import { createCa, issueCertificate, type CertificateFiles } from './harness/tls-certs.js';
import { startTlsProxy, type TlsProxy } from './harness/tls-proxy.js';
import { spawnAppliance } from './harness/appliance-process.js';
import type { echoWorkflow } from './harness/tls-workflows.js';

const CLIENT_CN = 'vstest-temporal-client';
const POLL_WORKFLOW_TASKS = '/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue';
const START_WORKFLOW = '/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution';

let dir: string;
let ca: CertificateFiles;
let otherCa: CertificateFiles;
let clientCert: CertificateFiles;
let temporal: TemporalDevServer;
let tlsProxy: TlsProxy;
let mtlsProxy: TlsProxy;
let workflowBundle: WorkflowBundle;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  dir = mkdtempSync(join(tmpdir(), 'vstest-tls-'));
  ca = createCa(dir, 'vstest-ca');
  otherCa = createCa(dir, 'vstest-other-ca');
  const serverCert = issueCertificate(ca, dir, 'vstest-temporal-server', 'server');
  clientCert = issueCertificate(ca, dir, CLIENT_CN, 'client');
  temporal = await startTemporalDevServer({ ui: false });
  const front = { upstream: temporal.address, cert: readFileSync(serverCert.cert), key: readFileSync(serverCert.key) };
  tlsProxy = await startTlsProxy(front);
  mtlsProxy = await startTlsProxy({ ...front, clientCa: readFileSync(ca.cert) });
  workflowBundle = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./harness/tls-workflows.ts', import.meta.url)),
    logger: new DefaultLogger('WARN'),
  });
});

afterAll(async () => {
  await tlsProxy?.stop();
  await mtlsProxy?.stop();
  await temporal?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const settingsFrom = (env: Environment): TemporalSettings => temporalSettingsFromEnv({}, env);

/** Client and worker connection from `settings`: the worker runs a workflow the client starts. */
async function runWorkflowThrough(settings: TemporalSettings): Promise<string> {
  const client = await connectClient(settings);
  const connection = await connectWorkerConnection(settings).catch(async (err: unknown) => {
    await client.connection.close();
    throw err;
  });
  try {
    const taskQueue = `tls-${randomUUID()}`;
    const worker = await Worker.create({ connection, namespace: settings.namespace, taskQueue, workflowBundle });
    return await worker.runUntil(
      client.workflow.execute<typeof echoWorkflow>('echoWorkflow', {
        taskQueue,
        workflowId: taskQueue,
        args: ['over TLS'],
      }),
    );
  } finally {
    await connection.close();
    await client.connection.close();
  }
}

/** The errors connectClient and connectWorkerConnection stop with; each must fail. */
async function refusals(settings: TemporalSettings): Promise<{ client: Error; worker: Error }> {
  const refused = async (connect: Promise<{ close(): Promise<void> }>) => {
    const outcome = await connect.catch((err: unknown) => err as Error);
    if (outcome instanceof Error) return outcome;
    await outcome.close();
    throw new Error(`connected to ${settings.address}, but should have been refused`);
  };
  const [client, worker] = await Promise.all([
    refused(connectClient(settings).then((c) => c.connection)),
    refused(connectWorkerConnection(settings)),
  ]);
  return { client, worker };
}

describe('TLS: the server certificate is checked against TEMPORAL_TLS_SERVER_CA_CERT_PATH', () => {
  it('the client and a worker connection run a workflow through TLS', async () => {
    const before = tlsProxy.calls.length;
    const result = await runWorkflowThrough(
      settingsFrom({ TEMPORAL_ADDRESS: tlsProxy.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert }),
    );
    expect(result).toBe('echo: over TLS');
    const calls = tlsProxy.calls.slice(before);
    expect(calls.map((c) => c.path)).toEqual(expect.arrayContaining([START_WORKFLOW, POLL_WORKFLOW_TASKS]));
    expect(calls.every((c) => c.authorization === undefined)).toBe(true);
  });

  it('a server certificate from another CA is refused by both connections, naming the variable to fix', async () => {
    const { client, worker } = await refusals(
      settingsFrom({ TEMPORAL_ADDRESS: tlsProxy.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: otherCa.cert }),
    );
    for (const error of [client, worker])
      expect(error.message).toBe(
        `could not connect to Temporal at ${tlsProxy.address} over TLS: the server certificate is not signed by a CA this process trusts: set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA that signed it (unable to verify the first certificate)`,
      );
    // The Rust core's own verdict, kept as the cause: not just the diagnosis probe's.
    expect(String((worker.cause as Error).message)).toContain('UnknownIssuer');
  });

  it('TEMPORAL_TLS_SERVER_NAME is the name checked against the server certificate', async () => {
    const { client, worker } = await refusals(
      settingsFrom({
        TEMPORAL_ADDRESS: tlsProxy.address,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
        TEMPORAL_TLS_SERVER_NAME: 'not-in-the-certificate.example',
      }),
    );
    for (const error of [client, worker])
      expect(error.message).toContain(
        'the server certificate is not issued for that host name: set TEMPORAL_TLS_SERVER_NAME to a name it is issued for',
      );
    expect(String((worker.cause as Error).message)).toMatch(/NotValidForName/);
  });
});

describe('mTLS: the proxy demands a client certificate signed by the CA', () => {
  it('the client and a worker connection present TEMPORAL_TLS_CLIENT_CERT_PATH and run a workflow', async () => {
    const before = mtlsProxy.calls.length;
    const result = await runWorkflowThrough(
      settingsFrom({
        TEMPORAL_ADDRESS: mtlsProxy.address,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
        TEMPORAL_TLS_SERVER_NAME: 'localhost',
        TEMPORAL_TLS_CLIENT_CERT_PATH: clientCert.cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: clientCert.key,
      }),
    );
    expect(result).toBe('echo: over TLS');
    const calls = mtlsProxy.calls.slice(before);
    expect(calls.map((c) => c.path)).toEqual(expect.arrayContaining([START_WORKFLOW, POLL_WORKFLOW_TASKS]));
    expect(new Set(calls.map((c) => c.clientCertificate))).toEqual(new Set([CLIENT_CN]));
  });

  it('without a client certificate the handshake is refused and both connections fail, naming the variables', async () => {
    const handshakesBefore = mtlsProxy.handshakeErrors.length;
    const { client, worker } = await refusals(
      settingsFrom({ TEMPORAL_ADDRESS: mtlsProxy.address, TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert }),
    );
    for (const error of [client, worker])
      expect(error.message).toBe(
        `could not connect to Temporal at ${mtlsProxy.address} over TLS: the server refused this client's certificate, or the lack of one: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH to a client certificate the server trusts (tlsv13 alert certificate required)`,
      );
    expect(String((worker.cause as Error).message)).toContain('CertificateRequired');
    expect(mtlsProxy.handshakeErrors.slice(handshakesBefore).join('\n')).toContain('peer did not return a certificate');
  });

  it('a client certificate from another CA is refused', async () => {
    const stranger = issueCertificate(otherCa, dir, 'vstest-stranger', 'client');
    const { client, worker } = await refusals(
      settingsFrom({
        TEMPORAL_ADDRESS: mtlsProxy.address,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
        TEMPORAL_TLS_CLIENT_CERT_PATH: stranger.cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: stranger.key,
      }),
    );
    // Node's TLS server refuses an untrusted certificate by hanging up, not with an alert.
    for (const error of [client, worker])
      expect(error.message).toBe(
        `could not connect to Temporal at ${mtlsProxy.address} over TLS: the server hung up right after the TLS handshake, as servers do when they refuse a client certificate or its absence: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH to a client certificate the server trusts`,
      );
    // The Rust core sees the hang-up as a closed or a reset connection, depending on timing.
    expect(String((worker.cause as Error).message)).toMatch(/peer closed connection|ConnectionReset/);
    expect(mtlsProxy.calls.some((c) => c.clientCertificate === 'vstest-stranger')).toBe(false);
  });
});

describe('API key', () => {
  it('turns TLS on and is sent as Authorization: Bearer by the client and the worker', async () => {
    const apiKey = `vstest-${randomBytes(12).toString('hex')}`;
    const before = tlsProxy.calls.length;
    const result = await runWorkflowThrough(
      settingsFrom({
        TEMPORAL_ADDRESS: tlsProxy.address,
        TEMPORAL_API_KEY: apiKey,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
      }),
    );
    expect(result).toBe('echo: over TLS');
    const calls = tlsProxy.calls.slice(before);
    expect(calls.map((c) => c.path)).toEqual(expect.arrayContaining([START_WORKFLOW, POLL_WORKFLOW_TASKS]));
    expect(new Set(calls.map((c) => c.authorization))).toEqual(new Set([`Bearer ${apiKey}`]));
  });
});

/** An appliance private key as VAULTSCAN_APPLIANCE_KEY takes it (raw X25519, base64). */
const applianceKeyForEnv = async () => Buffer.from((await generateApplianceKeyPair()).privateKeyRaw).toString('base64');

describe('a vaultscan process', () => {
  it('the appliance process polls through mTLS from the environment alone', async () => {
    const before = mtlsProxy.calls.length;
    const appliance = spawnAppliance({
      temporalAddress: mtlsProxy.address,
      applianceId: `tls-${randomUUID()}`,
      codecKeys: `test:${randomBytes(32).toString('base64')}`,
      logFile: join(dir, 'appliance-mtls.log'),
      dataDir: dir,
      env: {
        VAULTSCAN_APPLIANCE_KEY: await applianceKeyForEnv(),
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
        TEMPORAL_TLS_CLIENT_CERT_PATH: clientCert.cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: clientCert.key,
      },
    });
    try {
      await appliance.ready;
      await expect
        .poll(() => mtlsProxy.calls.slice(before).map((c) => c.path))
        .toContain('/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue');
      expect(new Set(mtlsProxy.calls.slice(before).map((c) => c.clientCertificate))).toEqual(new Set([CLIENT_CN]));
    } finally {
      await appliance.kill('SIGTERM');
    }
  });

  it('stops at start with one sentence naming the variable to fix', async () => {
    const logFile = join(dir, 'appliance-bad.log');
    const appliance = spawnAppliance({
      temporalAddress: mtlsProxy.address,
      applianceId: `tls-${randomUUID()}`,
      codecKeys: `test:${randomBytes(32).toString('base64')}`,
      logFile,
      dataDir: dir,
      env: {
        VAULTSCAN_APPLIANCE_KEY: await applianceKeyForEnv(),
        TEMPORAL_TLS_CLIENT_CERT_PATH: join(dir, 'missing.pem'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: clientCert.key,
      },
    });
    await expect(appliance.ready).rejects.toThrow(/exited early \(code 1\)/);
    expect(readFileSync(logFile, 'utf8')).toContain(
      `TEMPORAL_TLS_CLIENT_CERT_PATH names ${join(dir, 'missing.pem')}, which cannot be read (ENOENT): point it at a readable PEM file`,
    );
  });
});
