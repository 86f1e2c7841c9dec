import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import protos from '@temporalio/proto';

// A CommonJS package: Node's ESM loader sees only its default export.
const { temporal } = protos;
import { SEARCH_ATTRIBUTES } from '../domain/search-attributes.js';
import { explainConnectFailure } from './connect-diagnosis.js';
import { temporalTransportFromEnv, type Environment, type TemporalTransport } from './tls-settings.js';

/** Where Temporal is and how to reach it; without `tls` the connection is plain text. */
export interface TemporalSettings extends TemporalTransport {
  address: string;
  namespace: string;
  dataConverter: DataConverter;
}

/** TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and the TLS / API-key variables of tls-settings.ts. */
export function temporalSettingsFromEnv(
  dataConverter: DataConverter,
  env: Environment = process.env,
): TemporalSettings {
  return {
    address: env.TEMPORAL_ADDRESS || '127.0.0.1:7233',
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    dataConverter,
    ...temporalTransportFromEnv(env),
  };
}

export async function connectClient(settings: TemporalSettings): Promise<Client> {
  const connection = await explained(settings, () =>
    Connection.connect({ address: settings.address, tls: settings.tls, apiKey: settings.apiKey }),
  );
  return new Client({ connection, namespace: settings.namespace, dataConverter: settings.dataConverter });
}

export function connectWorkerConnection(settings: TemporalSettings): Promise<NativeConnection> {
  return explained(settings, () =>
    NativeConnection.connect({ address: settings.address, tls: settings.tls, apiKey: settings.apiKey }),
  );
}

async function explained<T>(settings: TemporalSettings, connect: () => Promise<T>): Promise<T> {
  try {
    return await connect();
  } catch (err) {
    throw await explainConnectFailure(settings, err);
  }
}

/** Registers our search attributes on a cluster that lacks them (the dev server gets them as flags). */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<void> {
  const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = SEARCH_ATTRIBUTES.filter((k) => !(k.name in (existing.customAttributes ?? {})));
  if (missing.length === 0) return;
  const { IndexedValueType } = temporal.api.enums.v1;
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      missing.map((k) => [
        k.name,
        k.type === 'KEYWORD_LIST'
          ? IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
          : IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
      ]),
    ),
  });
}
