// The CyberArk CCP adapter against a protocol-faithful fake (HTTPS, client certificates, CCP's
// query parameters, bodies and error codes), every row of the failure table, the API's
// validation, and curl (how CyberArk's own docs call the web service) against the same fake.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ccpQuery, ccpTimeouts, cyberarkCcpVault } from '../activities/vault/cyberark-ccp.js';
import type { CredentialFields } from '../activities/vault/adapter.js';
import { getVaultAdapter } from '../activities/vault/registry.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { ScanError } from '../domain/scan-error.js';
import { vaultTypeSpec } from '../vault-types/index.js';
import { startCcpFake, type CcpAccount, type CcpFake } from './fakes/cyberark-ccp.js';

const SECRET = 'ccp-secret-Qw93!';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
const PASSPHRASE = 'key-passphrase-7Yx';
const ROOT_PW = 'root-secret-Lm22';
const ODD_NAME = 'Linux web & co+1 ä/x';

const accounts = (): CcpAccount[] => [
  {
    Safe: 'Linux-Root',
    Name: 'Unix-web01-root',
    Content: SECRET,
    UserName: 'root',
    Address: 'web01.corp.example',
    PolicyID: 'UnixSSH',
  },
  { Safe: 'Linux-Root', Name: 'Unix-web02-root', Content: 'other', UserName: 'root', Address: 'web02.corp.example' },
  {
    Safe: 'Keys',
    Name: 'Unix-web01-svc-key',
    Content: KEY,
    UserName: 'svc',
    Address: 'web01.corp.example',
    properties: { Passphrase: PASSPHRASE, RootPassword: ROOT_PW },
  },
  { Safe: 'Linux-Root', Name: 'Unix-db-changing', Content: 'changing-pw', UserName: 'dbadmin', changing: true },
  { Safe: 'Linux-Root', Folder: 'Root\\Special', Name: ODD_NAME, Content: 'odd-pw' },
  { Safe: 'Not-Ours', Name: 'Unix-hidden', Content: 'hidden-pw' },
];
const applications = [
  { appId: 'vaultscan', certCn: 'vaultscan-scanner', safes: ['Linux-Root', 'Keys'] },
  { appId: 'vaultscan-machine', allowedMachines: ['127.0.0.1'], safes: ['Linux-Root'] },
  { appId: 'vaultscan-remote', allowedMachines: ['10.9.9.9'], safes: ['Linux-Root'] },
];

let ccp: CcpFake; // IIS requires a client certificate: the handshake fails without one
let iis: CcpFake; // IIS answers 403.7 without one
let open: CcpFake; // IIS accepts callers without one (allowed-machines applications)

beforeAll(async () => {
  [ccp, iis, open] = await Promise.all([
    startCcpFake({ clientCertificate: 'handshake', applications, accounts: accounts() }),
    startCcpFake({ clientCertificate: 'iis403', applications, accounts: accounts() }),
    startCcpFake({ clientCertificate: 'optional', applications, accounts: accounts() }),
  ]);
});
afterAll(async () => {
  await Promise.all([ccp?.close(), iis?.close(), open?.close()]);
});

const config = (fake: CcpFake, extra: Record<string, unknown> = {}) => ({
  url: fake.url,
  caCert: fake.caCert,
  clientCert: fake.client.cert,
  appId: 'vaultscan',
  ...extra,
});
const access = (fake: CcpFake) => ({ clientKey: fake.client.key });
const text = (b?: Buffer) => b?.toString('utf8');
const read = (
  cfg: Record<string, unknown>,
  acc: Record<string, unknown>,
  locator: Record<string, unknown>,
  fields: CredentialFields = { password: 'Content' },
) => cyberarkCcpVault.fetch({ config: cfg, access: acc, locator, fields, reason: 'vaultscan scan 42' });

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [SECRET, KEY, PASSPHRASE, ROOT_PW, ccp.client.key]) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

describe('reading credentials', () => {
  it('is registered', () => {
    expect(getVaultAdapter('cyberark-ccp')).toBe(cyberarkCcpVault);
    expect(vaultTypeSpec('cyberark-ccp')?.secretFields).toEqual([
      'password',
      'privateKey',
      'passphrase',
      'rootPassword',
    ]);
  });

  it('password by Safe and Object over mutual TLS; nothing to release', async () => {
    const before = ccp.reads;
    const got = await read(config(ccp), access(ccp), { safe: 'Linux-Root', object: 'Unix-web01-root' });
    expect(text(got.credential.password)).toBe(SECRET);
    expect(got.release).toBeUndefined();
    expect(ccp.reads).toBe(before + 1);
    expect(ccp.requests.at(-1)?.cn).toBe('vaultscan-scanner');
  });

  it('password by UserName and Address', async () => {
    const got = await read(config(ccp), access(ccp), {
      safe: 'Linux-Root',
      userName: 'root',
      address: 'web02.corp.example',
    });
    expect(text(got.credential.password)).toBe('other');
  });

  it('a key account: Content is the key, custom properties the passphrase and root password (any case)', async () => {
    const got = await read(
      config(ccp),
      access(ccp),
      { safe: 'Keys', object: 'Unix-web01-svc-key' },
      { privateKey: 'Content', passphrase: 'passphrase', rootPassword: 'RootPassword' },
    );
    expect([
      text(got.credential.privateKey),
      text(got.credential.passphrase),
      text(got.credential.rootPassword),
    ]).toEqual([KEY, PASSPHRASE, ROOT_PW]);
  });

  it('AppID-only (allowed machines): no client certificate at all', async () => {
    const got = await read(
      { url: open.url, caCert: open.caCert, appId: 'vaultscan-machine' },
      {},
      {
        safe: 'Linux-Root',
        object: 'Unix-web01-root',
      },
    );
    expect(text(got.credential.password)).toBe(SECRET);
    expect(open.requests.at(-1)?.cn).toBeUndefined();
  });

  it('encodes every query value (spaces as %20, &, +, /, \\, non-ASCII) and sends the CCP options', async () => {
    const got = await read(config(ccp), access(ccp), { safe: 'Linux-Root', folder: 'Root\\Special', object: ODD_NAME });
    expect(text(got.credential.password)).toBe('odd-pw');
    const query = ccp.requests.at(-1)?.query ?? '';
    expect(query).not.toContain('+');
    expect(query).toContain('Object=Linux%20web%20%26%20co%2B1%20%C3%A4%2Fx');
    expect(query).toContain('Folder=Root%5CSpecial');
    expect(query).toMatch(/^AppID=vaultscan&Safe=Linux-Root&/);
    expect(query).toContain('ConnectionTimeout=8');
    expect(query).toContain('FailRequestOnPasswordChange=true');
    expect(query).toContain('Reason=vaultscan%20scan%2042');
  });

  it('Folder defaults to Root, and the URL may carry another IIS application name', () => {
    expect(ccpQuery({ url: 'x', appId: 'a b' }, { safe: 's', userName: 'u' })).toBe(
      'AppID=a%20b&Safe=s&Folder=Root&UserName=u',
    );
  });

  it('field-name leniency: Username, ErrorMessage, PasswordChangeInProcess as a bool', async () => {
    ccp.userNameKey = 'Username';
    ccp.changeFlagAsBool = true;
    ccp.errorField = 'ErrorMessage';
    try {
      const got = await read(
        config(ccp),
        access(ccp),
        { safe: 'Linux-Root', object: 'Unix-web01-root' },
        { password: 'Content', rootPassword: 'UserName' },
      );
      expect(text(got.credential.rootPassword)).toBe('root');
      const e = await failure(read(config(ccp), access(ccp), { safe: 'Linux-Root', object: 'nope' }));
      expect(e.message).toContain('Password object matching query');
      ccp.ignoreFailRequestOnPasswordChange = true;
      expect(
        await failure(read(config(ccp), access(ccp), { safe: 'Linux-Root', object: 'Unix-db-changing' })),
      ).toMatchObject({ code: 'VAULT_UNAVAILABLE', vendorCode: 'PasswordChangeInProcess', httpStatus: 200 });
    } finally {
      ccp.userNameKey = 'UserName';
      ccp.changeFlagAsBool = false;
      ccp.errorField = 'ErrorMsg';
      ccp.ignoreFailRequestOnPasswordChange = false;
    }
  });

  it('failRequestOnPasswordChange: false takes the password the CPM is changing', async () => {
    const got = await read(config(ccp, { failRequestOnPasswordChange: false }), access(ccp), {
      safe: 'Linux-Root',
      object: 'Unix-db-changing',
    });
    expect(text(got.credential.password)).toBe('changing-pw');
    expect(ccp.requests.at(-1)?.query).not.toContain('FailRequestOnPasswordChange');
  });
});

describe('every failure-table row is classified, with the vendor code kept', () => {
  const web01 = { safe: 'Linux-Root', object: 'Unix-web01-root' };
  const withFault = async (fake: CcpFake, fault: CcpFake['fault'], run: () => Promise<unknown>) => {
    fake.fault = fault;
    try {
      return await failure(run());
    } finally {
      fake.fault = 'none';
    }
  };

  it('no client certificate where IIS requires one: the handshake fails → VAULT_TLS_ERROR', async () => {
    expect((await failure(read({ url: ccp.url, caCert: ccp.caCert, appId: 'vaultscan' }, {}, web01))).code).toBe(
      'VAULT_TLS_ERROR',
    );
  });
  it('no client certificate, IIS answers 403.7 → VAULT_AUTH_FAILED', async () => {
    expect(await failure(read({ url: iis.url, caCert: iis.caCert, appId: 'vaultscan' }, {}, web01))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'IIS 403.7',
      httpStatus: 403,
    });
  });
  it("a certificate that is not the application's → APPAP306E, VAULT_AUTH_FAILED", async () => {
    const e = await failure(
      read({ ...config(ccp), clientCert: ccp.otherClient.cert }, { clientKey: ccp.otherClient.key }, web01),
    );
    expect(e).toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'APPAP306E', httpStatus: 403 });
  });
  it('a machine not on the allowed list → APPAP306E', async () => {
    expect(
      await failure(read({ url: open.url, caCert: open.caCert, appId: 'vaultscan-remote' }, {}, web01)),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'APPAP306E' });
  });
  it('an AppID the Vault does not know → APPAP008E, VAULT_AUTH_FAILED', async () => {
    expect(await failure(read(config(ccp, { appId: 'nobody' }), access(ccp), web01))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'APPAP008E',
      httpStatus: 403,
    });
  });
  it('the application fails its authentication check → APPAP306E; IIS Windows authentication 401 → VAULT_AUTH_FAILED', async () => {
    expect(await withFault(ccp, 'authFailed', () => read(config(ccp), access(ccp), web01))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'APPAP306E',
    });
    expect(await withFault(ccp, 'windowsAuth', () => read(config(ccp), access(ccp), web01))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      vendorCode: 'IIS 401.2',
      httpStatus: 401,
    });
  });
  it('no such object, and a safe the application is not a member of → APPAP004E, VAULT_SECRET_NOT_FOUND', async () => {
    for (const locator of [
      { safe: 'Linux-Root', object: 'Unix-none' },
      { safe: 'Not-Ours', object: 'Unix-hidden' },
    ]) {
      const e = await failure(read(config(ccp), access(ccp), locator));
      expect(e).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', vendorCode: 'APPAP004E', httpStatus: 404 });
      expect(e.message).toMatch(/not a member of the safe/);
    }
  });
  it('a query matching several accounts → APPAP227E, VAULT_SECRET_NOT_FOUND', async () => {
    const e = await failure(read(config(ccp), access(ccp), { safe: 'Linux-Root', userName: 'root' }));
    expect(e).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', vendorCode: 'APPAP227E', httpStatus: 400 });
    expect(e.message).toMatch(/more than one account/);
  });
  it('CCP cannot reach the Vault → APPAP007E, VAULT_UNAVAILABLE (retryable)', async () => {
    expect(await withFault(ccp, 'vaultDown', () => read(config(ccp), access(ccp), web01))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      vendorCode: 'APPAP007E',
      httpStatus: 400,
    });
  });
  it('the CPM is changing the password → APPAP282E, VAULT_UNAVAILABLE (retryable)', async () => {
    expect(
      await failure(read(config(ccp), access(ccp), { safe: 'Linux-Root', object: 'Unix-db-changing' })),
    ).toMatchObject({ code: 'VAULT_UNAVAILABLE', vendorCode: 'APPAP282E', httpStatus: 500 });
  });
  it.each([
    ['badQuery', 'AIMWS030E'],
    ['missingAppId', 'AIMWS031E'],
    ['malformed', 'APPAP081E'],
    ['badCharacters', 'CASVL010E'],
    ['unknownCode', 'APPAP999E'],
  ] as const)('our request malformed (%s) → %s, VAULT_BAD_RESPONSE', async (fault, vendorCode) => {
    expect(await withFault(ccp, fault, () => read(config(ccp), access(ccp), web01))).toMatchObject({
      code: 'VAULT_BAD_RESPONSE',
      vendorCode,
      httpStatus: 400,
    });
  });
  it('invalid characters in a real UserName → CASVL010E', async () => {
    expect(await failure(read(config(ccp), access(ccp), { safe: 'Linux-Root', userName: 'CORP\\svc' }))).toMatchObject({
      code: 'VAULT_BAD_RESPONSE',
      vendorCode: 'CASVL010E',
    });
  });
  it('200 without Content, an HTML page, garbage → VAULT_BAD_RESPONSE', async () => {
    for (const fault of ['noContent', 'html', 'garbage'] as const) {
      const e = await withFault(ccp, fault, () => read(config(ccp), access(ccp), web01));
      expect(e).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 200 });
    }
  });
  it('a property the account does not have → VAULT_SECRET_NOT_FOUND naming it', async () => {
    const e = await failure(read(config(ccp), access(ccp), web01, { password: 'Content', passphrase: 'Passphrase' }));
    expect(e.code).toBe('VAULT_SECRET_NOT_FOUND');
    expect(e.message).toContain('"Passphrase"');
  });
  it('IIS 503 → VAULT_UNAVAILABLE', async () => {
    expect(await withFault(ccp, 'unavailable', () => read(config(ccp), access(ccp), web01))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      httpStatus: 503,
    });
  });
  it('throttled with Retry-After: waited out, then VAULT_RATE_LIMITED when it persists', async () => {
    ccp.fault = 'throttled';
    const started = Date.now();
    setTimeout(() => (ccp.fault = 'none'), 300);
    expect(text((await read(config(ccp), access(ccp), web01)).credential.password)).toBe(SECRET);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const e = await withFault(ccp, 'throttled', () => read(config(ccp, { timeoutMs: 1500 }), access(ccp), web01));
    expect(e).toMatchObject({ code: 'VAULT_RATE_LIMITED', httpStatus: 429, retryAfterMs: 1000 });
  });
  it('a slow answer → VAULT_TIMEOUT, with ConnectionTimeout below our own timeout', async () => {
    ccp.slowMs = 1500;
    const e = await withFault(ccp, 'slow', () => read(config(ccp, { timeoutMs: 500 }), access(ccp), web01));
    expect(e.code).toBe('VAULT_TIMEOUT');
  });
  it('nothing listening → VAULT_UNREACHABLE', async () => {
    expect((await failure(read(config(ccp, { url: 'https://127.0.0.1:1' }), access(ccp), web01))).code).toBe(
      'VAULT_UNREACHABLE',
    );
  });
  it('a cancelled fetch is no vault failure; a caller deadline is VAULT_TIMEOUT', async () => {
    ccp.slowMs = 1500;
    ccp.fault = 'slow';
    try {
      const controller = new AbortController();
      const cancelled = cyberarkCcpVault.fetch({
        config: config(ccp),
        access: access(ccp),
        locator: web01,
        fields: { password: 'Content' },
        reason: 'test',
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 100);
      await expect(cancelled).rejects.not.toBeInstanceOf(ScanError);
      await expect(
        cyberarkCcpVault.fetch({
          config: config(ccp),
          access: access(ccp),
          locator: web01,
          fields: { password: 'Content' },
          reason: 'test',
          signal: AbortSignal.timeout(100),
        }),
      ).rejects.toMatchObject({ code: 'VAULT_TIMEOUT' });
    } finally {
      ccp.fault = 'none';
    }
  });
  it('naming no field is a configuration error', async () => {
    expect((await failure(read(config(ccp), access(ccp), web01, {}))).code).toBe('CONFIG_INVALID');
  });
});

describe('checkAccess', () => {
  it('passes for an application that authenticates (APPAP004E on a probe), reading nothing', async () => {
    const before = ccp.reads;
    await cyberarkCcpVault.checkAccess({ config: config(ccp), access: access(ccp) });
    await cyberarkCcpVault.checkAccess({
      config: { url: open.url, caCert: open.caCert, appId: 'vaultscan-machine' },
      access: {},
    });
    expect(ccp.reads).toBe(before);
  });
  it('fails for one that does not', async () => {
    await expect(
      cyberarkCcpVault.checkAccess({ config: config(ccp, { appId: 'nobody' }), access: access(ccp) }),
    ).rejects.toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'APPAP008E' });
    await expect(
      cyberarkCcpVault.checkAccess({ config: { url: iis.url, caCert: iis.caCert, appId: 'vaultscan' }, access: {} }),
    ).rejects.toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'IIS 403.7' });
  });
});

describe('timeouts: ours always exceeds CCP ConnectionTimeout', () => {
  it.each([
    [{}, { timeoutMs: 10_000, connectionTimeoutS: 8 }],
    [{ timeoutMs: 500 }, { timeoutMs: 500, connectionTimeoutS: 1 }],
    [{ connectionTimeout: 30 }, { timeoutMs: 40_000, connectionTimeoutS: 30 }],
    [
      { connectionTimeout: 5, timeoutMs: 9000 },
      { timeoutMs: 9000, connectionTimeoutS: 5 },
    ],
    [{ timeoutMs: 120_000 }, { timeoutMs: 120_000, connectionTimeoutS: 30 }],
  ])('%j → %j', (extra, want) => {
    expect(ccpTimeouts({ url: 'x', appId: 'a', ...extra })).toEqual(want);
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

describe('validation names the field', () => {
  const base = { url: 'https://ccp.example.com', appId: 'vaultscan' };
  const configField = (c: Record<string, unknown>) =>
    refusedField(() => checkVaultSettings('cyberark-ccp', { config: c }));
  const accessField = (a: Record<string, unknown>, c: Record<string, unknown> = base) =>
    refusedField(() => checkVaultSettings('cyberark-ccp', { config: c, access: a }));
  const locatorField = (l: Record<string, unknown>) => refusedField(() => checkLocator('cyberark-ccp', l));

  it('config', () => {
    expect(configField(base)).toBeUndefined();
    expect(configField({ url: base.url })).toBe('config.appId');
    expect(configField({ ...base, url: 'http://ccp' })).toBe('config.url');
    expect(configField({ ...base, appId: 'a;b' })).toBe('config.appId');
    expect(configField({ ...base, connectionTimeout: 30, timeoutMs: 30_000 })).toBe('config.timeoutMs');
    expect(
      configField({ ...base, connectionTimeout: 30, timeoutMs: 31_000, maxConcurrentRequests: 8 }),
    ).toBeUndefined();
    expect(configField({ ...base, maxConcurrentRequests: 0 })).toBe('config.maxConcurrentRequests');
    expect(configField({ ...base, servicePath: '../PasswordVault' })).toBe('config.servicePath');
    expect(configField({ ...base, authMethod: 'cert' })).toBe('config.authMethod');
    expect(configField({ ...base, caCert: '-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----' })).toBe(
      'config.caCert',
    );
  });
  it('access: the client key goes with the certificate, and parses', () => {
    expect(accessField({})).toBeUndefined();
    expect(accessField({}, { ...base, clientCert: ccp.client.cert })).toBe('access.clientKey');
    expect(accessField({ clientKey: ccp.client.key })).toBe('config.clientCert');
    expect(accessField({ clientKey: ccp.client.key }, { ...base, clientCert: ccp.client.cert })).toBeUndefined();
    expect(accessField({ clientKey: 'junk' }, { ...base, clientCert: ccp.client.cert })).toBe('access.clientKey');
    expect(accessField({ password: 'x' })).toBe('access.password');
  });
  it('locator: neither object nor userName → 400 naming locator.object', () => {
    expect(locatorField({ safe: 'S', object: 'o' })).toBeUndefined();
    expect(locatorField({ safe: 'S', userName: 'root', address: 'h' })).toBeUndefined();
    expect(locatorField({ safe: 'S' })).toBe('locator.object');
    expect(locatorField({ safe: 'S', address: 'h' })).toBe('locator.object');
    expect(locatorField({ object: 'o' })).toBe('locator.safe');
    expect(locatorField({ safe: 'S', object: 'a;Safe=Other' })).toBe('locator.object');
    expect(locatorField({ safe: 'S', object: 'o', query: 'Safe=x' })).toBe('locator.query');
  });
});

describe("the vendor's way of calling it: curl --cert --key --cacert", () => {
  const curl = (args: string[]) =>
    new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile('curl', ['-sS', '--max-time', '10', ...args], (err, stdout) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
      );
    });
  const url = (fake: CcpFake, query: string) => `${fake.url}/AIMWebService/api/Accounts?${query}`;

  it('reads the account with the client certificate, as in the docs', async () => {
    const { code, stdout } = await curl([
      '--cert',
      ccp.client.files.cert,
      '--key',
      ccp.client.files.key,
      '--cacert',
      ccp.caFile,
      url(ccp, 'AppID=vaultscan&Safe=Linux-Root&Folder=Root&Object=Unix-web01-root'),
    ]);
    expect(code).toBe(0);
    const body = JSON.parse(stdout) as Record<string, unknown>;
    expect(body).toMatchObject({
      Content: SECRET,
      UserName: 'root',
      Address: 'web01.corp.example',
      PasswordChangeInProcess: 'False',
      Safe: 'Linux-Root',
      Folder: 'Root',
      Name: 'Unix-web01-root',
      PolicyID: 'UnixSSH',
    });
  });
  it('case-insensitive parameter names, and Query= overriding the rest', async () => {
    const { stdout } = await curl([
      '--cert',
      ccp.client.files.cert,
      '--key',
      ccp.client.files.key,
      '--cacert',
      ccp.caFile,
      url(ccp, 'appid=vaultscan&safe=Nothing&Query=Safe%3DLinux-Root%3BUserName%3Droot%3BAddress%3Dweb02.corp.example'),
    ]);
    expect((JSON.parse(stdout) as Record<string, unknown>).Name).toBe('Unix-web02-root');
  });
  it('errors come as {ErrorCode, ErrorMsg}', async () => {
    const { stdout } = await curl([
      '--cert',
      ccp.client.files.cert,
      '--key',
      ccp.client.files.key,
      '--cacert',
      ccp.caFile,
      '-w',
      '\n%{http_code}',
      url(ccp, 'AppID=vaultscan&Safe=Linux-Root&Object=missing'),
    ]);
    const [body, status] = stdout.split('\n');
    expect(status).toBe('404');
    expect(JSON.parse(body ?? '')).toMatchObject({
      ErrorCode: 'APPAP004E',
      ErrorMsg: expect.stringContaining('Password object matching query [Safe=Linux-Root;Folder=Root;Object=missing]'),
    });
  });
  it('without a client certificate: the handshake fails, or IIS answers 403', async () => {
    expect((await curl(['--cacert', ccp.caFile, url(ccp, 'AppID=vaultscan&Safe=Linux-Root&Object=x')])).code).not.toBe(
      0,
    );
    const { stdout } = await curl([
      '--cacert',
      iis.caFile,
      '-w',
      '\n%{http_code}',
      url(iis, 'AppID=vaultscan&Safe=Linux-Root&Object=x'),
    ]);
    expect(stdout).toMatch(/403\.7[\s\S]*\n403$/);
  });
});
