// A BeyondTrust Password Safe (BeyondInsight public API v3) fake, faithful to what the official
// clients send and parse (PyPI beyondtrust-bips-library 3.5.1, go-client-library-passwordsafe):
// HTTPS with a test CA, the base /BeyondTrust/api/public/v3, paths and query names matched
// case-insensitively, PS-Auth or OAuth (Auth/connect/token, then Bearer) on Auth/SignAppin, a
// session cookie, ManagedAccounts (one object when exactly one matches, a list otherwise),
// Requests answering a bare integer, Credentials a JSON string, Checkin 204, Signout 200.
// Error bodies are JSON strings ("<number> - <text>"): their wording is not published, so the
// texts here are ours. Faults are injected per step; every call is logged, so tests can assert
// that each request was checked in and each session signed out.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { createCa, issueCertificate } from '../harness/tls-certs.js';

export const BASE_PATH = '/BeyondTrust/api/public/v3';

export interface FakeManagedAccount {
  systemId: number;
  accountId: number;
  systemName: string;
  accountName: string;
  password?: string;
  dsskey?: string;
  passphrase?: string;
}

export type Step = 'token' | 'signin' | 'lookup' | 'request' | 'credentials' | 'checkin' | 'signout' | 'other';

export interface Fault {
  step: Step;
  /** 0: no answer of its own (with delayMs: the usual answer, late). */
  status: number;
  /** A JSON value to answer with (a string becomes a JSON string), or raw text with `raw`. */
  body?: unknown;
  raw?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** How many calls it hits (default: all of them). */
  times?: number;
  /** Answer only after this long (a slow vault). */
  delayMs?: number;
}

export interface FakeCall {
  method: string;
  path: string;
  step: Step;
  status: number;
  at: number;
  authorization?: string;
  body?: unknown;
  /** How a call after sign-in was authenticated: the session cookie, or the Authorization header again. */
  via?: 'cookie' | 'header';
}

interface AccessRequest {
  id: number;
  account: FakeManagedAccount;
  user: string;
  durationMinutes: number;
  reason: string;
  expiresAt: number;
  checkedIn: boolean;
  pending: boolean;
}

export interface BeyondtrustFakeOptions {
  accounts: FakeManagedAccount[];
  /** The API registration key (PS-Auth key=). */
  apiKey?: string;
  /** When set, SignAppin requires runas= with this user (and pwd=[…] when runAsPassword is set). */
  runAsUser?: string;
  runAsPassword?: string;
  /** OAuth client credentials accepted by Auth/connect/token. */
  clientId?: string;
  clientSecret?: string;
  /** Demand a client certificate signed by the test CA at sign-in (mutual TLS). */
  requireClientCert?: boolean;
  /** Status of a successful POST Requests (the official client accepts 200 or 201). */
  requestCreatedStatus?: 200 | 201;
}

export interface BeyondtrustFake {
  /** The options it was started with: tests may change them between calls. */
  options: BeyondtrustFakeOptions;
  url: string;
  origin: string;
  caCert: string;
  /** A client certificate and key signed by the test CA, for mutual TLS. */
  clientCert: string;
  clientKey: string;
  /** The folder holding the PEM files (the CA bundle for REQUESTS_CA_BUNDLE is caFile). */
  caFile: string;
  calls: FakeCall[];
  faults: Fault[];
  /** Every access request made, checked in or not. */
  requests: AccessRequest[];
  /** Credentials answered with a secret. */
  reads(): number;
  count(step: Step): number;
  openRequests(): AccessRequest[];
  liveSessions(): number;
  /** The most calls it has had in flight at once since the last reset. */
  maxInFlight: number;
  // Named switches over `faults`, each in the shape this fake answers with (step: where it hits).
  /** 403 with a permission text. */
  deny(step?: Step, times?: number): void;
  /** 429 with Retry-After (seconds). Password Safe documents no throttling: this is the generic shape. */
  throttle(retryAfterSeconds: number, step?: Step, times?: number): void;
  /** 503 (or the status given), optionally with Retry-After. */
  unavailable(step?: Step, status?: number, retryAfterSeconds?: number, times?: number): void;
  /** A 200 HTML page (a login or maintenance page in front of the API). */
  html(step?: Step, times?: number): void;
  /** Answers the step only after `ms` (a slow vault, for timeouts). */
  slow(ms: number, step?: Step, times?: number): void;
  /** Every session ends now, as after 20 minutes of inactivity: the next call gets 401. */
  expireSessions(): void;
  /** Each new session ends right after sign-in, so every call after it gets 401. */
  sessionsDieAtOnce: boolean;
  /** POST Requests answers 409: another request for the account is in the way. */
  conflict: boolean;
  /** New requests stay pending approval: Credentials answers 403 until an approver acts. */
  pendingApproval: boolean;
  /** What POST Requests answers instead of a bare integer id. */
  requestIdBody?: unknown;
  /** What Credentials answers instead of a JSON string (raw text). */
  credentialsRaw?: string;
  /** ManagedAccounts answers 404 (default) or an empty list when nothing matches. */
  notFoundAs: '404' | 'empty';
  reset(): void;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text && { 'content-type': 'application/json; charset=utf-8' }),
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** `PS-Auth key=…; runas=…; pwd=[…];` — the trailing semicolon and runas/pwd are optional. */
export function parsePsAuth(header: string): { key?: string; runas?: string; pwd?: string } | undefined {
  const m = /^PS-Auth\s+(.*)$/i.exec(header.trim());
  if (!m) return undefined;
  const rest = m[1] ?? '';
  const pwd = /(?:^|;)\s*pwd=\[(.*?)\]\s*;?/i.exec(rest)?.[1];
  const withoutPwd = rest.replace(/(?:^|;)\s*pwd=\[.*?\]\s*;?/i, ';');
  const key = /(?:^|;)\s*key=([^;]*)/i.exec(withoutPwd)?.[1]?.trim();
  const runas = /(?:^|;)\s*runas=([^;]*)/i.exec(withoutPwd)?.[1]?.trim();
  return { key, runas, pwd };
}

export async function startBeyondtrustFake(options: BeyondtrustFakeOptions): Promise<BeyondtrustFake> {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-bt-'));
  const ca = createCa(dir, 'bt-test-ca');
  const serverCert = issueCertificate(ca, dir, 'bt-server', 'server');
  const client = issueCertificate(ca, dir, 'bt-client', 'client');
  const caCert = readFileSync(ca.cert, 'utf8');

  const sessions = new Map<string, string>(); // cookie value → user
  const tokens = new Map<string, string>(); // OAuth access token → client id
  let nextRequestId = 1000;
  let inFlight = 0;

  const fake: BeyondtrustFake = {
    options,
    url: '',
    origin: '',
    caCert,
    clientCert: readFileSync(client.cert, 'utf8'),
    clientKey: readFileSync(client.key, 'utf8'),
    caFile: ca.cert,
    calls: [],
    faults: [],
    requests: [],
    reads: () => fake.calls.filter((c) => c.step === 'credentials' && c.status === 200).length,
    count: (step) => fake.calls.filter((c) => c.step === step).length,
    openRequests: () => fake.requests.filter((r) => !r.checkedIn),
    liveSessions: () => sessions.size,
    maxInFlight: 0,
    expireSessions: () => sessions.clear(),
    deny: (step = 'credentials', times) =>
      fake.faults.push({ step, status: 403, body: '4030 - User does not have permission for this operation', times }),
    throttle: (seconds, step = 'credentials', times) =>
      fake.faults.push({
        step,
        status: 429,
        body: '4290 - Too many requests',
        headers: { 'retry-after': String(seconds) },
        times,
      }),
    unavailable: (step = 'credentials', status = 503, seconds, times) =>
      fake.faults.push({
        step,
        status,
        body: '5030 - The service is unavailable',
        ...(seconds !== undefined && { headers: { 'retry-after': String(seconds) } }),
        times,
      }),
    html: (step = 'credentials', times) =>
      fake.faults.push({ step, status: 200, raw: '<!DOCTYPE html><html><body>Sign in</body></html>', times }),
    slow: (ms, step = 'credentials', times) => {
      // The right answer, late: a fault that delays and then lets the normal handler answer.
      fake.faults.push({ step, status: 0, delayMs: ms, times });
    },
    sessionsDieAtOnce: false,
    conflict: false,
    pendingApproval: false,
    notFoundAs: '404',
    reset() {
      fake.calls.length = 0;
      fake.faults.length = 0;
      fake.requests.length = 0;
      sessions.clear();
      tokens.clear();
      fake.sessionsDieAtOnce = false;
      fake.conflict = false;
      fake.pendingApproval = false;
      fake.requestIdBody = undefined;
      fake.credentialsRaw = undefined;
      fake.notFoundAs = '404';
      fake.maxInFlight = 0;
    },
    close: async () => {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };

  /** The signed-in user of a call: the session cookie, or (as existing clients do) the header again. */
  function userOf(req: IncomingMessage, log: FakeCall): string | undefined {
    const cookie = /(?:^|;\s*)ASP\.NET_SessionId=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    if (cookie && sessions.has(cookie)) {
      log.via = 'cookie';
      return sessions.get(cookie);
    }
    if (!req.headers.authorization || fake.sessionsDieAtOnce) return undefined;
    const { user } = authenticate(req);
    if (user) log.via = 'header';
    return user;
  }

  /** Checks SignAppin's Authorization header; the user it signs in, or a refusal text. */
  function authenticate(req: IncomingMessage): { user?: string; refusal?: string } {
    if (options.requireClientCert && !(req.socket as TLSSocket).authorized)
      return { refusal: '4010 - A valid client certificate is required' };
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (bearer) {
      const clientId = tokens.get(bearer);
      return clientId ? { user: `oauth:${clientId}` } : { refusal: '4011 - Invalid bearer token' };
    }
    const ps = parsePsAuth(header);
    if (!ps?.key) return { refusal: '4012 - Missing or malformed Authorization header' };
    if (!options.apiKey || ps.key !== options.apiKey) return { refusal: '4013 - Invalid API key' };
    if (options.runAsUser !== undefined) {
      if (ps.runas !== options.runAsUser) return { refusal: '4014 - Invalid run-as user' };
      if (options.runAsPassword !== undefined && ps.pwd !== options.runAsPassword)
        return { refusal: '4015 - Invalid run-as user password' };
      return { user: ps.runas };
    }
    // An API Key Policy registration: the key alone signs in, as the registration's own user.
    return { user: 'api-key-policy' };
  }

  function stepOf(method: string, path: string): Step {
    if (method === 'POST' && path === 'auth/connect/token') return 'token';
    if (method === 'POST' && path === 'auth/signappin') return 'signin';
    if (method === 'POST' && path === 'auth/signout') return 'signout';
    if (method === 'GET' && path === 'managedaccounts') return 'lookup';
    if (method === 'POST' && path === 'requests') return 'request';
    if (method === 'GET' && /^credentials\/[^/]+$/.test(path)) return 'credentials';
    if (method === 'PUT' && /^requests\/[^/]+\/checkin$/.test(path)) return 'checkin';
    return 'other';
  }

  async function handle(req: IncomingMessage, res: ServerResponse, log: FakeCall): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const query = new Map([...url.searchParams].map(([k, v]) => [k.toLowerCase(), v]));
    const method = (req.method ?? 'GET').toUpperCase();
    const fullPath = decodeURIComponent(url.pathname).replace(/\/+$/, '');
    if (!fullPath.toLowerCase().startsWith(BASE_PATH.toLowerCase() + '/'))
      return json(res, 404, 'The requested resource does not exist');
    const path = fullPath.slice(BASE_PATH.length + 1).toLowerCase();
    const step = stepOf(method, path);
    Object.assign(log, { method, path: fullPath.slice(BASE_PATH.length + 1) + url.search, step });
    const text = await readBody(req);
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    log.body = step === 'token' ? '[form]' : body;
    if (req.headers.authorization) log.authorization = req.headers.authorization;

    const fault = fake.faults.find((f) => f.step === step && (f.times === undefined || f.times > 0));
    if (fault) {
      if (fault.times !== undefined) fault.times -= 1;
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      // A 401 after sign-in stands for an expired session: the server has forgotten it.
      if (fault.status === 401 && step !== 'signin' && step !== 'token') {
        const sid = /(?:^|;\s*)ASP\.NET_SessionId=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
        if (sid) sessions.delete(sid);
      }
      // Status 0 (slow()): delayed, then answered as usual.
      if (fault.status !== 0) {
        if (fault.raw === undefined) return json(res, fault.status, fault.body, fault.headers);
        res.writeHead(fault.status, { 'content-type': fault.contentType ?? 'text/html', ...fault.headers });
        res.end(fault.raw);
        return;
      }
    }

    if (step === 'token') {
      const form = new URLSearchParams(text);
      if (form.get('grant_type') !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
      if (
        !options.clientId ||
        form.get('client_id') !== options.clientId ||
        form.get('client_secret') !== options.clientSecret
      )
        return json(res, 400, { error: 'invalid_client' });
      const token = randomBytes(24).toString('hex');
      tokens.set(token, options.clientId);
      return json(res, 200, { access_token: token, expires_in: 3600, token_type: 'Bearer', scope: 'publicapi' });
    }

    if (step === 'signin') {
      const { user, refusal } = authenticate(req);
      if (!user) return json(res, 401, refusal);
      const sid = randomUUID();
      if (!fake.sessionsDieAtOnce) sessions.set(sid, user);
      return json(
        res,
        200,
        { UserId: 12, EmailAddress: `${user}@corp.example`, UserName: user, Name: 'Scanner Service' },
        { 'set-cookie': `ASP.NET_SessionId=${sid}; path=/; secure; HttpOnly; SameSite=Lax` },
      );
    }

    const user = userOf(req, log);
    if (!user) return json(res, 401, '4016 - Session expired or not signed in');

    switch (step) {
      case 'signout': {
        const sid = /(?:^|;\s*)ASP\.NET_SessionId=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
        if (sid) sessions.delete(sid);
        return json(res, 200);
      }
      case 'lookup': {
        const systemName = query.get('systemname');
        const accountName = query.get('accountname');
        const systemId = query.get('systemid');
        const same = (a: string, b: string | undefined) => b === undefined || a.toLowerCase() === b.toLowerCase();
        const matches = options.accounts.filter(
          (a) =>
            same(a.systemName, systemName) &&
            same(a.accountName, accountName) &&
            (systemId === undefined || String(a.systemId) === systemId),
        );
        const offset = Number(query.get('offset') ?? 0);
        const limit = Number(query.get('limit') ?? 1000);
        const page = matches.slice(offset, offset + limit).map((a) => ({
          PlatformID: 2,
          SystemId: a.systemId,
          SystemName: a.systemName,
          DomainName: null,
          AccountId: a.accountId,
          AccountName: a.accountName,
          InstanceName: '',
          DefaultReleaseDuration: 120,
          MaximumReleaseDuration: 525600,
          LastChangeDate: '2026-11-01T10:00:00',
          NextChangeDate: null,
          IsChanging: false,
          IsISAAccess: false,
        }));
        if (page.length === 0 && fake.notFoundAs === '404') return json(res, 404, '4031 - Managed account not found');
        return json(res, 200, page.length === 1 ? page[0] : page);
      }
      case 'request': {
        const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
        if (!Number.isInteger(b.SystemID) || !Number.isInteger(b.AccountID))
          return json(res, 400, '4001 - SystemID and AccountID are required');
        const duration = b.DurationMinutes ?? 120;
        if (!Number.isInteger(duration) || (duration as number) < 1 || (duration as number) > 525600)
          return json(res, 400, '4002 - DurationMinutes must be between 1 and 525600');
        const account = options.accounts.find((a) => a.systemId === b.SystemID && a.accountId === b.AccountID);
        if (!account) return json(res, 404, '4031 - Managed account not found');
        const open = fake.requests.find(
          (r) => r.account === account && r.user === user && !r.checkedIn && r.expiresAt > Date.now(),
        );
        if (fake.conflict || (open && b.ConflictOption !== 'reuse' && b.ConflictOption !== 'renew'))
          return json(res, 409, '4091 - A request for this account already exists for this user');
        if (fake.requestIdBody !== undefined) return json(res, options.requestCreatedStatus ?? 201, fake.requestIdBody);
        if (open && b.ConflictOption === 'reuse') return json(res, options.requestCreatedStatus ?? 201, open.id);
        const request: AccessRequest = {
          id: nextRequestId++,
          account,
          user,
          durationMinutes: duration as number,
          reason: typeof b.Reason === 'string' ? b.Reason : '',
          expiresAt: Date.now() + (duration as number) * 60_000,
          checkedIn: false,
          pending: fake.pendingApproval,
        };
        fake.requests.push(request);
        return json(res, options.requestCreatedStatus ?? 201, request.id);
      }
      case 'credentials': {
        const id = Number(path.split('/')[1]);
        const request = fake.requests.find((r) => r.id === id && r.user === user);
        if (!request) return json(res, 404, '4032 - Request not found');
        if (request.checkedIn || request.expiresAt <= Date.now())
          return json(res, 403, '4033 - The request has been released or has expired');
        if (request.pending) return json(res, 403, '4034 - The request is pending approval');
        const type = (query.get('type') ?? 'password').toLowerCase();
        if (!['password', 'dsskey', 'passphrase'].includes(type))
          return json(res, 400, '4003 - type must be password, dsskey or passphrase');
        const value = request.account[type as 'password' | 'dsskey' | 'passphrase'];
        if (value === undefined) return json(res, 404, `4035 - The account has no ${type}`);
        if (fake.credentialsRaw !== undefined) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(fake.credentialsRaw);
          return;
        }
        return json(res, 200, value);
      }
      case 'checkin': {
        const id = Number(path.split('/')[1]);
        const request = fake.requests.find((r) => r.id === id && r.user === user);
        if (!request) return json(res, 404, '4032 - Request not found');
        if (request.checkedIn) return json(res, 403, '4033 - The request has been released or has expired');
        request.checkedIn = true;
        res.writeHead(204);
        res.end();
        return;
      }
      default:
        return json(res, 404, 'The requested resource does not exist');
    }
  }

  const server: Server = createServer(
    {
      key: readFileSync(serverCert.key),
      cert: readFileSync(serverCert.cert),
      ca: caCert,
      // Asked always, checked at sign-in only when requireClientCert is on (as an API registration does).
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const log: FakeCall = { method: req.method ?? '', path: req.url ?? '', step: 'other', status: 0, at: Date.now() };
      fake.calls.push(log);
      inFlight += 1;
      fake.maxInFlight = Math.max(fake.maxInFlight, inFlight);
      res.on('close', () => {
        inFlight -= 1;
        log.status = res.statusCode;
      });
      handle(req, res, log).catch((err: Error) => {
        if (!res.headersSent) json(res, 500, `5000 - ${err.message}`);
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  fake.origin = `https://127.0.0.1:${port}`;
  fake.url = `${fake.origin}${BASE_PATH}`;
  return fake;
}
