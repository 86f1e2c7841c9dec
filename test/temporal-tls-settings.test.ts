// Temporal's TLS and API-key environment variables → connection settings, and the one sentence
// each kind of bad setting stops a process with. No servers: temporal-tls.test.ts connects.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { temporalTransportFromEnv, type Environment } from '../temporal/tls-settings.js';
import { temporalSettingsFromEnv } from '../temporal/connection.js';
import { createCa, issueCertificate, type CertificateFiles } from './harness/tls-certs.js';

let dir: string;
let ca: CertificateFiles;
let client: CertificateFiles;
let other: CertificateFiles;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vstest-tls-settings-'));
  ca = createCa(dir, 'vstest-ca');
  client = issueCertificate(ca, dir, 'vstest-client', 'client');
  other = issueCertificate(ca, dir, 'vstest-other-client', 'client');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const refusal = (env: Environment) => {
  try {
    temporalTransportFromEnv(env);
  } catch (err) {
    expect((err as Error).name).toBe('TemporalSettingsError');
    return (err as Error).message;
  }
  throw new Error('the settings were accepted');
};

describe('settings from the environment', () => {
  it('no variable: plain text, as the dev server speaks', () => {
    expect(temporalTransportFromEnv({})).toEqual({});
    expect(temporalTransportFromEnv({ TEMPORAL_TLS: 'false' })).toEqual({});
  });

  it('an empty variable counts as unset', () => {
    expect(temporalTransportFromEnv({ TEMPORAL_API_KEY: '', TEMPORAL_TLS_CLIENT_CERT_PATH: ' ' })).toEqual({});
  });

  it('TEMPORAL_TLS=true alone: TLS checked against the system CAs', () => {
    expect(temporalTransportFromEnv({ TEMPORAL_TLS: 'true' })).toEqual({ tls: {} });
    expect(temporalTransportFromEnv({ TEMPORAL_TLS: '1' })).toEqual({ tls: {} });
  });

  it('an API key turns TLS on', () => {
    expect(temporalTransportFromEnv({ TEMPORAL_API_KEY: 'key-1' })).toEqual({ tls: {}, apiKey: 'key-1' });
  });

  it('paths: CA, client certificate and key, server name', () => {
    const transport = temporalTransportFromEnv({
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
      TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: client.key,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    expect(transport.apiKey).toBeUndefined();
    expect(transport.tls).toEqual({
      serverNameOverride: 'temporal.internal',
      serverRootCACertificate: readFileSync(ca.cert),
      clientCertPair: { crt: readFileSync(client.cert), key: readFileSync(client.key) },
    });
  });

  it('inline PEM data, as Temporal defines it (…_DATA)', () => {
    const transport = temporalTransportFromEnv({
      TEMPORAL_TLS_SERVER_CA_CERT_DATA: readFileSync(ca.cert, 'utf8'),
      TEMPORAL_TLS_CLIENT_CERT_DATA: readFileSync(client.cert, 'utf8'),
      TEMPORAL_TLS_CLIENT_KEY_DATA: readFileSync(client.key, 'utf8'),
    });
    expect(transport.tls?.clientCertPair?.crt.toString()).toContain('-----BEGIN CERTIFICATE-----');
    expect(transport.tls?.serverRootCACertificate).toBeDefined();
  });

  it('TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, with the TLS settings beside them', () => {
    const settings = temporalSettingsFromEnv(
      {},
      { TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'k' },
    );
    expect(settings).toMatchObject({ address: 'ns.acct.tmprl.cloud:7233', namespace: 'ns.acct', tls: {}, apiKey: 'k' });
    expect(temporalSettingsFromEnv({}, {})).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default' });
  });
});

describe('bad settings stop the process with one sentence naming the variable', () => {
  it('a path that does not exist', () => {
    const missing = join(dir, 'nope.pem');
    expect(refusal({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: missing })).toBe(
      `TEMPORAL_TLS_SERVER_CA_CERT_PATH names ${missing}, which cannot be read (ENOENT): point it at a readable PEM file`,
    );
  });

  it('a certificate without its key, and a key without its certificate', () => {
    expect(refusal({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert })).toBe(
      'TEMPORAL_TLS_CLIENT_CERT_PATH is set without a client key: set TEMPORAL_TLS_CLIENT_KEY_PATH (or TEMPORAL_TLS_CLIENT_KEY_DATA) as well',
    );
    expect(refusal({ TEMPORAL_TLS_CLIENT_KEY_DATA: readFileSync(client.key, 'utf8') })).toBe(
      'TEMPORAL_TLS_CLIENT_KEY_DATA is set without a client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH (or TEMPORAL_TLS_CLIENT_CERT_DATA) as well',
    );
  });

  it('a file that holds no certificate, or a damaged one', () => {
    const notPem = file('not-pem.pem', 'hello\n');
    expect(refusal({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: notPem })).toBe(
      `TEMPORAL_TLS_SERVER_CA_CERT_PATH (${notPem}) does not hold a readable PEM certificate (no "-----BEGIN CERTIFICATE-----" block): set TEMPORAL_TLS_SERVER_CA_CERT_PATH to the CA certificate that signed the server certificate`,
    );
    const damaged = readFileSync(client.cert, 'utf8').replace(/\n[A-Za-z0-9+/]{20}/, '\nAAAAAAAAAAAAAAAAAAAA');
    expect(refusal({ TEMPORAL_TLS_CLIENT_CERT_DATA: damaged, TEMPORAL_TLS_CLIENT_KEY_PATH: client.key })).toMatch(
      /^TEMPORAL_TLS_CLIENT_CERT_DATA does not hold a readable PEM certificate \(.+\): set TEMPORAL_TLS_CLIENT_CERT_DATA to the client certificate$/,
    );
  });

  it('a key file that holds no key, or an encrypted key', () => {
    expect(refusal({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: client.cert })).toMatch(
      new RegExp(
        `^TEMPORAL_TLS_CLIENT_KEY_PATH \\(${client.cert}\\) does not hold a readable, unencrypted PEM private key \\(.+\\): set TEMPORAL_TLS_CLIENT_KEY_PATH to the client certificate's key$`,
      ),
    );
    const encrypted = join(dir, 'encrypted.key');
    execFileSync('openssl', ['pkey', '-in', client.key, '-aes256', '-passout', 'pass:secret', '-out', encrypted]);
    expect(refusal({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: encrypted })).toContain(
      'does not hold a readable, unencrypted PEM private key',
    );
  });

  it("a key that is not the certificate's", () => {
    expect(refusal({ TEMPORAL_TLS_CLIENT_CERT_PATH: client.cert, TEMPORAL_TLS_CLIENT_KEY_PATH: other.key })).toBe(
      `the private key in TEMPORAL_TLS_CLIENT_KEY_PATH (${other.key}) does not belong to the certificate in TEMPORAL_TLS_CLIENT_CERT_PATH (${client.cert}): set TEMPORAL_TLS_CLIENT_KEY_PATH to that certificate's key`,
    );
  });

  it('a path and inline data for the same thing', () => {
    expect(
      refusal({
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert,
        TEMPORAL_TLS_SERVER_CA_CERT_DATA: readFileSync(ca.cert, 'utf8'),
      }),
    ).toBe('set TEMPORAL_TLS_SERVER_CA_CERT_PATH or TEMPORAL_TLS_SERVER_CA_CERT_DATA, not both');
  });

  it('a switch that is neither true nor false', () => {
    expect(refusal({ TEMPORAL_TLS: 'yes' })).toBe('TEMPORAL_TLS must be true or false (or 1 or 0), not "yes"');
  });

  it('TLS switched off while an API key or certificates are set', () => {
    expect(refusal({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })).toBe(
      'TEMPORAL_TLS=false would send TEMPORAL_API_KEY in clear text: unset TEMPORAL_TLS (an API key turns TLS on)',
    );
    expect(refusal({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca.cert })).toBe(
      'TEMPORAL_TLS_SERVER_CA_CERT_PATH is set but TEMPORAL_TLS=false: unset one of the two',
    );
  });

  it('host verification cannot be switched off with this SDK', () => {
    expect(refusal({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' })).toBe(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION=true is not supported by the TypeScript SDK: unset it and set TEMPORAL_TLS_SERVER_NAME to a name in the server certificate instead',
    );
    expect(temporalTransportFromEnv({ TEMPORAL_TLS: 'true', TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'false' })).toEqual(
      {
        tls: {},
      },
    );
  });

  it('the API key never appears in a message', () => {
    const apiKey = 'vstest-secret-api-key';
    expect(refusal({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: apiKey })).not.toContain(apiKey);
  });
});
