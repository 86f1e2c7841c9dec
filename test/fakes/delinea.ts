// A protocol-faithful fake of Delinea (Thycotic) Secret Server's REST API, over HTTPS with a
// throwaway CA: the OAuth2 password grant (form body, {"error": …} on 400), Bearer tokens that
// expire and can be expired (oauth-expiration), GET /secrets/{id} and the secretPath lookup
// with id 0, the paging envelope of the search, /fields/{slug} with raw file content,
// /restricted reads with a comment, check-out and check-in, and the health check the official
// SDK probes. Switches produce every failure the adapter must classify. The shapes follow the
// swagger-generated clients and python-tss-sdk 2.0.1; where Secret Server's exact errorCode is
// not published (check-out states) the fake uses a plausible code and the adapter reads the message.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate } from '../harness/tls-certs.js';

export interface FakeItem {
  slug: string;
  fieldName: string;
  value: string;
  isFile?: boolean;
  isPassword?: boolean;
  filename?: string;
}

export interface FakeSecret {
  id: number;
  name: string;
  folderId: number;
  /** The folder's path, e.g. \Servers\Linux. */
  folderPath: string;
  items: FakeItem[];
  checkOutEnabled?: boolean;
  checkOutIntervalMinutes?: number;
  requiresComment?: boolean;
  /** Another user holds the check-out. */
  checkedOutBy?: string;
  /** The scanner may not see it (400 API_AccessDenied). */
  denied?: boolean;
  /** Needs an approval the scanner does not have. */
  requiresApproval?: boolean;
}

export interface DelineaSwitches {
  /** The token endpoint answers 200 with an HTML page (known server behaviour). */
  tokenHtml?: boolean;
  /** API calls answer 200 with an HTML page. */
  apiHtml?: boolean;
  /** Every call answers 503 (or this status). */
  unavailable?: number;
  /** The next N API calls answer 403 "too many requests" (Secret Server throttles with 403). */
  throttle?: number;
  /** Throttle with this status instead of 403 (429, which Secret Server is not known to send). */
  throttleStatus?: number;
  /** File fields come with this content type (default application/octet-stream). */
  fileContentType?: string;
  /** Field reads answer 200 with an HTML page. */
  fieldHtml?: boolean;
  /** The Retry-After header (seconds) sent with a throttling 403; none when undefined. */
  throttleRetryAfter?: string;
  /** The next N API calls answer 403 with a plain refusal (no throttling words). */
  forbidden?: number;
  /** The next N API calls find the token expired (401). */
  expireTokens?: number;
  /** Every API call answers 401, even with a fresh token. */
  rejectAllTokens?: boolean;
  /** Answers the secret without items. */
  noItems?: boolean;
  /** A secret id that does not exist: 400 API_AccessDenied (the default, as Secret Server) or 404. */
  unknownId?: 'accessDenied' | 'notFound';
  /** Every answer waits this long. */
  slowMs?: number;
  /** The search ignores the exact-match flag and returns every secret whose name contains the text. */
  sloppySearch?: boolean;
  /** A secret with check-out enabled can be read without a check-out (the 200 still says checkOutEnabled). */
  readWithoutCheckOut?: boolean;
  /** Secrets and searches come back with PascalCase field names, as some older servers write them. */
  pascalCase?: boolean;
}

export interface AuditEntry {
  action: string;
  secretId?: number;
  user?: string;
  comment?: string | null;
}

export interface DelineaFake {
  url: string;
  caCert: string;
  /** The CA certificate as a file (REQUESTS_CA_BUNDLE for Python clients). */
  caFile: string;
  username: string;
  password: string;
  domain?: string;
  switches: DelineaSwitches;
  secrets: FakeSecret[];
  /** Reads of secret content (full secret, restricted read, field). */
  reads: number;
  /** Every request: method and path with query. */
  requests: { method: string; path: string; authorization?: string }[];
  audit: AuditEntry[];
  /** Tokens issued and still valid. */
  liveTokens(): number;
  /** Who holds each secret's check-out. */
  checkouts: Map<number, string>;
  close(): Promise<void>;
}

const EXPIRES_IN = 1199;
const USER_ID = 7;

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(text);
}

const html = (res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end('<!DOCTYPE html><html><head><title>Secret Server</title></head><body>An error occurred.</body></html>');
};

/** Every key of a JSON value in PascalCase. */
function pascal(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(pascal);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), pascal(v)]));
}

const badRequest = (res: ServerResponse, errorCode: string, message: string) => json(res, 400, { errorCode, message });

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const fullPath = (s: FakeSecret) => `${s.folderPath.replace(/\\+$/, '')}\\${s.name}`.toLowerCase();

function secretModel(s: FakeSecret, checkedOut: boolean) {
  return {
    id: s.id,
    name: s.name,
    secretTemplateId: 6003,
    folderId: s.folderId,
    active: true,
    items: s.items.map((item, i) => ({
      itemId: 300 + i,
      fileAttachmentId: item.isFile ? 9000 + i : null,
      filename: item.isFile ? (item.filename ?? `${item.slug}.txt`) : null,
      itemValue: item.isFile ? '*** Not Valid For Display ***' : item.value,
      fieldId: 100 + i,
      fieldName: item.fieldName,
      slug: item.slug,
      fieldDescription: '',
      isFile: Boolean(item.isFile),
      isNotes: false,
      isPassword: Boolean(item.isPassword),
      isList: false,
      listType: 'None',
    })),
    launcherConnectAsSecretId: -1,
    checkOutMinutesRemaining: checkedOut ? (s.checkOutIntervalMinutes ?? 30) : 0,
    checkedOut,
    checkOutUserDisplayName: checkedOut ? 'scanner' : '',
    checkOutUserId: checkedOut ? USER_ID : -1,
    isRestricted: Boolean(s.requiresComment || s.checkOutEnabled || s.requiresApproval),
    isOutOfSync: false,
    outOfSyncReason: '',
    autoChangeEnabled: false,
    autoChangeNextPassword: null,
    requiresApprovalForAccess: Boolean(s.requiresApproval),
    requiresComment: Boolean(s.requiresComment),
    checkOutEnabled: Boolean(s.checkOutEnabled),
    checkOutIntervalMinutes: s.checkOutIntervalMinutes ?? -1,
    checkOutChangePasswordEnabled: false,
    accessRequestWorkflowMapId: -1,
    proxyEnabled: false,
    sessionRecordingEnabled: false,
    restrictSshCommands: false,
    jumpboxRouteId: null,
    allowOwnersUnrestrictedSshCommands: false,
    isDoubleLock: false,
    doubleLockId: -1,
    enableInheritPermissions: true,
    passwordTypeWebScriptId: -1,
    siteId: 1,
    enableInheritSecretPolicy: true,
    secretPolicyId: -1,
    lastHeartBeatStatus: 'Success',
    lastHeartBeatCheck: '2026-11-30T10:00:00.123',
    failedPasswordChangeAttempts: 0,
    lastPasswordChangeAttempt: '0001-01-01T00:00:00',
    secretTemplateName: 'Unix Account (SSH Key Rotation)',
    responseCodes: [],
    webLauncherRequiresIncognitoMode: false,
  };
}

export async function startDelineaFake(
  options: { secrets?: FakeSecret[]; username?: string; password?: string; domain?: string } = {},
): Promise<DelineaFake> {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-delinea-'));
  const ca = createCa(dir, 'delinea-test-ca');
  const leaf = issueCertificate(ca, dir, 'delinea-server', 'server');
  const caCert = readFileSync(ca.cert, 'utf8');
  const tokens = new Map<string, { user: string; refresh: string }>();
  const refreshTokens = new Map<string, string>();

  const fake: DelineaFake = {
    url: '',
    caCert,
    caFile: ca.cert,
    username: options.username ?? 'svc_scanner',
    password: options.password ?? `pw-${randomBytes(6).toString('hex')}`,
    domain: options.domain,
    switches: {},
    secrets: options.secrets ?? [],
    reads: 0,
    requests: [],
    audit: [],
    checkouts: new Map(),
    liveTokens: () => tokens.size,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const issue = (res: ServerResponse, user: string) => {
    const access = `AgJ${randomBytes(24).toString('base64url')}`;
    const refresh = `AgK${randomBytes(24).toString('base64url')}`;
    tokens.set(access, { user, refresh });
    refreshTokens.set(refresh, user);
    json(res, 200, { access_token: access, token_type: 'bearer', expires_in: EXPIRES_IN, refresh_token: refresh });
  };

  async function token(req: IncomingMessage, res: ServerResponse) {
    const form = new URLSearchParams(await readBody(req));
    if (fake.switches.tokenHtml) return html(res);
    if (!/^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? ''))
      return json(res, 400, { error: 'invalid_request' });
    const grant = form.get('grant_type');
    if (grant === 'refresh_token') {
      const user = refreshTokens.get(form.get('refresh_token') ?? '');
      if (!user) return json(res, 400, { error: 'invalid_grant' });
      refreshTokens.delete(form.get('refresh_token') ?? '');
      return issue(res, user);
    }
    if (grant !== 'password') return json(res, 400, { error: 'unsupported_grant_type' });
    const domainOk = (form.get('domain') ?? undefined) === fake.domain;
    if (form.get('username') !== fake.username || form.get('password') !== fake.password || !domainOk)
      return json(res, 400, { error: 'Login failed.' });
    issue(res, fake.username);
  }

  /** The secret a /secrets/{id}… call names: by id, or by secretPath when the id is 0. */
  function lookup(idText: string, query: URLSearchParams): FakeSecret | 'unknown' {
    const id = Number(idText);
    if (id === 0) {
      const path = (query.get('secretPath') ?? '').replace(/\//g, '\\').toLowerCase();
      return fake.secrets.find((s) => fullPath(s) === path) ?? 'unknown';
    }
    return fake.secrets.find((s) => s.id === id) ?? 'unknown';
  }

  /** Whether the caller may read the secret now; answers the refusal itself when not. */
  function gate(
    res: ServerResponse,
    s: FakeSecret | 'unknown',
    user: string,
    comment: string | null,
    noAutoCheckout: boolean,
  ): s is FakeSecret {
    if (s === 'unknown') {
      if (fake.switches.unknownId === 'notFound') json(res, 404, { message: 'Secret not found.' });
      else badRequest(res, 'API_AccessDenied', 'Access Denied');
      return false;
    }
    if (s.denied) {
      badRequest(res, 'API_AccessDenied', 'Access Denied');
      return false;
    }
    if (s.requiresApproval) {
      badRequest(res, 'API_RequiresApproval', 'The requested Secret requires approval before it can be viewed.');
      return false;
    }
    if (s.requiresComment && !comment) {
      badRequest(
        res,
        'API_ValidateSecretAccessCommentRequired',
        'The requested Secret requires a comment when viewed.',
      );
      return false;
    }
    if (s.checkOutEnabled) {
      const holder = fake.checkouts.get(s.id) ?? s.checkedOutBy;
      if (holder && holder !== user) {
        badRequest(res, 'API_SecretCheckedOutByAnotherUser', `The Secret is checked out by another user (${holder}).`);
        return false;
      }
      if (!holder) {
        if (noAutoCheckout && fake.switches.readWithoutCheckOut) return true;
        if (noAutoCheckout) {
          badRequest(res, 'API_CheckOutRequired', 'The requested Secret requires check out.');
          return false;
        }
        fake.checkouts.set(s.id, user);
        fake.audit.push({ action: 'CHECKOUT', secretId: s.id, user, comment });
      }
    }
    return true;
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL) {
    const path = url.pathname.replace(/^\/SecretServer/i, '');
    const auth = req.headers.authorization ?? '';
    const body = req.method === 'POST' ? await readBody(req) : '';
    const session = auth.startsWith('Bearer ') ? tokens.get(auth.slice(7)) : undefined;
    const sw = fake.switches;
    if (sw.throttle && sw.throttle > 0) {
      sw.throttle--;
      return json(
        res,
        sw.throttleStatus ?? 403,
        { message: 'Too many requests. The request was throttled; try again later.' },
        sw.throttleRetryAfter !== undefined ? { 'retry-after': sw.throttleRetryAfter } : {},
      );
    }
    if (!session || sw.rejectAllTokens)
      return json(res, 401, {
        message:
          'Authentication failed or was not provided. Verify the credentials are correct or supply an authentication token.',
      });
    if (sw.expireTokens && sw.expireTokens > 0) {
      sw.expireTokens--;
      tokens.delete(auth.slice(7));
      return json(res, 401, { message: 'Authentication failed or was not provided.' });
    }
    if (sw.forbidden && sw.forbidden > 0) {
      sw.forbidden--;
      return json(res, 403, { message: 'Authentication failed' });
    }
    if (sw.apiHtml) return html(res);
    const user = session.user;
    const answer = (body: unknown) => json(res, 200, sw.pascalCase ? pascal(body) : body);
    const args = (() => {
      try {
        return body ? (JSON.parse(body) as Record<string, unknown>) : {};
      } catch {
        return {};
      }
    })();
    const comment = typeof args.comment === 'string' ? args.comment : null;
    let m: RegExpMatchArray | null;

    if (req.method === 'POST' && path === '/api/v1/oauth-expiration') {
      tokens.delete(auth.slice(7));
      return json(res, 200, true);
    }
    if (req.method === 'GET' && path === '/api/v1/users/current')
      return json(res, 200, { id: USER_ID, userName: user, displayName: 'Scanner service', enabled: true });
    if (req.method === 'GET' && (path === '/api/v1/secrets' || path === '/api/v1/secrets/search-total')) {
      const text = (url.searchParams.get('filter.searchText') ?? '').toLowerCase();
      const exact = url.searchParams.get('filter.isExactMatch') === 'true' && !sw.sloppySearch;
      const folder = url.searchParams.get('filter.folderId');
      const take = Number(url.searchParams.get('take') ?? 10);
      const matches = fake.secrets.filter((s) => {
        if (folder && String(s.folderId) !== folder) return false;
        // Secret Server's search text matches names and field values.
        const texts = [s.name, ...s.items.filter((i) => !i.isFile && !i.isPassword).map((i) => i.value)].map((t) =>
          t.toLowerCase(),
        );
        return exact ? texts.includes(text) : texts.some((t) => t.includes(text));
      });
      const records = matches.slice(0, take).map((s) => ({
        id: s.id,
        name: s.name,
        secretTemplateId: 6003,
        secretTemplateName: 'Unix Account (SSH Key Rotation)',
        folderId: s.folderId,
        folderPath: s.folderPath,
        siteId: 1,
        active: true,
        checkedOut: fake.checkouts.has(s.id),
        isRestricted: Boolean(s.requiresComment || s.checkOutEnabled),
        isOutOfSync: false,
        outOfSyncReason: '',
        lastHeartBeatStatus: 'Success',
        lastPasswordChangeAttempt: null,
        responseCodes: null,
        lastAccessed: null,
        extendedFields: null,
        checkOutEnabled: Boolean(s.checkOutEnabled),
        autoChangeEnabled: false,
        doubleLockEnabled: false,
        requiresApproval: Boolean(s.requiresApproval),
        requiresComment: Boolean(s.requiresComment),
        inheritsPermissions: true,
        hidePassword: false,
        createDate: '2026-01-01T00:00:00',
        daysUntilExpiration: null,
        hasLauncher: false,
      }));
      if (path.endsWith('/search-total')) return json(res, 200, matches.length);
      return answer({
        filter: {},
        skip: 0,
        take,
        total: matches.length,
        pageCount: Math.max(1, Math.ceil(matches.length / take)),
        currentPage: 1,
        batchCount: 1,
        prevSkip: 0,
        nextSkip: take,
        hasPrev: false,
        hasNext: matches.length > take,
        records,
        sortBy: [],
        success: true,
        severity: 'None',
      });
    }
    if ((m = path.match(/^\/api\/v1\/secrets\/(\d+)(\/restricted)?$/)) && (req.method === 'GET' || m[2])) {
      const s = lookup(m[1] ?? '', url.searchParams);
      const restricted = Boolean(m[2]) && req.method === 'POST';
      if (!restricted && req.method !== 'GET') return json(res, 405, { message: 'Method not allowed' });
      const autoComment = url.searchParams.get('autoComment');
      if (!gate(res, s, user, restricted ? comment : autoComment, restricted ? args.noAutoCheckout === true : true))
        return;
      fake.reads++;
      fake.audit.push({ action: 'VIEW', secretId: s.id, user, comment: restricted ? comment : autoComment });
      const model = secretModel(s, fake.checkouts.get(s.id) === user);
      if (sw.noItems) return json(res, 200, { ...model, items: undefined });
      return answer(model);
    }
    if ((m = path.match(/^\/api\/v1\/secrets\/(\d+)(\/restricted)?\/fields\/([^/]+)$/))) {
      const restricted = Boolean(m[2]);
      if (restricted ? req.method !== 'POST' : req.method !== 'GET')
        return json(res, 405, { message: 'Method not allowed' });
      const s = lookup(m[1] ?? '', url.searchParams);
      if (!gate(res, s, user, restricted ? comment : url.searchParams.get('autoComment'), true)) return;
      const slug = decodeURIComponent(m[3] ?? '');
      const item = s.items.find((i) => i.slug === slug);
      if (!item) return badRequest(res, 'API_FieldNotFound', `Field ${slug} not found on Secret.`);
      fake.reads++;
      if (sw.fieldHtml) return html(res);
      if (item.isFile) {
        res.writeHead(200, {
          'content-type': sw.fileContentType ?? 'application/octet-stream',
          'content-disposition': `attachment; filename=${item.filename ?? `${slug}.txt`}`,
        });
        return res.end(item.value);
      }
      return json(res, 200, item.value);
    }
    if ((m = path.match(/^\/api\/v1\/secrets\/(\d+)\/check-out$/)) && req.method === 'POST') {
      const s = lookup(m[1] ?? '', url.searchParams);
      if (s === 'unknown' || s.denied) return badRequest(res, 'API_AccessDenied', 'Access Denied');
      const holder = fake.checkouts.get(s.id) ?? s.checkedOutBy;
      if (holder && holder !== user)
        return badRequest(
          res,
          'API_SecretCheckedOutByAnotherUser',
          `The Secret is checked out by another user (${holder}).`,
        );
      fake.checkouts.set(s.id, user);
      fake.audit.push({ action: 'CHECKOUT', secretId: s.id, user });
      return json(res, 200, { responseCodes: [] });
    }
    if ((m = path.match(/^\/api\/v1\/secrets\/(\d+)\/check-in$/)) && req.method === 'POST') {
      const s = lookup(m[1] ?? '', url.searchParams);
      if (s === 'unknown' || s.denied) return badRequest(res, 'API_AccessDenied', 'Access Denied');
      if (fake.checkouts.get(s.id) === user || args.forceCheckIn === true) fake.checkouts.delete(s.id);
      fake.audit.push({ action: 'CHECKIN', secretId: s.id, user, comment });
      return json(res, 200, {
        id: s.id,
        name: s.name,
        folderId: s.folderId,
        checkedOut: fake.checkouts.has(s.id),
        active: true,
      });
    }
    if ((m = path.match(/^\/api\/v1\/secrets\/(\d+)\/state$/)) && req.method === 'GET') {
      const s = lookup(m[1] ?? '', url.searchParams);
      if (s === 'unknown') return badRequest(res, 'API_AccessDenied', 'Access Denied');
      const holder = fake.checkouts.get(s.id) ?? s.checkedOutBy;
      const state = s.requiresApproval
        ? 'RequiresApproval'
        : s.checkOutEnabled && holder !== user
          ? s.requiresComment
            ? 'RequiresCheckoutAndComment'
            : 'RequiresCheckout'
          : s.requiresComment
            ? 'RequiresComment'
            : 'None';
      return json(res, 200, {
        id: s.id,
        secretName: s.name,
        folderId: s.folderId,
        secretState: s.denied ? 'CannotView' : state,
        isCheckedOut: s.checkOutEnabled ? Boolean(holder) : null,
        checkedOutUserId: holder ? USER_ID : null,
        checkOutIntervalMinutes: s.checkOutIntervalMinutes ?? null,
        isCheckedOutByCurrentUser: s.checkOutEnabled ? holder === user : null,
      });
    }
    return json(res, 404, { message: 'No HTTP resource was found that matches the request URI.' });
  }

  const server: Server = createServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    fake.requests.push({
      method: req.method ?? '',
      path: `${url.pathname}${url.search}`,
      authorization: req.headers.authorization,
    });
    const handle = async () => {
      if (fake.switches.slowMs) await new Promise((r) => setTimeout(r, fake.switches.slowMs));
      if (fake.switches.unavailable) return json(res, fake.switches.unavailable, { message: 'An error has occurred.' });
      const path = url.pathname.replace(/^\/SecretServer/i, '');
      if (req.method === 'GET' && path === '/api/v1/healthcheck')
        return json(res, 200, {
          Healthy: true,
          DatabaseHealthy: true,
          ServiceBusHealthy: true,
          StorageAccountHealthy: true,
          ScheduledForMaintenance: false,
        });
      if (req.method === 'POST' && path === '/oauth2/token') return token(req, res);
      if (path.startsWith('/api/')) return api(req, res, url);
      json(res, 404, { message: 'Not found' });
    };
    handle().catch((err: Error) => {
      if (!res.headersSent) json(res, 500, { message: 'An error has occurred.', exceptionMessage: err.message });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the Delinea fake did not bind');
  fake.url = `https://127.0.0.1:${address.port}/SecretServer`;
  return fake;
}
