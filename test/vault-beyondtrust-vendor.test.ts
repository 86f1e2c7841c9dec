// BeyondTrust's own client (PyPI beyondtrust-bips-library 3.5.1, installed into tools/venv by
// the bootstrap) against the fake: if the official client cannot sign in, look up, request,
// read, check in and sign out against it, the fake is wrong, and so would be tests built on it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { projectRoot, venvBin } from '../scripts/tools.mjs';
import { startBeyondtrustFake, type BeyondtrustFake } from './fakes/beyondtrust.js';

const run = promisify(execFile);
const SCRIPT = join(projectRoot, 'test', 'vendor-clients', 'beyondtrust_client.py');
const PYTHON = venvBin('python');
// The library insists on a key of 128 to 263 characters, a client id of 36 to 40 and a secret of 36 to 64.
const API_KEY = 'a1B2c3D4'.repeat(16);
const CLIENT_ID = '6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f';
const CLIENT_SECRET = 'vendor-oauth-secret-Zp4Lq8Wm2Xc7Vb1Nn5';
const PASSWORD = 'vendor-check-Pw-3391';
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nvendor-test-key\n-----END OPENSSH PRIVATE KEY-----\n';

let fake: BeyondtrustFake;
beforeAll(async () => {
  fake = await startBeyondtrustFake({
    apiKey: API_KEY,
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    requestCreatedStatus: 200,
    accounts: [
      { systemId: 31, accountId: 57, systemName: 'web01', accountName: 'root', password: PASSWORD, dsskey: KEY },
      { systemId: 31, accountId: 58, systemName: 'web01', accountName: 'backup', password: 'other' },
    ],
  });
});
afterAll(async () => {
  await fake?.close();
});
beforeEach(() => fake.reset());

async function vendorClient(env: Record<string, string>) {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run node scripts/bootstrap.mjs --for-tests`);
  const { stdout } = await run(PYTHON, [SCRIPT], {
    env: {
      PATH: process.env.PATH ?? '',
      BT_URL: fake.url,
      BT_CA_FILE: fake.caFile,
      REQUESTS_CA_BUNDLE: fake.caFile,
      BT_SYSTEM: 'web01',
      BT_ACCOUNT: 'root',
      ...env,
    },
    timeout: 60_000,
  });
  return JSON.parse(stdout) as Record<string, unknown>;
}

function expectEverythingReturned() {
  expect(fake.requests.length).toBeGreaterThan(0);
  expect(fake.openRequests()).toEqual([]);
  expect(fake.liveSessions()).toBe(0);
  expect(fake.calls.filter((c) => c.status >= 400)).toEqual([]);
}

describe("BeyondTrust's official Python client parses the fake", () => {
  it('API key: sign in, look up (object and list), request, read password and key, check in, sign out', async () => {
    const out = await vendorClient({ BT_AUTH: 'apikey', BT_API_KEY: API_KEY });
    expect(out).toEqual({
      signedInAs: 'api-key-policy',
      account: { SystemId: 31, AccountId: 57 },
      flow: PASSWORD,
      listedIsList: true,
      requestId: expect.any(Number),
      requestStatus: 200,
      password: PASSWORD,
      dsskey: KEY,
      signedOut: true,
    });
    // The library's own flow checks in (PUT /Requests/{id}/checkin) but never signs out; the script does.
    expect(fake.calls.map((c) => c.step)).toEqual([
      'signin',
      'lookup',
      'lookup',
      'request',
      'credentials',
      'checkin',
      'lookup',
      'request',
      'credentials',
      'credentials',
      'checkin',
      'signout',
    ]);
    expect(fake.calls[0]!.authorization).toBe(`PS-Auth key=${API_KEY}`);
    // The library keeps its session cookie (requests.Session) and sends the key again besides.
    expect(new Set(fake.calls.slice(1).map((c) => c.via))).toEqual(new Set(['cookie']));
    expectEverythingReturned();
  });

  it('its failures: not found (404), denied (403), pending approval, as the library reports them', async () => {
    const attempt = (env: Record<string, string> = {}) =>
      vendorClient({ BT_AUTH: 'apikey', BT_API_KEY: API_KEY, BT_MODE: 'failure', ...env });

    const missing = await attempt({ BT_ACCOUNT: 'nobody' });
    expect(missing.error).toEqual({ type: 'LookupError', message: expect.stringMatching(/4031 .*statuscode: 404/) });
    expect(fake.calls.map((c) => c.step)).toEqual(['signin', 'lookup', 'signout']);

    fake.reset();
    fake.deny('lookup');
    expect((await attempt()).error).toEqual({
      type: 'LookupError',
      message: expect.stringMatching(/4030 .*statuscode: 403/),
    });

    fake.reset();
    fake.pendingApproval = true;
    expect((await attempt()).error).toEqual({
      type: 'LookupError',
      message: expect.stringMatching(/pending approval.*statuscode: 403/),
    });
    // The library signs out after a failed read, but leaves the request open (no check-in):
    // vaultscan's adapter checks it in.
    expect(fake.calls.map((c) => c.step)).toEqual(['signin', 'lookup', 'request', 'credentials', 'signout']);
    expect(fake.openRequests()).toHaveLength(1);
  });

  it('OAuth client credentials, then Bearer', async () => {
    const out = await vendorClient({ BT_AUTH: 'oauth', BT_CLIENT_ID: CLIENT_ID, BT_CLIENT_SECRET: CLIENT_SECRET });
    expect(out).toMatchObject({ password: PASSWORD, dsskey: KEY, signedOut: true });
    expect(fake.calls.slice(0, 2).map((c) => c.step)).toEqual(['token', 'signin']);
    expect(fake.calls[1]!.authorization).toMatch(/^Bearer /);
    expectEverythingReturned();
  });
});
