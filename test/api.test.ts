// The REST API through real HTTP, with the real database and Temporal behind it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { applianceRepo, profileRepo, resultRepo, scanRepo } from '../db/repositories/index.js';
import { describeCode } from '../domain/errors.js';
import { VAULT_TYPES } from '../domain/categories.js';
import { vaultMatrixMarkdown } from '../vault-types/matrix.js';
import { MATRIX_END, MATRIX_START } from '../scripts/vault-matrix.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from './harness/tls-certs.js';

let env: ScanEnvironment;
const TEST_CERT = readFileSync(createCa(mkdtempSync(join(tmpdir(), 'vstest-cert-')), 'vault-client').cert, 'utf8');

beforeAll(async () => {
  env = await startScanEnvironment();
});
afterAll(async () => {
  await env?.stop();
});

const vaultBody = (name: string) => ({
  name,
  type: 'hashicorp',
  config: { url: 'https://vault.example.test:8200', authMethod: 'token' },
  access: { token: 'hvs.api-test-token-never-returned' },
});

describe('authentication', () => {
  it('refuses requests without a valid API key', async () => {
    const res = await fetch(`${env.apiUrl}/api/v1/assets`);
    expect(res.status).toBe(401);
    const wrong = await fetch(`${env.apiUrl}/api/v1/assets`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('serves the OpenAPI document and the docs page', async () => {
    const doc = (await (await fetch(`${env.apiUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/assets', '/api/v1/scans', '/api/v1/scans/{id}/authentication-report']),
    );
    expect((await fetch(`${env.apiUrl}/docs/`)).status).toBe(200);
  });
});

describe('records: create, list, get, update, delete', () => {
  it('assets accept an IP, a range and a CIDR, IPv4 and IPv6', async () => {
    for (const value of ['10.1.0.5', '10.1.1.1-10.1.1.20', '10.2.0.0/24', '2001:db8::/120']) {
      const res = await env.api('POST', '/assets', { name: `asset ${value}`, value });
      expect(res.status, res.text).toBe(201);
    }
    const list = await env.api<{ items: { id: string; kind: string }[]; nextCursor: null }>('GET', '/assets');
    expect(list.body.items.map((a) => a.kind)).toEqual(['ip', 'range', 'cidr', 'cidr']);
    expect(list.body.nextCursor).toBeNull();
    const first = list.body.items[0]!;
    const renamed = await env.api('PATCH', `/assets/${first.id}`, { name: 'renamed' });
    expect(renamed.body.name).toBe('renamed');
    expect((await env.api('GET', `/assets/${first.id}`)).body.value).toBe('10.1.0.5');
    expect((await env.api('DELETE', `/assets/${first.id}`)).status).toBe(204);
    expect((await env.api('GET', `/assets/${first.id}`)).status).toBe(404);
  });

  it('vaults never return their access secret, and check type-specific settings', async () => {
    const created = await env.api('POST', '/vaults', vaultBody('vault-a'));
    expect(created.status, created.text).toBe(201);
    expect(created.text).not.toContain('api-test-token');
    expect((await env.api('GET', `/vaults/${created.body.id}`)).text).not.toContain('api-test-token');
    const rows = await env.database.query('select * from vault_records');
    expect(JSON.stringify(rows)).not.toContain('api-test-token');
    const bad = await env.api('POST', '/vaults', {
      ...vaultBody('vault-b'),
      config: { url: 'ftp://x', authMethod: 'token' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.field).toBe('config.url');
    const approle = await env.api('POST', '/vaults', {
      ...vaultBody('vault-c'),
      config: { url: 'https://vault.example.test:8200', authMethod: 'approle', roleId: 'r' },
      access: { token: 'x' },
    });
    expect(approle.body.field).toBe('access.secretId');
    const dup = await env.api('POST', '/vaults', vaultBody('vault-a'));
    expect(dup.status).toBe(409);
  });

  it('auth records reference a vault and are validated against its type', async () => {
    const vault = (await env.api('POST', '/vaults', vaultBody('vault-for-records'))).body;
    const body = {
      name: 'unix-a',
      technology: 'unix',
      targets: '10.2.0.1-10.2.0.9',
      username: 'scanner',
      vaultId: vault.id,
      locator: { path: 'servers/a' },
      fields: { password: 'password' },
    };
    const created = await env.api('POST', '/auth-records', body);
    expect(created.status, created.text).toBe(201);
    expect(created.body.port).toBe(22);
    expect((await env.api('POST', '/auth-records', { ...body, name: 'unix-b', locator: {} })).body.field).toBe(
      'locator.path',
    );
    const overlap = await env.api('POST', '/auth-records', { ...body, name: 'unix-d', targets: '10.2.0.9-10.2.0.20' });
    expect([overlap.status, overlap.body.field, overlap.body.message]).toEqual([
      409,
      'targets',
      'targets: 10.2.0.9 already covered by the unix authentication record "unix-a"; a host can be covered by one record per technology',
    ]);
    const unknownVault = await env.api('POST', '/auth-records', {
      ...body,
      name: 'unix-c',
      vaultId: '00000000-0000-4000-8000-000000000000',
    });
    expect([unknownVault.status, unknownVault.body.field]).toEqual([400, 'vaultId']);
    const inUse = await env.api('DELETE', `/vaults/${vault.id}`);
    expect(inUse.status).toBe(409);
    expect((await env.api('GET', `/vaults/${vault.id}`)).status).toBe(200);
    expect((await env.api('PATCH', `/auth-records/${created.body.id}`, { port: 2222 })).body.port).toBe(2222);
    // Settings are the technology's: an unknown one is a 400 naming it, and nothing changes.
    expect(created.body.settings).toEqual({});
    const badSettings = await env.api('PATCH', `/auth-records/${created.body.id}`, { settings: { bogus: 1 } });
    expect([badSettings.status, badSettings.body.field]).toEqual([400, 'settings.bogus']);
    expect((await env.api('GET', `/auth-records/${created.body.id}`)).body.settings).toEqual({});
    const notAnObject = await env.api('POST', '/auth-records', { ...body, name: 'unix-e', settings: [] });
    expect([notAnObject.status, notAnObject.body.field]).toEqual([400, 'settings']);
    expect((await env.api('DELETE', `/auth-records/${created.body.id}`)).status).toBe(204);
    expect((await env.api('DELETE', `/vaults/${vault.id}`)).status).toBe(204);
  });

  it('asset groups: members by id, a business impact, and the hosts they cover now, page by page', async () => {
    const a = (await env.api('POST', '/assets', { name: 'group-a', value: '10.7.0.1-10.7.0.3' })).body;
    const b = (await env.api('POST', '/assets', { name: 'group-b', value: '10.7.0.8/30' })).body;
    const body = { name: 'web tier', businessImpact: 'high', assetIds: [b.id, a.id] };
    const created = await env.api('POST', '/groups', body);
    expect(created.status, created.text).toBe(201);
    expect(created.body).toMatchObject({ name: 'web tier', businessImpact: 'high', description: '' });
    expect(created.body.assetIds).toEqual([a.id, b.id]);
    const id = created.body.id;

    // The hosts, in address order, three at a time: 10.7.0.1-3 and 10.7.0.8-11.
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; text: string; body: any } = await env.api(
        'GET',
        `/groups/${id}/hosts?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.status, page.text).toBe(200);
      seen.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['10.7.0.1', '10.7.0.2', '10.7.0.3', '10.7.0.8', '10.7.0.9', '10.7.0.10', '10.7.0.11']);
    const first = await env.api('GET', `/groups/${id}/hosts?limit=2`);
    const tampered = `${first.body.nextCursor.slice(0, -2)}${first.body.nextCursor.endsWith('A') ? 'BB' : 'AA'}`;
    expect((await env.api('GET', `/groups/${id}/hosts?cursor=${tampered}`)).status).toBe(400);

    // Bad input names the field; nothing changes.
    const unknown = await env.api('POST', '/groups', {
      ...body,
      name: 'other',
      assetIds: [a.id, '00000000-0000-4000-8000-000000000000'],
    });
    expect([unknown.status, unknown.body.field]).toEqual([400, 'assetIds.1']);
    const twice = await env.api('PATCH', `/groups/${id}`, { assetIds: [a.id, a.id] });
    expect([twice.status, twice.body.field]).toEqual([400, 'assetIds.1']);
    const impact = await env.api('POST', '/groups', { ...body, name: 'other', businessImpact: 'huge' });
    expect([impact.status, impact.body.field]).toEqual([400, 'businessImpact']);
    expect((await env.api('POST', '/groups', body)).status).toBe(409);
    expect((await env.api('GET', `/groups/${id}`)).body.assetIds).toEqual([a.id, b.id]);
    expect((await env.api('GET', '/groups')).body.items.map((g: { name: string }) => g.name)).toEqual(['web tier']);

    // Membership follows the assets: a deleted asset leaves the group.
    expect((await env.api('DELETE', `/assets/${b.id}`)).status).toBe(204);
    expect((await env.api('GET', `/groups/${id}/hosts`)).body.items).toEqual(['10.7.0.1', '10.7.0.2', '10.7.0.3']);
    const replaced = await env.api('PATCH', `/groups/${id}`, { assetIds: [], businessImpact: 'minor' });
    expect(replaced.body).toMatchObject({ assetIds: [], businessImpact: 'minor' });
    expect((await env.api('DELETE', `/groups/${id}`)).status).toBe(204);
    expect((await env.api('GET', `/groups/${id}/hosts`)).status).toBe(404);
    expect((await env.api('DELETE', `/assets/${a.id}`)).status).toBe(204);
  });

  it('tags: static ones on assets by hand, dynamic ones by a rule; GET /assets?tag= and /tags/:id/hosts show who has them', async () => {
    const web = (await env.api('POST', '/assets', { name: 'web-01', value: '10.8.0.1' })).body;
    const web2 = (await env.api('POST', '/assets', { name: 'WEB-02', value: '10.8.0.2' })).body;
    const db1 = (await env.api('POST', '/assets', { name: 'db-01', value: '10.8.1.0/30' })).body;
    const pci = await env.api('POST', '/tags', { name: 'pci', kind: 'static', assetIds: [db1.id, web.id] });
    expect(pci.status, pci.text).toBe(201);
    expect(pci.body).toMatchObject({ kind: 'static', rule: null, assetIds: [web.id, db1.id] });
    const names = async (tag: string) => (await env.api('GET', `/assets?tag=${encodeURIComponent(tag)}&limit=1`)).body;
    // Paged one at a time, by name or by id alike.
    const first = await names('pci');
    expect(first.items.map((a: { name: string }) => a.name)).toEqual(['web-01']);
    const second = await env.api('GET', `/assets?tag=${pci.body.id}&limit=1&cursor=${first.nextCursor}`);
    expect(second.status, second.text).toBe(400); // a cursor belongs to the list it came from: tag=pci
    const next = await env.api('GET', `/assets?tag=pci&limit=1&cursor=${first.nextCursor}`);
    expect([next.body.items.map((a: { name: string }) => a.name), next.body.nextCursor]).toEqual([['db-01'], null]);

    const dynamic = await env.api('POST', '/tags', {
      name: 'web tier',
      kind: 'dynamic',
      rule: { match: 'all', conditions: [{ assetName: 'web-*' }, { address: '10.8.0.0/16' }] },
    });
    expect(dynamic.status, dynamic.text).toBe(201);
    expect((await env.api('GET', `/tags/${dynamic.body.id}/hosts`)).body.items).toEqual(['10.8.0.1', '10.8.0.2']);
    expect((await names('web tier')).items.map((a: { id: string }) => a.id)).toEqual([web.id]);
    const either = await env.api('POST', '/tags', {
      name: 'either',
      kind: 'dynamic',
      rule: { match: 'any', conditions: [{ assetName: 'db-*' }, { address: '10.8.0.2' }] },
    });
    expect((await env.api('GET', `/tags/${either.body.id}/hosts`)).body.items).toEqual([
      '10.8.0.2',
      '10.8.1.0',
      '10.8.1.1',
      '10.8.1.2',
      '10.8.1.3',
    ]);

    // Bad input names the field; nothing is stored.
    const badRule = await env.api('POST', '/tags', {
      name: 'bad',
      kind: 'dynamic',
      rule: { conditions: [{ assetName: 'x' }, { address: '10.8.0.0/33' }] },
    });
    expect([badRule.status, badRule.body.field]).toEqual([400, 'rule.conditions.1.address']);
    const noRule = await env.api('POST', '/tags', { name: 'bad', kind: 'dynamic' });
    expect([noRule.status, noRule.body.field]).toEqual([400, 'rule']);
    const staticRule = await env.api('POST', '/tags', {
      name: 'bad',
      kind: 'static',
      rule: { conditions: [{ assetName: 'x' }] },
    });
    expect([staticRule.status, staticRule.body.field]).toEqual([400, 'rule']);
    const unknownCondition = await env.api('POST', '/tags', {
      name: 'bad',
      kind: 'dynamic',
      rule: { conditions: [{ color: 'red' }] },
    });
    expect([unknownCondition.status, unknownCondition.body.field]).toEqual([400, 'rule.conditions.0.color']);
    const twoKinds = await env.api('POST', '/tags', {
      name: 'bad',
      kind: 'dynamic',
      rule: { conditions: [{ assetName: 'x', osFamily: 'debian' }] },
    });
    expect([twoKinds.status, twoKinds.body.field]).toEqual([400, 'rule.conditions.0']);
    const outcomeAlone = await env.api('POST', '/tags', {
      name: 'bad',
      kind: 'dynamic',
      rule: { conditions: [{ outcome: 'passed' }] },
    });
    expect([outcomeAlone.status, outcomeAlone.body.field]).toEqual([400, 'rule.conditions.0.technology']);
    expect((await env.api('GET', '/assets?tag=nonesuch')).body.field).toBe('tag');
    expect(
      (await env.api('GET', '/tags')).body.items
        .map((t: { name: string }) => t.name)
        .filter((n: string) => n === 'bad'),
    ).toEqual([]);
    // A static tag turned dynamic loses its hand-made assets; the assets themselves stay.
    const turned = await env.api('PATCH', `/tags/${pci.body.id}`, {
      kind: 'dynamic',
      rule: { conditions: [{ address: '10.8.1.1' }] },
    });
    expect(turned.body).toMatchObject({ kind: 'dynamic', assetIds: [] });
    expect((await names('pci')).items.map((a: { id: string }) => a.id)).toEqual([db1.id]);
    for (const tag of [pci, dynamic, either])
      expect((await env.api('DELETE', `/tags/${tag.body.id}`)).status).toBe(204);
    for (const asset of [web, web2, db1]) expect((await env.api('DELETE', `/assets/${asset.id}`)).status).toBe(204);
  });

  it('database records: the default port and settings, a CA only where it is checked, the password and nothing else', async () => {
    const vault = (await env.api('POST', '/vaults', vaultBody('vault-for-databases'))).body;
    const base = {
      username: 'vaultscan',
      vaultId: vault.id,
      locator: { path: 'db/scanner' },
      fields: { password: 'pw' },
    };
    const pg = await env.api('POST', '/auth-records', {
      ...base,
      name: 'pg-a',
      technology: 'postgresql',
      targets: '10.3.0.1-10.3.0.9',
    });
    expect(pg.status, pg.text).toBe(201);
    // No port: the technology's; no settings: its defaults, stored as they will be used.
    expect([pg.body.port, pg.body.settings]).toEqual([5432, { database: 'postgres', tlsMode: 'require' }]);
    const my = await env.api('POST', '/auth-records', {
      ...base,
      name: 'my-a',
      technology: 'mysql',
      targets: '10.3.0.1',
    });
    expect(my.status, my.text).toBe(201);
    expect([my.body.port, my.body.settings]).toEqual([3306, { tlsMode: 'require' }]);

    const refused = async (body: Record<string, unknown>, method = 'POST', path = '/auth-records') => {
      const res = await env.api(method, path, body);
      expect(res.status, res.text).toBe(400);
      return [res.body.field, res.body.message] as [string, string];
    };
    const record = { ...base, name: 'pg-b', technology: 'postgresql', targets: '10.3.1.1' };
    const ca = readFileSync(createCa(mkdtempSync(join(tmpdir(), 'vstest-api-ca-')), 'db-ca').cert, 'utf8');
    expect(await refused({ ...record, settings: { tlsMode: 'prefer' } })).toEqual([
      'settings.tlsMode',
      expect.stringContaining('must be one of: "disable", "require", "verify-ca", "verify-full"'),
    ]);
    expect(await refused({ ...record, settings: { tlsMode: 'verify-full', caCert: 'not a pem' } })).toEqual([
      'settings.caCert',
      expect.stringContaining('must be a PEM certificate'),
    ]);
    expect(await refused({ ...record, settings: { caCert: ca } })).toEqual([
      'settings.caCert',
      expect.stringContaining('is used only with tlsMode verify-ca or verify-full (tlsMode is require)'),
    ]);
    expect(await refused({ ...record, settings: { database: 'x', port: 1 } })).toEqual([
      'settings.port',
      expect.stringContaining('is not a known field'),
    ]);
    expect(await refused({ ...record, fields: { password: 'pw', privateKey: 'key' } })).toEqual([
      'fields.privateKey',
      expect.stringContaining('is not used by the postgresql technology (it takes password)'),
    ]);
    expect(await refused({ ...record, technology: 'mysql', fields: { rootPassword: 'pw' } })).toEqual([
      'fields.rootPassword',
      expect.stringContaining('is not used by the mysql technology'),
    ]);
    expect(
      await refused({ ...record, rootDelegation: { vaultId: vault.id, locator: { path: 'db/root' }, field: 'pw' } }),
    ).toEqual(['rootDelegation', expect.stringContaining('has no root delegation')]);
    // A Unix record with a key cannot become a PostgreSQL one as it is.
    const unix = await env.api('POST', '/auth-records', {
      ...base,
      name: 'unix-key',
      technology: 'unix',
      targets: '10.3.2.1',
      fields: { privateKey: 'key' },
    });
    expect(unix.status, unix.text).toBe(201);
    expect(await refused({ technology: 'postgresql' }, 'PATCH', `/auth-records/${unix.body.id}`)).toEqual([
      'fields.privateKey',
      expect.any(String),
    ]);
    expect(await refused({ fields: { passphrase: 'p' } }, 'PATCH', `/auth-records/${unix.body.id}`)).toEqual([
      'fields',
      'fields: must name the vault field holding the password or privateKey unix logs in with',
    ]);
    // verify-full with its CA is stored as given.
    const verified = await env.api('POST', '/auth-records', {
      ...record,
      settings: { tlsMode: 'verify-full', caCert: ca, database: 'inventory' },
    });
    expect(verified.status, verified.text).toBe(201);
    expect(verified.body.settings).toEqual({ tlsMode: 'verify-full', caCert: ca, database: 'inventory' });
  });

  it('appliances and option profiles', async () => {
    const appliance = await env.api('POST', '/appliances', { name: 'dc1', description: 'first data centre' });
    expect(appliance.status).toBe(201);
    expect(appliance.body.taskQueue).toBe(`appliance.${appliance.body.id}`);
    // The one time the enrolment code exists outside the database: the answer to POST.
    expect(appliance.body).toMatchObject({
      enrolled: false,
      keyId: null,
      enrolment: { code: expect.stringMatching(/^vse_/) },
    });
    expect((await env.api('GET', `/appliances/${appliance.body.id}`)).body.enrolment).toBeUndefined();
    const profile = await env.api('POST', '/option-profiles', {
      name: 'fast',
      technologies: ['unix'],
      maxParallelHosts: 5,
      timeouts: { connectMs: 2000, commandMs: 5000, vaultMs: 2000 },
      retry: { maxAttempts: 2, initialIntervalMs: 100, maxIntervalMs: 1000 },
    });
    expect(profile.status, profile.text).toBe(201);
    const badRetry = await env.api('PATCH', `/option-profiles/${profile.body.id}`, {
      retry: { maxAttempts: 2, initialIntervalMs: 5000, maxIntervalMs: 10 },
    });
    expect(badRetry.body.field).toBe('retry.maxIntervalMs');
  });
});

describe('bad input gets a 400 naming the field', () => {
  it.each([
    ['/assets', { name: 'x', value: '10.0.0.300' }, 'value', /10\.0\.0\.300/],
    ['/assets', { name: 'x', value: '10.0.0.9-10.0.0.1' }, 'value', /before/],
    ['/assets', { value: '10.0.0.1' }, 'name', /required/],
    ['/assets', { name: 5, value: '10.0.0.1' }, 'name', /string/],
    ['/assets', { name: 'x', value: '10.0.0.1', colour: 'red' }, 'colour', /not a known field/],
    ['/vaults', { name: 'v', type: 'keepass', config: {}, access: {} }, 'type', /./],
    [
      '/auth-records',
      {
        name: 'r',
        technology: 'unix',
        targets: '10.0.0.1',
        username: 'u',
        port: 70000,
        vaultId: '00000000-0000-4000-8000-000000000000',
        locator: { path: 'p' },
        fields: { password: 'p' },
      },
      'port',
      /65535/,
    ],
    ['/scans', { title: 't', targets: '10.0.0.1, 10.0.0' }, 'targets', /10\.0\.0 is not a valid IP/],
  ])('POST %s %j', async (path, body, field, reason) => {
    const res = await env.api('POST', path, body);
    expect(res.status, res.text).toBe(400);
    expect(res.body.field).toBe(field);
    expect(res.body.message).toMatch(reason);
  });

  it('unknown ids are 404, malformed ids 400', async () => {
    expect((await env.api('GET', '/scans/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await env.api('GET', '/scans/nope')).body.field).toBe('id');
  });
});

describe('hostile bodies get a 400 naming the field, and nothing is stored', () => {
  /** Sends the body text exactly as given (the harness would JSON-encode it). */
  const raw = async (method: string, path: string, body: string | undefined) => {
    const res = await fetch(`${env.apiUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${env.adminKey}`, 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text || '{}') as { field?: string; message?: string }, text };
  };
  const stored = async () =>
    (
      await env.database.query(
        'select (select count(*) from vault_records) + (select count(*) from auth_records) + (select count(*) from assets) as n',
      )
    )[0]!.n;
  const nested = (levels: number) => '{"a":'.repeat(levels) + '1' + '}'.repeat(levels);
  const vault = (config: string, access: string) =>
    `{"name":"hostile","type":"hashicorp","config":${config},"access":${access}}`;
  const goodConfig = '{"url":"https://vault.example.test:8200","authMethod":"token"}';
  let vaultId: string;
  const record = (locator: string, extra = '') =>
    `{"name":"hostile","technology":"unix","targets":"10.3.0.1","username":"u","vaultId":"${vaultId}","locator":${locator},"fields":{"password":"p"}${extra}}`;

  beforeAll(async () => {
    vaultId = (await env.api('POST', '/vaults', vaultBody('vault-for-hostile-bodies'))).body.id;
  });

  it.each([
    [
      'access nested 5,000 deep',
      () => vault(goodConfig, `{"token":"t","x":${nested(5_000)}}`),
      'access',
      /nested more than 32 levels/,
    ],
    [
      'config nested 5,000 deep',
      () => vault(`{"url":"https://v.example","x":${nested(5_000)}}`, '{"token":"t"}'),
      'config',
      /nested/,
    ],
    ['locator nested 5,000 deep', () => record(`{"path":"p","x":${nested(5_000)}}`), 'locator', /nested/],
    [
      'an unknown field nested 100,000 deep',
      () => record('{"path":"p"}', `,"junk":${'['.repeat(100_000)}${']'.repeat(100_000)}`),
      'junk',
      /nested/,
    ],
    ['a body that is only nesting', () => '['.repeat(200_000) + ']'.repeat(200_000), 'body', /nested/],
    [
      '__proto__ at the top',
      () => '{"name":"a","value":"10.3.0.1","__proto__":{"admin":true}}',
      '__proto__',
      /not allowed/,
    ],
    [
      '__proto__ inside config',
      () => vault('{"url":"https://v.example","__proto__":{"x":1}}', '{"token":"t"}'),
      'config.__proto__',
      /not allowed/,
    ],
    [
      'constructor.prototype',
      () => vault(goodConfig, '{"token":"t","constructor":{"prototype":{"x":1}}}'),
      'access.constructor',
      /not allowed/,
    ],
    [
      'a number JSON cannot carry back',
      () => vault('{"url":"https://v.example","timeoutMs":1e400}', '{"token":"t"}'),
      'config.timeoutMs',
      /too large/,
    ],
    ['an array', () => '[{"name":"a","value":"10.3.0.1"}]', 'body', /must be a JSON object/],
    ['a number', () => '42', 'body', /must be a JSON object/],
    ['null', () => 'null', 'body', /must be a JSON object/],
    ['a string', () => '"10.3.0.1"', 'body', /must be a JSON object/],
    ['nothing at all', () => '', 'body', /is required/],
    ['JSON cut short', () => '{"name":"a","value":', 'body', /not valid JSON/],
    [
      'a locator over 4 KiB',
      () => record(`{"path":"p","note":"${'x'.repeat(5_000)}"}`),
      'locator',
      /bytes as JSON; at most 4096/,
    ],
    [
      'a config over 64 KiB',
      () => vault(`{"url":"https://v.example","caCert":"${'x'.repeat(70_000)}"}`, '{"token":"t"}'),
      'config',
      /at most 65536/,
    ],
    ['access over 16 KiB', () => vault(goodConfig, `{"token":"${'x'.repeat(17_000)}"}`), 'access', /at most 16384/],
    [
      'a vault field name over 256 characters',
      () => record('{"path":"p"}').replace('"password":"p"', `"password":"${'f'.repeat(300)}"`),
      'fields.password',
      /256/,
    ],
  ])('%s', async (_what, body, field, reason) => {
    const path = body().includes('"technology"') ? '/auth-records' : body().includes('"type"') ? '/vaults' : '/assets';
    const before = await stored();
    const res = await raw('POST', path, body());
    expect([res.status, res.body.field], res.text.slice(0, 300)).toEqual([400, field]);
    expect(res.body.message).toMatch(reason);
    expect(await stored()).toBe(before);
  });

  it('an empty JSON body is no body: a route that takes none still answers (the README’s curl)', async () => {
    const created = await env.api('POST', '/api-keys', { name: 'revoked with an empty body', role: 'auditor' });
    const revoked = await raw('POST', `/api-keys/${created.body.id}/revoke`, '');
    expect([revoked.status, (revoked.body as { revokedAt?: string }).revokedAt], revoked.text).toEqual([
      200,
      expect.any(String),
    ]);
  });

  it('a body over the size limit is refused as too large, naming the body', async () => {
    const res = await raw('POST', '/assets', JSON.stringify({ name: 'x'.repeat(1_100_000), value: '10.3.0.1' }));
    expect([res.status, res.body.field]).toEqual([413, 'body']);
  });

  it.each([
    ['/assets', { name: 'nowhere', value: '0.0.0.0' }, 'value', /"this network"/],
    ['/assets', { name: 'everyone', value: '255.255.255.255' }, 'value', /limited broadcast/],
    ['/assets', { name: 'everything', value: '0.0.0.0/0' }, 'value', /includes 0\.0\.0\.0-0\.255\.255\.255/],
    ['/scans', { title: 'mdns', targets: '10.2.0.1, 224.0.0.251' }, 'targets', /IPv4 multicast/],
    ['/scans', { title: 'unspecified', targets: '::' }, 'targets', /unspecified IPv6 address/],
  ])('POST %s %j: not a host', async (path, body, field, reason) => {
    const res = await env.api('POST', path, body);
    expect([res.status, res.body.field], res.text).toEqual([400, field]);
    expect(res.body.message).toMatch(reason);
  });

  it('an authentication record for multicast targets is refused', async () => {
    const res = await raw('POST', '/auth-records', record('{"path":"p"}').replace('10.3.0.1', 'ff02::1'));
    expect([res.status, res.body.field, res.body.message]).toEqual([
      400,
      'targets',
      'targets: ff02::1 is IPv6 multicast (ff00::/8), not a host to scan',
    ]);
  });
});

describe('scans', () => {
  it('refuses targets outside the registered assets, naming them, and stores nothing', async () => {
    const before = await env.database.query('select count(*)::int as n from scans');
    const res = await env.api('POST', '/scans', { title: 'outside', targets: '10.2.0.250-10.2.1.3, 192.0.2.7' });
    expect(res.status).toBe(400);
    expect(res.body.field).toBe('targets');
    expect(res.body.message).toContain('10.2.1.0-10.2.1.3');
    expect(res.body.message).toContain('192.0.2.7');
    expect(await env.database.query('select count(*)::int as n from scans')).toEqual(before);
  });

  it('runs a scan as a workflow: hosts no record covers end NOT_ATTEMPTED, with report and CSV', async () => {
    const dc1 = (await env.api('GET', '/appliances')).body.items.find((a: { name: string }) => a.name === 'dc1');
    const refused = await env.api('POST', '/scans', { title: 'not enrolled', targets: '10.2.0.10' });
    expect([refused.status, refused.body.field]).toEqual([400, 'applianceId']);
    expect(refused.body.message).toMatch(/has not enrolled its key/);
    await env.enrolAppliance(dc1.id);
    const launched = await env.api('POST', '/scans', { title: 'no records', targets: '10.2.0.10-10.2.0.12' });
    expect(launched.status, launched.text).toBe(202);
    // No appliance worker runs in this suite: the operator is told at once.
    expect(launched.body.warnings).toEqual([expect.stringMatching(/has no worker running/)]);
    const id = launched.body.id as string;
    let scan = launched.body;
    for (let i = 0; i < 100 && scan.status !== 'FINISHED'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      scan = (await env.api('GET', `/scans/${id}`)).body;
    }
    expect(scan.status).toBe('FINISHED');
    expect(scan.progress).toMatchObject({ doneHosts: 3, totalHosts: 3, counts: { NOT_ATTEMPTED: 3, PASSED: 0 } });
    const report = await env.api('GET', `/scans/${id}/authentication-report`);
    expect(
      report.body.hosts.map((h: { ip: string; status: string; errorCode: string }) => [h.ip, h.status, h.errorCode]),
    ).toEqual([
      ['10.2.0.10', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
      ['10.2.0.11', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
      ['10.2.0.12', 'NOT_ATTEMPTED', 'NO_AUTH_RECORD'],
    ]);
    const csv = await env.api('GET', `/scans/${id}/authentication-report?format=csv`);
    expect(csv.text.split('\r\n')[0]).toBe(
      'ip,technology,status,cause,errorCode,vendorCode,remedy,login,authRecord,flags,attempts,finishedAt',
    );
    expect(csv.text).toContain('10.2.0.11,unix,NOT_ATTEMPTED');
    expect((await env.api('GET', `/scans/${id}/results`)).body.items).toHaveLength(3);
    expect((await env.api('POST', `/scans/${id}/cancel`)).status).toBe(409);
    const listed = await env.api<{ items: { id: string }[] }>('GET', '/scans');
    expect(listed.body.items.some((s) => s.id === id)).toBe(true);
  });

  it('launches a scan on an appliance pool: each member checked, the pool shown, none deleted from under it', async () => {
    const pool: string[] = [];
    for (const name of ['pool east', 'pool west']) {
      const created = await env.api('POST', '/appliances', { name });
      await env.enrolAppliance(created.body.id);
      pool.push(created.body.id);
    }
    const body = { title: 'pooled', targets: '10.2.0.20-10.2.0.21' };
    const before = await env.database.query('select count(*)::int as n from scans');
    for (const [bad, field, reason] of [
      [{ applianceId: pool[0], applianceIds: pool }, 'applianceIds', /not both/],
      [{ applianceIds: [pool[0], '00000000-0000-4000-8000-000000000000'] }, 'applianceIds.1', /does not exist/],
      [{ applianceIds: [pool[1], pool[1]] }, 'applianceIds.1', /named twice/],
      // The same UUID in capitals is the same appliance (the pool's key would refuse it later).
      [{ applianceIds: [pool[0], pool[0]!.toUpperCase()] }, 'applianceIds.1', /named twice/],
    ] as const) {
      const refused = await env.api('POST', '/scans', { ...body, ...bad });
      expect([refused.status, refused.body.field], refused.text).toEqual([400, field]);
      expect(refused.body.message).toMatch(reason);
    }
    expect(await env.database.query('select count(*)::int as n from scans')).toEqual(before);
    const launched = await env.api('POST', '/scans', { ...body, applianceIds: pool });
    expect(launched.status, launched.text).toBe(202);
    expect(launched.body).toMatchObject({ applianceId: pool[0], applianceIds: pool });
    // No worker of either runs here: the operator is told of each.
    expect(launched.body.warnings).toEqual([
      expect.stringMatching(/"pool east" has no worker running/),
      expect.stringMatching(/"pool west" has no worker running/),
    ]);
    expect((await env.api('GET', `/scans/${launched.body.id}`)).body.applianceIds).toEqual(pool);
    const gone = await env.api('DELETE', `/appliances/${pool[1]}`);
    expect([gone.status, gone.body.message]).toEqual([409, expect.stringMatching(/appliance pool of scans/)]);
    let scan = launched.body;
    for (let i = 0; i < 100 && scan.status !== 'FINISHED'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      scan = (await env.api('GET', `/scans/${launched.body.id}`)).body;
    }
    expect(scan.progress).toMatchObject({ doneHosts: 2, counts: { NOT_ATTEMPTED: 2 } });
  });
});

describe('the Authentication Report', () => {
  it('streams every host of a large scan once, in address order, as JSON and as guarded CSV', async () => {
    const db = env.database.db;
    const scan = await scanRepo.create(db, {
      title: 'report',
      targets: '10.60.0.0/20',
      optionProfileId: (await profileRepo.getDefault(db)).id,
      applianceId: (await applianceRepo.ensure(db, 'report appliance')).id,
    });
    // 2,501 hosts: more than two of the report's database pages.
    const ips = Array.from({ length: 2_500 }, (_, i) => `10.60.${Math.floor(i / 250)}.${(i % 250) + 1}`);
    await resultRepo.publishSkipped(
      db,
      scan.id,
      'unix',
      ips.map((ip) => ({ ip, code: 'NO_AUTH_RECORD' as const })),
    );
    await resultRepo.publish(db, {
      scanId: scan.id,
      ip: '10.60.15.1',
      technology: 'unix',
      category: 'FAILED',
      errorCode: 'AUTH_FAILED',
      vendorCode: null,
      cause: '=HYPERLINK("http://evil.example")',
      login: 'scanner',
      authRecordId: null,
      facts: null,
      packages: [],
      attempts: [
        {
          attemptNo: 1,
          code: 'AUTH_FAILED',
          vendorCode: null,
          httpStatus: null,
          message: null,
          at: '2026-01-01T00:00:00Z',
        },
      ],
      flags: ['VAULT_PLAIN_HTTP'],
    });

    const res = await fetch(`${env.apiUrl}/api/v1/scans/${scan.id}/authentication-report`, {
      headers: { authorization: `Bearer ${env.adminKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    // Written as it is read: no length known up front.
    expect([res.headers.get('transfer-encoding'), res.headers.get('content-length')]).toEqual(['chunked', null]);
    const report = (await res.json()) as { scanId: string; title: string; status: string; hosts: any[] };
    expect(report).toMatchObject({ scanId: scan.id, title: 'report', status: 'QUEUED' });
    expect(report.hosts.map((h) => h.ip)).toEqual([...ips, '10.60.15.1']);
    expect(report.hosts.at(-1)).toEqual({
      ip: '10.60.15.1',
      technology: 'unix',
      status: 'FAILED',
      cause: '=HYPERLINK("http://evil.example")',
      errorCode: 'AUTH_FAILED',
      vendorCode: null,
      remedy: describeCode('AUTH_FAILED').remedy,
      login: 'scanner',
      authRecord: null,
      flags: 'VAULT_PLAIN_HTTP',
      attempts: 1,
      finishedAt: expect.any(String),
    });
    expect(report.hosts[0]).toMatchObject({ status: 'NOT_ATTEMPTED', remedy: describeCode('NO_AUTH_RECORD').remedy });

    const csv = await env.api('GET', `/scans/${scan.id}/authentication-report?format=csv`);
    const lines = csv.text.split('\r\n');
    expect(lines).toHaveLength(1 + 2_501 + 1); // header, hosts, and the empty string after the last CRLF
    expect(lines.slice(1, -2).map((l) => l.split(',')[0])).toEqual(ips);
    // The cause is written so that a spreadsheet shows it as text, never runs it.
    expect(lines.at(-2)).toMatch(
      /^10\.60\.15\.1,unix,FAILED,"'=HYPERLINK\(""http:\/\/evil\.example""\)",AUTH_FAILED,,/,
    );
    expect(lines.at(-2)).toContain(',VAULT_PLAIN_HTTP,1,');

    const empty = await scanRepo.create(db, { ...scan, title: 'empty', targets: '10.60.0.1' });
    expect((await env.api('GET', `/scans/${empty.id}/authentication-report`)).body.hosts).toEqual([]);
    expect((await env.api('GET', `/scans/${empty.id}/authentication-report?format=csv`)).text).toBe(
      'ip,technology,status,cause,errorCode,vendorCode,remedy,login,authRecord,flags,attempts,finishedAt\r\n',
    );
    expect((await env.api('GET', '/scans/00000000-0000-4000-8000-000000000000/authentication-report')).status).toBe(
      404,
    );
  });
});

describe('the codec endpoint for the Temporal Web UI', () => {
  it('encodes and decodes payloads with the deployment keys for an API key holder, and refuses anyone else', async () => {
    const plain = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from('"hello"').toString('base64'),
    };
    const post = (path: string, body: unknown, key?: string) =>
      fetch(`${env.apiUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key && { authorization: `Bearer ${key}` }) },
        body: JSON.stringify(body),
      });
    // Being on the same host earns nothing: no key, no session, no answer.
    expect((await post('/codec/encode', { payloads: [plain] })).status).toBe(401);
    const auditor = await env.createKey('auditor');
    // Encoding makes input the workers accept: a read-only key may not.
    expect((await post('/codec/encode', { payloads: [plain] }, auditor)).status).toBe(403);
    const operator = await env.createKey('operator');
    const encoded = (await (await post('/codec/encode', { payloads: [plain] }, operator)).json()) as {
      payloads: { metadata: Record<string, string>; data: string }[];
    };
    expect(Buffer.from(encoded.payloads[0]!.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(encoded.payloads[0]!.data, 'base64').includes('hello')).toBe(false);
    expect((await post('/codec/decode', encoded)).status).toBe(401);
    const decoded = (await (await post('/codec/decode', encoded, auditor)).json()) as { payloads: unknown[] };
    expect(decoded.payloads[0]).toEqual(plain);
    const altered = {
      payloads: [{ ...encoded.payloads[0]!, data: Buffer.from('not what was sealed').toString('base64') }],
    };
    const refused = await post('/codec/decode', altered, auditor);
    expect([refused.status, ((await refused.json()) as { field: string }).field]).toEqual([400, 'payloads']);
    // Sealed with a key this deployment does not have, not base64, or not payloads at all.
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const unknownKey = {
      payloads: [
        {
          ...encoded.payloads[0]!,
          metadata: { ...encoded.payloads[0]!.metadata, 'encryption-key-id': b64('retired-long-ago') },
        },
      ],
    };
    for (const [body, field] of [
      [unknownKey, 'payloads'],
      [{ payloads: [{ ...plain, data: 'not base64!' }] }, 'payloads.0.data'],
      [{ payloads: [{ metadata: { encoding: 5 } }] }, 'payloads.0.metadata.encoding'],
      [{ payloads: 'all of them' }, 'payloads'],
      [[plain], 'body'],
    ] as const) {
      const res = await post('/codec/decode', body, auditor);
      const answer = (await res.json()) as { field: string; message: string };
      expect([res.status, answer.field], JSON.stringify(body)).toEqual([400, field]);
    }
    const foreign = await fetch(`${env.apiUrl}/codec/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('the vault support matrix', () => {
  const cells = (table: string) =>
    table
      .split('\n')
      .filter((line) => line.startsWith('|') && !/^\|\s*-/.test(line))
      .map((line) =>
        line
          .slice(1, -1)
          .split('|')
          .map((cell) => cell.trim()),
      );

  it('GET /vault-types lists each type with its schemas, the secrets it supplies and the technologies it serves', async () => {
    const res = await env.api('GET', '/vault-types');
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeNull();
    const hashicorp = res.body.items.find((t: { type: string }) => t.type === 'hashicorp');
    expect(hashicorp).toMatchObject({
      label: 'HashiCorp Vault / OpenBao',
      secretFields: ['password', 'privateKey', 'passphrase', 'rootPassword'],
      technologies: ['unix', 'postgresql', 'mysql'],
    });
    expect(hashicorp.schemas.config.properties.authMethod.anyOf.map((m: { const: string }) => m.const)).toEqual([
      'token',
      'approle',
      'userpass',
      'cert',
    ]);
    expect(hashicorp.schemas.locator.required).toEqual(['path']);
    expect(res.body.items.map((t: { type: string }) => t.type)).toEqual(VAULT_TYPES);
    // An auditor may read it; nothing in it is secret.
    const auditor = await env.createKey('auditor');
    expect((await env.api('GET', '/vault-types', undefined, { key: auditor })).status).toBe(200);
  });

  it('GET /technologies lists each technology with its default port, settings schema and the vaults that serve it', async () => {
    const { items } = (await env.api('GET', '/technologies')).body as {
      items: { technology: string; defaultPort: number; vaultTypes: string[]; settings: object }[];
    };
    const unix = items.find((t) => t.technology === 'unix');
    expect(unix).toMatchObject({ defaultPort: 22, settings: { type: 'object' } });
    expect(unix!.vaultTypes).toContain('hashicorp');
    const byName = Object.fromEntries(items.map((t) => [t.technology, t])) as Record<string, any>;
    expect(Object.keys(byName)).toEqual(['unix', 'postgresql', 'mysql']);
    expect(byName.postgresql).toMatchObject({ defaultPort: 5432, loginSecrets: ['password'] });
    expect(byName.mysql).toMatchObject({ defaultPort: 3306, loginSecrets: ['password'] });
    expect(Object.keys(byName.postgresql.settings.properties)).toEqual(['database', 'tlsMode', 'caCert']);
    expect(byName.mysql.settings.properties.tlsMode.default).toBe('require');
  });

  it('the README shows the same table', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(MATRIX_START);
    const section = readme.slice(readme.indexOf(MATRIX_START), readme.indexOf(MATRIX_END));
    expect(cells(section)).toEqual(cells(vaultMatrixMarkdown()));
  });

  it('the OpenAPI document types every vault part: one body per type for POST, each type offered where the request cannot name it', async () => {
    const doc = (await (await fetch(`${env.apiUrl}/openapi.json`)).json()) as any;
    const text = JSON.stringify(doc);
    expect(text).not.toContain('x-vault-part');
    const body = (path: string, method: string) =>
      doc.paths[path][method].requestBody.content['application/json'].schema;
    const create = body('/api/v1/vaults', 'post');
    expect(create.discriminator).toEqual({ propertyName: 'type' });
    const hashicorpBody = create.oneOf.find(
      (b: any) => (b.properties.type.const ?? b.properties.type.enum[0]) === 'hashicorp',
    );
    expect(Object.keys(hashicorpBody.properties.config.properties)).toEqual(
      expect.arrayContaining(['url', 'authMethod', 'caCert', 'clientCert', 'timeoutMs', 'maxConcurrentRequests']),
    );
    expect(Object.keys(hashicorpBody.properties.access.properties)).toEqual(
      expect.arrayContaining(['token', 'secretId', 'password', 'clientKey']),
    );
    const patchConfig = body('/api/v1/vaults/{id}', 'patch').properties.config;
    expect(patchConfig.anyOf.map((s: { title: string }) => s.title)).toEqual(VAULT_TYPES.map((t) => `${t} config`));
    const locator = body('/api/v1/auth-records', 'post').properties.locator;
    expect(locator.anyOf.map((s: { title: string }) => s.title)).toEqual(VAULT_TYPES.map((t) => `${t} locator`));
  });

  it('settings that do not fit the vault type get a 400 naming the field', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...vaultBody('t1'), type: 'keepass' }, 'type', /must be one of: "hashicorp"/],
      [{ ...vaultBody('t2'), config: { url: 'https://v', authMethod: 'cert' } }, 'config.clientCert', /required/],
      [
        { ...vaultBody('t3'), config: { url: 'https://v', authMethod: 'token', clientCert: 'not a pem' } },
        'config.clientCert',
        /PEM certificate/,
      ],
      [
        {
          ...vaultBody('t4'),
          config: { url: 'https://v', authMethod: 'token', clientCert: TEST_CERT },
          access: { token: 't', clientKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----' },
        },
        'access.clientKey',
        /private key that parses/,
      ],
      [{ ...vaultBody('t5'), access: { token: 't', colour: 'red' } }, 'access.colour', /not a known field/],
    ];
    for (const [body, field, reason] of cases) {
      const res = await env.api('POST', '/vaults', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.field).toBe(field);
      expect(res.body.message).toMatch(reason);
    }
    const vault = await env.api('POST', '/vaults', vaultBody('for patch'));
    const patched = await env.api('PATCH', `/vaults/${vault.body.id}`, {
      config: { url: 'https://vault.example.test:8200', authMethod: 'token', timeoutMs: 1 },
    });
    expect(patched.status).toBe(400);
    expect(patched.body.field).toBe('config.timeoutMs');
  });
});
