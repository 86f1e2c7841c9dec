// The Delinea Secret Server adapter against a protocol-faithful fake (HTTPS, test CA), every
// failure-table row with its vendor code, check-out and check-in, and Delinea's own client
// (python-tss-sdk) parsing the same fake.
import { execFile } from 'node:child_process';
import { createServer as createTcpServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialFields, VaultRead } from '../activities/vault/adapter.js';
import { delineaVault } from '../activities/vault/delinea.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { ScanError } from '../domain/scan-error.js';
import { freePort } from '../runtime/net.js';
import { projectRoot, venvBin } from '../scripts/tools.mjs';
import { delineaSpec } from '../vault-types/delinea.js';
import { startDelineaFake, type DelineaFake, type FakeSecret } from './fakes/delinea.js';

const PASSWORD = 'Tgt-pw-Qx81!';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
const PASSPHRASE = 'key-pp-77';
const ROOT = 'root-pw-19';

const unixItems = (password = PASSWORD) => [
  { slug: 'username', fieldName: 'Username', value: 'svc_backup' },
  { slug: 'password', fieldName: 'Password', value: password, isPassword: true },
  { slug: 'private-key', fieldName: 'Private Key', value: KEY, isFile: true, filename: 'id_ed25519' },
  { slug: 'private-key-passphrase', fieldName: 'Private Key Passphrase', value: PASSPHRASE, isPassword: true },
  { slug: 'root-password', fieldName: 'Root Password', value: ROOT, isPassword: true },
  { slug: 'machine', fieldName: 'Machine', value: 'db01.example.com' },
];

const SECRETS: FakeSecret[] = [
  { id: 42, name: 'db01 svc_backup', folderId: 7, folderPath: '\\Servers\\Linux', items: unixItems() },
  { id: 43, name: 'web01 root', folderId: 7, folderPath: '\\Servers\\Linux', items: unixItems('web-pw') },
  // Two secrets of one name in different folders: ambiguous without folderId.
  { id: 44, name: 'shared admin', folderId: 7, folderPath: '\\Servers\\Linux', items: unixItems('a-pw') },
  { id: 45, name: 'shared admin', folderId: 8, folderPath: '\\Servers\\Windows', items: unixItems('b-pw') },
  { id: 46, name: 'denied one', folderId: 7, folderPath: '\\Servers\\Linux', items: unixItems(), denied: true },
  {
    id: 47,
    name: 'commented',
    folderId: 7,
    folderPath: '\\Servers\\Linux',
    items: unixItems('comment-pw'),
    requiresComment: true,
  },
  {
    id: 48,
    name: 'lent',
    folderId: 9,
    folderPath: '\\Vaulted',
    items: unixItems('lent-pw'),
    checkOutEnabled: true,
    checkOutIntervalMinutes: 45,
  },
  {
    id: 49,
    name: 'held elsewhere',
    folderId: 9,
    folderPath: '\\Vaulted',
    items: unixItems(),
    checkOutEnabled: true,
    checkedOutBy: 'alice',
  },
  {
    id: 50,
    name: 'lent and commented',
    folderId: 9,
    folderPath: '\\Vaulted',
    items: unixItems('lc-pw'),
    checkOutEnabled: true,
    requiresComment: true,
  },
  {
    id: 51,
    name: 'needs approval',
    folderId: 9,
    folderPath: '\\Vaulted',
    items: unixItems(),
    requiresApproval: true,
  },
  // Another secret whose field value is "db01 svc_backup": an exact search finds it too.
  {
    id: 52,
    name: 'notes',
    folderId: 7,
    folderPath: '\\Servers\\Linux',
    items: [{ slug: 'notes', fieldName: 'Notes', value: 'db01 svc_backup' }],
  },
  { id: 53, name: 'empty pw', folderId: 7, folderPath: '\\Servers\\Linux', items: unixItems('') },
];

let fake: DelineaFake;
const servers: Server[] = [];

beforeAll(async () => {
  fake = await startDelineaFake({ secrets: structuredClone(SECRETS) });
});
afterAll(async () => {
  await fake?.close();
  for (const s of servers) s.close();
});
afterEach(() => {
  fake.switches = {};
  fake.checkouts.clear();
  fake.secrets = structuredClone(SECRETS);
});

const config = (extra: Record<string, unknown> = {}) => ({
  url: fake.url,
  caCert: fake.caCert,
  username: fake.username,
  ...extra,
});
const access = () => ({ password: fake.password });
const ALL: CredentialFields = {
  password: 'password',
  privateKey: 'private-key',
  passphrase: 'private-key-passphrase',
  rootPassword: 'root-password',
};
const text = (b?: Buffer) => b?.toString('utf8');

const fetchWith = (
  locator: Record<string, unknown>,
  fields: CredentialFields = { password: 'password' },
  cfg: Record<string, unknown> = config(),
  acc: Record<string, unknown> = access(),
): Promise<VaultRead> => delineaVault.fetch({ config: cfg, access: acc, locator, fields, reason: 'vaultscan scan 12' });

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [fake.password, PASSWORD, KEY, PASSPHRASE, ROOT]) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

const calls = (pattern: RegExp) => fake.requests.filter((r) => pattern.test(`${r.method} ${r.path}`)).length;

describe('reading credentials', () => {
  it('by id: every secret field, the file field through /fields/{slug}; the token is expired afterwards', async () => {
    fake.requests.length = 0;
    const before = fake.reads;
    const read = await fetchWith({ secretId: 42 }, ALL);
    expect(text(read.credential.password)).toBe(PASSWORD);
    expect(text(read.credential.privateKey)).toBe(KEY);
    expect(text(read.credential.passphrase)).toBe(PASSPHRASE);
    expect(text(read.credential.rootPassword)).toBe(ROOT);
    expect(read.release).toBeUndefined();
    expect(read.lentUntil).toBeUndefined();
    // One secret read, one file read; the login is form-encoded and the token expired at the end.
    expect(fake.reads - before).toBe(2);
    expect(calls(/^GET \/SecretServer\/api\/v1\/secrets\/42\/fields\/private-key$/)).toBe(1);
    expect(calls(/^POST \/SecretServer\/api\/v1\/oauth-expiration$/)).toBe(1);
    expect(fake.liveTokens()).toBe(0);
    const apiCalls = fake.requests.filter((r) => r.path.includes('/api/'));
    expect(apiCalls.length).toBeGreaterThan(0);
    expect(apiCalls.every((r) => r.authorization?.startsWith('Bearer '))).toBe(true);
    const login = fake.requests.filter((r) => r.path.endsWith('/oauth2/token'));
    expect(login).toHaveLength(1);
    expect(login[0]?.authorization).toBeUndefined();
  });

  it('by folder path, with either slash (id 0 + secretPath, as python-tss-sdk does)', async () => {
    fake.requests.length = 0;
    const read = await fetchWith({ secretPath: '/Servers/Linux/web01 root' }, ALL);
    expect(text(read.credential.password)).toBe('web-pw');
    expect(text(read.credential.privateKey)).toBe(KEY);
    expect(calls(/^GET \/SecretServer\/api\/v1\/secrets\/0\?secretPath=%5CServers%5CLinux%5Cweb01\+root$/)).toBe(1);
    // Once the id is known, the file field is read by id.
    expect(calls(/secrets\/43\/fields\/private-key/)).toBe(1);
    expect(text((await fetchWith({ secretPath: '\\Servers\\Linux\\web01 root' })).credential.password)).toBe('web-pw');
  });

  it('by exact name: a field value that equals the name does not count; folderId narrows', async () => {
    fake.requests.length = 0;
    expect(text((await fetchWith({ secretName: 'db01 svc_backup' })).credential.password)).toBe(PASSWORD);
    expect(
      calls(
        /^GET \/SecretServer\/api\/v1\/secrets\?filter\.searchText=db01\+svc_backup&filter\.isExactMatch=true&filter\.includeRestricted=true&take=25$/,
      ),
    ).toBe(1);
    expect(text((await fetchWith({ secretName: 'shared admin', folderId: 8 })).credential.password)).toBe('b-pw');
    // A server that matches loosely still yields only the exact name.
    fake.switches.sloppySearch = true;
    expect(text((await fetchWith({ secretName: 'web01 root' })).credential.password)).toBe('web-pw');
  });

  it('fields by field name as well as slug; PascalCase answers are read too', async () => {
    expect(text((await fetchWith({ secretId: 42 }, { password: 'Root Password' })).credential.password)).toBe(ROOT);
    fake.switches.pascalCase = true;
    const read = await fetchWith({ secretName: 'db01 svc_backup' }, ALL);
    expect(text(read.credential.password)).toBe(PASSWORD);
    expect(text(read.credential.privateKey)).toBe(KEY);
  });

  it('a secret that requires a comment gets the scan reason, on the secret and on its file field', async () => {
    fake.audit.length = 0;
    const read = await fetchWith({ secretId: 47 }, ALL);
    expect(text(read.credential.password)).toBe('comment-pw');
    expect(text(read.credential.privateKey)).toBe(KEY);
    expect(fake.audit).toContainEqual(
      expect.objectContaining({ action: 'VIEW', secretId: 47, comment: 'vaultscan scan 12' }),
    );
    expect(calls(/^POST \/SecretServer\/api\/v1\/secrets\/47\/restricted\/fields\/private-key$/)).toBe(1);
  });

  it('checkAccess logs in, looks up the current user and expires the token', async () => {
    await delineaVault.checkAccess({ config: config(), access: access() });
    expect(fake.liveTokens()).toBe(0);
    expect((await failure(delineaVault.checkAccess({ config: config(), access: { password: 'nope' } }))).code).toBe(
      'VAULT_AUTH_FAILED',
    );
  });

  it('an AD user logs in with its domain', async () => {
    const ad = await startDelineaFake({ secrets: structuredClone(SECRETS), domain: 'CORP' });
    try {
      const cfg = { url: ad.url, caCert: ad.caCert, username: ad.username, domain: 'CORP' };
      const read = await delineaVault.fetch({
        config: cfg,
        access: { password: ad.password },
        locator: { secretId: 42 },
        fields: { password: 'password' },
        reason: 'r',
      });
      expect(text(read.credential.password)).toBe(PASSWORD);
      const noDomain = await failure(
        delineaVault.checkAccess({ config: { ...cfg, domain: undefined }, access: { password: ad.password } }),
      );
      expect(noDomain.code).toBe('VAULT_AUTH_FAILED');
    } finally {
      await ad.close();
    }
  });
});

describe('check-out and check-in', () => {
  it('checks out, lends until now + the interval the secret reports, and release checks in', async () => {
    fake.audit.length = 0;
    const t0 = Date.now();
    const read = await fetchWith({ secretId: 48 }, ALL);
    expect(text(read.credential.password)).toBe('lent-pw');
    expect(fake.checkouts.get(48)).toBe(fake.username);
    expect(read.lentUntil!.getTime()).toBeGreaterThanOrEqual(t0 + 45 * 60_000);
    expect(read.lentUntil!.getTime()).toBeLessThan(Date.now() + 45 * 60_000 + 1000);
    // The read's own token is gone; release logs in again, checks in and expires that token too.
    expect(fake.liveTokens()).toBe(0);
    await read.release!();
    expect(fake.checkouts.has(48)).toBe(false);
    expect(fake.audit).toContainEqual(
      expect.objectContaining({ action: 'CHECKIN', secretId: 48, comment: 'vaultscan scan 12' }),
    );
    expect(fake.liveTokens()).toBe(0);
    await read.release!(); // a second call is harmless
  });

  it('release happens when the caller fails after the read', async () => {
    const useIt = async () => {
      const read = await fetchWith({ secretPath: '\\Vaulted\\lent' });
      try {
        throw new Error('the SSH login failed');
      } finally {
        await read.release?.();
      }
    };
    await expect(useIt()).rejects.toThrow('the SSH login failed');
    expect(fake.checkouts.has(48)).toBe(false);
  });

  it('a read that fails after the check-out checks in at once', async () => {
    const e = await failure(fetchWith({ secretId: 48 }, { password: 'no-such-field' }));
    expect(e.code).toBe('VAULT_SECRET_NOT_FOUND');
    expect(fake.checkouts.has(48)).toBe(false);
    expect(calls(/secrets\/48\/check-in/)).toBeGreaterThan(0);
  });

  it('check-out plus comment; the default interval when the secret gives none', async () => {
    const t0 = Date.now();
    const read = await fetchWith({ secretId: 50 }, ALL);
    expect(text(read.credential.password)).toBe('lc-pw');
    expect(text(read.credential.privateKey)).toBe(KEY);
    expect(read.lentUntil!.getTime()).toBeGreaterThanOrEqual(t0 + 30 * 60_000);
    await read.release!();
    expect(fake.checkouts.has(50)).toBe(false);
  });

  it('a secret that shows without a check-out but has check-out enabled is checked out all the same', async () => {
    fake.switches.readWithoutCheckOut = true;
    const read = await fetchWith({ secretId: 48 });
    expect(text(read.credential.password)).toBe('lent-pw');
    expect(fake.checkouts.get(48)).toBe(fake.username);
    await read.release!();
    expect(fake.checkouts.has(48)).toBe(false);
  });

  it('checked out by another user → VAULT_PERMISSION_DENIED with the vendor code', async () => {
    expect(await failure(fetchWith({ secretId: 49 }))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      vendorCode: 'API_SecretCheckedOutByAnotherUser',
      httpStatus: 400,
    });
  });
});

describe('every failure is classified, with the vendor code kept', () => {
  it('wrong password → VAULT_AUTH_FAILED with the OAuth error', async () => {
    expect(await failure(fetchWith({ secretId: 42 }, undefined, config(), { password: 'wrong' }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'Login failed.',
      httpStatus: 400,
    });
  });
  it('the token endpoint answers 200 with HTML → VAULT_BAD_RESPONSE', async () => {
    fake.switches.tokenHtml = true;
    const e = await failure(fetchWith({ secretId: 42 }));
    expect(e).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 200 });
    expect(e.message).toMatch(/not JSON/);
  });
  it('an API call answers 200 with HTML → VAULT_BAD_RESPONSE', async () => {
    fake.switches.apiHtml = true;
    expect((await failure(fetchWith({ secretId: 42 }))).code).toBe('VAULT_BAD_RESPONSE');
  });
  it('an expired token is renewed once; a token refused again → VAULT_AUTH_FAILED', async () => {
    fake.requests.length = 0;
    fake.switches.expireTokens = 1;
    expect(text((await fetchWith({ secretId: 42 })).credential.password)).toBe(PASSWORD);
    expect(calls(/^POST \/SecretServer\/oauth2\/token$/)).toBe(2);
    fake.switches.rejectAllTokens = true;
    expect(await failure(fetchWith({ secretId: 42 }))).toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 401 });
  });
  it('no access → VAULT_PERMISSION_DENIED API_AccessDenied (also for an id that does not exist)', async () => {
    expect(await failure(fetchWith({ secretId: 46 }))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      vendorCode: 'API_AccessDenied',
      httpStatus: 400,
    });
    expect(await failure(fetchWith({ secretId: 999 }))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      vendorCode: 'API_AccessDenied',
    });
  });
  it('approval required → VAULT_PERMISSION_DENIED', async () => {
    expect(await failure(fetchWith({ secretId: 51 }))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      vendorCode: 'API_RequiresApproval',
    });
  });
  it('not found: a 404, a path or name that matches nothing, a missing or empty field', async () => {
    fake.switches.unknownId = 'notFound';
    expect(await failure(fetchWith({ secretId: 999 }))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      httpStatus: 404,
    });
    expect((await failure(fetchWith({ secretName: 'nobody' }))).code).toBe('VAULT_SECRET_NOT_FOUND');
    expect((await failure(fetchWith({ secretName: 'db01 svc_backup', folderId: 8 }))).code).toBe(
      'VAULT_SECRET_NOT_FOUND',
    );
    const field = await failure(fetchWith({ secretId: 42 }, { password: 'pwd' }));
    expect(field).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND' });
    expect(field.message).toContain('"pwd"');
    expect((await failure(fetchWith({ secretId: 53 }))).message).toMatch(/empty/);
  });
  it('an ambiguous name → VAULT_SECRET_NOT_FOUND "ambiguous", with the count', async () => {
    const e = await failure(fetchWith({ secretName: 'shared admin' }));
    expect(e).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', vendorCode: 'ambiguous' });
    expect(e.message).toMatch(/ambiguous: 2 secrets/);
  });
  it('a 403 burst is waited out once (Retry-After honoured) and then succeeds', async () => {
    fake.switches.throttle = 1;
    fake.switches.throttleRetryAfter = '1';
    const t0 = Date.now();
    expect(text((await fetchWith({ secretId: 42 })).credential.password)).toBe(PASSWORD);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });
  it('throttled again after the pause → VAULT_RATE_LIMITED; a plain 403 twice → VAULT_PERMISSION_DENIED', async () => {
    fake.switches.throttle = 2;
    fake.switches.throttleRetryAfter = '0';
    const throttled = await failure(fetchWith({ secretId: 42 }));
    expect(throttled).toMatchObject({ code: 'VAULT_RATE_LIMITED', httpStatus: 403 });
    expect(throttled.vendorCode).toMatch(/Too many requests/);
    fake.switches.throttle = 0;
    fake.switches.forbidden = 2;
    expect(await failure(fetchWith({ secretId: 42 }))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      httpStatus: 403,
      vendorCode: 'Authentication failed',
    });
  });
  it('a 429 (should Secret Server send one) is waited out, then VAULT_RATE_LIMITED', async () => {
    fake.switches.throttleStatus = 429;
    fake.switches.throttleRetryAfter = '0';
    fake.switches.throttle = 1;
    expect(text((await fetchWith({ secretId: 42 })).credential.password)).toBe(PASSWORD);
    fake.switches.throttle = 10;
    expect(await failure(fetchWith({ secretId: 42 }))).toMatchObject({ code: 'VAULT_RATE_LIMITED', httpStatus: 429 });
  });
  it('a file field in any content type is taken as it is; an HTML page instead → VAULT_BAD_RESPONSE', async () => {
    fake.switches.fileContentType = 'text/plain; charset=utf-8';
    expect(text((await fetchWith({ secretId: 42 }, { privateKey: 'private-key' })).credential.privateKey)).toBe(KEY);
    fake.switches.fileContentType = 'application/json';
    expect(text((await fetchWith({ secretId: 42 }, { privateKey: 'private-key' })).credential.privateKey)).toBe(KEY);
    fake.switches.fieldHtml = true;
    const e = await failure(fetchWith({ secretId: 42 }, { privateKey: 'private-key' }));
    expect(e.code).toBe('VAULT_BAD_RESPONSE');
    expect(e.message).toMatch(/HTML/);
  });
  it('5xx → VAULT_UNAVAILABLE', async () => {
    fake.switches.unavailable = 503;
    expect(await failure(fetchWith({ secretId: 42 }))).toMatchObject({ code: 'VAULT_UNAVAILABLE', httpStatus: 503 });
    fake.switches.unavailable = 500;
    expect(await failure(fetchWith({ secretId: 42 }))).toMatchObject({ code: 'VAULT_UNAVAILABLE', httpStatus: 500 });
  });
  it('a secret without items → VAULT_BAD_RESPONSE', async () => {
    fake.switches.noItems = true;
    expect((await failure(fetchWith({ secretId: 42 }))).code).toBe('VAULT_BAD_RESPONSE');
  });
  it('slow → VAULT_TIMEOUT; nothing listening → VAULT_UNREACHABLE; an unknown CA → VAULT_TLS_ERROR', async () => {
    fake.switches.slowMs = 600;
    expect((await failure(fetchWith({ secretId: 42 }, undefined, config({ timeoutMs: 200 })))).code).toBe(
      'VAULT_TIMEOUT',
    );
    fake.switches.slowMs = 0;
    const port = await freePort();
    expect(
      (await failure(fetchWith({ secretId: 42 }, undefined, config({ url: `https://127.0.0.1:${port}` })))).code,
    ).toBe('VAULT_UNREACHABLE');
    expect((await failure(fetchWith({ secretId: 42 }, undefined, config({ caCert: undefined })))).code).toBe(
      'VAULT_TLS_ERROR',
    );
  });
  it('a server that accepts and never answers → VAULT_TIMEOUT', async () => {
    const silent = createTcpServer(() => undefined);
    servers.push(silent);
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    expect(
      (
        await failure(
          fetchWith({ secretId: 42 }, undefined, config({ url: `https://127.0.0.1:${port}`, timeoutMs: 300 })),
        )
      ).code,
    ).toBe('VAULT_TIMEOUT');
  });
  it('a cancelled fetch is no vault failure; a deadline is VAULT_TIMEOUT, also during the 403 pause', async () => {
    fake.switches.slowMs = 2000;
    const controller = new AbortController();
    const cancelled = delineaVault.fetch({
      config: config(),
      access: access(),
      locator: { secretId: 42 },
      fields: { password: 'password' },
      reason: 'r',
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 100);
    await expect(cancelled).rejects.not.toBeInstanceOf(ScanError);
    fake.switches.slowMs = 0;
    fake.switches.throttle = 5;
    fake.switches.throttleRetryAfter = '5';
    const deadline = delineaVault.fetch({
      config: config({ timeoutMs: 8000 }),
      access: access(),
      locator: { secretId: 42 },
      fields: { password: 'password' },
      reason: 'r',
      signal: AbortSignal.timeout(300),
    });
    await expect(deadline).rejects.toMatchObject({ code: 'VAULT_TIMEOUT' });
  });
  it('naming no field is a configuration error', async () => {
    expect((await failure(fetchWith({ secretId: 42 }, {}))).code).toBe('CONFIG_INVALID');
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
const configField = (c: Record<string, unknown>) => refusedField(() => checkVaultSettings('delinea', { config: c }));
const accessField = (a: Record<string, unknown>) =>
  refusedField(() => checkVaultSettings('delinea', { config: { url: 'https://ss', username: 'u' }, access: a }));
const locatorField = (l: Record<string, unknown>) => refusedField(() => checkLocator('delinea', l));

describe('validation names the field and the reason', () => {
  it.each([
    [{ username: 'u' }, 'config.url'],
    [{ url: 'https://ss.example.com/SecretServer' }, 'config.username'],
    [{ url: 'http://ss', username: 'u' }, 'config.url'],
    [{ url: 'ftp://ss', username: 'u' }, 'config.url'],
    [{ url: 'https://ss', username: 'u', tenant: 'x' }, 'config.tenant'],
    [{ url: 'https://ss', username: 'u', caCert: '-----BEGIN CERTIFICATE----- junk' }, 'config.caCert'],
    [{ url: 'https://ss', username: 'u', timeoutMs: 1 }, 'config.timeoutMs'],
    [{ url: 'https://ss', username: 'u', domain: '' }, 'config.domain'],
  ])('config %j', (c, field) => {
    expect(configField(c)).toBe(field);
  });
  it('accepts a good config; http only with allowInsecureHttp', () => {
    expect(configField({ url: 'https://ss.example.com/SecretServer', username: 'u', domain: 'CORP' })).toBeUndefined();
    const lab = { url: 'http://127.0.0.1:8080', username: 'u', allowInsecureHttp: true };
    expect(configField(lab)).toBeUndefined();
    expect(delineaSpec.usesPlainHttp(lab)).toBe(true);
  });
  it('access', () => {
    expect(accessField({})).toBe('access.password');
    expect(accessField({ password: 'p', token: 't' })).toBe('access.token');
    expect(accessField({ password: 'p' })).toBeUndefined();
  });
  it.each([
    [{}, 'locator.secretId'],
    [{ folderId: 3 }, 'locator.secretId'],
    [{ secretId: 0 }, 'locator.secretId'],
    [{ secretId: 'x' }, 'locator.secretId'],
    [{ secretId: 1, secretName: 'a' }, 'locator.secretName'],
    [{ secretPath: '\\A\\b', secretName: 'a' }, 'locator.secretPath'],
    [{ secretId: 1, folderId: 2 }, 'locator.folderId'],
    [{ secretPath: '\\' }, 'locator.secretPath'],
    [{ secretPath: '\\\\' }, 'locator.secretPath'],
    [{ secretPath: '\\A\\\\b' }, 'locator.secretPath'],
    [{ secretName: 'a\nb' }, 'locator.secretName'],
    [{ secretName: 'a', path: 'x' }, 'locator.path'],
  ])('locator %j', (l, field) => {
    expect(locatorField(l)).toBe(field);
  });
  it('accepts each way of naming a secret', () => {
    for (const l of [
      { secretId: 42 },
      { secretName: 'db01 svc_backup' },
      { secretName: 'db01 svc_backup', folderId: 7 },
      { secretPath: '\\Servers\\Linux\\db01 svc_backup' },
      { secretPath: '/Servers/Linux/db01 svc_backup' },
      { secretPath: '\\outside any folder' },
    ])
      expect(locatorField(l)).toBeUndefined();
  });
});

describe("Delinea's own client (python-tss-sdk) parses the fake", () => {
  it('gets a secret by id and by path, its file field, a search; and sees the refusals', async () => {
    const { stdout } = await promisify(execFile)(
      venvBin('python'),
      [
        join(projectRoot, 'test', 'vendor-clients', 'delinea_client.py'),
        fake.url,
        fake.username,
        '42',
        '/Servers/Linux/web01 root',
        'db01 svc_backup',
        '46',
      ],
      { env: { ...process.env, DELINEA_PASSWORD: fake.password, REQUESTS_CA_BUNDLE: fake.caFile } },
    );
    const out = JSON.parse(stdout) as Record<string, any>;
    expect(out.byId).toMatchObject({
      id: 42,
      name: 'db01 svc_backup',
      folderId: 7,
      checkOutEnabled: false,
      fields: { password: PASSWORD, 'private-key': KEY, 'private-key-passphrase': PASSPHRASE, username: 'svc_backup' },
    });
    expect(out.byPath).toMatchObject({ id: 43, fields: { password: 'web-pw', 'private-key': KEY } });
    expect(out.search).toEqual({ total: 2, ids: [42, 52] });
    expect(out.folderSecretIds).toEqual([48, 49, 50, 51]);
    expect(out.denied).toBe('Access Denied');
    expect(out.wrongPassword).toBe('Login failed.');
  });
});
