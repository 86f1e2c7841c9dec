// The CyberArk Conjur adapter against a protocol-faithful fake (HTTPS, v5 tokens, single and
// batch reads, Conjur's errors), every row of the failure table, the API's validation, and
// CyberArk's own Python SDK (PyPI conjur-api) against the same fake.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CredentialFields } from '../activities/vault/adapter.js';
import { cyberarkConjurVault, headerToken, variableId } from '../activities/vault/cyberark-conjur.js';
import { getVaultAdapter } from '../activities/vault/registry.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { ScanError } from '../domain/scan-error.js';
import { vaultTypeSpec } from '../vault-types/index.js';
import { startConjurFake, type ConjurFake } from './fakes/conjur.js';

const HOST = 'host/apps/vaultscan';
const API_KEY = '3q8x9a1f0k2m7v5b4n6c8z1a2s3d4f5g6h7j8k9l0p1o2i3u4y5t';
const SECRET = 'conjur-secret-Hh71';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';
const PASSPHRASE = 'pp-Conjur-3';
const ROOT_PW = 'root-Conjur-9';
const BINARY = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x41]);
const ODD = 'prod/odd name+&?#/password';

let conjur: ConjurFake;
beforeAll(async () => {
  conjur = await startConjurFake({
    account: 'myorg',
    apiKeys: { [HOST]: API_KEY, alice: 'alice-key' },
    variables: {
      'prod/web/password': { values: ['old-password', SECRET], execute: [HOST] },
      'prod/web/private_key': { values: [KEY], execute: [HOST] },
      'prod/web/passphrase': { values: [PASSPHRASE], execute: [HOST] },
      'prod/web/root_password': { values: [ROOT_PW], execute: [HOST] },
      'prod/web/binary': { values: [BINARY], execute: [HOST] },
      'prod/db/password': { values: ['db'], execute: ['alice'], readOnly: [HOST] },
      'prod/hidden/password': { values: ['hidden'], execute: ['alice'] },
      'prod/empty/password': { values: [], execute: [HOST] },
      [ODD]: { values: ['odd-pw'], execute: [HOST] },
    },
  });
});
afterAll(async () => {
  await conjur?.close();
});

const config = (extra: Record<string, unknown> = {}) => ({
  url: conjur.url,
  caCert: conjur.caCert,
  account: 'myorg',
  login: HOST,
  ...extra,
});
const access = { apiKey: API_KEY };
const text = (b?: Buffer) => b?.toString('utf8');
const read = (
  locator: Record<string, unknown>,
  fields: CredentialFields = { password: 'password' },
  cfg: Record<string, unknown> = config(),
  acc: Record<string, unknown> = access,
) => cyberarkConjurVault.fetch({ config: cfg, access: acc, locator, fields, reason: 'test' });
const web = { path: 'prod/web' };

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [SECRET, KEY, PASSPHRASE, ROOT_PW, API_KEY]) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}
const since = (n: number) => conjur.requests.slice(n);

describe('reading credentials', () => {
  it('is registered', () => {
    expect(getVaultAdapter('cyberark-conjur')).toBe(cyberarkConjurVault);
    expect(vaultTypeSpec('cyberark-conjur')?.secretFields).toEqual([
      'password',
      'privateKey',
      'passphrase',
      'rootPassword',
    ]);
  });

  it('one field: authenticate (login URL-encoded, API key as the body), then one variable read', async () => {
    const n = conjur.requests.length;
    const got = await read(web);
    expect(text(got.credential.password)).toBe(SECRET);
    expect(got.release).toBeUndefined();
    const [auth, get] = since(n);
    expect(auth).toMatchObject({ method: 'POST', path: '/authn/myorg/host%2Fapps%2Fvaultscan/authenticate' });
    expect(get).toMatchObject({ method: 'GET', path: '/secrets/myorg/variable/prod%2Fweb%2Fpassword' });
    // Authorization: Token token="<base64 of the v5 token JSON>"
    const token = /^Token token="([A-Za-z0-9+/=]+)"$/.exec(get?.authorization ?? '')?.[1] ?? '';
    expect(Object.keys(JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as object)).toEqual([
      'protected',
      'payload',
      'signature',
    ]);
  });

  it('several fields: one batch call, with base64 values decoded', async () => {
    const n = conjur.requests.length;
    const reads = conjur.reads;
    const got = await read(web, {
      password: 'password',
      privateKey: 'private_key',
      passphrase: 'passphrase',
      rootPassword: 'root_password',
    });
    expect(
      [got.credential.password, got.credential.privateKey, got.credential.passphrase, got.credential.rootPassword].map(
        text,
      ),
    ).toEqual([SECRET, KEY, PASSPHRASE, ROOT_PW]);
    const calls = since(n);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toMatchObject({ method: 'GET', path: '/secrets', acceptEncoding: 'base64' });
    expect(conjur.reads).toBe(reads + 1);
  });

  it('binary values survive the batch (base64)', async () => {
    const got = await read(web, { password: 'password', privateKey: 'binary' });
    expect(got.credential.privateKey).toEqual(BINARY);
  });

  it('whole variable ids without a path, and account:variable:id', async () => {
    const got = await read({}, { password: 'prod/web/password', passphrase: 'myorg:variable:prod/web/passphrase' });
    expect([text(got.credential.password), text(got.credential.passphrase)]).toEqual([SECRET, PASSPHRASE]);
    expect(variableId({ url: 'x', account: 'a', login: 'l' }, { path: 'p/q' }, 'a:variable:r/s')).toBe('r/s');
    expect(variableId({ url: 'x', account: 'a', login: 'l' }, { path: 'p/q' }, 'pw')).toBe('p/q/pw');
    expect((await failure(read({}, { password: 'other:variable:prod/web/password' }))).code).toBe('CONFIG_INVALID');
  });

  it('two fields naming one variable: read once, each field its own buffer', async () => {
    const n = conjur.requests.length;
    const got = await read(web, { password: 'password', rootPassword: 'password' });
    expect([text(got.credential.password), text(got.credential.rootPassword)]).toEqual([SECRET, SECRET]);
    expect(got.credential.password).not.toBe(got.credential.rootPassword);
    expect(since(n).map((r) => r.path)).toEqual([
      '/authn/myorg/host%2Fapps%2Fvaultscan/authenticate',
      '/secrets/myorg/variable/prod%2Fweb%2Fpassword',
    ]);
  });

  it('a version: each variable read on its own with ?version=', async () => {
    expect(text((await read({ ...web, version: 1 })).credential.password)).toBe('old-password');
    const got = await read({ ...web, version: 1 }, { password: 'password', privateKey: 'private_key' });
    expect([text(got.credential.password), text(got.credential.privateKey)]).toEqual(['old-password', KEY]);
  });

  it('ids with spaces and URL characters are encoded', async () => {
    const n = conjur.requests.length;
    expect(text((await read({}, { password: ODD })).credential.password)).toBe('odd-pw');
    expect(since(n)[1]?.path).toBe('/secrets/myorg/variable/prod%2Fodd%20name%2B%26%3F%23%2Fpassword');
  });

  it('the token for the header: from a base64 answer, or from the JSON a server sends without Accept-Encoding', () => {
    const token = JSON.stringify({ protected: 'eyJhbGciOiJ4In0', payload: 'eyJzdWIiOiJ4In0', signature: 'c2ln' });
    const base64 = Buffer.from(token).toString('base64');
    const answer = (text: string, headers: Record<string, string> = {}) =>
      headerToken({ status: 200, headers, text, json: undefined });
    expect(answer(token, { 'content-type': 'application/json' })).toBe(base64);
    expect(answer(base64, { 'content-encoding': 'base64' })).toBe(base64);
    expect(answer('{"message":"ok"}')).toBeUndefined();
    expect(answer('<html></html>')).toBeUndefined();
  });

  it('an expired token is renewed once, silently', async () => {
    conjur.tokenExpiry = 'next';
    const auths = conjur.authentications;
    expect(text((await read(web)).credential.password)).toBe(SECRET);
    expect(conjur.authentications).toBe(auths + 2);
  });
});

describe('every failure-table row is classified, with the vendor code kept', () => {
  const withFault = async (fault: ConjurFake['fault'], run: () => Promise<unknown>) => {
    conjur.fault = fault;
    try {
      return await failure(run());
    } finally {
      conjur.fault = 'none';
    }
  };

  it('a wrong API key or unknown login: 401 on authenticate → VAULT_AUTH_FAILED', async () => {
    expect(await failure(read(web, undefined, config(), { apiKey: 'wrong' }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      httpStatus: 401,
    });
    expect((await failure(read(web, undefined, config({ login: 'host/nobody' })))).code).toBe('VAULT_AUTH_FAILED');
    expect((await failure(read(web, undefined, config({ account: 'otherorg' })))).code).toBe('VAULT_AUTH_FAILED');
  });
  it('a token that keeps expiring: re-authenticated once, then VAULT_AUTH_FAILED', async () => {
    conjur.tokenExpiry = 'always';
    const auths = conjur.authentications;
    try {
      expect(await failure(read(web))).toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 401 });
    } finally {
      conjur.tokenExpiry = 'normal';
    }
    expect(conjur.authentications).toBe(auths + 2);
  });
  it('visible without execute: 403 → VAULT_PERMISSION_DENIED (single and batch)', async () => {
    // Conjur answers `head :forbidden`: no body, so no vendor code.
    expect(await failure(read({ path: 'prod/db' }))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      vendorCode: undefined,
      httpStatus: 403,
    });
    expect((await failure(read({}, { password: 'prod/web/password', passphrase: 'prod/db/password' }))).code).toBe(
      'VAULT_PERMISSION_DENIED',
    );
  });
  it("the fake's denied and not-found switches", async () => {
    expect((await withFault('forbidden', () => read(web))).code).toBe('VAULT_PERMISSION_DENIED');
    expect(
      (await withFault('notFound', () => read(web, { password: 'password', passphrase: 'passphrase' }))).code,
    ).toBe('VAULT_SECRET_NOT_FOUND');
  });
  it('no privilege at all: 404 CONJ00076E → VAULT_SECRET_NOT_FOUND, saying it may be permissions', async () => {
    const e = await failure(read({ path: 'prod/hidden' }));
    expect(e).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', vendorCode: 'CONJ00076E', httpStatus: 404 });
    expect(e.message).toMatch(/no privilege on it at all/);
  });
  it('missing, empty, an absent version, one missing in a batch → 404 VAULT_SECRET_NOT_FOUND', async () => {
    for (const attempt of [
      read({ path: 'prod/none' }),
      read({ path: 'prod/empty' }),
      read({ ...web, version: 9 }),
      read(web, { password: 'password', passphrase: 'no_such' }),
    ]) {
      const e = await failure(attempt);
      expect(e).toMatchObject({ code: 'VAULT_SECRET_NOT_FOUND', vendorCode: 'CONJ00076E', httpStatus: 404 });
    }
  });
  it('422 (a parameter Conjur refuses) → VAULT_BAD_RESPONSE', async () => {
    expect(await withFault('unprocessable', () => read({ ...web, version: 1 }))).toMatchObject({
      code: 'VAULT_BAD_RESPONSE',
      vendorCode: 'argument_error',
      httpStatus: 422,
    });
  });
  it('5xx → VAULT_UNAVAILABLE (a proxy 502 page, Conjur 500)', async () => {
    expect(await withFault('unavailable', () => read(web))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      httpStatus: 502,
    });
    expect(await withFault('serverError', () => read(web))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      vendorCode: 'CONJ00007E',
      httpStatus: 500,
    });
  });
  it('throttled with Retry-After: waited out, then VAULT_RATE_LIMITED when it persists', async () => {
    conjur.fault = 'throttled';
    const started = Date.now();
    setTimeout(() => (conjur.fault = 'none'), 300);
    expect(text((await read(web)).credential.password)).toBe(SECRET);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await withFault('throttled', () => read(web, undefined, config({ timeoutMs: 1500 })))).toMatchObject({
      code: 'VAULT_RATE_LIMITED',
      vendorCode: 'too_many_requests',
      httpStatus: 429,
      retryAfterMs: 1000,
    });
  });
  it('an HTML page, or a token that is no token → VAULT_BAD_RESPONSE', async () => {
    expect(await withFault('html', () => read(web))).toMatchObject({ code: 'VAULT_BAD_RESPONSE', httpStatus: 200 });
    conjur.garbageToken = true;
    try {
      expect((await failure(read(web))).code).toBe('VAULT_BAD_RESPONSE');
    } finally {
      conjur.garbageToken = false;
    }
  });
  it('a slow answer → VAULT_TIMEOUT; an unknown CA → VAULT_TLS_ERROR', async () => {
    conjur.slowMs = 1500;
    expect((await withFault('slow', () => read(web, undefined, config({ timeoutMs: 400 })))).code).toBe(
      'VAULT_TIMEOUT',
    );
    expect((await failure(read(web, undefined, config({ caCert: undefined })))).code).toBe('VAULT_TLS_ERROR');
  });
  it('naming no field is a configuration error', async () => {
    expect((await failure(read(web, {}))).code).toBe('CONFIG_INVALID');
  });
});

describe('checkAccess', () => {
  it('authenticates and asks whoami, reading nothing', async () => {
    const reads = conjur.reads;
    const n = conjur.requests.length;
    await cyberarkConjurVault.checkAccess({ config: config(), access });
    expect(since(n).map((r) => r.path)).toEqual(['/authn/myorg/host%2Fapps%2Fvaultscan/authenticate', '/whoami']);
    expect(conjur.reads).toBe(reads);
  });
  it('fails on a wrong key', async () => {
    await expect(
      cyberarkConjurVault.checkAccess({ config: config(), access: { apiKey: 'nope' } }),
    ).rejects.toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 401 });
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

describe('validation names the field', () => {
  const base = { url: 'https://conjur.example.com', account: 'myorg', login: HOST };
  const configField = (c: Record<string, unknown>) =>
    refusedField(() => checkVaultSettings('cyberark-conjur', { config: c }));
  const accessField = (a: Record<string, unknown>) =>
    refusedField(() => checkVaultSettings('cyberark-conjur', { config: base, access: a }));
  const locatorField = (l: Record<string, unknown>) => refusedField(() => checkLocator('cyberark-conjur', l));

  it('config, access and locator', () => {
    expect(configField(base)).toBeUndefined();
    expect(configField({ url: base.url, login: HOST })).toBe('config.account');
    expect(configField({ ...base, account: 'my/org' })).toBe('config.account');
    expect(configField({ url: base.url, account: 'myorg' })).toBe('config.login');
    expect(configField({ ...base, url: 'http://conjur' })).toBe('config.url');
    expect(accessField({ apiKey: 'k' })).toBeUndefined();
    expect(accessField({})).toBe('access.apiKey');
    expect(accessField({ apiKey: 'k', token: 't' })).toBe('access.token');
    expect(locatorField({})).toBeUndefined();
    expect(locatorField({ path: 'prod/web', version: 3 })).toBeUndefined();
    expect(locatorField({ path: '/prod/web' })).toBe('locator.path');
    expect(locatorField({ path: 'prod/../secrets' })).toBe('locator.path');
    expect(locatorField({ path: 'prod/web', version: 0 })).toBe('locator.version');
    expect(locatorField({ variable: 'x' })).toBe('locator.variable');
  });
});

describe("CyberArk's own Python SDK (conjur-api) reads from the fake", () => {
  const python = new URL('../tools/venv/bin/python', import.meta.url).pathname;
  const script = new URL('./vendor-clients/conjur_client.py', import.meta.url).pathname;

  it('authenticates, reads a variable and a batch, and sees a 404 as Conjur sends it', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile(
        python,
        [script, conjur.url, 'myorg', HOST, conjur.caFile, 'prod/web/password', 'prod/web/private_key'],
        { timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      );
      child.stdin?.end(API_KEY);
    });
    const result = JSON.parse(out) as Record<string, unknown>;
    expect(result).toMatchObject({
      whoami: { account: 'myorg', username: HOST },
      single: SECRET,
      batch: { 'prod/web/password': SECRET, 'prod/web/private_key': KEY },
      missing: {
        status: 404,
        body: {
          error: {
            code: 'not_found',
            message: 'CONJ00076E Variable myorg:variable:no/such/variable is empty or not found.',
          },
        },
      },
    });
  });
});
