// The Azure Key Vault adapter against a protocol-faithful fake (test/fakes/azure-key-vault.ts):
// Entra client-credentials tokens (secret and certificate), the secrets data plane, and every
// row of the failure table. Microsoft's own SDK parses the same fake (last block).
import { spawn } from 'node:child_process';
import { createServer as createTcpServer, type Server } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { azureKeyVault, vaultScope } from '../activities/vault/azure-key-vault.js';
import type { CredentialFields } from '../activities/vault/adapter.js';
import { ScanError } from '../domain/scan-error.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { freePort } from '../runtime/net.js';
import { startFakeAzureKeyVault, type FakeAzureKeyVault } from './fakes/azure-key-vault.js';

let fake: FakeAzureKeyVault;
let v1: string;
const PASSWORD = 'azure-target-Pw-81x';
const servers: Server[] = [];

beforeAll(async () => {
  fake = await startFakeAzureKeyVault();
  v1 = fake.setSecret('web01-root', `${PASSWORD}-old`);
  fake.setSecret('web01-root', PASSWORD, { contentType: 'text/plain' });
  fake.setSecret(
    'web01-ssh',
    JSON.stringify({
      private_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----',
      passphrase: 'pp',
      root: 'r00t',
      port: 22,
    }),
    { contentType: 'application/json' },
  );
  fake.setSecret('retired', 'old-value');
  fake.disable('retired');
});
afterAll(async () => {
  await fake?.close();
  for (const s of servers) s.close();
});
beforeEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

const config = (extra: Record<string, unknown> = {}) => ({
  vaultUrl: fake.url,
  authorityHost: fake.authorityHost,
  tenantId: fake.tenantId,
  clientId: fake.clientId,
  caCert: fake.caCert,
  ...extra,
});
const access = () => ({ clientSecret: fake.clientSecret });
const text = (b?: Buffer) => b?.toString('utf8');
const read = (
  locator: Record<string, unknown>,
  fields: CredentialFields = { password: 'value' },
  cfg: Record<string, unknown> = config(),
  acc: Record<string, unknown> = access(),
) => azureKeyVault.fetch({ config: cfg, access: acc, locator, fields, reason: 'test' });

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [fake.clientSecret, PASSWORD, 'old-value', 'r00t']) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

describe('reading secrets', () => {
  it('the current version as the password; a named version; nothing to release', async () => {
    const current = await read({ secretName: 'web01-root' });
    expect(text(current.credential.password)).toBe(PASSWORD);
    expect(current.release).toBeUndefined();
    expect(text((await read({ secretName: 'web01-root', version: v1 })).credential.password)).toBe(`${PASSWORD}-old`);
  });
  it('a JSON value supplies each secret field by name', async () => {
    const { credential } = await read(
      { secretName: 'web01-ssh' },
      { privateKey: 'private_key', passphrase: 'passphrase', rootPassword: 'root' },
    );
    expect(text(credential.privateKey)).toContain('OPENSSH PRIVATE KEY');
    expect([text(credential.passphrase), text(credential.rootPassword)]).toEqual(['pp', 'r00t']);
  });
  it('certificate login: a PS256 assertion signed with the app certificate', async () => {
    const before = fake.counts.tokens;
    const { credential } = await read(
      { secretName: 'web01-root' },
      { password: 'value' },
      config({ authMethod: 'clientCertificate', clientCertificate: fake.appCertificate }),
      { clientCertificateKey: fake.appKey },
    );
    expect(text(credential.password)).toBe(PASSWORD);
    expect(fake.counts.tokens).toBe(before + 1);
  });
  it('the token audience follows the cloud of the vault URL', () => {
    expect(vaultScope('https://v.vault.azure.net')).toBe('https://vault.azure.net/.default');
    expect(vaultScope('https://v.vault.azure.cn')).toBe('https://vault.azure.cn/.default');
    expect(vaultScope('https://v.vault.usgovcloudapi.net/')).toBe('https://vault.usgovcloudapi.net/.default');
  });
  it('checkAccess gets a token and reaches the vault without reading a secret', async () => {
    const reads = fake.counts.reads;
    await azureKeyVault.checkAccess({ config: config(), access: access() });
    // Rights on single secrets only (403 RBAC on the probe) is still a working login.
    fake.switches.forbidden = 'ForbiddenByRbac';
    await azureKeyVault.checkAccess({ config: config(), access: access() });
    expect(fake.counts.reads).toBe(reads);
  });
});

describe('the failure table: code, vendor code, HTTP status', () => {
  it('a wrong client secret → VAULT_AUTH_FAILED invalid_client (AADSTS7000215)', async () => {
    expect(
      await failure(read({ secretName: 'web01-root' }, undefined, config(), { clientSecret: 'wrong' })),
    ).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'invalid_client (AADSTS7000215)',
      httpStatus: 401,
    });
  });
  it('an unknown tenant or client id → VAULT_AUTH_FAILED with Entra’s code', async () => {
    expect(
      await failure(read({ secretName: 'web01-root' }, undefined, config({ tenantId: 'contoso.example' }))),
    ).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'invalid_tenant (AADSTS90002)',
      httpStatus: 400,
    });
    expect(
      await failure(
        read({ secretName: 'web01-root' }, undefined, config({ clientId: '00000000-0000-0000-0000-000000000001' })),
      ),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'unauthorized_client (AADSTS700016)' });
  });
  it('a certificate the app does not have → VAULT_AUTH_FAILED (AADSTS700027)', async () => {
    const other = await startFakeAzureKeyVault();
    try {
      const e = await failure(
        read(
          { secretName: 'web01-root' },
          undefined,
          config({ authMethod: 'clientCertificate', clientCertificate: other.appCertificate }),
          { clientCertificateKey: other.appKey },
        ),
      );
      expect(e).toMatchObject({
        code: 'VAULT_AUTH_FAILED',
        vendorCode: 'invalid_client (AADSTS700027)',
        httpStatus: 401,
      });
    } finally {
      await other.close();
    }
  });
  it('Key Vault refusing the token (expired) → VAULT_AUTH_FAILED Unauthorized', async () => {
    fake.switches.expiredTokens = true;
    expect(await failure(read({ secretName: 'web01-root' }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'Unauthorized',
      httpStatus: 401,
    });
  });
  it.each(['ForbiddenByPolicy', 'ForbiddenByRbac', 'ForbiddenByFirewall'] as const)(
    '403 %s → VAULT_PERMISSION_DENIED',
    async (reason) => {
      fake.switches.forbidden = reason;
      const before = fake.counts.secretRequests;
      expect(await failure(read({ secretName: 'web01-root' }))).toMatchObject({
        code: 'VAULT_PERMISSION_DENIED',
        vendorCode: `Forbidden/${reason}`,
        httpStatus: 403,
      });
      // One delayed retry (a fresh grant may not have applied yet), none for the firewall.
      expect(fake.counts.secretRequests - before).toBe(reason === 'ForbiddenByFirewall' ? 1 : 2);
    },
  );
  it('a 403 right after a grant is retried once and the read succeeds', async () => {
    fake.switches.forbiddenTimes = 1;
    expect(text((await read({ secretName: 'web01-root' })).credential.password)).toBe(PASSWORD);
  });
  it('a disabled secret (403 SecretDisabled) → VAULT_SECRET_NOT_FOUND, not a permission problem', async () => {
    const e = await failure(read({ secretName: 'retired' }));
    expect(e).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      vendorCode: 'Forbidden/SecretDisabled',
      httpStatus: 403,
    });
    expect(e.message).toMatch(/disabled/);
  });
  it('404 SecretNotFound (name or version) → VAULT_SECRET_NOT_FOUND', async () => {
    expect(await failure(read({ secretName: 'nope' }))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      vendorCode: 'SecretNotFound',
      httpStatus: 404,
    });
    expect((await failure(read({ secretName: 'web01-root', version: '0123456789abcdef0123456789abcdef' }))).code).toBe(
      'VAULT_SECRET_NOT_FOUND',
    );
  });
  it('429 with Retry-After is waited out; throttling beyond the time left → VAULT_RATE_LIMITED', async () => {
    fake.switches.throttle = { times: 1, retryAfterSeconds: 1 };
    const started = Date.now();
    expect(text((await read({ secretName: 'web01-root' })).credential.password)).toBe(PASSWORD);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    fake.switches.throttle = { times: 5, retryAfterSeconds: 30 };
    expect(await failure(read({ secretName: 'web01-root' }))).toMatchObject({
      code: 'VAULT_RATE_LIMITED',
      vendorCode: 'Throttled',
      httpStatus: 429,
      retryAfterMs: 30_000,
    });
  });
  it('Entra throttling the token request → VAULT_RATE_LIMITED', async () => {
    fake.switches.throttleToken = { times: 5, retryAfterSeconds: 60 };
    expect(await failure(read({ secretName: 'web01-root' }))).toMatchObject({
      code: 'VAULT_RATE_LIMITED',
      httpStatus: 429,
      retryAfterMs: 60_000,
    });
  });
  it('503 from Key Vault or Entra → VAULT_UNAVAILABLE', async () => {
    fake.switches.unavailable = true;
    expect(await failure(read({ secretName: 'web01-root' }))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      vendorCode: 'ServiceUnavailable',
      httpStatus: 503,
    });
    fake.switches.unavailable = false;
    fake.switches.tokenUnavailable = true;
    expect(await failure(read({ secretName: 'web01-root' }))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      vendorCode: 'temporarily_unavailable (AADSTS90033)',
    });
  });
  it('400 BadParameter, an HTML page, a bundle without value → VAULT_BAD_RESPONSE', async () => {
    fake.switches.badParameter = true;
    expect(await failure(read({ secretName: 'web01-root' }))).toMatchObject({
      code: 'VAULT_BAD_RESPONSE',
      vendorCode: 'BadParameter',
      httpStatus: 400,
    });
    fake.switches.badParameter = false;
    fake.switches.html = true;
    expect((await failure(read({ secretName: 'web01-root' }))).code).toBe('VAULT_BAD_RESPONSE');
    fake.switches.html = false;
    fake.switches.noValue = true;
    expect((await failure(read({ secretName: 'web01-root' }))).message).toMatch(/no string "value"/);
    fake.switches.noValue = false;
    fake.switches.tokenHtml = true;
    expect((await failure(read({ secretName: 'web01-root' }))).message).toMatch(/without an access_token/);
  });
  it('fields: a missing JSON key or a plain value read by key → VAULT_SECRET_NOT_FOUND; a non-string → BAD_RESPONSE', async () => {
    expect((await failure(read({ secretName: 'web01-ssh' }, { password: 'password' }))).code).toBe(
      'VAULT_SECRET_NOT_FOUND',
    );
    const plain = await failure(read({ secretName: 'web01-root' }, { password: 'password' }));
    expect(plain).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      message: expect.stringMatching(/not a JSON object/),
    });
    expect((await failure(read({ secretName: 'web01-ssh' }, { password: 'port' }))).code).toBe('VAULT_BAD_RESPONSE');
    expect((await failure(read({ secretName: 'web01-ssh' }, {}))).code).toBe('CONFIG_INVALID');
  });
  it('transport: no caCert → VAULT_TLS_ERROR; silence → VAULT_TIMEOUT; nothing listening → VAULT_UNREACHABLE', async () => {
    const { caCert: _ca, ...untrusted } = config();
    expect((await failure(read({ secretName: 'web01-root' }, undefined, untrusted))).code).toBe('VAULT_TLS_ERROR');
    const silent = createTcpServer(() => undefined);
    servers.push(silent);
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    expect(
      (
        await failure(
          read({ secretName: 'web01-root' }, undefined, config({ authorityHost: `127.0.0.1:${port}`, timeoutMs: 300 })),
        )
      ).code,
    ).toBe('VAULT_TIMEOUT');
    fake.switches.delayMs = 800;
    expect((await failure(read({ secretName: 'web01-root' }, undefined, config({ timeoutMs: 300 })))).code).toBe(
      'VAULT_TIMEOUT',
    );
    fake.switches.delayMs = 0;
    const closed = await freePort();
    expect(
      (
        await failure(
          read({ secretName: 'web01-root' }, undefined, config({ vaultUrl: `https://127.0.0.1:${closed}` })),
        )
      ).code,
    ).toBe('VAULT_UNREACHABLE');
  });
  it('checkAccess: a bad secret → AUTH_FAILED; the firewall → PERMISSION_DENIED', async () => {
    expect((await failure(azureKeyVault.checkAccess({ config: config(), access: { clientSecret: 'bad' } }))).code).toBe(
      'VAULT_AUTH_FAILED',
    );
    fake.switches.forbidden = 'ForbiddenByFirewall';
    expect((await failure(azureKeyVault.checkAccess({ config: config(), access: access() }))).code).toBe(
      'VAULT_PERMISSION_DENIED',
    );
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
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '0f8e3a51-4c1d-4b6e-9a0b-3f4c5d6e7f80';
const good = { vaultUrl: 'https://myvault.vault.azure.net', tenantId: TENANT, clientId: CLIENT };
const settingsField = (cfg: Record<string, unknown>, acc?: Record<string, unknown>) =>
  refusedField(() => checkVaultSettings('azure-key-vault', { config: cfg, ...(acc && { access: acc }) }));

describe('validation names the field', () => {
  it.each([
    [{ ...good, vaultUrl: 'http://myvault.vault.azure.net' }, 'config.vaultUrl'],
    [{ ...good, vaultUrl: 'not a url' }, 'config.vaultUrl'],
    [{ ...good, tenantId: '../common' }, 'config.tenantId'],
    [{ ...good, clientId: 'my-app' }, 'config.clientId'],
    [{ ...good, authorityHost: 'https://login.example/evil/path' }, 'config.authorityHost'],
    [{ ...good, authMethod: 'password' }, 'config.authMethod'],
    [{ ...good, authMethod: 'clientCertificate' }, 'config.clientCertificate'],
    [{ ...good, caCert: '-----BEGIN CERTIFICATE----- junk' }, 'config.caCert'],
    [{ ...good, url: 'https://x' }, 'config.url'],
  ])('config %j', (cfg, field) => {
    expect(settingsField(cfg)).toBe(field);
  });
  it('accepts a good config, with an authority host as host or URL', () => {
    expect(settingsField(good)).toBeUndefined();
    expect(settingsField({ ...good, authorityHost: 'https://login.microsoftonline.us' })).toBeUndefined();
    expect(settingsField({ ...good, authorityHost: '127.0.0.1:8443' })).toBeUndefined();
  });
  it('access follows the auth method; a certificate key must match the certificate', () => {
    expect(settingsField(good, {})).toBe('access.clientSecret');
    expect(settingsField(good, { clientSecret: 's' })).toBeUndefined();
    const certCfg = { ...good, authMethod: 'clientCertificate', clientCertificate: fake.appCertificate };
    expect(settingsField(certCfg, { clientSecret: 's' })).toBe('access.clientCertificateKey');
    expect(settingsField(certCfg, { clientCertificateKey: 'junk' })).toBe('access.clientCertificateKey');
    expect(settingsField(certCfg, { clientCertificateKey: fake.appKey })).toBeUndefined();
  });
  it('locator: Key Vault name rules, a 32-hex version', () => {
    const locatorField = (l: Record<string, unknown>) => refusedField(() => checkLocator('azure-key-vault', l));
    expect(locatorField({ secretName: 'web01-root' })).toBeUndefined();
    expect(locatorField({ secretName: 'web01_root' })).toBe('locator.secretName');
    expect(locatorField({ secretName: 'a'.repeat(128) })).toBe('locator.secretName');
    expect(locatorField({ secretName: '../keys/x' })).toBe('locator.secretName');
    expect(locatorField({ secretName: 'x', version: 'latest' })).toBe('locator.version');
    expect(locatorField({ secretName: 'x', version: v1 })).toBeUndefined();
    expect(locatorField({})).toBe('locator.secretName');
  });
});

describe("Microsoft's own SDK parses the fake", () => {
  it('@azure/identity + @azure/keyvault-secrets: challenge auth, get by name and version, disabled, not found, bad secret, certificate', async () => {
    const child = spawn(process.execPath, ['test/vendor-clients/azure-keyvault-sdk.mjs'], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: fake.caFile,
        // The fake is local: no proxy of the environment's may stand between.
        NO_PROXY: '127.0.0.1,localhost',
        no_proxy: '127.0.0.1,localhost',
        FAKE_URL: fake.url,
        FAKE_AUTHORITY: `https://${fake.authorityHost}`,
        FAKE_TENANT: fake.tenantId,
        FAKE_CLIENT: fake.clientId,
        FAKE_SECRET: fake.clientSecret,
        SECRET_NAME: 'web01-root',
        SECRET_VERSION: v1,
        DISABLED_NAME: 'retired',
        APP_CERT: fake.appCertificate,
        APP_KEY: fake.appKey,
        AZURE_LOG_LEVEL: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code, err).toBe(0);
    const result = JSON.parse(out);
    expect(result.latest.ok).toMatchObject({ value: PASSWORD, enabled: true, contentType: 'text/plain' });
    expect(result.latest.ok.version).toMatch(/^[0-9a-f]{32}$/);
    expect(result.version.ok).toBe(`${PASSWORD}-old`);
    expect(result.disabled.error).toMatchObject({
      name: 'RestError',
      code: 'Forbidden',
      statusCode: 403,
      inner: 'SecretDisabled',
      message: 'Operation get is not allowed on a disabled secret.',
    });
    expect(result.missing.error).toMatchObject({ name: 'RestError', code: 'SecretNotFound', statusCode: 404 });
    expect(result.badSecret.error.name).toBe('AuthenticationRequiredError');
    expect(result.badSecret.error.message).toMatch(/AADSTS7000215/);
    expect(result.certificate.ok).toBe(PASSWORD);
  });
});
