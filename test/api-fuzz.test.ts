// The API fuzzed from its own OpenAPI document: for every route (method and path), fast-check
// generates path parameters, query strings and bodies from the route's schemas (so most reach
// the handler), mixed with deliberate damage (wrong types, extra keys, huge strings, deep
// nesting, NUL, lone surrogates, __proto__, bodies that are not objects, paging parameters out
// of range, cursors of other lists), and sends them over HTTP with an admin key. Any 5xx fails
// the test, printing the request that caused it. A fixed seed and RUNS requests per route keep
// it fast and repeatable; VAULTSCAN_FUZZ_SEED and VAULTSCAN_FUZZ_RUNS change them.
//
// It cannot pass by refusing everything: it counts, with a hook inside the API, the requests
// that got past validation into their handler, and requires that of every route and of a
// good share of all requests.
import { mkdirSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScanEnvironment, type ScanEnvironment } from './harness/scan-env.js';
import { damage, damagedJson, valueOf, type Damage, type Hints, type JsonSchema } from './harness/schema-arbitrary.js';

const SEED = Number(process.env.VAULTSCAN_FUZZ_SEED ?? 20_261_202);
const FAILURES_FILE = '.test-runs/api-fuzz-failures.json';
const RUNS = Number(process.env.VAULTSCAN_FUZZ_RUNS ?? 40);

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required?: boolean;
  schema: JsonSchema;
}
interface Operation {
  method: string;
  /** As the OpenAPI document writes it: /api/v1/assets/{id}. */
  path: string;
  parameters: Parameter[];
  body?: JsonSchema;
  /** Routes the document hides (the codec endpoint, sign-in): fuzzed all the same. */
  hidden?: boolean;
}
interface FuzzRequest {
  method: string;
  url: string;
  body?: string;
}
interface Failure {
  request: FuzzRequest;
  status: number;
  answer: string;
}

let env: ScanEnvironment;
/** "POST /api/v1/assets" → requests that got past validation into the handler. */
const reachedHandler = new Map<string, number>();
const sent = new Map<string, number>();

/** Ids of records that exist, by the collection their routes live under. */
const ids: Record<string, string[]> = {};
const cursors: string[] = [];

const routeKey = (method: string, openApiPath: string) => `${method} ${openApiPath.replace(/\{(\w+)\}/g, ':$1')}`;

beforeAll(async () => {
  env = await startScanEnvironment({
    instrumentApi: (app) =>
      app.addHook('preHandler', async (request) => {
        const key = `${request.method} ${request.routeOptions.url}`;
        reachedHandler.set(key, (reachedHandler.get(key) ?? 0) + 1);
      }),
  });
  // Records for generated requests to find: ids that exist, targets inside a registered asset.
  const created = async (path: string, body: unknown) => {
    const res = await env.api('POST', path, body);
    if (res.status >= 300) throw new Error(`fixture ${path}: ${res.text}`);
    (ids[path.split('/')[1]!] ??= []).push(res.body.id);
    return res.body;
  };
  await created('/assets', { name: 'fuzz range', value: '10.77.0.0/16' });
  const vault = await created('/vaults', {
    name: 'fuzz vault',
    type: 'hashicorp',
    config: { url: 'https://vault.example.test:8200', authMethod: 'token' },
    access: { token: 'fuzz' },
  });
  await created('/auth-records', {
    name: 'fuzz record',
    technology: 'unix',
    targets: '10.77.0.0/28',
    username: 'scanner',
    vaultId: vault.id,
    locator: { path: 'servers/fuzz' },
    fields: { password: 'password' },
  });
  const appliance = await created('/appliances', { name: 'fuzz appliance' });
  await env.enrolAppliance(appliance.id);
  await created('/option-profiles', {
    name: 'fuzz profile',
    technologies: ['unix'],
    maxParallelHosts: 2,
    timeouts: { connectMs: 1000, commandMs: 1000, vaultMs: 1000 },
    retry: { maxAttempts: 1, initialIntervalMs: 0, maxIntervalMs: 0 },
  });
  await created('/groups', { name: 'fuzz group', businessImpact: 'high', assetIds: ids.assets });
  await created('/tags', { name: 'fuzz static tag', kind: 'static', assetIds: ids.assets });
  await created('/tags', { name: 'fuzz dynamic tag', kind: 'dynamic', rule: { conditions: [{ osFamily: 'debian' }] } });
  await created('/known-host-keys', { ip: '10.77.0.5', port: 22, sha256: `SHA256:${'f'.repeat(43)}` });
  // A key generated requests may revoke: never the admin key they are sent with.
  await created('/api-keys', { name: 'fuzz throwaway', role: 'auditor' });
  const scan = await env.api('POST', '/scans', { title: 'fuzz', targets: '10.77.1.1-10.77.1.3' });
  (ids.scans ??= []).push(scan.body.id);
  // A schedule whose triggered runs scan hosts no record covers: each ends at once.
  await created('/schedules', {
    name: 'fuzz schedule',
    scan: { title: 'fuzz', targets: '10.77.1.1' },
    intervals: [{ every: '1h' }],
    paused: true,
  });
  // Real cursors of every list: right for one list, wrong for the others.
  for (const list of [
    '/assets',
    '/vaults',
    '/scans',
    '/api-keys',
    '/audit',
    '/schedules',
    `/scans/${scan.body.id}/results`,
  ]) {
    const next = (await env.api('GET', `${list}?limit=1`)).body.nextCursor;
    if (typeof next === 'string') cursors.push(next);
  }
});
afterAll(async () => {
  await env?.stop();
});

const freshAddress = fc.integer({ min: 4_096, max: 65_535 }).map((n) => `10.77.${n >> 8}.${n & 255}`);

/** Values the API will find meaningful, by field or parameter name. */
function hints(): Hints {
  const existing = (collection: string) => fc.constantFrom(...(ids[collection] ?? ['none']));
  return {
    value: fc.oneof(
      fc.constantFrom('10.77.0.1', '10.77.2.0/28', '10.77.3.1-10.77.3.4', '0.0.0.0', 'ff02::1', '10.77.0.300'),
      freshAddress,
    ),
    // Fresh addresses inside the registered asset: a record for them is not refused as overlapping.
    targets: fc.oneof(
      fc.constantFrom('10.77.1.1', '10.77.1.4-10.77.1.6', '10.77.0.1', '10.78.0.1', '224.0.0.1', '::'),
      freshAddress,
    ),
    vaultId: existing('vaults'),
    applianceId: existing('appliances'),
    optionProfileId: existing('option-profiles'),
    scan: existing('scans'),
    locator: fc.constantFrom({ path: 'servers/web' }, { path: 'a', kvVersion: 1 }, { mount: 'kv', path: '../x' }),
    config: fc.constantFrom(
      { url: 'https://vault.example.test:8200', authMethod: 'token' },
      { url: 'https://vault.example.test:8200', authMethod: 'approle', roleId: 'r' },
      { url: 'http://vault.example.test:8200', authMethod: 'token', allowInsecureHttp: true },
    ),
    access: fc.constantFrom({ token: 't' }, { secretId: 's' }),
    fields: fc.constantFrom({ password: 'password' }, { privateKey: 'key', passphrase: 'pass' }),
    ip: fc.constantFrom('10.77.0.5', '2001:db8::5', 'not an address'),
    sha256: fc.constant(`SHA256:${'b'.repeat(43)}`),
    cursor: fc.constantFrom(...cursors, 'bm9wZQ.bm9wZQ'),
    assetIds: fc.constantFrom([], ids.assets ?? [], ['00000000-0000-4000-8000-000000000000']),
    kind: fc.constantFrom('static', 'dynamic'),
    rule: fc.constantFrom(
      { conditions: [{ address: '10.77.0.0/24' }] },
      { match: 'any', conditions: [{ assetName: 'fuzz*' }, { technology: 'unix', outcome: 'failed' }] },
      { conditions: [{ osFamily: 'debian', address: '10.77.0.1' }] },
    ),
    tag: fc.constantFrom('fuzz static tag', 'fuzz dynamic tag', 'nonesuch', '\u0000'),
    payloads: fc.constantFrom([], [{ metadata: { encoding: 'anNvbi9wbGFpbg==' }, data: 'IjEi' }]),
    // Schedules: timings Temporal takes and ones it must not be asked with, runs rare and paused
    // (a generated schedule's runs would otherwise crowd the machine).
    cron: fc.constantFrom(['0 3 * * *'], ['30 2 * * 1-5', '@weekly'], ['61 * * * *'], ['0 0 31 2 *'], []),
    every: fc.constantFrom('1h', '6h', '1d', '0s', '400d'),
    offset: fc.constantFrom('5m', '0s', '2d'),
    timeZone: fc.constantFrom('UTC', 'Europe/Berlin', 'europe/berlin', 'Mars/Olympus', '+01:00'),
    catchupWindow: fc.constantFrom('1h', '7d', '5s', '8d'),
    paused: fc.constant(true),
    scheduleId: existing('schedules'),
  };
}

/** The id in a path: one that exists, any UUID, or something that is no id at all. */
function pathValue(collection: string): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...(ids[collection] ?? ['none'])) },
    { weight: 2, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.constantFrom('nope', '\u0000', '..', '😀', 'x'.repeat(3_000), ' ', '%') },
  );
}

const QUERY_FAULTS: [string, string][] = [
  ['limit', '-5'],
  ['limit', 'abc'],
  ['limit', '1e309'],
  ['limit', '99999999999999999999'],
  ['offset', '10'],
  ['cursor', 'x'.repeat(600)],
  ['from', 'yesterday'],
  ['ip', '\u0000'],
  ['format', 'xml'],
  ['unknown', 'surplus'],
];

function requestOf(op: Operation): fc.Arbitrary<FuzzRequest> {
  const collection = op.path.split('/')[3] ?? '';
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const h = hints();
  return fc
    .record({
      path: fc.record(Object.fromEntries(pathParams.map((p) => [p.name, pathValue(collection)]))),
      query: fc.record(
        Object.fromEntries(queryParams.map((p) => [p.name, fc.option(valueOf(p.schema, h, p.name), { freq: 2 })])),
      ),
      queryFault: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom(...QUERY_FAULTS) },
      ),
      body: op.body ? valueOf(op.body, h) : fc.option(fc.jsonValue({ maxDepth: 1 }), { freq: 4 }),
      bodyFault: fc.oneof({ weight: 3, arbitrary: fc.constant<Damage | null>(null) }, { weight: 2, arbitrary: damage }),
    })
    .map(({ path, query, queryFault, body, bodyFault }) => {
      const url = op.path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(String(path[name])));
      const pairs = Object.entries(query).flatMap(([k, v]) => (v === null ? [] : [[k, String(v)] as [string, string]]));
      if (queryFault) pairs.push(queryFault);
      const search = pairs.length > 0 ? `?${new URLSearchParams(pairs).toString()}` : '';
      const sendsBody = op.method === 'POST' || op.method === 'PATCH';
      const text =
        !sendsBody || body === null ? undefined : bodyFault ? damagedJson(body, bodyFault) : JSON.stringify(body);
      return { method: op.method, url: `${url}${search}`, ...(text !== undefined && { body: text }) };
    });
}

async function send(request: FuzzRequest): Promise<{ status: number; answer: string }> {
  const res = await fetch(`${env.apiUrl}${request.url}`, {
    method: request.method,
    headers: {
      authorization: `Bearer ${env.adminKey}`,
      ...(request.body !== undefined && { 'content-type': 'application/json' }),
    },
    body: request.body,
  });
  return { status: res.status, answer: (await res.text()).slice(0, 500) };
}

async function operations(): Promise<Operation[]> {
  const doc = (await (await fetch(`${env.apiUrl}/openapi.json`)).json()) as {
    paths: Record<
      string,
      Record<string, { parameters?: Parameter[]; requestBody?: { content: Record<string, { schema: JsonSchema }> } }>
    >;
  };
  const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      parameters: op.parameters ?? [],
      ...(op.requestBody && { body: op.requestBody.content['application/json']!.schema }),
    })),
  );
  const base64 = { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' };
  const codecBody: JsonSchema = {
    type: 'object',
    required: ['payloads'],
    properties: {
      payloads: {
        type: 'array',
        items: {
          type: 'object',
          properties: { metadata: { type: 'object', patternProperties: { '^.*$': base64 } }, data: base64 },
        },
      },
    },
  };
  const hidden: Operation[] = [
    { method: 'POST', path: '/codec/encode', parameters: [], body: codecBody, hidden: true },
    { method: 'POST', path: '/codec/decode', parameters: [], body: codecBody, hidden: true },
    { method: 'POST', path: '/codec/logout', parameters: [], hidden: true },
    {
      method: 'POST',
      path: '/login',
      parameters: [],
      body: { type: 'object', required: ['key'], properties: { key: { type: 'string', maxLength: 200 } } },
      hidden: true,
    },
    { method: 'GET', path: '/login', parameters: [], hidden: true },
  ];
  return [...documented, ...hidden];
}

const describeRequest = (r: FuzzRequest) =>
  `${r.method} ${r.url.length > 300 ? `${r.url.slice(0, 300)}… (${r.url.length} characters)` : r.url}` +
  (r.body === undefined
    ? ''
    : `\ncontent-type: application/json\n${r.body.length > 600 ? `${r.body.slice(0, 600)}… (${r.body.length} characters)` : r.body}`);

describe('the API under generated and damaged requests', () => {
  it(`answers every route without a 5xx (seed ${SEED}, ${RUNS} requests a route)`, async () => {
    const ops = await operations();
    expect(ops.filter((op) => !op.hidden).length).toBeGreaterThan(40);
    const failures: Failure[] = [];
    for (const [index, op] of ops.entries()) {
      const key = routeKey(op.method, op.path);
      const failuresBefore = failures.length;
      const details = await fc.check(
        fc.asyncProperty(requestOf(op), async (request) => {
          sent.set(key, (sent.get(key) ?? 0) + 1);
          const { status, answer } = await send(request);
          if (status < 500) return true;
          failures.push({ request, status, answer });
          return false;
        }),
        { seed: SEED + index, numRuns: RUNS, endOnFailure: true },
      );
      // A failure that is not a recorded 5xx is the test's own (a request that could not be sent).
      if (details.failed && failures.length === failuresBefore)
        throw details.errorInstance ?? new Error(`fuzzing ${key} failed`);
    }
    if (failures.length > 0) {
      // The whole of each request, to send again as it was (bodies can be megabytes).
      mkdirSync('.test-runs', { recursive: true });
      writeFileSync(FAILURES_FILE, JSON.stringify(failures, null, 2));
    }
    expect(
      failures,
      failures
        .map((f) => `HTTP ${f.status} (seed ${SEED}) for:\n${describeRequest(f.request)}\nanswer: ${f.answer}`)
        .join('\n\n') + `\n(every request in full: ${FAILURES_FILE})`,
    ).toEqual([]);

    // Not all refused at the door: every route had requests reach its handler, and a good share did.
    const total = [...sent.values()].reduce((a, b) => a + b, 0);
    const reached = ops.map((op) => routeKey(op.method, op.path)).map((k) => reachedHandler.get(k) ?? 0);
    const starved = ops
      .map((op, i) => ({ key: routeKey(op.method, op.path), reached: reached[i]! }))
      .filter((r) => r.reached < 5)
      .map((r) => `${r.key}: ${r.reached} of ${sent.get(r.key) ?? 0}`);
    expect(starved, 'routes whose generated requests almost never got past validation').toEqual([]);
    const share = reached.reduce((a, b) => a + b, 0) / total;
    console.log(
      `fuzz: ${ops.length} routes, ${total} requests (seed ${SEED}, ${RUNS} a route); ${(share * 100).toFixed(0)}% reached a handler`,
    );
    expect(share).toBeGreaterThan(0.4);
  });
});
