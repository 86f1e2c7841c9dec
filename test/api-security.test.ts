// The API's trust boundaries through real HTTP: every route against every role (from the route
// table the OpenAPI document is generated from), API keys and their life, appliance enrolment,
// the rule that a vault's stored secret only goes where it was entered for, the audit trail
// and its hash chain, sign-in for the codec endpoint, Host checking, and logs without secrets.
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { guardRoutes } from '../api/plugins/auth.js';
import { createKeyChecker } from '../api/key-checker.js';
import { ROUTE_ROLES, type ApiRole, API_ROLES } from '../domain/roles.js';
import { generateApplianceKeyPair } from '../activities/secrets/sealed-access.js';
import { spawnAppliance } from './harness/appliance-process.js';
import { join } from 'node:path';

let env: ScanEnvironment;
const UI_ORIGIN = 'http://127.0.0.1:18233';
const keys = {} as Record<ApiRole, string>;

beforeAll(async () => {
  env = await startScanEnvironment({ temporalUiUrl: `${UI_ORIGIN}/` });
  keys.admin = env.adminKey;
  keys.operator = await env.createKey('operator', 'the operator');
  keys.auditor = await env.createKey('auditor', 'the auditor');
});
afterAll(async () => {
  await env?.stop();
});

interface Operation {
  method: string;
  path: string;
  roles: string[] | null;
}

async function operations(): Promise<Operation[]> {
  const doc = (await (await fetch(`${env.apiUrl}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { security?: { bearer?: string[] }[] }>>;
  };
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path: path.replace(/\{[^}]+\}/g, randomUUID()),
      roles: op.security?.length ? (op.security[0]!.bearer ?? []) : null,
    })),
  );
}

const call = (op: Operation, key?: string) =>
  fetch(`${env.apiUrl}${op.path}`, {
    method: op.method,
    headers: {
      ...(key && { authorization: `Bearer ${key}` }),
      ...(op.method !== 'GET' && op.method !== 'DELETE' && { 'content-type': 'application/json' }),
    },
    body: op.method === 'GET' || op.method === 'DELETE' ? undefined : '{}',
  });

describe('the role model', () => {
  it('checks every route of the route table against every role, and no key at all', async () => {
    const ops = (await operations()).filter((op) => op.path.startsWith('/api/v1/'));
    expect(ops.length).toBeGreaterThan(30);
    for (const op of ops) {
      if (op.roles === null) {
        // The enrolment route: an appliance's one-time code stands in for a key.
        expect(op.path).toMatch(/\/appliances\/[^/]+\/enrolment$/);
        expect([400, 404], `${op.method} ${op.path}`).toContain((await call(op)).status);
        continue;
      }
      expect((await call(op)).status, `${op.method} ${op.path} without a key`).toBe(401);
      expect((await call(op, 'vsk_not-a-key')).status, `${op.method} ${op.path} with a bad key`).toBe(401);
      for (const role of API_ROLES) {
        const res = await call(op, keys[role]);
        const body = (await res.json().catch(() => ({}))) as { message?: string; requiredRoles?: string[] };
        if (op.roles.includes(role)) {
          expect([401, 403], `${role} may ${op.method} ${op.path}`).not.toContain(res.status);
        } else {
          expect(res.status, `${role} may not ${op.method} ${op.path}`).toBe(403);
          expect(body.message).toMatch(/^this needs the .*role$/);
          expect(body.requiredRoles).toEqual(op.roles);
        }
      }
    }
  });

  it('states each route’s role in the OpenAPI document, as the role model has it', async () => {
    const ops = await operations();
    const byPath = (method: string, path: string) =>
      ops.find((op) => op.method === method && op.path.replace(/[0-9a-f-]{36}/g, ':id') === path)?.roles;
    expect(byPath('POST', '/api/v1/vaults')).toEqual([...ROUTE_ROLES.admin]);
    expect(byPath('POST', '/api/v1/scans')).toEqual([...ROUTE_ROLES.operator]);
    for (const [method, path] of [
      ['POST', '/api/v1/schedules'],
      ['GET', '/api/v1/schedules'],
      ['GET', '/api/v1/schedules/:id'],
      ['PATCH', '/api/v1/schedules/:id'],
      ['DELETE', '/api/v1/schedules/:id'],
      ['POST', '/api/v1/schedules/:id/pause'],
      ['POST', '/api/v1/schedules/:id/resume'],
      ['POST', '/api/v1/schedules/:id/trigger'],
    ])
      expect(byPath(method!, path!), `${method} ${path}`).toEqual([...ROUTE_ROLES.operator]);
    expect(byPath('GET', '/api/v1/scans/:id/authentication-report')).toEqual([...ROUTE_ROLES.reader]);
    expect(byPath('GET', '/api/v1/audit')).toEqual([...ROUTE_ROLES.auditTrail]);
    expect(byPath('POST', '/api/v1/api-keys')).toEqual(['admin']);
  });

  it('refuses to start with a route that declares no role', async () => {
    const app = Fastify();
    await expect(
      app.register(
        async (api) => {
          guardRoutes(api, env.database.db, createKeyChecker(env.database.db));
          api.get('/unguarded', async () => 'oops');
        },
        { prefix: '/api/v1' },
      ),
    ).rejects.toThrow(/declares no role/);
  });

  it('names the role a refused key lacks', async () => {
    const res = await env.api('POST', '/assets', { name: 'a', value: '192.0.2.1' }, { key: keys.auditor });
    expect(res.status).toBe(403);
    expect(res.body.message).toBe('this needs the admin or operator role');
  });
});

describe('API keys', () => {
  it('are shown once, stored hashed, and stop working when revoked or expired', async () => {
    const created = await env.api('POST', '/api-keys', { name: 'ci robot', role: 'operator' });
    expect(created.status, created.text).toBe(201);
    const key = created.body.key as string;
    expect(key).toMatch(/^vsk_[A-Za-z0-9_-]{43}$/);
    expect(created.body).toMatchObject({ role: 'operator', keyPrefix: key.slice(0, 10), revokedAt: null });
    expect((await env.api('GET', `/api-keys/${created.body.id}`)).text).not.toContain(key);
    expect(JSON.stringify(await env.database.query('select * from api_keys'))).not.toContain(key);

    expect((await env.api('GET', '/assets', undefined, { key })).status).toBe(200);
    const used = await env.api('GET', `/api-keys/${created.body.id}`);
    expect(used.body.lastUsedAt).not.toBeNull();

    expect((await env.api('POST', `/api-keys/${created.body.id}/revoke`)).status).toBe(200);
    const revoked = await env.api('GET', '/assets', undefined, { key });
    expect([revoked.status, revoked.body.message]).toEqual([401, 'the API key was revoked']);

    const soon = await env.api('POST', '/api-keys', {
      name: 'short-lived',
      role: 'auditor',
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await env.api('GET', '/scans', undefined, { key: soon.body.key })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    const expired = await env.api('GET', '/scans', undefined, { key: soon.body.key });
    expect([expired.status, expired.body.message]).toEqual([401, 'the API key has expired']);
  });

  it('refuses bad input with the field', async () => {
    const past = await env.api('POST', '/api-keys', { name: 'x', role: 'auditor', expiresAt: '2000-01-01T00:00:00Z' });
    expect([past.status, past.body.field]).toEqual([400, 'expiresAt']);
    const role = await env.api('POST', '/api-keys', { name: 'x', role: 'root' });
    expect([role.status, role.body.field]).toEqual([400, 'role']);
    expect((await env.api('POST', '/api-keys', { name: 'the auditor', role: 'auditor' })).status).toBe(409);
  });
});

describe('appliance enrolment', () => {
  it('an appliance process enrols once; restarted with the same code still set, it reads its key file', async () => {
    const id = (await env.api('POST', '/appliances', { name: `restart-${randomBytes(3).toString('hex')}` })).body.id;
    const code = (await env.api('POST', `/appliances/${id}/enrolment-codes`)).body.code as string;
    const start = (n: number) =>
      spawnAppliance({
        temporalAddress: env.temporal.address,
        applianceId: id,
        codecKeys: env.codecKeys,
        logFile: join(env.workDir, `restart-${n}.log`),
        dataDir: env.applianceDataDir(id),
        enrolment: { code, apiUrl: env.apiUrl },
      });
    const first = start(1);
    await first.ready;
    const enrolled = (await env.api('GET', `/appliances/${id}`)).body.keyId;
    await first.kill('SIGTERM');
    const second = start(2);
    await second.ready; // the used code would be refused: it is not presented again
    await second.kill('SIGTERM');
    expect((await env.api('GET', `/appliances/${id}`)).body.keyId).toBe(enrolled);
  });

  it('takes a one-time, expiring code with the public key; a reused or expired code is refused', async () => {
    const created = await env.api('POST', '/appliances', { name: `enrol-${randomBytes(3).toString('hex')}` });
    const id = created.body.id as string;
    const code = created.body.enrolment.code as string;
    const enrol = (body: unknown) =>
      fetch(`${env.apiUrl}/api/v1/appliances/${id}/enrolment`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));
    const publicKey = Buffer.from((await generateApplianceKeyPair()).publicKey).toString('base64');

    expect(await enrol({ code, publicKey: 'bm90IGEga2V5' })).toMatchObject({
      status: 400,
      body: { field: 'publicKey' },
    });
    const first = await enrol({ code, publicKey });
    expect(first.status).toBe(200);
    const appliance = (await env.api('GET', `/appliances/${id}`)).body;
    expect(appliance).toMatchObject({ enrolled: true, keyId: first.body.keyId });

    const reused = await enrol({ code, publicKey });
    expect(reused).toMatchObject({ status: 400, body: { field: 'code' } });
    expect(reused.body.message).toMatch(/already used/);
    expect((await enrol({ code: 'vse_guess', publicKey })).body.message).toMatch(/not an enrolment code/);

    const fresh = (await env.api('POST', `/appliances/${id}/enrolment-codes`)).body.code as string;
    await env.database.query(
      `update enrolment_codes set expires_at = now() - interval '1 second' where used_at is null`,
    );
    expect((await enrol({ code: fresh, publicKey })).body.message).toMatch(/expired/);

    // Enrolling again (key rotation) replaces the key: vault access is sealed to the new one only.
    const next = (await env.api('POST', `/appliances/${id}/enrolment-codes`)).body.code as string;
    const rotated = await enrol({
      code: next,
      publicKey: Buffer.from((await generateApplianceKeyPair()).publicKey).toString('base64'),
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.keyId).not.toBe(first.body.keyId);
    expect((await env.api('GET', `/appliances/${id}`)).body.keyId).toBe(rotated.body.keyId);
  });
});

describe('a stored vault access secret goes only where it was entered for', () => {
  it('needs the secret again when the URL, CA, auth method or namespace change', async () => {
    const config = { url: 'https://vault-a.example.test:8200', authMethod: 'token' };
    const vault = (
      await env.api('POST', '/vaults', { name: 'guarded', type: 'hashicorp', config, access: { token: 't1' } })
    ).body;
    for (const change of [
      { url: 'https://attacker.example.test:8200' },
      { namespace: 'other' },
      { authMethod: 'approle', roleId: 'r' },
      { caCert: readFileSync(new URL('./harness/fixtures/test-ca.pem', import.meta.url), 'utf8') },
    ]) {
      const moved = await env.api('PATCH', `/vaults/${vault.id}`, { config: { ...config, ...change } });
      expect([moved.status, moved.body.field], JSON.stringify(change)).toEqual([400, 'access']);
      expect(moved.body.message).toMatch(/only ever sent where it was entered for/);
    }
    expect((await env.api('GET', `/vaults/${vault.id}`)).body.config).toEqual(config);
    // What does not move the secret needs no re-entry.
    expect((await env.api('PATCH', `/vaults/${vault.id}`, { name: 'guarded 2' })).status).toBe(200);
    expect((await env.api('PATCH', `/vaults/${vault.id}`, { config: { ...config, timeoutMs: 5000 } })).status).toBe(
      200,
    );
    // With the secret entered again, the record may point elsewhere.
    const repointed = await env.api('PATCH', `/vaults/${vault.id}`, {
      config: { url: 'https://vault-b.example.test:8200', authMethod: 'token' },
      access: { token: 't2' },
    });
    expect(repointed.status, repointed.text).toBe(200);
  });

  it('refuses plain http unless the record says allowInsecureHttp', async () => {
    const res = await env.api('POST', '/vaults', {
      name: 'plain',
      type: 'hashicorp',
      config: { url: 'http://vault.example.test:8200', authMethod: 'token' },
      access: { token: 't' },
    });
    expect([res.status, res.body.field]).toEqual([400, 'config.url']);
  });
});

describe('the audit trail', () => {
  it('records every change with who, what, where and how it ended, never a value', async () => {
    const before = Date.now();
    const vault = await env.api('POST', '/vaults', {
      name: 'audited',
      type: 'hashicorp',
      config: { url: 'https://vault.example.test', authMethod: 'token' },
      access: { token: 'hvs.audit-me-never' },
    });
    const refused = await env.api('POST', '/vaults', { name: 'audited', type: 'hashicorp', config: {}, access: {} });
    expect(refused.status).toBe(400);
    expect((await env.api('POST', '/assets', { name: 'x', value: '192.0.2.9' }, { key: keys.auditor })).status).toBe(
      403,
    );

    const adminId = (await env.api('GET', '/api-keys')).body.items.find((k: { role: string }) => k.role === 'admin').id;
    const trail = await env.api('GET', `/audit?from=${new Date(before).toISOString()}`, undefined, {
      key: keys.auditor,
    });
    expect(trail.status, trail.text).toBe(200);
    const events = trail.body.items as Record<string, unknown>[];
    expect(events).toContainEqual(
      expect.objectContaining({
        action: 'POST /api/v1/vaults',
        actorKeyId: adminId,
        actorName: 'first admin',
        recordId: vault.body.id,
        clientIp: '127.0.0.1',
        outcome: 'success',
        status: 201,
        detail: { fields: ['name', 'type', 'config.url', 'config.authMethod', 'access'] },
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ action: 'POST /api/v1/vaults', outcome: 'rejected', status: 400 }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({
        action: 'POST /api/v1/assets',
        actorName: 'the auditor',
        outcome: 'denied',
        status: 403,
      }),
    );
    expect(JSON.stringify(await env.database.query('select * from audit_events'))).not.toContain('audit-me-never');
    // Operators do not read the trail.
    expect((await env.api('GET', '/audit', undefined, { key: keys.operator })).status).toBe(403);
  });

  it('writes a change and its record in one transaction: no record, no change', async () => {
    const name = `poison-${randomBytes(4).toString('hex')}`;
    const poisoned = await env.createKey('operator', name);
    await env.database.query(`alter table audit_events add constraint vstest_poison check (actor_name <> '${name}')`);
    try {
      const res = await env.api('POST', '/assets', { name: 'never stored', value: '192.0.2.77' }, { key: poisoned });
      expect(res.status).toBe(500);
      expect(await env.database.query(`select * from assets where name = 'never stored'`)).toEqual([]);
    } finally {
      await env.database.query('alter table audit_events drop constraint vstest_poison');
    }
    // The failed statement's parameters stay out of the log; the statement itself is there
    // (the log is written asynchronously: wait for the line).
    const log = () => env.logFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    await expect.poll(log, { timeout: 5_000 }).toContain('vstest_poison');
    expect(log()).not.toContain(name);
  });

  it('pages by keyset, filters, and refuses paging parameters it did not give out', async () => {
    const first = await env.api('GET', '/audit?limit=2', undefined, { key: keys.auditor });
    expect(first.body.items).toHaveLength(2);
    const second = await env.api('GET', `/audit?limit=2&cursor=${first.body.nextCursor}`, undefined, {
      key: keys.auditor,
    });
    expect(second.body.items[0].seq).toBeLessThan(first.body.items[1].seq);
    const adminId = (await env.api('GET', '/api-keys')).body.items[0].id;
    const mine = await env.api('GET', `/audit?actor=${adminId}`, undefined, { key: keys.auditor });
    expect(mine.body.items.every((e: { actorName: string }) => e.actorName === 'first admin')).toBe(true);
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=100000', 'limit'],
      ['cursor=bm9wZQ', 'cursor'],
      ['from=yesterday', 'from'],
    ]) {
      const res = await env.api('GET', `/audit?${query}`, undefined, { key: keys.auditor });
      expect([res.status, res.body.field], query).toEqual([400, field]);
    }
  });

  it('is append-only, and its hash chain names the first row that was altered or deleted', async () => {
    const intact = await env.api('GET', '/audit/verify', undefined, { key: keys.auditor });
    expect(intact.body).toMatchObject({ intact: true, rows: expect.any(Number) });
    await expect(env.database.query(`update audit_events set actor_name = 'someone else'`)).rejects.toThrow(
      /append-only/,
    );
    await expect(env.database.query('delete from audit_events')).rejects.toThrow(/append-only/);

    // Someone with the database's own rights goes around the trigger: the chain gives them away.
    const [row] = await env.database.query('select seq from audit_events order by seq limit 1 offset 2');
    const seq = Number(row!.seq);
    await env.database.query('alter table audit_events disable trigger audit_events_no_update_delete');
    try {
      await env.database.query(`update audit_events set actor_name = 'someone else' where seq = ${seq}`);
      const altered = (await env.api('GET', '/audit/verify', undefined, { key: keys.auditor })).body;
      expect(altered).toMatchObject({
        intact: false,
        firstBroken: { seq: Number(seq), reason: 'its content was altered' },
      });
      await env.database.query(`delete from audit_events where seq = ${seq}`);
      const deleted = (await env.api('GET', '/audit/verify', undefined, { key: keys.auditor })).body;
      expect(deleted.intact).toBe(false);
      expect(deleted.firstBroken.seq).toBeGreaterThan(Number(seq));
      expect(deleted.firstBroken.reason).toMatch(/deleted, inserted or altered/);
    } finally {
      await env.database.query('alter table audit_events enable trigger audit_events_no_update_delete');
    }
  });
});

describe('signing in for the codec endpoint', () => {
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${env.apiUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
      redirect: 'manual',
    });
  const decode = (cookie?: string, origin = UI_ORIGIN) =>
    fetch(`${env.apiUrl}/codec/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin, ...(cookie && { cookie }) },
      body: JSON.stringify({ payloads: [] }),
    });

  it('opens an HttpOnly, SameSite=Strict, expiring session that only the codec endpoint accepts', async () => {
    const page = await fetch(`${env.apiUrl}/login`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await page.text()).toContain('type="password"');

    expect((await post('/login', 'key=vsk_wrong')).status).toBe(401);
    const auditorId = (await env.api('GET', '/api-keys')).body.items.find(
      (k: { name: string }) => k.name === 'the auditor',
    ).id;
    const signedIn = await post('/login', `key=${encodeURIComponent(keys.auditor)}`);
    expect(signedIn.status).toBe(200);
    const setCookie = signedIn.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^vaultscan_session=vss_/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Expires=/);
    expect(setCookie).toMatch(/Path=\/codec(;|$)/);
    const cookie = setCookie.split(';')[0]!;

    expect((await decode()).status).toBe(401);
    const ok = await decode(cookie);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    // The REST API itself takes API keys only: a session cookie opens nothing there.
    const viaCookie = await fetch(`${env.apiUrl}/api/v1/scans`, { headers: { cookie } });
    expect(viaCookie.status).toBe(401);

    // Another site's page gets no CORS consent, with or without the cookie.
    const foreign = await decode(cookie, 'http://evil.example');
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();

    // Revoking the key ends its sessions at once.
    await env.api('POST', `/api-keys/${auditorId}/revoke`);
    expect((await decode(cookie)).status).toBe(401);
    keys.auditor = await env.createKey('auditor', 'the second auditor');
  });

  it('ends a session on sign-out', async () => {
    const signedIn = await post('/login', `key=${encodeURIComponent(keys.operator)}`);
    const cookie = (signedIn.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect((await decode(cookie)).status).toBe(200);
    await post('/codec/logout', '', { cookie });
    expect((await decode(cookie)).status).toBe(401);
  });
});

describe('text the database cannot store', () => {
  it('is refused with a 400 naming the field, in bodies, keys, query strings and paths', async () => {
    const cases: [string, string, unknown, string][] = [
      ['POST', '/assets', { name: 'a\u0000b', value: '192.0.2.5' }, 'name'],
      ['POST', '/assets', { name: 'lone \ud800 surrogate', value: '192.0.2.5' }, 'name'],
      ['POST', '/vaults', { name: 'v', type: 'hashicorp', config: { 'u\u0000rl': 'x' }, access: {} }, 'config.u\\0rl'],
      ['GET', '/audit?record=%00', undefined, 'record'],
    ];
    for (const [method, path, body, field] of cases) {
      const res = await env.api(method, path, body);
      expect([res.status, res.body.field], `${method} ${path}`).toEqual([400, field]);
    }
    // A date-time the schema lets through that names no instant (a leap second).
    const leap = await env.api('GET', '/audit?from=2026-12-31T23:59:60Z', undefined, { key: keys.auditor });
    expect([leap.status, leap.body.field]).toEqual([400, 'from']);
  });
});

describe('the edge of the API', () => {
  const rawGet = (path: string, host: string) =>
    new Promise<number>((resolve, reject) => {
      const url = new URL(env.apiUrl);
      const req = httpRequest({ host: url.hostname, port: url.port, path, headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });

  it('answers only to the host names it is configured for (DNS rebinding)', async () => {
    expect(await rawGet('/healthz', `127.0.0.1:${new URL(env.apiUrl).port}`)).toBe(200);
    expect(await rawGet('/healthz', `localhost:${new URL(env.apiUrl).port}`)).toBe(200);
    expect(await rawGet('/healthz', `rebind.attacker.example:${new URL(env.apiUrl).port}`)).toBe(421);
    expect(await rawGet('/codec/decode', 'rebind.attacker.example')).toBe(421);
  });

  it('logs request paths without their query strings', async () => {
    const marker = `qs-secret-${randomBytes(6).toString('hex')}`;
    await env.api('GET', `/assets?token=${marker}`);
    await fetch(`${env.apiUrl}/login?next=${marker}`);
    const log = env.logFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(log).toContain('"path":"/login"');
    expect(log).not.toContain(marker);
  });
});
