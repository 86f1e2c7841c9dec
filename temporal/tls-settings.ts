// How a process reaches Temporal securely, read from the environment variables Temporal's own
// CLI and SDKs use (docs.temporal.io/references/client-environment-configuration): TLS with a
// private CA, mTLS with a client certificate, and an API key as Temporal Cloud issues them.
// Bad settings stop the process at start with one sentence naming the variable to fix, rather
// than as a TLS handshake that fails later with a vaguer error.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';

export interface TemporalTransport {
  /** Absent: plain text (the dev server). */
  tls?: TLSConfig;
  /** Sent as `Authorization: Bearer <key>` on every call. */
  apiKey?: string;
}

export type Environment = Record<string, string | undefined>;

/** Every variable read here: a process that runs its own dev server keeps them from its children. */
export const TEMPORAL_TRANSPORT_VARIABLES = [
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
] as const;

export class TemporalSettingsError extends Error {
  override name = 'TemporalSettingsError';
}

interface PemSource {
  pem: string;
  /** The variable that supplied it, for messages. */
  variable: string;
  /** Where it came from, for messages: the variable, and the file when there is one. */
  origin: string;
}

export function temporalTransportFromEnv(env: Environment = process.env): TemporalTransport {
  // An empty variable counts as unset: compose files often pass `${X}` for an X nobody set.
  const read = (name: string) => env[name]?.trim() || undefined;

  const tlsSwitch = readBoolean(read, 'TEMPORAL_TLS');
  if (readBoolean(read, 'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION'))
    throw new TemporalSettingsError(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true is not supported by the TypeScript SDK: unset it and set TEMPORAL_TLS_SERVER_NAME to a name in the server certificate instead',
    );
  const apiKey = read('TEMPORAL_API_KEY');
  const serverName = read('TEMPORAL_TLS_SERVER_NAME');
  const clientCert = readPem(read, 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_DATA');
  const clientKey = readPem(read, 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_KEY_DATA');
  const serverCa = readPem(read, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA');

  if (tlsSwitch === false) {
    // Temporal's SDKs would silently drop these; an operator who set them meant TLS.
    if (apiKey)
      throw new TemporalSettingsError(
        'TEMPORAL_TLS=false would send TEMPORAL_API_KEY in clear text: unset TEMPORAL_TLS (an API key turns TLS on)',
      );
    const stray = [
      clientCert?.variable,
      clientKey?.variable,
      serverCa?.variable,
      serverName && 'TEMPORAL_TLS_SERVER_NAME',
    ];
    const contradiction = stray.find(Boolean);
    if (contradiction)
      throw new TemporalSettingsError(`${contradiction} is set but TEMPORAL_TLS=false: unset one of the two`);
    return {};
  }
  const wantsTls = tlsSwitch === true || apiKey || clientCert || clientKey || serverCa || serverName;
  if (!wantsTls) return {};

  const tls: TLSConfig = {};
  if (serverName) tls.serverNameOverride = serverName;
  if (serverCa) {
    parseCertificates(serverCa, 'the CA certificate that signed the server certificate');
    tls.serverRootCACertificate = Buffer.from(serverCa.pem);
  }
  if (clientCert || clientKey) {
    if (!clientKey)
      throw new TemporalSettingsError(
        `${clientCert!.variable} is set without a client key: set TEMPORAL_TLS_CLIENT_KEY_PATH (or TEMPORAL_TLS_CLIENT_KEY_DATA) as well`,
      );
    if (!clientCert)
      throw new TemporalSettingsError(
        `${clientKey.variable} is set without a client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH (or TEMPORAL_TLS_CLIENT_CERT_DATA) as well`,
      );
    const [leaf] = parseCertificates(clientCert, 'the client certificate');
    const key = parsePrivateKey(clientKey);
    if (!leaf!.checkPrivateKey(key))
      throw new TemporalSettingsError(
        `the private key in ${clientKey.origin} does not belong to the certificate in ${clientCert.origin}: set ${clientKey.variable} to that certificate's key`,
      );
    tls.clientCertPair = { crt: Buffer.from(clientCert.pem), key: Buffer.from(clientKey.pem) };
  }
  return apiKey ? { tls, apiKey } : { tls };
}

type Reader = (name: string) => string | undefined;

function readBoolean(read: Reader, name: string): boolean | undefined {
  const value = read(name);
  if (value === undefined) return undefined;
  const lower = value.toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw new TemporalSettingsError(`${name} must be true or false (or 1 or 0), not "${value}"`);
}

function readPem(read: Reader, pathVariable: string, dataVariable: string): PemSource | undefined {
  const path = read(pathVariable);
  const data = read(dataVariable);
  if (path && data) throw new TemporalSettingsError(`set ${pathVariable} or ${dataVariable}, not both`);
  if (data) return { pem: data, variable: dataVariable, origin: dataVariable };
  if (!path) return undefined;
  try {
    return { pem: readFileSync(path, 'utf8'), variable: pathVariable, origin: `${pathVariable} (${path})` };
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new TemporalSettingsError(
      `${pathVariable} names ${path}, which cannot be read (${reason}): point it at a readable PEM file`,
    );
  }
}

const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM bundle, so a broken one is reported now rather than mid-handshake. */
function parseCertificates(source: PemSource, what: string): X509Certificate[] {
  const blocks = source.pem.match(CERTIFICATE_BLOCK) ?? [];
  try {
    if (blocks.length === 0) throw new Error('no "-----BEGIN CERTIFICATE-----" block');
    return blocks.map((block) => new X509Certificate(block));
  } catch (err) {
    throw new TemporalSettingsError(
      `${source.origin} does not hold a readable PEM certificate (${(err as Error).message}): set ${source.variable} to ${what}`,
    );
  }
}

function parsePrivateKey(source: PemSource): KeyObject {
  try {
    return createPrivateKey(source.pem);
  } catch (err) {
    // Node's reason names the format problem (or a passphrase), never the key itself.
    throw new TemporalSettingsError(
      `${source.origin} does not hold a readable, unencrypted PEM private key (${(err as Error).message}): set ${source.variable} to the client certificate's key`,
    );
  }
}
