// The HashiCorp Vault adapter against a real OpenBao dev server (and raw sockets for the
// failures a healthy server cannot produce: silence, HTML, a self-signed certificate).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashicorpVault } from '../activities/vault/hashicorp.js';
import type { CredentialFields } from '../activities/vault/adapter.js';
import { ScanError } from '../domain/scan-error.js';
import { ApiProblem } from '../api/problems.js';
import { checkLocator, checkVaultSettings } from '../api/vault-parts.js';
import { hashicorpSpec } from '../vault-types/hashicorp.js';
import { startOpenBao, type OpenBaoServer } from './harness/openbao.js';
import { freePort } from '../runtime/net.js';

let bao: OpenBaoServer;
let token: string;
const servers: Server[] = [];
const SECRET = 'vault-test-secret-Zq81';

beforeAll(async () => {
  bao = await startOpenBao();
  await bao.writeKv2('secret', 'servers/web', { password: SECRET, private_key: '-----KEY-----', passphrase: 'pp' });
  await bao.writeKv2('secret', 'servers/web', { password: `${SECRET}-v2` });
  await bao.writeKv2('secret', 'other/db', { password: 'x' });
  token = await bao.createToken(
    ['scanner'],
    'path "secret/data/servers/*" { capabilities = ["read"] }\npath "kv1/*" { capabilities = ["read"] }',
  );
  await bao.enableKv1('kv1');
  await bao.writeKv1('kv1', 'hosts/a', { password: 'kv1-pw', count: 3 });
});
afterAll(async () => {
  await bao?.stop();
  for (const s of servers) s.close();
});

const text = (b?: Buffer) => b?.toString('utf8');
const fetchWith = (
  config: Record<string, unknown>,
  access: Record<string, unknown>,
  locator: Record<string, unknown>,
  fields: CredentialFields = { password: 'password' },
) => hashicorpVault.fetch({ config, access, locator, fields, reason: 'test' }).then((read) => read.credential);

async function failure(promise: Promise<unknown>): Promise<ScanError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScanError);
    const e = err as ScanError;
    for (const s of [token, SECRET, bao.rootToken]) expect(e.message).not.toContain(s);
    return e;
  }
  throw new Error('expected a failure');
}

describe('reading credentials', () => {
  it('token + KV v2: latest version, a named version, several fields', async () => {
    const config = { url: bao.url, authMethod: 'token' };
    expect(text((await fetchWith(config, { token }, { path: 'servers/web' })).password)).toBe(`${SECRET}-v2`);
    const v1 = await fetchWith(
      config,
      { token },
      { path: 'servers/web', version: 1 },
      { password: 'password', privateKey: 'private_key', passphrase: 'passphrase' },
    );
    expect([text(v1.password), text(v1.privateKey), text(v1.passphrase)]).toEqual([SECRET, '-----KEY-----', 'pp']);
  });

  it('KV v1', async () => {
    expect(
      text(
        (
          await fetchWith(
            { url: bao.url, authMethod: 'token' },
            { token },
            { mount: 'kv1', path: 'hosts/a', kvVersion: 1 },
          )
        ).password,
      ),
    ).toBe('kv1-pw');
  });

  it('AppRole login, and the minted token is revoked afterwards', async () => {
    const role = await bao.createAppRole('scanner', 'path "secret/data/servers/*" { capabilities = ["read"] }');
    const config = { url: bao.url, authMethod: 'approle', roleId: role.roleId };
    expect(text((await fetchWith(config, { secretId: role.secretId }, { path: 'servers/web' })).password)).toBe(
      `${SECRET}-v2`,
    );
    const accessors = await bao.request('LIST', 'auth/token/accessors');
    const live = await Promise.all(
      (accessors.json.data.keys as string[]).map((a) =>
        bao.request('POST', 'auth/token/lookup-accessor', { accessor: a }),
      ),
    );
    expect(live.filter((l) => l.json?.data?.meta?.role_name === 'scanner')).toHaveLength(0);
  });

  it('sends the namespace header on every call', async () => {
    const seen: (string | undefined)[] = [];
    const server = createHttpServer((req, res) => {
      seen.push(req.headers['x-vault-namespace'] as string | undefined);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ data: { data: { password: 'ns-pw' }, metadata: { version: 1 } } }));
    });
    servers.push(server as unknown as Server);
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const got = await fetchWith(
      { url: `http://127.0.0.1:${port}`, authMethod: 'token', namespace: 'team/a' },
      { token: 'x' },
      { path: 'p' },
    );
    expect(text(got.password)).toBe('ns-pw');
    expect(seen).toEqual(['team/a']);
  });
});

describe('every failure is classified, with the vendor text kept', () => {
  const config = () => ({ url: bao.url, authMethod: 'token' });

  it('bad token → VAULT_AUTH_FAILED', async () => {
    expect(await failure(fetchWith(config(), { token: 'not-a-token' }, { path: 'servers/web' }))).toMatchObject({
      code: 'VAULT_AUTH_FAILED',
      httpStatus: 403,
      vendorCode: 'permission denied',
    });
  });
  it('a path outside the policy → VAULT_PERMISSION_DENIED', async () => {
    expect(await failure(fetchWith(config(), { token }, { path: 'other/db' }))).toMatchObject({
      code: 'VAULT_PERMISSION_DENIED',
      httpStatus: 403,
      vendorCode: 'permission denied',
    });
  });
  it('missing path and missing field → VAULT_SECRET_NOT_FOUND', async () => {
    expect(await failure(fetchWith(config(), { token }, { path: 'servers/nothing' }))).toMatchObject({
      code: 'VAULT_SECRET_NOT_FOUND',
      httpStatus: 404,
    });
    const field = await failure(fetchWith(config(), { token }, { path: 'servers/web' }, { password: 'pwd' }));
    expect(field.code).toBe('VAULT_SECRET_NOT_FOUND');
    expect(field.message).toContain('"pwd"');
  });
  it('a field that is not a string → VAULT_BAD_RESPONSE', async () => {
    expect(
      (
        await failure(
          fetchWith(config(), { token }, { mount: 'kv1', path: 'hosts/a', kvVersion: 1 }, { password: 'count' }),
        )
      ).code,
    ).toBe('VAULT_BAD_RESPONSE');
  });
  it('bad AppRole secret id → VAULT_AUTH_FAILED', async () => {
    const role = await bao.createAppRole('other', 'path "secret/*" { capabilities = ["read"] }');
    expect(
      await failure(
        fetchWith(
          { ...config(), authMethod: 'approle', roleId: role.roleId },
          { secretId: 'wrong' },
          { path: 'servers/web' },
        ),
      ),
    ).toMatchObject({ code: 'VAULT_AUTH_FAILED', vendorCode: 'invalid role or secret ID' });
  });
  it('nothing listening → VAULT_UNREACHABLE', async () => {
    expect(
      (
        await failure(
          fetchWith({ url: `http://127.0.0.1:${await freePort()}`, authMethod: 'token' }, { token }, { path: 'p' }),
        )
      ).code,
    ).toBe('VAULT_UNREACHABLE');
  });
  it('a server that never answers → VAULT_TIMEOUT', async () => {
    const silent = createTcpServer(() => undefined);
    servers.push(silent);
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    expect(
      (
        await failure(
          fetchWith({ url: `http://127.0.0.1:${port}`, authMethod: 'token', timeoutMs: 300 }, { token }, { path: 'p' }),
        )
      ).code,
    ).toBe('VAULT_TIMEOUT');
  });
  it('an HTML answer → VAULT_BAD_RESPONSE', async () => {
    const html = createHttpServer((_req, res) => res.end('<html>maintenance page</html>'));
    servers.push(html as unknown as Server);
    const port = await freePort();
    await new Promise<void>((r) => html.listen(port, '127.0.0.1', r));
    expect(
      (await failure(fetchWith({ url: `http://127.0.0.1:${port}`, authMethod: 'token' }, { token }, { path: 'p' })))
        .code,
    ).toBe('VAULT_BAD_RESPONSE');
  });
  it('a certificate nobody vouches for → VAULT_TLS_ERROR; with caCert it is trusted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vstest-tls-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ data: { data: { password: 'tls-pw' } } }));
    });
    servers.push(tls as unknown as Server);
    const port = await freePort();
    await new Promise<void>((r) => tls.listen(port, '127.0.0.1', r));
    const url = `https://127.0.0.1:${port}`;
    expect((await failure(fetchWith({ url, authMethod: 'token' }, { token }, { path: 'p' }))).code).toBe(
      'VAULT_TLS_ERROR',
    );
    expect(text((await fetchWith({ url, authMethod: 'token', caCert: cert }, { token }, { path: 'p' })).password)).toBe(
      'tls-pw',
    );
  });
  it('a sealed vault → VAULT_UNAVAILABLE (retryable)', async () => {
    await bao.seal();
    expect(await failure(fetchWith(config(), { token }, { path: 'servers/web' }))).toMatchObject({
      code: 'VAULT_UNAVAILABLE',
      httpStatus: 503,
      vendorCode: 'Vault is sealed',
    });
  });
});

describe('cancellation and missing fields', () => {
  it('a cancelled fetch is no vault failure; a deadline is VAULT_TIMEOUT', async () => {
    const silent = createTcpServer(() => undefined);
    servers.push(silent);
    const port = await freePort();
    await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
    const config = { url: `http://127.0.0.1:${port}`, authMethod: 'token' };
    const controller = new AbortController();
    const cancelled = hashicorpVault.fetch({
      config,
      access: { token },
      locator: { path: 'p' },
      fields: { password: 'password' },
      reason: 'test',
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 100);
    await expect(cancelled).rejects.not.toBeInstanceOf(ScanError);
    const deadline = hashicorpVault.fetch({
      config,
      access: { token },
      locator: { path: 'p' },
      fields: { password: 'password' },
      reason: 'test',
      signal: AbortSignal.timeout(100),
    });
    await expect(deadline).rejects.toMatchObject({ code: 'VAULT_TIMEOUT' });
  });
  it('naming no field is a configuration error', async () => {
    expect(
      (await failure(fetchWith({ url: bao.url, authMethod: 'token' }, { token }, { path: 'servers/web' }, {}))).code,
    ).toBe('CONFIG_INVALID');
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
const configField = (config: Record<string, unknown>) =>
  refusedField(() => checkVaultSettings('hashicorp', { config }));
const accessField = (access: Record<string, unknown>, config: Record<string, unknown>) =>
  refusedField(() => checkVaultSettings('hashicorp', { config, access }));
const locatorField = (locator: Record<string, unknown>) => refusedField(() => checkLocator('hashicorp', locator));

describe('validation names the field and the reason', () => {
  it.each([
    [{ url: 'ftp://x', authMethod: 'token' }, 'config.url'],
    // Plain http would carry the token in the clear: only a record that says so may use it.
    [{ url: 'http://x', authMethod: 'token' }, 'config.url'],
    [{ url: 'http://x', authMethod: 'token', allowInsecureHttp: 'yes' }, 'config.allowInsecureHttp'],
    [{ url: 'https://x', authMethod: 'ldap' }, 'config.authMethod'],
    [{ url: 'https://x', authMethod: 'approle' }, 'config.roleId'],
    [{ url: 'https://x', authMethod: 'userpass' }, 'config.username'],
    [{ url: 'https://x', authMethod: 'cert' }, 'config.clientCert'],
    [{ url: 'https://x', authMethod: 'token', tls: true }, 'config.tls'],
    [{ url: 'https://user:pw@x', authMethod: 'token' }, 'config.url'],
    [{ url: 'https://x', authMethod: 'token', caCert: '-----BEGIN CERTIFICATE----- junk' }, 'config.caCert'],
    [
      {
        url: 'https://x',
        authMethod: 'token',
        caCert: '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----',
      },
      'config.caCert',
    ],
    [{ url: 'https://x', authMethod: 'token', timeoutMs: 5 }, 'config.timeoutMs'],
  ])('config %j', (config, field) => {
    expect(configField(config)).toBe(field);
  });
  it('accepts https, and plain http only with allowInsecureHttp: true', () => {
    expect(configField({ url: 'https://vault:8200', authMethod: 'token' })).toBeUndefined();
    const lab = { url: 'http://127.0.0.1:8200', authMethod: 'token', allowInsecureHttp: true };
    expect(configField(lab)).toBeUndefined();
    expect(hashicorpSpec.usesPlainHttp(lab)).toBe(true);
    try {
      checkVaultSettings('hashicorp', { config: { ...lab, allowInsecureHttp: false } });
      throw new Error('expected a refusal');
    } catch (err) {
      expect(err).toMatchObject({ field: 'config.url', message: expect.stringMatching(/must be https/) });
    }
  });
  it('access and locator', () => {
    expect(accessField({}, { url: 'https://x', authMethod: 'token' })).toBe('access.token');
    expect(accessField({ token: 't' }, { url: 'https://x', authMethod: 'approle', roleId: 'r' })).toBe(
      'access.secretId',
    );
    expect(accessField({ token: 't' }, { url: 'https://x', authMethod: 'userpass', username: 'u' })).toBe(
      'access.password',
    );
    expect(accessField({ token: 't', extra: 1 }, { url: 'https://x', authMethod: 'token' })).toBe('access.extra');
    expect(locatorField({ path: '../etc' })).toBe('locator.path');
    // A mount or namespace that walks out of /v1/ would send the token elsewhere on the server.
    expect(locatorField({ path: 'a', mount: '../sys' })).toBe('locator.mount');
    expect(locatorField({ path: 'a', mount: 'kv/./x' })).toBe('locator.mount');
    expect(configField({ url: 'https://x', authMethod: 'token', namespace: 'a/..' })).toBe('config.namespace');
    expect(locatorField({ path: 'a', kvVersion: 3 })).toBe('locator.kvVersion');
    expect(locatorField({ path: 'servers/web' })).toBeUndefined();
  });
});
