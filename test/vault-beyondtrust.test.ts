// The BeyondTrust Password Safe adapter against the fake (test/fakes/beyondtrust.ts): each
// secret field, API-key (with and without run-as), OAuth and mutual TLS sign-in, every row of
// the failure table with its vendor code, and the loan: every access request made is checked
// in and every session signed out, whatever failed and whenever release comes.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialFields, VaultRead } from '../activities/vault/adapter.js';
import { beyondtrustVault } from '../activities/vault/beyondtrust.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { ScanError } from '../domain/scan-error.js';
import { startBeyondtrustFake, type BeyondtrustFake, type Step } from './fakes/beyondtrust.js';

const API_KEY = 'k'.repeat(64) + 'Q7x2'.repeat(16); // 128 characters, as the official client insists
const CLIENT_ID = '6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f';
const CLIENT_SECRET = 'oauth-secret-7Hq2mZ9pLw4vXc8rTb3nYf6s';
const ROOT_PW = 'bt-root-Pw-81ZqA';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nbt-test-key\n-----END OPENSSH PRIVATE KEY-----\n';
const PASSPHRASE = 'bt-key-passphrase-5521';
const SECRETS = [API_KEY, CLIENT_SECRET, ROOT_PW, KEY, PASSPHRASE, 'backup-Pw-9', 'unquoted-secret-77'];

let fake: BeyondtrustFake;

beforeAll(async () => {
  fake = await startBeyondtrustFake({
    apiKey: API_KEY,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    accounts: [
      {
        systemId: 31,
        accountId: 57,
        systemName: 'web01',
        accountName: 'root',
        password: ROOT_PW,
        dsskey: KEY,
        passphrase: PASSPHRASE,
      },
      { systemId: 32, accountId: 58, systemName: 'db01', accountName: 'svc_backup', password: 'backup-Pw-9' },
      { systemId: 40, accountId: 70, systemName: 'dup', accountName: 'admin', password: 'a' },
      { systemId: 41, accountId: 71, systemName: 'dup', accountName: 'admin', password: 'b' },
    ],
  });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => {
  fake.reset();
  fake.options.runAsUser = undefined;
  fake.options.runAsPassword = undefined;
  fake.options.requireClientCert = false;
});

const config = (extra: Record<string, unknown> = {}) => ({
  url: fake.url,
  authMethod: 'apiKey',
  caCert: fake.caCert,
  ...extra,
});
const byName = { systemName: 'web01', accountName: 'root' };
const REASON = 'vaultscan authenticated scan scan-42';

function read(
  opts: {
    config?: Record<string, unknown>;
    access?: Record<string, unknown>;
    locator?: Record<string, unknown>;
    fields?: CredentialFields;
    signal?: AbortSignal;
  } = {},
): Promise<VaultRead> {
  return beyondtrustVault.fetch({
    config: opts.config ?? config(),
    access: opts.access ?? { apiKey: API_KEY },
    locator: opts.locator ?? byName,
    fields: opts.fields ?? { password: 'password' },
    reason: REASON,
    ...(opts.signal && { signal: opts.signal }),
  });
}

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of SECRETS) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

const steps = () => fake.calls.map((c) => c.step);
const text = (b?: Buffer) => b?.toString('utf8');

/** Every request made was checked in, and no session is left signed in. */
function allReturned() {
  expect(fake.openRequests()).toEqual([]);
  expect(fake.liveSessions()).toBe(0);
  expect(fake.calls.at(-1)?.step).toBe('signout');
}

describe('reading credentials', () => {
  it('password by system and account name: sign-in, lookup, request, read; release checks in, then signs out', async () => {
    const before = Date.now();
    const got = await read();
    expect(text(got.credential.password)).toBe(ROOT_PW);
    // Lent until now + the duration asked for (5 minutes by default).
    expect(got.lentUntil!.getTime()).toBeGreaterThanOrEqual(before + 5 * 60_000);
    expect(got.lentUntil!.getTime()).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
    expect(steps()).toEqual(['signin', 'lookup', 'request', 'credentials']);
    expect(fake.openRequests()).toHaveLength(1);
    expect(fake.liveSessions()).toBe(1);

    await got.release!();
    expect(steps()).toEqual(['signin', 'lookup', 'request', 'credentials', 'checkin', 'signout']);
    allReturned();
    const signin = fake.calls[0]!;
    // An API Key Policy registration: the key alone, no runas.
    expect(signin.authorization).toBe(`PS-Auth key=${API_KEY};`);
    // After sign-in the session cookie carries the calls: the key is not sent again.
    expect(fake.calls.slice(1).map((c) => [c.authorization, c.via])).toEqual(Array(5).fill([undefined, 'cookie']));
    expect(fake.calls[2]!.body).toEqual({
      SystemID: 31,
      AccountID: 57,
      DurationMinutes: 5,
      Reason: REASON,
      ConflictOption: 'reuse',
    });
    expect(fake.requests[0]!.reason).toBe(REASON);
    // Released twice (a caller's retry): checked in once.
    await got.release!();
    expect(fake.count('checkin')).toBe(1);
  });

  it('private key and passphrase by ids (no lookup), for the configured duration', async () => {
    const before = Date.now();
    const got = await read({
      config: config({ durationMinutes: 30 }),
      locator: { systemId: 31, accountId: 57 },
      fields: { privateKey: 'dsskey', passphrase: 'passphrase' },
    });
    expect([text(got.credential.privateKey), text(got.credential.passphrase)]).toEqual([KEY, PASSPHRASE]);
    expect(steps()).toEqual(['signin', 'request', 'credentials', 'credentials']);
    expect(fake.calls.filter((c) => c.step === 'credentials').map((c) => c.path)).toEqual([
      `Credentials/${fake.requests[0]!.id}?type=dsskey`,
      `Credentials/${fake.requests[0]!.id}?type=passphrase`,
    ]);
    expect(fake.requests[0]!.durationMinutes).toBe(30);
    expect(got.lentUntil!.getTime() - before).toBeGreaterThanOrEqual(30 * 60_000);
    await got.release!();
    allReturned();
  });

  it('the login and root-delegation password from one read', async () => {
    const got = await read({ fields: { password: 'password', rootPassword: 'password' } });
    expect([text(got.credential.password), text(got.credential.rootPassword)]).toEqual([ROOT_PW, ROOT_PW]);
    expect(fake.count('credentials')).toBe(1);
    await got.release!();
  });

  it('run-as user and password in the PS-Auth header', async () => {
    Object.assign(fake.options, { runAsUser: 'CORP\\svc_scan', runAsPassword: 'run-as-pw' });
    const got = await read({
      config: config({ runAsUser: 'CORP\\svc_scan' }),
      access: { apiKey: API_KEY, runAsPassword: 'run-as-pw' },
    });
    expect(text(got.credential.password)).toBe(ROOT_PW);
    expect(fake.calls[0]!.authorization).toBe(`PS-Auth key=${API_KEY}; runas=CORP\\svc_scan; pwd=[run-as-pw];`);
    await got.release!();
    allReturned();
  });

  it('OAuth client credentials, then Bearer on SignAppin', async () => {
    const got = await read({
      config: config({ authMethod: 'oauth', clientId: CLIENT_ID }),
      access: { clientSecret: CLIENT_SECRET },
    });
    expect(text(got.credential.password)).toBe(ROOT_PW);
    expect(steps().slice(0, 2)).toEqual(['token', 'signin']);
    expect(fake.calls[1]!.authorization).toMatch(/^Bearer [0-9a-f]{48}$/);
    await got.release!();
    allReturned();
  });

  it('mutual TLS: without the client certificate sign-in is refused (401); with it the read works', async () => {
    fake.options.requireClientCert = true;
    expect(await failure(read())).toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 401, vendorCode: '4010' });
    const got = await read({
      config: config({ clientCert: fake.clientCert }),
      access: { apiKey: API_KEY, clientKey: fake.clientKey },
    });
    expect(text(got.credential.password)).toBe(ROOT_PW);
    await got.release!();
  });

  it('checkAccess signs in and out without reading', async () => {
    await beyondtrustVault.checkAccess({ config: config(), access: { apiKey: API_KEY } });
    expect(steps()).toEqual(['signin', 'signout']);
    expect(fake.liveSessions()).toBe(0);
    expect(
      await failure(beyondtrustVault.checkAccess({ config: config(), access: { apiKey: 'wrong' } })),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 401 });
  });

  it('release long after the read: the expired session is signed in again to check in', async () => {
    const got = await read();
    fake.expireSessions();
    await got.release!();
    expect(steps().slice(4)).toEqual(['checkin', 'signin', 'checkin', 'signout']);
    allReturned();
  });

  it('the caller failing after the read still gets the request checked in (release in finally)', async () => {
    const got = await read();
    await expect(
      (async () => {
        try {
          throw new Error('the SSH login blew up');
        } finally {
          await got.release!();
        }
      })(),
    ).rejects.toThrow('the SSH login blew up');
    allReturned();
  });
});

describe('every failure is classified, with the vendor code; the loan is always returned', () => {
  const fault = (step: Step, status: number, body?: unknown, extra: Record<string, unknown> = {}) =>
    fake.faults.push({ step, status, body, ...extra });

  it('a wrong API key → VAULT_AUTH_FAILED (401 on SignAppin); nothing else is called', async () => {
    expect(await failure(read({ access: { apiKey: 'not-the-key' } }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      httpStatus: 401,
      vendorCode: '4013',
    });
    expect(steps()).toEqual(['signin']);
  });
  it('a wrong run-as password → VAULT_AUTH_FAILED', async () => {
    Object.assign(fake.options, { runAsUser: 'svc', runAsPassword: 'right' });
    expect(
      await failure(
        read({ config: config({ runAsUser: 'svc' }), access: { apiKey: API_KEY, runAsPassword: 'wrong' } }),
      ),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: '4015' });
  });
  it('a wrong OAuth secret → VAULT_AUTH_FAILED (invalid_client)', async () => {
    expect(
      await failure(
        read({ config: config({ authMethod: 'oauth', clientId: CLIENT_ID }), access: { clientSecret: 'nope' } }),
      ),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 400, vendorCode: 'invalid_client' });
    expect(steps()).toEqual(['token']);
  });
  it('a session that expired once is signed in again, and the read goes on', async () => {
    fault('lookup', 401, '4016 - Session expired or not signed in', { times: 1 });
    const got = await read();
    expect(text(got.credential.password)).toBe(ROOT_PW);
    expect(steps()).toEqual(['signin', 'lookup', 'signin', 'lookup', 'request', 'credentials']);
    await got.release!();
    allReturned();
  });
  it('401 again after the one re-sign-in → VAULT_AUTH_FAILED', async () => {
    fake.sessionsDieAtOnce = true;
    expect(await failure(read())).toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 401, vendorCode: '4016' });
    expect(steps()).toEqual(['signin', 'lookup', 'signin', 'lookup', 'signout']);
    expect(fake.requests).toHaveLength(0);
  });
  it('403 on the lookup → VAULT_PERMISSION_DENIED, signed out', async () => {
    fake.deny('lookup');
    expect(await failure(read())).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      httpStatus: 403,
      vendorCode: '4030',
    });
    allReturned();
  });
  it('403 on the read → VAULT_PERMISSION_DENIED, checked in and signed out', async () => {
    fault('credentials', 403, '4036 - User does not have permission to retrieve this credential');
    const e = await failure(read());
    expect(e).toMatchObject({ code: 'VAULT_PERMISSION_DENIED', httpStatus: 403, vendorCode: '4036' });
    expect(e.message).toContain('does not have permission');
    expect(steps()).toEqual(['signin', 'lookup', 'request', 'credentials', 'checkin', 'signout']);
    allReturned();
  });
  it('no such account → VAULT_SECRET_NOT_FOUND, for a 404 and for an empty list', async () => {
    expect(await failure(read({ locator: { systemName: 'web01', accountName: 'nobody' } }))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      httpStatus: 404,
      vendorCode: '4031',
    });
    allReturned();
    fake.reset();
    fake.notFoundAs = 'empty';
    expect(await failure(read({ locator: { systemName: 'web01', accountName: 'nobody' } }))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
    });
    allReturned();
  });
  it('two accounts match → VAULT_SECRET_NOT_FOUND (ambiguous), no request made', async () => {
    const e = await failure(read({ locator: { systemName: 'dup', accountName: 'admin' } }));
    expect(e.code).toBe('VAULT_SECRET_NOT_FOUND');
    expect(e.message).toMatch(/ambiguous: 2 managed accounts/);
    expect(fake.requests).toHaveLength(0);
    allReturned();
  });
  it('unknown ids → VAULT_SECRET_NOT_FOUND from POST Requests', async () => {
    expect(await failure(read({ locator: { systemId: 9, accountId: 9 } }))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      httpStatus: 404,
    });
    allReturned();
  });
  it('a conflicting request (409) → VAULT_PERMISSION_DENIED with the vendor text', async () => {
    fake.conflict = true;
    const e = await failure(read());
    expect(e).toMatchObject({ code: 'VAULT_PERMISSION_DENIED', httpStatus: 409, vendorCode: '4091' });
    expect(e.message).toContain('already exists');
    allReturned();
  });
  it('an open request of ours is reused (ConflictOption reuse), not a conflict', async () => {
    const first = await read();
    const second = await read();
    expect(fake.requests).toHaveLength(1);
    await first.release!();
    await second.release!().catch(() => undefined);
    expect(fake.liveSessions()).toBe(0);
  });
  it('a request pending approval → VAULT_PERMISSION_DENIED, checked in and signed out', async () => {
    fake.pendingApproval = true;
    const e = await failure(read());
    expect(e).toMatchObject({ code: 'VAULT_PERMISSION_DENIED', httpStatus: 403, vendorCode: '4034' });
    expect(e.message).toContain('pending approval');
    allReturned();
  });
  it('429 with Retry-After is waited out, then the read goes on', async () => {
    fake.throttle(1, 'credentials', 1);
    const got = await read();
    expect(text(got.credential.password)).toBe(ROOT_PW);
    const reads = fake.calls.filter((c) => c.step === 'credentials');
    expect(reads.map((c) => c.status)).toEqual([429, 200]);
    expect(reads[1]!.at - reads[0]!.at).toBeGreaterThanOrEqual(950);
    await got.release!();
    allReturned();
  });
  it('429 asking for longer than the call may take → VAULT_RATE_LIMITED with the wait; checked in', async () => {
    fake.throttle(30);
    expect(await failure(read({ config: config({ timeoutMs: 2000 }) }))).toMatchObject({
      code: 'VAULT_RATE_LIMITED',
      httpStatus: 429,
      retryAfterMs: 30_000,
      vendorCode: '4290',
    });
    allReturned();
  });
  it.each([
    ['signin', 503],
    ['lookup', 408],
    ['request', 500],
    ['credentials', 502],
  ] as const)('%s answering %i → VAULT_UNAVAILABLE (retryable)', async (step, status) => {
    fault(step, status, `5000 - Service unavailable`);
    expect(await failure(read())).toMatchObject({ code: 'VAULT_UNAVAILABLE', httpStatus: status });
    if (step !== 'signin') allReturned();
  });
  it('503 with Retry-After → VAULT_UNAVAILABLE carrying the wait for the retry', async () => {
    fake.unavailable('request', 503, 120);
    expect(await failure(read())).toMatchObject({ code: 'VAULT_UNAVAILABLE', httpStatus: 503, retryAfterMs: 120_000 });
    allReturned();
  });
  it('an HTML page → VAULT_BAD_RESPONSE (sign-in), VAULT_UNAVAILABLE without a vendor code (502 page)', async () => {
    fake.faults.push({ step: 'signin', status: 200, raw: '<!DOCTYPE html><html>Login</html>' });
    expect(await failure(read())).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 200 });
    fake.reset();
    fake.faults.push({ step: 'lookup', status: 502, raw: '<html><body>Bad gateway</body></html>' });
    const e = await failure(read());
    expect(e).toMatchObject({ code: 'VAULT_UNAVAILABLE', httpStatus: 502, vendorCode: undefined });
    expect(e.message).toContain('an HTML page');
    allReturned();
  });
  it.each([
    ['garbage', { raw: 'not json at all', contentType: 'text/plain' }],
    ['an account without AccountId', { body: { SystemId: 31, AccountName: 'root' } }],
    ['a string id', { body: { SystemId: 31, AccountId: '57' } }],
    ['null', { body: null }],
  ])('a lookup answering %s → VAULT_BAD_RESPONSE, signed out, no request', async (_what, answer) => {
    fake.faults.push({ step: 'lookup', status: 200, ...answer });
    expect(await failure(read())).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 200 });
    expect(fake.requests).toHaveLength(0);
    allReturned();
  });
  it('a 400 (our request malformed) → VAULT_BAD_RESPONSE with the vendor code', async () => {
    fault('request', 400, '4002 - DurationMinutes must be between 1 and 525600');
    expect(await failure(read())).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 400, vendorCode: '4002' });
    allReturned();
  });
  it('an HTML page instead of the credential → VAULT_BAD_RESPONSE, checked in', async () => {
    fake.html('credentials');
    expect(await failure(read())).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 200 });
    allReturned();
  });
  it.each([['"1234"'], ['{"RequestID":1234}'], ['12.5'], ['']])(
    'a request id that is not an integer (%s) → VAULT_BAD_RESPONSE, signed out',
    async (body) => {
      fake.requestIdBody = body === '' ? null : JSON.parse(body);
      expect(await failure(read())).toMatchObject({ code: 'VAULT_BAD_RESPONSE' });
      allReturned();
    },
  );
  it.each([['unquoted-secret-77'], ['{"Password":"unquoted-secret-77"}'], ['']])(
    'a Credentials body that is not a JSON string (%s) → VAULT_BAD_RESPONSE, no secret in the message, checked in',
    async (raw) => {
      fake.credentialsRaw = raw;
      expect(await failure(read())).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 200 });
      allReturned();
    },
  );
  it('an account without a key → VAULT_SECRET_NOT_FOUND, checked in', async () => {
    expect(
      await failure(
        read({ locator: { systemName: 'db01', accountName: 'svc_backup' }, fields: { privateKey: 'dsskey' } }),
      ),
    ).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', httpStatus: 404, vendorCode: '4035' });
    allReturned();
  });
  it('a read slower than timeoutMs → VAULT_TIMEOUT; the check-in still happens, on its own time', async () => {
    fake.slow(1500, 'credentials', 1);
    expect(await failure(read({ config: config({ timeoutMs: 400 }) }))).toMatchObject({ code: 'VAULT_TIMEOUT' });
    allReturned();
  });
  it('a scan cancelled mid-read is no vault failure, and the request is still checked in', async () => {
    fake.slow(1500, 'credentials', 1);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    await expect(read({ signal: controller.signal })).rejects.not.toBeInstanceOf(ScanError);
    allReturned();
  });
  it('a check-in the vault refuses: release says so, and still signs out', async () => {
    const got = await read();
    fake.faults.push({ step: 'checkin', status: 500, body: '5000 - Internal error' });
    await expect(got.release!()).rejects.toMatchObject({ code: 'VAULT_UNAVAILABLE', httpStatus: 500 });
    expect(fake.liveSessions()).toBe(0);
    expect(fake.calls.at(-1)?.step).toBe('signout');
  });
  it('a certificate nobody vouches for → VAULT_TLS_ERROR', async () => {
    const { caCert: _ca, ...noCa } = config();
    expect((await failure(read({ config: noCa }))).code).toBe('VAULT_TLS_ERROR');
  });
  it('a run-as user an HTTP header cannot carry → CONFIG_INVALID, not a crash', async () => {
    expect((await failure(read({ config: config({ runAsUser: 'svc\u4e2d' }) }))).code).toBe('CONFIG_INVALID');
    expect(fake.calls).toHaveLength(0);
  });
  it('a field naming no BeyondTrust credential type → CONFIG_INVALID before any call', async () => {
    expect((await failure(read({ fields: { password: 'pwd' } }))).code).toBe('CONFIG_INVALID');
    expect((await failure(read({ fields: {} }))).code).toBe('CONFIG_INVALID');
    expect(fake.calls).toHaveLength(0);
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
const URL_OK = 'https://ps.example.com/BeyondTrust/api/public/v3';
const configField = (c: Record<string, unknown>) =>
  refusedField(() => checkVaultSettings('beyondtrust', { config: c }));
const accessField = (a: Record<string, unknown>, c: Record<string, unknown> = { url: URL_OK, authMethod: 'apiKey' }) =>
  refusedField(() => checkVaultSettings('beyondtrust', { config: c, access: a }));
const locatorField = (l: Record<string, unknown>) => refusedField(() => checkLocator('beyondtrust', l));

describe('validation names the field and the reason', () => {
  it.each([
    [{ url: 'http://ps.example.com/BeyondTrust/api/public/v3', authMethod: 'apiKey' }, 'config.url'],
    [{ url: URL_OK, authMethod: 'apiKey', allowInsecureHttp: true }, 'config.allowInsecureHttp'],
    [{ url: URL_OK }, 'config.authMethod'],
    [{ url: URL_OK, authMethod: 'password' }, 'config.authMethod'],
    [{ url: URL_OK, authMethod: 'oauth' }, 'config.clientId'],
    [{ url: URL_OK, authMethod: 'oauth', clientId: 'c', runAsUser: 'u' }, 'config.runAsUser'],
    [{ url: URL_OK, authMethod: 'apiKey', runAsUser: 'u; key=other' }, 'config.runAsUser'],
    [{ url: URL_OK, authMethod: 'apiKey', durationMinutes: 0 }, 'config.durationMinutes'],
    [{ url: URL_OK, authMethod: 'apiKey', durationMinutes: 525_601 }, 'config.durationMinutes'],
    [{ url: URL_OK, authMethod: 'apiKey', caCert: 'junk' }, 'config.caCert'],
    [{ url: URL_OK, authMethod: 'apiKey', tenant: 'x' }, 'config.tenant'],
  ])('config %j', (c, field) => {
    expect(configField(c)).toBe(field);
  });
  it('accepts a full config', () => {
    expect(
      configField({
        url: URL_OK,
        authMethod: 'apiKey',
        runAsUser: 'CORP\\svc',
        durationMinutes: 10,
        timeoutMs: 5000,
        maxConcurrentRequests: 2,
      }),
    ).toBeUndefined();
    expect(configField({ url: URL_OK, authMethod: 'oauth', clientId: CLIENT_ID })).toBeUndefined();
  });
  it('access', () => {
    expect(accessField({})).toBe('access.apiKey');
    expect(accessField({ apiKey: 'a b' })).toBe('access.apiKey');
    expect(accessField({ apiKey: 'a;runas=x' })).toBe('access.apiKey');
    expect(accessField({ apiKey: 'ключ' })).toBe('access.apiKey');
    expect(accessField({ apiKey: 'k' })).toBeUndefined();
    expect(accessField({ apiKey: 'k', runAsPassword: 'p' })).toBe('access.runAsPassword');
    expect(
      accessField({ apiKey: 'k', runAsPassword: 'p' }, { url: URL_OK, authMethod: 'apiKey', runAsUser: 'u' }),
    ).toBeUndefined();
    expect(accessField({ apiKey: 'k' }, { url: URL_OK, authMethod: 'oauth', clientId: 'c' })).toBe(
      'access.clientSecret',
    );
    expect(
      accessField({ clientSecret: 's', clientKey: 'x' }, { url: URL_OK, authMethod: 'oauth', clientId: 'c' }),
    ).toBe('config.clientCert');
    expect(accessField({ apiKey: 'k', extra: 1 })).toBe('access.extra');
  });
  it.each([
    [{}, 'locator.systemName'],
    [{ systemName: 'web01' }, 'locator.accountName'],
    [{ accountName: 'root' }, 'locator.systemName'],
    [{ systemId: 31 }, 'locator.accountId'],
    [{ accountId: 57 }, 'locator.systemId'],
    [{ systemName: 'web01', accountName: 'root', systemId: 31, accountId: 57 }, 'locator.systemId'],
    [{ systemId: 0, accountId: 57 }, 'locator.systemId'],
    [{ systemId: '31', accountId: 57 }, 'locator.systemId'],
    [{ systemName: '', accountName: 'root' }, 'locator.systemName'],
    [{ systemName: 'web01', accountName: 'root', path: 'x' }, 'locator.path'],
  ])('locator %j', (l, field) => {
    expect(locatorField(l)).toBe(field);
  });
  it('accepts names or ids', () => {
    expect(locatorField(byName)).toBeUndefined();
    expect(locatorField({ systemId: 31, accountId: 57 })).toBeUndefined();
  });
});
