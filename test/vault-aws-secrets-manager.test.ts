// The AWS Secrets Manager adapter (through @aws-sdk/client-secrets-manager) against a real
// moto server: secrets, versions, stages, deleted secrets, and with IAM checking on, real
// SigV4, policies and STS AssumeRole. Moto's auth errors are XML and it never throttles or
// fails KMS, so a fault proxy in front of it answers the service's own JSON error shapes,
// which the SDK itself parses (the vendorCode below is the SDK's exception name).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { awsSecretsManagerVault } from '../activities/vault/aws-secrets-manager.js';
import type { CredentialFields } from '../activities/vault/adapter.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { ScanError } from '../domain/scan-error.js';
import { freePort } from '../runtime/net.js';
import { awsSecretsManagerSpec } from '../vault-types/aws-secrets-manager.js';
import { AWS_FAULTS, startAwsFaultProxy, type AwsFaultProxy, type Fault } from './fakes/aws-fault-proxy.js';
import { startMoto, MOTO_ACCOUNT, MOTO_REGION, type AccessKey, type MotoServer } from './harness/moto.js';
import { createCa, issueCertificate } from './harness/tls-certs.js';

const PASSWORD = 'aws-test-secret-Qx93';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
const STATIC: AccessKey = { accessKeyId: 'AKIAVSTESTEXAMPLE001', secretAccessKey: 'static-secret-key-Zk4' };

let moto: MotoServer;
let proxy: AwsFaultProxy;
let versions: { first: string; second: string };
let arn: string;
const servers: Server[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'vstest-aws-'));

beforeAll(async () => {
  moto = await startMoto();
  arn = (await moto.createSecret('db/web', JSON.stringify({ username: 'svc', password: `${PASSWORD}-1` }))).arn;
  const second = await moto.putSecretValue(
    'db/web',
    JSON.stringify({ username: 'svc', password: PASSWORD, private_key: KEY, passphrase: 'pp', root: 'rootpw', n: 3 }),
  );
  const listed = await moto.admin.send(new GetSecretValueCommand({ SecretId: 'db/web', VersionStage: 'AWSPREVIOUS' }));
  versions = { first: listed.VersionId ?? '', second: second.versionId };
  await moto.createSecret('plain/pw', 'just-a-password');
  await moto.createSecret('bin/key', Buffer.from(KEY));
  await moto.createSecret('gone/soon', JSON.stringify({ password: 'x' }));
  await moto.deleteSecret('gone/soon');
  proxy = await startAwsFaultProxy(moto.url);
});
afterAll(async () => {
  await proxy?.close();
  await moto?.stop();
  for (const s of servers) s.close();
  rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => proxy.reset());

const text = (b?: Buffer) => b?.toString('utf8');
const configFor = (endpoint: string, extra: Record<string, unknown> = {}) => ({
  region: MOTO_REGION,
  endpoint,
  allowInsecureHttp: true,
  credentialSource: 'static',
  ...extra,
});
const read = (
  locator: Record<string, unknown>,
  fields: CredentialFields = { password: 'password' },
  config: Record<string, unknown> = configFor(moto.url),
  access: Record<string, unknown> = { ...STATIC },
) => awsSecretsManagerVault.fetch({ config, access, locator, fields, reason: 'test' });
const viaProxy = (extra: Record<string, unknown> = {}) => configFor(proxy.url, extra);

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [PASSWORD, STATIC.secretAccessKey, 'just-a-password', 'rootpw']) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

describe('reading secrets from moto', () => {
  it('JSON SecretString: every field by the record’s key names', async () => {
    const got = await read(
      { secretId: 'db/web' },
      { password: 'password', privateKey: 'private_key', passphrase: 'passphrase', rootPassword: 'root' },
    );
    expect(got.release).toBeUndefined();
    const c = got.credential;
    expect([text(c.password), text(c.privateKey), text(c.passphrase), text(c.rootPassword)]).toEqual([
      PASSWORD,
      KEY,
      'pp',
      'rootpw',
    ]);
  });
  it('a staging label (AWSPREVIOUS), a version id, and the full ARN', async () => {
    expect(text((await read({ secretId: 'db/web', versionStage: 'AWSPREVIOUS' })).credential.password)).toBe(
      `${PASSWORD}-1`,
    );
    expect(text((await read({ secretId: 'db/web', versionId: versions.first })).credential.password)).toBe(
      `${PASSWORD}-1`,
    );
    expect(text((await read({ secretId: 'db/web', versionId: versions.second })).credential.password)).toBe(PASSWORD);
    expect(text((await read({ secretId: arn })).credential.password)).toBe(PASSWORD);
  });
  it('a plain-text secret serves a password alone; a binary one a private key alone', async () => {
    expect(text((await read({ secretId: 'plain/pw' })).credential.password)).toBe('just-a-password');
    const two = await failure(read({ secretId: 'plain/pw' }, { password: 'password', privateKey: 'key' }));
    expect(two.code).toBe('VAULT_BAD_RESPONSE');
    expect(two.message).toMatch(/not a JSON object/);
    expect(text((await read({ secretId: 'bin/key' }, { privateKey: 'key' })).credential.privateKey)).toBe(KEY);
    expect((await failure(read({ secretId: 'bin/key' }))).code).toBe('VAULT_BAD_RESPONSE');
  });
  it('checkAccess signs a call without reading a secret', async () => {
    await awsSecretsManagerVault.checkAccess({ config: viaProxy(), access: { ...STATIC } });
    expect(proxy.reads()).toBe(0);
    expect(proxy.counts.ListSecrets).toBe(1);
  });
});

describe('state errors from moto', () => {
  it('a deleted secret → VAULT_SECRET_NOT_FOUND (InvalidRequestException)', async () => {
    const e = await failure(read({ secretId: 'gone/soon' }));
    expect(e).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', vendorCode: 'InvalidRequestException', httpStatus: 400 });
    expect(e.message).toMatch(/marked deleted/);
  });
  it('no such secret, stage or version → VAULT_SECRET_NOT_FOUND (ResourceNotFoundException)', async () => {
    for (const locator of [
      { secretId: 'db/none' },
      { secretId: 'db/web', versionStage: 'AWSPENDING' },
      { secretId: 'db/web', versionId: '00000000-0000-0000-0000-000000000000' },
      { secretId: `arn:aws:secretsmanager:${MOTO_REGION}:${MOTO_ACCOUNT}:secret:db/none-AbCdEf` },
    ])
      expect(await failure(read(locator))).toMatchObject({
        code: 'VAULT_SECRET_NOT_FOUND',
        vendorCode: 'ResourceNotFoundException',
        httpStatus: 404, // moto; the service answers 400 (covered through the proxy)
      });
  });
  it('a key the JSON lacks → NOT_FOUND; a key that is no string → BAD_RESPONSE', async () => {
    const missingKey = await failure(read({ secretId: 'db/web' }, { password: 'pwd' }));
    expect(missingKey.code).toBe('VAULT_SECRET_NOT_FOUND');
    expect(missingKey.message).toContain('"pwd"');
    expect((await failure(read({ secretId: 'db/web' }, { password: 'n' }))).code).toBe('VAULT_BAD_RESPONSE');
  });
  it('naming no field is a configuration error', async () => {
    expect((await failure(read({ secretId: 'db/web' }, {}))).code).toBe('CONFIG_INVALID');
  });
});

describe('the service’s error shapes (fault proxy; parsed by the SDK)', () => {
  const cases: [keyof typeof AWS_FAULTS, string, number][] = [
    ['unrecognizedClient', 'VAULT_AUTH_FAILED', 400],
    ['invalidClientTokenId', 'VAULT_AUTH_FAILED', 403],
    ['incompleteSignature', 'VAULT_AUTH_FAILED', 400],
    ['requestExpired', 'VAULT_AUTH_FAILED', 400],
    ['expiredToken', 'VAULT_AUTH_FAILED', 400],
    ['invalidSignature', 'VAULT_AUTH_FAILED', 400],
    ['missingToken', 'VAULT_AUTH_FAILED', 403],
    ['optInRequired', 'VAULT_AUTH_FAILED', 403],
    ['notAuthorized', 'VAULT_PERMISSION_DENIED', 400],
    ['accessDenied', 'VAULT_PERMISSION_DENIED', 400],
    ['kmsDenied', 'VAULT_PERMISSION_DENIED', 400],
    ['decryptionFailure', 'VAULT_PERMISSION_DENIED', 400],
    ['notFound', 'VAULT_SECRET_NOT_FOUND', 400],
    ['internalError', 'VAULT_UNAVAILABLE', 500],
    ['internalFailure', 'VAULT_UNAVAILABLE', 500],
    ['serviceUnavailable', 'VAULT_UNAVAILABLE', 503],
    ['internalError400', 'VAULT_UNAVAILABLE', 400],
    ['validationError', 'VAULT_BAD_RESPONSE', 400],
    ['invalidParameter', 'VAULT_BAD_RESPONSE', 400],
  ];
  it.each(cases)('%s → %s', async (name, code, status) => {
    const fault: Fault = AWS_FAULTS[name];
    proxy.inject(fault);
    const e = await failure(read({ secretId: 'db/web' }, { password: 'password' }, viaProxy()));
    expect(e).toMatchObject({ code, httpStatus: status, vendorCode: fault.kind === 'error' ? fault.type : undefined });
    // One attempt: the SDK's own retries are off (a 5xx is retried by the workflow, with backoff).
    expect(proxy.reads()).toBe(1);
  });
  it('a missing KMS grant says so; an expired signature points at the clock', async () => {
    proxy.inject(AWS_FAULTS.kmsDenied);
    expect((await failure(read({ secretId: 'db/web' }, undefined, viaProxy()))).message).toMatch(/kms:Decrypt/);
    proxy.inject(AWS_FAULTS.requestExpired);
    expect((await failure(read({ secretId: 'db/web' }, undefined, viaProxy()))).message).toMatch(/clock/);
  });
  it('a namespaced __type with "Message" is read too', async () => {
    proxy.inject({
      kind: 'error',
      status: 400,
      type: 'com.amazonaws.secretsmanager#ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
      messageKey: 'Message',
    });
    const e = await failure(read({ secretId: 'db/web' }, undefined, viaProxy()));
    expect(e).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', vendorCode: 'ResourceNotFoundException' });
    expect(e.message).toMatch(/can't find/);
  });
  it('throttling is waited out (Retry-After) within the timeout, then VAULT_RATE_LIMITED with the wait', async () => {
    proxy.inject(AWS_FAULTS.throttled, 1);
    const started = Date.now();
    expect(text((await read({ secretId: 'db/web' }, undefined, viaProxy())).credential.password)).toBe(PASSWORD);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(proxy.reads()).toBe(2);
    proxy.reset();
    proxy.inject({ ...AWS_FAULTS.throttled, retryAfter: '30' });
    const e = await failure(read({ secretId: 'db/web' }, undefined, viaProxy({ timeoutMs: 2000 })));
    expect(e).toMatchObject({
      code: 'VAULT_RATE_LIMITED',
      vendorCode: 'ThrottlingException',
      httpStatus: 400,
      retryAfterMs: 30_000,
    });
    expect(proxy.reads()).toBe(1);
  });
  it('HTML, garbage and a 200 without a value → VAULT_BAD_RESPONSE; an HTML 502 → VAULT_UNAVAILABLE', async () => {
    for (const [fault, code, status] of [
      [AWS_FAULTS.html, 'VAULT_BAD_RESPONSE', 200],
      [AWS_FAULTS.garbage, 'VAULT_BAD_RESPONSE', 200],
      [AWS_FAULTS.noValue, 'VAULT_BAD_RESPONSE', 200],
      [AWS_FAULTS.htmlBadGateway, 'VAULT_UNAVAILABLE', 502],
    ] as const) {
      proxy.inject(fault);
      expect(await failure(read({ secretId: 'db/web' }, undefined, viaProxy()))).toMatchObject({
        code,
        httpStatus: status,
      });
    }
    proxy.inject(AWS_FAULTS.noValue);
    expect((await failure(read({ secretId: 'db/web' }, undefined, viaProxy()))).message).toMatch(
      /neither SecretString nor SecretBinary/,
    );
    proxy.inject(AWS_FAULTS.html);
    expect((await failure(read({ secretId: 'db/web' }, undefined, viaProxy()))).message).toMatch(/HTML/);
  });
  it('checkAccess: AccessDeniedException proves the key good; UnrecognizedClientException does not', async () => {
    proxy.inject(AWS_FAULTS.accessDenied);
    await awsSecretsManagerVault.checkAccess({ config: viaProxy(), access: { ...STATIC } });
    proxy.inject(AWS_FAULTS.unrecognizedClient);
    expect(
      await failure(awsSecretsManagerVault.checkAccess({ config: viaProxy(), access: { ...STATIC } })),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'UnrecognizedClientException' });
  });
  it('the SDK itself parses the proxy’s shapes into its own exceptions', async () => {
    const sdk = new SecretsManagerClient({
      region: MOTO_REGION,
      endpoint: proxy.url,
      // A copy: the SDK marks the credentials object it is given.
      credentials: { ...STATIC },
      maxAttempts: 1,
    });
    try {
      proxy.inject(AWS_FAULTS.notFound);
      const notFound = await sdk.send(new GetSecretValueCommand({ SecretId: 'db/web' })).catch((e: unknown) => e);
      expect(notFound).toBeInstanceOf(ResourceNotFoundException);
      expect(notFound).toMatchObject({ $metadata: { httpStatusCode: 400 }, message: AWS_FAULTS.notFound.message });
      proxy.inject(AWS_FAULTS.unrecognizedClient);
      const auth = await sdk.send(new GetSecretValueCommand({ SecretId: 'db/web' })).catch((e: unknown) => e);
      expect(auth).toBeInstanceOf(SecretsManagerServiceException);
      expect(auth).toMatchObject({ name: 'UnrecognizedClientException', $fault: 'client' });
      proxy.inject(AWS_FAULTS.throttled);
      const throttled = await sdk.send(new GetSecretValueCommand({ SecretId: 'db/web' })).catch((e: unknown) => e);
      // Not modelled for Secrets Manager: a generic service exception named by __type, Retry-After on $response.
      expect(throttled).toBeInstanceOf(SecretsManagerServiceException);
      expect(throttled).toMatchObject({
        name: 'ThrottlingException',
        $metadata: { httpStatusCode: 400 },
        $response: { headers: { 'retry-after': '1' } },
      });
    } finally {
      sdk.destroy();
    }
  });
});

describe('transport, deadline and concurrency', () => {
  it('nothing listening → VAULT_UNREACHABLE', async () => {
    const e = await failure(read({ secretId: 'db/web' }, undefined, configFor(`http://127.0.0.1:${await freePort()}`)));
    expect(e.code).toBe('VAULT_UNREACHABLE');
  });
  it('no answer → VAULT_TIMEOUT within timeoutMs', async () => {
    proxy.inject({ kind: 'hang' });
    const started = Date.now();
    expect((await failure(read({ secretId: 'db/web' }, undefined, viaProxy({ timeoutMs: 300 })))).code).toBe(
      'VAULT_TIMEOUT',
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });
  it('a cancelled fetch is no vault failure; a caller’s deadline is VAULT_TIMEOUT', async () => {
    proxy.inject({ kind: 'hang' });
    const controller = new AbortController();
    const cancelled = awsSecretsManagerVault.fetch({
      config: viaProxy(),
      access: { ...STATIC },
      locator: { secretId: 'db/web' },
      fields: { password: 'password' },
      reason: 'test',
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 100);
    await expect(cancelled).rejects.not.toBeInstanceOf(ScanError);
    const deadline = awsSecretsManagerVault.fetch({
      config: viaProxy(),
      access: { ...STATIC },
      locator: { secretId: 'db/web' },
      fields: { password: 'password' },
      reason: 'test',
      signal: AbortSignal.timeout(100),
    });
    await expect(deadline).rejects.toMatchObject({ code: 'VAULT_TIMEOUT' });
  });
  it('a server that is not HTTP → VAULT_BAD_RESPONSE or UNREACHABLE, never a crash', async () => {
    const junk = createTcpServer((s) => s.end('SSH-2.0-OpenSSH_9.2\r\n'));
    servers.push(junk);
    const port = await freePort();
    await new Promise<void>((r) => junk.listen(port, '127.0.0.1', r));
    const e = await failure(read({ secretId: 'db/web' }, undefined, configFor(`http://127.0.0.1:${port}`)));
    expect(['VAULT_BAD_RESPONSE', 'VAULT_UNREACHABLE']).toContain(e.code);
  });
  it('HTTPS: an unknown CA → VAULT_TLS_ERROR; with caCert it is trusted', async () => {
    const ca = createCa(tmp, 'aws-ca');
    const leaf = issueCertificate(ca, tmp, 'aws-server', 'server');
    const tlsProxy = await startAwsFaultProxy(moto.url, {
      cert: readFileSync(leaf.cert, 'utf8'),
      key: readFileSync(leaf.key, 'utf8'),
    });
    try {
      const config = { region: MOTO_REGION, endpoint: tlsProxy.url, credentialSource: 'static' };
      expect((await failure(read({ secretId: 'db/web' }, undefined, config))).code).toBe('VAULT_TLS_ERROR');
      const trusted = { ...config, caCert: readFileSync(ca.cert, 'utf8') };
      expect(text((await read({ secretId: 'db/web' }, undefined, trusted)).credential.password)).toBe(PASSWORD);
      expect(awsSecretsManagerSpec.usesPlainHttp(trusted)).toBe(false);
    } finally {
      await tlsProxy.close();
    }
  });
});

describe('moto with IAM on: real SigV4, policies, the credential chain and AssumeRole', () => {
  let iam: MotoServer;
  let scanner: AccessKey;
  let nobody: AccessKey;
  let roleArn: string;
  beforeAll(async () => {
    // The unauthenticated calls: 3 for the admin, 3 per user, 2 for the role.
    iam = await startMoto({ authenticatedAfter: 3 + 3 + 3 + 2 });
    scanner = await iam.createUser('scanner', {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['secretsmanager:GetSecretValue', 'secretsmanager:ListSecrets'],
          // moto evaluates Secrets Manager actions against Resource "*" only: an ARN pattern never matches.
          Resource: '*',
        },
      ],
    });
    nobody = await iam.createUser('nobody', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }],
    });
    roleArn = await iam.createRole(
      'vstest-reader',
      {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }],
      },
      `arn:aws:iam::${MOTO_ACCOUNT}:user/nobody`,
    );
    await iam.createSecret('servers/web', JSON.stringify({ password: PASSWORD }));
    await iam.createSecret('other/db', JSON.stringify({ password: 'other' }));
  });
  afterAll(async () => {
    await iam?.stop();
  });
  const iamRead = (access: Record<string, unknown>, secretId: string, extra: Record<string, unknown> = {}) =>
    read({ secretId }, undefined, configFor(iam.url, extra), access);

  it('a signed read the policy allows succeeds', async () => {
    expect(text((await iamRead({ ...scanner }, 'servers/web')).credential.password)).toBe(PASSWORD);
  });
  it('a read no policy allows → VAULT_PERMISSION_DENIED (moto’s XML AccessDenied)', async () => {
    expect(await failure(iamRead({ ...nobody }, 'other/db'))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      vendorCode: 'AccessDenied',
      httpStatus: 403,
    });
  });
  it('a wrong secret key or an unknown key → VAULT_AUTH_FAILED (moto’s XML codes)', async () => {
    expect(await failure(iamRead({ ...scanner, secretAccessKey: 'wrong-key' }, 'servers/web'))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'SignatureDoesNotMatch',
      httpStatus: 403,
    });
    expect(await failure(iamRead({ ...STATIC }, 'servers/web'))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'InvalidClientTokenId',
      httpStatus: 403,
    });
  });
  it('credentialSource default-chain takes the appliance’s own credentials (environment)', async () => {
    const saved = { ...process.env };
    try {
      process.env.AWS_ACCESS_KEY_ID = scanner.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = scanner.secretAccessKey;
      const got = await iamRead({}, 'servers/web', { credentialSource: 'default-chain' });
      expect(text(got.credential.password)).toBe(PASSWORD);
      // Nothing to find (no environment, no profile, no instance metadata): the setup is wrong, no login failed.
      delete process.env.AWS_ACCESS_KEY_ID;
      delete process.env.AWS_SECRET_ACCESS_KEY;
      process.env.AWS_SHARED_CREDENTIALS_FILE = join(tmp, 'none');
      process.env.AWS_CONFIG_FILE = join(tmp, 'none');
      process.env.AWS_EC2_METADATA_DISABLED = 'true';
      expect(
        await failure(iamRead({}, 'servers/web', { credentialSource: 'default-chain', timeoutMs: 5000 })),
      ).toMatchObject({ code: 'CONFIG_INVALID', vendorCode: 'CredentialsProviderError' });
    } finally {
      process.env = saved;
    }
  });
  it('checkAccess: a good key passes even without list rights; a bad key or a refused role does not', async () => {
    const check = (access: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      awsSecretsManagerVault.checkAccess({ config: configFor(iam.url, extra), access });
    await check({ ...scanner });
    await check({ ...nobody }); // moto: 403 AccessDenied to ListSecrets, so the key itself is good
    expect(await failure(check({ ...scanner, secretAccessKey: 'wrong-key' }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'SignatureDoesNotMatch',
    });
    await check({ ...nobody }, { roleArn, stsEndpoint: iam.url });
    // The role trusts nobody, not scanner: AssumeRole's AccessDenied is a real refusal.
    const refused = await failure(check({ ...scanner }, { roleArn, stsEndpoint: iam.url }));
    expect(refused).toMatchObject({ code: 'VAULT_PERMISSION_DENIED', vendorCode: 'AccessDenied' });
    expect(refused.message).toMatch(/assuming role/);
  });
  it('roleArn: the read runs as the assumed role (STS AssumeRole at stsEndpoint)', async () => {
    // "nobody" may read nothing itself; the role may.
    expect((await failure(iamRead({ ...nobody }, 'other/db'))).code).toBe('VAULT_PERMISSION_DENIED');
    const got = await iamRead({ ...nobody }, 'other/db', { roleArn, stsEndpoint: iam.url });
    expect(text(got.credential.password)).toBe('other');
    // A bad key fails at STS, and says so.
    const e = await failure(
      iamRead({ ...nobody, secretAccessKey: 'wrong' }, 'other/db', { roleArn, stsEndpoint: iam.url }),
    );
    expect(e.code).toBe('VAULT_AUTH_FAILED');
    expect(e.message).toMatch(/assuming role/);
  });
});

/** The field the API names when it refuses these settings; undefined when it takes them. */
function refusedField(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiProblem);
    return (err as ApiProblem).field;
  }
}
const TYPE = 'aws-secrets-manager';
const configField = (config: Record<string, unknown>) => refusedField(() => checkVaultSettings(TYPE, { config }));
const accessField = (access: Record<string, unknown>, config: Record<string, unknown>) =>
  refusedField(() => checkVaultSettings(TYPE, { config, access }));
const locatorField = (locator: Record<string, unknown>) => refusedField(() => checkLocator(TYPE, locator));

describe('validation names the field and the reason', () => {
  const base = { region: 'eu-central-1', credentialSource: 'static' };
  it.each([
    [{ ...base, region: 'Frankfurt' }, 'config.region'],
    [{ credentialSource: 'static' }, 'config.region'],
    [{ ...base, credentialSource: 'instance' }, 'config.credentialSource'],
    [{ ...base, endpoint: 'http://127.0.0.1:4566' }, 'config.endpoint'],
    [{ ...base, endpoint: 'ftp://x' }, 'config.endpoint'],
    [{ ...base, endpoint: 'https://k:s@x' }, 'config.endpoint'],
    [{ ...base, roleArn: 'arn:aws:iam::12345:role/x' }, 'config.roleArn'],
    [{ ...base, stsEndpoint: 'https://sts.example' }, 'config.roleArn'],
    [{ ...base, caCert: '-----BEGIN CERTIFICATE----- junk' }, 'config.caCert'],
    [{ ...base, timeoutMs: 5 }, 'config.timeoutMs'],
    [{ ...base, maxConcurrentRequests: 0 }, 'config.maxConcurrentRequests'],
    [{ ...base, url: 'https://x' }, 'config.url'],
  ])('config %j', (config, field) => {
    expect(configField(config)).toBe(field);
  });
  it('accepts https, the regional default, and plain http only with allowInsecureHttp: true', () => {
    expect(configField(base)).toBeUndefined();
    expect(awsSecretsManagerSpec.usesPlainHttp(base)).toBe(false);
    expect(
      configField({
        ...base,
        endpoint: 'https://vpce-1.secretsmanager.eu-central-1.vpce.amazonaws.com',
        roleArn: 'arn:aws-us-gov:iam::111122223333:role/path/scanner',
      }),
    ).toBeUndefined();
    const lab = { ...base, endpoint: 'http://127.0.0.1:4566', allowInsecureHttp: true };
    expect(configField(lab)).toBeUndefined();
    expect(awsSecretsManagerSpec.usesPlainHttp(lab)).toBe(true);
  });
  it('access: static needs the key pair; default-chain takes none', () => {
    expect(accessField({}, base)).toBe('access.accessKeyId');
    expect(accessField({ accessKeyId: 'AKIAVSTESTEXAMPLE001' }, base)).toBe('access.secretAccessKey');
    expect(accessField({ accessKeyId: 'akia-lower', secretAccessKey: 's' }, base)).toBe('access.accessKeyId');
    expect(accessField({ ...STATIC, token: 't' }, base)).toBe('access.token');
    expect(accessField({ ...STATIC, sessionToken: 'tok' }, base)).toBeUndefined();
    expect(accessField({}, { ...base, credentialSource: 'default-chain' })).toBeUndefined();
    expect(accessField({ ...STATIC }, { ...base, credentialSource: 'default-chain' })).toBe('access.accessKeyId');
  });
  it('locator: a name or a well-formed ARN; a stage or a version, not both', () => {
    expect(locatorField({ secretId: 'prod/db01/svc_backup' })).toBeUndefined();
    expect(
      locatorField({ secretId: 'arn:aws:secretsmanager:eu-central-1:111122223333:secret:prod/db-AbCdEf' }),
    ).toBeUndefined();
    expect(
      locatorField({
        secretId: 'arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:x',
        versionStage: 'AWSPREVIOUS',
      }),
    ).toBeUndefined();
    for (const bad of [
      'arn:aws:secretsmanager:eu-central-1:1111:secret:x',
      'arn:aws:ssm:eu-central-1:111122223333:parameter/x',
      'arn:aws:secretsmanager:eu-central-1:111122223333:secret:',
      'arn:azure:secretsmanager:eu-central-1:111122223333:secret:x',
    ])
      expect(locatorField({ secretId: bad })).toBe('locator.secretId');
    expect(locatorField({})).toBe('locator.secretId');
    expect(locatorField({ secretId: 'a\nb' })).toBe('locator.secretId');
    expect(
      locatorField({ secretId: 'x', versionStage: 'AWSCURRENT', versionId: '00000000-0000-0000-0000-000000000000' }),
    ).toBe('locator.versionId');
    expect(locatorField({ secretId: 'x', versionId: 'short' })).toBe('locator.versionId');
    expect(locatorField({ secretId: 'x', path: 'y' })).toBe('locator.path');
  });
});
