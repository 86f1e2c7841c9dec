// The GCP Secret Manager adapter against a protocol-faithful fake (test/fakes/gcp-secret-manager.ts):
// the service-account JWT exchange, :access with its CRC32C, latest-enabled through the version
// list, and every row of the failure table. Google's own SDK (REST mode) parses the same fake.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createServer as createTcpServer, type Server } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { crc32c, gcpSecretManager, ownProject } from '../activities/vault/gcp-secret-manager.js';
import type { CredentialFields } from '../activities/vault/adapter.js';
import { ScanError } from '../domain/scan-error.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { freePort } from '../runtime/net.js';
import { startFakeGcpSecretManager, type FakeGcpSecretManager } from './fakes/gcp-secret-manager.js';

let fake: FakeGcpSecretManager;
const PASSWORD = 'gcp-target-Pw-27q';
const servers: Server[] = [];

beforeAll(async () => {
  fake = await startFakeGcpSecretManager();
  fake.addVersion('web01-root', `${PASSWORD}-v1`);
  fake.addVersion('web01-root', PASSWORD);
  // "rotating": the newest version is disabled, so latest fails and latest-enabled reads v2.
  fake.addVersion('rotating', 'r-v1');
  fake.addVersion('rotating', 'r-v2');
  fake.addVersion('rotating', 'r-v3', 'DISABLED');
  fake.addVersion('rotating', 'r-v4', 'DESTROYED');
  fake.addVersion(
    'web01-ssh',
    JSON.stringify({
      private_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nk\n-----END OPENSSH PRIVATE KEY-----',
      passphrase: 'pp',
      root: 'r00t',
      port: 22,
    }),
  );
  fake.addVersion('all-off', 'x', 'DISABLED');
  fake.addVersion('regional', 'eu-value', 'ENABLED', 'europe-west1');
  for (let i = 1; i <= 130; i++) fake.addVersion('many', `many-v${i}`, i === 130 ? 'DISABLED' : 'ENABLED');
});
afterAll(async () => {
  await fake?.close();
  for (const s of servers) s.close();
});
beforeEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

const config = (extra: Record<string, unknown> = {}) => ({
  clientEmail: fake.clientEmail,
  privateKeyId: fake.privateKeyId,
  tokenUri: fake.tokenUri,
  endpoint: fake.endpoint,
  caCert: fake.caCert,
  ...extra,
});
const access = () => ({ privateKey: fake.privateKey });
const text = (b?: Buffer) => b?.toString('utf8');
const read = (
  locator: Record<string, unknown>,
  fields: CredentialFields = { password: 'value' },
  cfg: Record<string, unknown> = config(),
  acc: Record<string, unknown> = access(),
) => gcpSecretManager.fetch({ config: cfg, access: acc, locator, fields, reason: 'test' });
const at = (secret: string, version?: string) => ({ project: fake.project, secret, ...(version && { version }) });

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [PASSWORD, 'r-v3', 'r00t', 'PRIVATE KEY']) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

describe('reading secrets', () => {
  it('latest by default, a numbered version, by project number; nothing to release', async () => {
    const latest = await read(at('web01-root'));
    expect(text(latest.credential.password)).toBe(PASSWORD);
    expect(latest.release).toBeUndefined();
    expect(text((await read(at('web01-root', '1'))).credential.password)).toBe(`${PASSWORD}-v1`);
    expect(text((await read({ project: fake.projectNumber, secret: 'web01-root' })).credential.password)).toBe(
      PASSWORD,
    );
  });
  it('a JSON payload supplies each secret field by name', async () => {
    const { credential } = await read(at('web01-ssh'), {
      privateKey: 'private_key',
      passphrase: 'passphrase',
      rootPassword: 'root',
    });
    expect(text(credential.privateKey)).toContain('OPENSSH PRIVATE KEY');
    expect([text(credential.passphrase), text(credential.rootPassword)]).toEqual(['pp', 'r00t']);
  });
  it('latest-enabled skips a disabled and a destroyed newest version (and walks the list pages)', async () => {
    const lists = fake.counts.lists;
    expect(text((await read(at('rotating', 'latest-enabled'))).credential.password)).toBe('r-v2');
    expect(text((await read(at('many', 'latest-enabled'))).credential.password)).toBe('many-v129');
    expect(fake.counts.lists - lists).toBe(3);
  });
  it('a regional secret through its location', async () => {
    expect(text((await read({ ...at('regional'), location: 'europe-west1' })).credential.password)).toBe('eu-value');
  });
  it('a payload without dataCrc32c is taken; CRC32C matches the reference vector', async () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    fake.switches.omitCrc = true;
    expect(text((await read(at('web01-root'))).credential.password)).toBe(PASSWORD);
  });
  it('checkAccess exchanges the JWT, lists one secret of its own project and reads nothing', async () => {
    const [reads, tokens, api] = [fake.counts.reads, fake.counts.tokens, fake.counts.apiRequests];
    await gcpSecretManager.checkAccess({ config: config(), access: access() });
    expect([fake.counts.reads, fake.counts.tokens, fake.counts.apiRequests]).toEqual([reads, tokens + 1, api + 1]);
    // No list permission is still a working login.
    fake.switches.permissionDenied = true;
    await gcpSecretManager.checkAccess({ config: config(), access: access() });
    fake.switches.permissionDenied = false;
    fake.switches.unauthenticated = true;
    expect((await failure(gcpSecretManager.checkAccess({ config: config(), access: access() }))).code).toBe(
      'VAULT_AUTH_FAILED',
    );
    fake.switches.unauthenticated = false;
    // A wrong API endpoint shows here, not at scan time.
    expect(ownProject(fake.clientEmail)).toBe(fake.project);
    const wrong = config({ endpoint: `https://127.0.0.1:${await freePort()}` });
    expect((await failure(gcpSecretManager.checkAccess({ config: wrong, access: access() }))).code).toBe(
      'VAULT_UNREACHABLE',
    );
  });
});

describe('the failure table: code, vendor code, HTTP status', () => {
  it('a key the account does not have → VAULT_AUTH_FAILED invalid_grant', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const e = await failure(read(at('web01-root'), undefined, config(), { privateKey: other }));
    expect(e).toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'invalid_grant', httpStatus: 400 });
    expect(e.message).toMatch(/Invalid JWT Signature/);
    expect(
      (await failure(gcpSecretManager.checkAccess({ config: config(), access: { privateKey: other } }))).code,
    ).toBe('VAULT_AUTH_FAILED');
  });
  it('a deleted service account → VAULT_AUTH_FAILED', async () => {
    fake.switches.accountGone = true;
    expect(await failure(read(at('web01-root')))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'invalid_grant',
    });
  });
  it('401 UNAUTHENTICATED from the API → VAULT_AUTH_FAILED', async () => {
    fake.switches.unauthenticated = true;
    expect(await failure(read(at('web01-root')))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'UNAUTHENTICATED',
      httpStatus: 401,
    });
  });
  it('403 PERMISSION_DENIED → VAULT_PERMISSION_DENIED (also for a project the account cannot see)', async () => {
    fake.switches.permissionDenied = true;
    expect(await failure(read(at('web01-root')))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      vendorCode: 'PERMISSION_DENIED',
      httpStatus: 403,
    });
    fake.switches.permissionDenied = false;
    expect((await failure(read({ project: 'someone-else', secret: 'web01-root' }))).code).toBe(
      'VAULT_PERMISSION_DENIED',
    );
  });
  it('404 NOT_FOUND (secret or version) → VAULT_SECRET_NOT_FOUND', async () => {
    expect(await failure(read(at('nope')))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      vendorCode: 'NOT_FOUND',
      httpStatus: 404,
    });
    expect((await failure(read(at('web01-root', '9')))).code).toBe('VAULT_SECRET_NOT_FOUND');
    expect((await failure(read(at('nope', 'latest-enabled')))).code).toBe('VAULT_SECRET_NOT_FOUND');
  });
  it('400 FAILED_PRECONDITION (latest disabled, a destroyed version) → VAULT_SECRET_NOT_FOUND with the latest-enabled hint', async () => {
    const latest = await failure(read(at('rotating')));
    expect(latest).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      vendorCode: 'FAILED_PRECONDITION',
      httpStatus: 400,
    });
    expect(latest.message).toMatch(/DESTROYED state.*latest-enabled/);
    expect((await failure(read(at('rotating', '3')))).message).toMatch(/DISABLED state/);
    expect(await failure(read(at('all-off', 'latest-enabled')))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      message: expect.stringMatching(/no enabled version/),
    });
  });
  it('429 RESOURCE_EXHAUSTED is retried (Retry-After or backoff); beyond the time left → VAULT_RATE_LIMITED', async () => {
    fake.switches.throttle = { times: 1 };
    expect(text((await read(at('web01-root'))).credential.password)).toBe(PASSWORD);
    fake.switches.throttle = { times: 9, retryAfterSeconds: 45 };
    expect(await failure(read(at('web01-root')))).toMatchObject({
      code: 'VAULT_RATE_LIMITED',
      vendorCode: 'RESOURCE_EXHAUSTED',
      httpStatus: 429,
      retryAfterMs: 45_000,
    });
  });
  it('503 UNAVAILABLE, 500 INTERNAL, a failing token endpoint → VAULT_UNAVAILABLE', async () => {
    fake.switches.unavailable = true;
    expect(await failure(read(at('web01-root')))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      vendorCode: 'UNAVAILABLE',
      httpStatus: 503,
    });
    fake.switches.unavailable = false;
    fake.switches.internal = true;
    expect(await failure(read(at('web01-root')))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      vendorCode: 'INTERNAL',
      httpStatus: 500,
    });
    fake.switches.internal = false;
    fake.switches.tokenUnavailable = true;
    expect((await failure(read(at('web01-root')))).code).toBe('VAULT_UNAVAILABLE');
  });
  it('HTML, a missing payload.data, a CRC32C mismatch → VAULT_BAD_RESPONSE', async () => {
    fake.switches.html = true;
    expect((await failure(read(at('web01-root')))).code).toBe('VAULT_BAD_RESPONSE');
    fake.switches.html = false;
    fake.switches.noPayload = true;
    expect((await failure(read(at('web01-root')))).message).toMatch(/no base64 payload.data/);
    fake.switches.noPayload = false;
    fake.switches.badCrc = true;
    expect(await failure(read(at('web01-root')))).toMatchObject({
      code: 'VAULT_BAD_RESPONSE',
      vendorCode: 'DATA_CRC32C_MISMATCH',
    });
    fake.switches.badCrc = false;
    fake.switches.tokenHtml = true;
    expect((await failure(read(at('web01-root')))).message).toMatch(/without an access_token/);
  });
  it('fields: a missing key or a plain payload read by key → VAULT_SECRET_NOT_FOUND; a non-string → BAD_RESPONSE', async () => {
    expect((await failure(read(at('web01-ssh'), { password: 'password' }))).code).toBe('VAULT_SECRET_NOT_FOUND');
    expect((await failure(read(at('web01-root'), { password: 'password' }))).message).toMatch(/not a JSON object/);
    expect((await failure(read(at('web01-ssh'), { password: 'port' }))).code).toBe('VAULT_BAD_RESPONSE');
    expect((await failure(read(at('web01-ssh'), {}))).code).toBe('CONFIG_INVALID');
  });
  it('transport: no caCert → VAULT_TLS_ERROR; silence → VAULT_TIMEOUT; nothing listening → VAULT_UNREACHABLE', async () => {
    const { caCert: _ca, ...untrusted } = config();
    expect((await failure(read(at('web01-root'), undefined, untrusted))).code).toBe('VAULT_TLS_ERROR');
    const silent = createTcpServer(() => undefined);
    servers.push(silent);
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    expect(
      (
        await failure(
          read(at('web01-root'), undefined, config({ endpoint: `https://127.0.0.1:${port}`, timeoutMs: 300 })),
        )
      ).code,
    ).toBe('VAULT_TIMEOUT');
    fake.switches.delayMs = 800;
    expect((await failure(read(at('web01-root'), undefined, config({ timeoutMs: 300 })))).code).toBe('VAULT_TIMEOUT');
    fake.switches.delayMs = 0;
    const closed = await freePort();
    expect(
      (await failure(read(at('web01-root'), undefined, config({ tokenUri: `https://127.0.0.1:${closed}/token` }))))
        .code,
    ).toBe('VAULT_UNREACHABLE');
  });
});

function refusedField(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiProblem);
    return (err as ApiProblem).field;
  }
}
const good = { clientEmail: 'scanner@my-project.iam.gserviceaccount.com' };
const settingsField = (cfg: Record<string, unknown>, acc?: Record<string, unknown>) =>
  refusedField(() => checkVaultSettings('gcp-secret-manager', { config: cfg, ...(acc && { access: acc }) }));

describe('validation names the field', () => {
  it.each([
    [{}, 'config.clientEmail'],
    [{ clientEmail: 'not-an-email' }, 'config.clientEmail'],
    [{ ...good, tokenUri: 'http://oauth2.googleapis.com/token' }, 'config.tokenUri'],
    [{ ...good, endpoint: 'https://user:pw@secretmanager.googleapis.com' }, 'config.endpoint'],
    [{ ...good, privateKeyId: 'zz' }, 'config.privateKeyId'],
    [{ ...good, caCert: 'junk' }, 'config.caCert'],
  ])('config %j', (cfg, field) => {
    expect(settingsField(cfg)).toBe(field);
  });
  it('access: an RSA private key that parses', () => {
    expect(settingsField(good)).toBeUndefined();
    expect(settingsField(good, {})).toBe('access.privateKey');
    expect(settingsField(good, { privateKey: 'junk' })).toBe('access.privateKey');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(settingsField(good, { privateKey: ec })).toBe('access.privateKey');
    const encrypted = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' })
      .toString();
    expect(settingsField(good, { privateKey: encrypted })).toBe('access.privateKey');
    expect(settingsField(good, { privateKey: fake.privateKey })).toBeUndefined();
    expect(settingsField(good, { privateKey: fake.privateKey, client_email: 'x' })).toBe('access.client_email');
  });
  it('locator: project, secret and version rules', () => {
    const locatorField = (l: Record<string, unknown>) => refusedField(() => checkLocator('gcp-secret-manager', l));
    expect(locatorField({ project: 'my-project', secret: 'db_pass-1' })).toBeUndefined();
    expect(locatorField({ project: '1234567890', secret: 's', version: 'latest-enabled' })).toBeUndefined();
    expect(locatorField({ project: 'My Project', secret: 's' })).toBe('locator.project');
    expect(locatorField({ project: 'my-project', secret: 'a/b' })).toBe('locator.secret');
    expect(locatorField({ project: 'my-project', secret: 's', version: '0' })).toBe('locator.version');
    expect(locatorField({ project: 'my-project', secret: 's', version: 'newest' })).toBe('locator.version');
    expect(locatorField({ project: 'my-project', secret: 's', location: '../x' })).toBe('locator.location');
    expect(locatorField({ secret: 's' })).toBe('locator.project');
  });
});

describe("Google's own SDK parses the fake", () => {
  it('@google-cloud/secret-manager (REST fallback): accessSecretVersion and listSecretVersions, self-signed and exchanged tokens', async () => {
    const tokens = fake.counts.tokens;
    const child = spawn(process.execPath, ['test/vendor-clients/gcp-secret-manager-sdk.mjs'], {
      env: {
        ...process.env,
        NODE_EXTRA_CA_CERTS: fake.caFile,
        // The fake is local: no proxy of the environment's may stand between.
        NO_PROXY: '127.0.0.1,localhost',
        no_proxy: '127.0.0.1,localhost',
        NODE_NO_WARNINGS: '1',
        FAKE_PORT: String(fake.port),
        SA_KEY: JSON.stringify(fake.keyFile),
        SECRET: 'rotating',
        DISABLED_VERSION: '3',
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
    const v1 = result.version1.ok;
    expect(v1).toEqual({
      name: `projects/${fake.projectNumber}/secrets/rotating/versions/1`,
      data: 'r-v1',
      crc: String(crc32c(Buffer.from('r-v1'))),
    });
    // latest is v4, destroyed: the SDK reports the service's FAILED_PRECONDITION (gaxios 7 puts the HTTP status in code).
    for (const name of ['latestSelfSigned', 'latestExchanged'])
      expect(JSON.parse(result[name].error.message).error).toMatchObject({ status: 'FAILED_PRECONDITION', code: 400 });
    expect(result.latestSelfSigned.error.code).toBe(400);
    expect(JSON.parse(result.disabled.error.message).error.message).toMatch(/DISABLED state/);
    expect(JSON.parse(result.missing.error.message).error).toMatchObject({ status: 'NOT_FOUND', code: 404 });
    expect(result.listEnabled.ok.map((v: { name: string }) => v.name.split('/').at(-1))).toEqual(['2', '1']);
    expect(result.listEnabled.ok.every((v: { state: string }) => v.state === 'ENABLED')).toBe(true);
    expect(result.listAll.ok.map((v: { state: string }) => v.state)).toEqual([
      'DESTROYED',
      'DISABLED',
      'ENABLED',
      'ENABLED',
    ]);
    expect(result.tokenExchanges).toBe(true);
    expect(fake.counts.tokens).toBe(tokens + 1);
  });
});
