// The HashiCorp Vault adapter's userpass and TLS-certificate logins against a real OpenBao dev
// server that also listens on HTTPS (our own CA): the read works, a refused login keeps Vault's
// text and status, and the token the login minted is gone afterwards.
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashicorpVault } from '../activities/vault/hashicorp.js';
import { vaultHttp } from '../activities/vault/http.js';
import { ScanError } from '../domain/scan-error.js';
import { ApiProblem } from '../api/problems.js';
import { checkVaultSettings } from '../api/vault-parts.js';
import { startOpenBao, type OpenBaoServer } from './harness/openbao.js';
import { createCa, issueCertificate } from './harness/tls-certs.js';

let bao: OpenBaoServer;
let dir: string;
const SECRET = 'vault-auth-secret-Kp42';
const PASSWORD = 'userpass-pw-Rt07';
const MOUNT_PASSWORD = 'custom-mount-pw-Wd55';
const KEY_PASSPHRASE = 'key-passphrase-Hm19';
const WRONG_PASSPHRASE = 'wrong-passphrase';
/** PEM texts: our CA, a client certificate it signed, one from another CA, and that CA. */
const pem = { ca: '', otherCa: '', clientCert: '', clientKey: '', encryptedKey: '', strangerCert: '', strangerKey: '' };

/**
 * The key under KEY_PASSPHRASE. About 1 salt in 400 lets a wrong passphrase decrypt (padding and
 * all) to garbage that fails as "unsupported", not "bad decrypt": such salts are skipped, so the
 * vendor code a wrong passphrase gets is always the same.
 */
function encryptKey(key: string): string {
  for (;;) {
    const encrypted = createPrivateKey(key).export({
      type: 'pkcs8',
      format: 'pem',
      cipher: 'aes-256-cbc',
      passphrase: KEY_PASSPHRASE,
    }) as string;
    try {
      createPrivateKey({ key: encrypted, format: 'pem', passphrase: WRONG_PASSPHRASE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_OSSL_BAD_DECRYPT') return encrypted;
    }
  }
}

async function admin(method: string, path: string, body?: unknown) {
  const res = await bao.request(method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.json?.errors)}`);
  return res.json;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vstest-bao-auth-'));
  const read = (f: string) => readFileSync(f, 'utf8');
  const ca = createCa(dir, 'vstest-bao-ca');
  const otherCa = createCa(dir, 'vstest-other-ca');
  const server = issueCertificate(ca, dir, 'bao-server', 'server');
  const client = issueCertificate(ca, dir, 'scanner-client', 'client');
  const stranger = issueCertificate(otherCa, dir, 'stranger-client', 'client');
  Object.assign(pem, {
    ca: read(ca.cert),
    otherCa: read(otherCa.cert),
    clientCert: read(client.cert),
    clientKey: read(client.key),
    encryptedKey: encryptKey(read(client.key)),
    strangerCert: read(stranger.cert),
    strangerKey: read(stranger.key),
  });

  bao = await startOpenBao({ tls: { certFile: server.cert, keyFile: server.key } });
  await bao.writeKv2('secret', 'servers/web', { password: SECRET });
  await bao.writeKv2('secret', 'other/db', { password: 'x' });
  await admin('PUT', 'sys/policies/acl/scanner-read', {
    policy: 'path "secret/data/servers/*" { capabilities = ["read"] }',
  });
  const policies = { token_policies: ['scanner-read'], token_ttl: '10m' };
  await admin('POST', 'sys/auth/userpass', { type: 'userpass' });
  await admin('POST', 'auth/userpass/users/scanner-user', { password: PASSWORD, ...policies });
  // A second userpass mount, whose user exists only there: only userpassMount reaches it.
  await admin('POST', 'sys/auth/corp-logins', { type: 'userpass' });
  await admin('POST', 'auth/corp-logins/users/mount-user', { password: MOUNT_PASSWORD, ...policies });
  await admin('POST', 'sys/auth/cert', { type: 'cert' });
  await admin('POST', 'auth/cert/certs/scanner', { certificate: pem.ca, ...policies });
});
afterAll(async () => {
  await bao?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Live tokens whose metadata has all of `meta` (e.g. the userpass user name), by the root token. */
async function liveTokens(meta: Record<string, string>): Promise<number> {
  const accessors = (await admin('LIST', 'auth/token/accessors')).data.keys as string[];
  const looked = await Promise.all(accessors.map((a) => admin('POST', 'auth/token/lookup-accessor', { accessor: a })));
  return looked.filter((l) => Object.entries(meta).every(([k, v]) => l.data?.meta?.[k] === v)).length;
}

const text = (b?: Buffer) => b?.toString('utf8');
const readWith = (config: Record<string, unknown>, access: Record<string, unknown>, path = 'servers/web') =>
  hashicorpVault
    .fetch({ config, access, locator: { path }, fields: { password: 'password' }, reason: 'test' })
    .then((read) => text(read.credential.password));

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [SECRET, PASSWORD, MOUNT_PASSWORD, KEY_PASSPHRASE, bao.rootToken])
      expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

describe('userpass login', () => {
  const userpass = () => ({ url: bao.url, authMethod: 'userpass', username: 'scanner-user' });

  it('the probe for live tokens sees a userpass token while one lives', async () => {
    const login = await admin('POST', 'auth/userpass/login/scanner-user', { password: PASSWORD });
    expect(await liveTokens({ username: 'scanner-user' })).toBe(1);
    await admin('POST', 'auth/token/revoke-accessor', { accessor: login.auth.accessor });
    expect(await liveTokens({ username: 'scanner-user' })).toBe(0);
  });

  it('reads a secret, and the token it minted is revoked afterwards', async () => {
    const before = ((await admin('LIST', 'auth/token/accessors')).data.keys as string[]).length;
    expect(await readWith(userpass(), { password: PASSWORD })).toBe(SECRET);
    expect(await liveTokens({ username: 'scanner-user' })).toBe(0);
    expect(((await admin('LIST', 'auth/token/accessors')).data.keys as string[]).length).toBe(before);
  });

  it('userpassMount: a user that exists only on a custom mount', async () => {
    const custom = { ...userpass(), username: 'mount-user', userpassMount: 'corp-logins' };
    expect(await readWith(custom, { password: MOUNT_PASSWORD })).toBe(SECRET);
    expect(await liveTokens({ username: 'mount-user' })).toBe(0);
    // Without the mount the default userpass/ is asked, which has no such user.
    const { userpassMount: _, ...defaultMount } = custom;
    expect(await failure(readWith(defaultMount, { password: MOUNT_PASSWORD }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
    });
  });

  it("a wrong password → VAULT_AUTH_FAILED with Vault's text and status", async () => {
    expect(await failure(readWith(userpass(), { password: 'not-the-password' }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      httpStatus: 400,
      vendorCode: 'invalid username or password',
    });
  });

  it('a path outside the policy → VAULT_PERMISSION_DENIED, and the token is still revoked', async () => {
    expect(await failure(readWith(userpass(), { password: PASSWORD }, 'other/db'))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      httpStatus: 403,
    });
    expect(await liveTokens({ username: 'scanner-user' })).toBe(0);
  });

  it('checkAccess logs in, and revokes what it minted; a wrong password fails it', async () => {
    await hashicorpVault.checkAccess({ config: userpass(), access: { password: PASSWORD } });
    expect(await liveTokens({ username: 'scanner-user' })).toBe(0);
    expect(
      await failure(hashicorpVault.checkAccess({ config: userpass(), access: { password: 'wrong' } })),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', httpStatus: 400 });
  });
});

describe('TLS-certificate login', () => {
  const cert = (extra: Record<string, unknown> = {}) => ({
    url: bao.tlsUrl,
    caCert: pem.ca,
    clientCert: pem.clientCert,
    authMethod: 'cert',
    ...extra,
  });

  it('the probe for live tokens sees a cert token while one lives', async () => {
    const login = await vaultHttp({
      method: 'POST',
      url: `${bao.tlsUrl}/v1/auth/cert/login`,
      body: {},
      tls: { caCert: pem.ca, clientCert: pem.clientCert, clientKey: pem.clientKey },
      timeoutMs: 10_000,
    });
    expect(login.status).toBe(200);
    expect(await liveTokens({ cert_name: 'scanner' })).toBe(1);
    await admin('POST', 'auth/token/revoke-accessor', {
      accessor: (login.json as { auth: { accessor: string } }).auth.accessor,
    });
    expect(await liveTokens({ cert_name: 'scanner' })).toBe(0);
  });

  it('reads a secret over HTTPS, and the token it minted is revoked afterwards', async () => {
    expect(bao.tlsUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await readWith(cert(), { clientKey: pem.clientKey })).toBe(SECRET);
    expect(await readWith(cert({ certRole: 'scanner' }), { clientKey: pem.clientKey })).toBe(SECRET);
    expect(await liveTokens({ cert_name: 'scanner' })).toBe(0);
  });

  it('certRole is sent: a role that does not exist refuses the login', async () => {
    expect(await failure(readWith(cert({ certRole: 'no-such-role' }), { clientKey: pem.clientKey }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      httpStatus: 400,
    });
  });

  it('a client certificate no role trusts → VAULT_AUTH_FAILED', async () => {
    expect(
      await failure(readWith(cert({ clientCert: pem.strangerCert }), { clientKey: pem.strangerKey })),
    ).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      httpStatus: 400,
      vendorCode: 'invalid certificate or no client certificate supplied',
    });
  });

  it('a key with a passphrase opens with clientKeyPassphrase; a wrong or missing one is CONFIG_INVALID', async () => {
    expect(pem.encryptedKey).toContain('ENCRYPTED PRIVATE KEY');
    expect(await readWith(cert(), { clientKey: pem.encryptedKey, clientKeyPassphrase: KEY_PASSPHRASE })).toBe(SECRET);
    expect(await liveTokens({ cert_name: 'scanner' })).toBe(0);
    // Right after that read a socket to 127.0.0.1 is pooled (keep-alive); none is to localhost.
    for (const url of [bao.tlsUrl, bao.tlsUrl?.replace('127.0.0.1', 'localhost')]) {
      expect(
        await failure(readWith(cert({ url }), { clientKey: pem.encryptedKey, clientKeyPassphrase: WRONG_PASSPHRASE })),
      ).toMatchObject({ code: 'CONFIG_INVALID', vendorCode: 'ERR_OSSL_BAD_DECRYPT' });
      expect((await failure(readWith(cert({ url }), { clientKey: pem.encryptedKey }))).code).toBe('CONFIG_INVALID');
    }
  });

  it('a server certificate from a CA the record does not trust → VAULT_TLS_ERROR', async () => {
    expect((await failure(readWith(cert({ caCert: pem.otherCa }), { clientKey: pem.clientKey }))).code).toBe(
      'VAULT_TLS_ERROR',
    );
  });

  it('checkAccess logs in with the certificate, and revokes what it minted', async () => {
    await hashicorpVault.checkAccess({ config: cert(), access: { clientKey: pem.clientKey } });
    expect(await liveTokens({ cert_name: 'scanner' })).toBe(0);
  });
});

/** The field the API names when it refuses these settings (always a 400); undefined when it takes them. */
function refusedField(config: Record<string, unknown>, access?: Record<string, unknown>): string | undefined {
  try {
    checkVaultSettings('hashicorp', { config, access });
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiProblem);
    expect((err as ApiProblem).statusCode).toBe(400);
    return (err as ApiProblem).field;
  }
}

describe('the API refuses incomplete login settings, naming the field', () => {
  const https = { url: 'https://vault.example.com:8200' };

  it('cert login', () => {
    const good = { ...https, authMethod: 'cert', caCert: pem.ca, clientCert: pem.clientCert };
    expect(refusedField(good, { clientKey: pem.clientKey })).toBeUndefined();
    expect(refusedField(good, { clientKey: pem.encryptedKey, clientKeyPassphrase: KEY_PASSPHRASE })).toBeUndefined();
    const { clientCert: _, ...noCert } = good;
    // Config alone (as a PATCH sends it), and with the key, which needs a certificate anyway.
    expect(refusedField(noCert)).toBe('config.clientCert');
    expect(refusedField(noCert, { clientKey: pem.clientKey })).toBe('config.clientCert');
    expect(refusedField(good, {})).toBe('access.clientKey');
    expect(
      refusedField(good, { clientKey: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' }),
    ).toBe('access.clientKey');
    expect(refusedField(good, { clientKey: pem.encryptedKey, clientKeyPassphrase: WRONG_PASSPHRASE })).toBe(
      'access.clientKeyPassphrase',
    );
    expect(refusedField(good, { clientKey: pem.encryptedKey })).toBe('access.clientKeyPassphrase');
  });

  it('userpass login', () => {
    const good = { ...https, authMethod: 'userpass', username: 'scanner-user' };
    expect(refusedField(good, { password: PASSWORD })).toBeUndefined();
    expect(refusedField({ ...good, userpassMount: 'corp-logins' }, { password: PASSWORD })).toBeUndefined();
    const { username: _, ...noUser } = good;
    expect(refusedField(noUser)).toBe('config.username');
    expect(refusedField(noUser, { password: PASSWORD })).toBe('config.username');
    expect(refusedField(good, {})).toBe('access.password');
    expect(refusedField({ ...good, userpassMount: '../sys' }, { password: PASSWORD })).toBe('config.userpassMount');
  });
});
