// A faithful fake of Google Cloud Secret Manager's REST API (v1) and of Google's OAuth token
// endpoint, on one HTTPS server (a throwaway CA). Shapes follow the protos shipped in
// @google-cloud/secret-manager (service.proto, resources.proto: AccessSecretVersion,
// ListSecretVersions), Google's JSON error body {error:{code,message,status,details}},
// RFC 7523 jwt-bearer exchange with Google's invalid_grant texts, and the facts in
// vault-test-servers.md (latest names a disabled or destroyed version too; FAILED_PRECONDITION
// is a 400; dataCrc32c is an int64 as a string). The token endpoint checks the JWT's RS256
// signature with the service account's public key; the API takes its access tokens and, as
// Google does, self-signed service-account JWTs. The Google SDK parses it (REST fallback).
import { generateKeyPairSync, randomBytes, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '../../activities/vault/gcp-secret-manager.js';
import { createCa, issueCertificate } from '../harness/tls-certs.js';

export type VersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';
const STATE_NUMBER: Record<VersionState, number> = { ENABLED: 1, DISABLED: 2, DESTROYED: 3 };

interface FakeVersion {
  number: number;
  data: Buffer;
  state: VersionState;
  createTime: string;
}

/** Failure switches: each makes the next answers fail the way Google does. */
export interface GcpSwitches {
  /** The API answers 401 UNAUTHENTICATED to every token (revoked or expired). */
  unauthenticated?: boolean;
  /** The API answers 403 PERMISSION_DENIED (no secretmanager.versions.access). */
  permissionDenied?: boolean;
  /** The next N API calls answer 429 RESOURCE_EXHAUSTED (with Retry-After when given). */
  throttle?: { times: number; retryAfterSeconds?: number };
  /** The API answers 503 UNAVAILABLE, or 500 INTERNAL. */
  unavailable?: boolean;
  internal?: boolean;
  /** The API answers 200 with an HTML page. */
  html?: boolean;
  /** :access answers 200 without payload.data. */
  noPayload?: boolean;
  /** :access answers with a dataCrc32c that does not match the data. */
  badCrc?: boolean;
  /** :access answers without dataCrc32c. */
  omitCrc?: boolean;
  /** The token endpoint answers 503, or 200 with HTML. */
  tokenUnavailable?: boolean;
  tokenHtml?: boolean;
  /** The service account is deleted or disabled: the token endpoint refuses its JWTs. */
  accountGone?: boolean;
  /** Answers take this long (ms). */
  delayMs?: number;
}

export interface FakeGcpSecretManager {
  /** The API's base URL (https://127.0.0.1:<port>), its port, and the token URI on the same server. */
  endpoint: string;
  port: number;
  tokenUri: string;
  project: string;
  projectNumber: string;
  clientEmail: string;
  privateKeyId: string;
  privateKey: string;
  /** A service-account key file as the console hands it out (token_uri pointing at the fake). */
  keyFile: Record<string, string>;
  caCert: string;
  caFile: string;
  switches: GcpSwitches;
  /** Counts: payloads served (reads), tokens issued, version lists, API calls. */
  counts: { reads: number; tokens: number; lists: number; apiRequests: number };
  /** Adds a version (numbered 1, 2, …) to a global secret, or a regional one in `location`; returns its number. */
  addVersion(secret: string, data: string | Buffer, state?: VersionState, location?: string): number;
  setState(secret: string, version: number, state: VersionState): void;
  close(): Promise<void>;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=UTF-8',
    'content-length': Buffer.byteLength(payload),
    vary: 'Origin, X-Origin, Referer',
    ...headers,
  });
  res.end(payload);
}

const HTTP_OF: Record<string, number> = {
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  FAILED_PRECONDITION: 400,
  INVALID_ARGUMENT: 400,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

function googleError(
  res: ServerResponse,
  status: string,
  message: string,
  details?: unknown[],
  headers: Record<string, string> = {},
): void {
  const code = HTTP_OF[status] ?? 500;
  json(res, code, { error: { code, message, status, ...(details && { details }) } }, headers);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function decodePart(part: string | undefined): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A JWT signed RS256 by `key`: its claims, or why not. */
function verifiedClaims(jwt: string, key: KeyObject): Record<string, unknown> | string {
  const [h, p, s] = jwt.split('.');
  const header = decodePart(h);
  const claims = decodePart(p);
  if (!header || !claims || s === undefined) return 'Invalid JWT: not a JWT.';
  if (header.alg !== 'RS256') return `Invalid JWT: unsupported alg ${String(header.alg)}.`;
  if (!verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) return 'Invalid JWT Signature.';
  return claims;
}

const GOOGLE_AUDIENCES = ['https://oauth2.googleapis.com/token', 'https://www.googleapis.com/oauth2/v4/token'];
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
const API_AUDIENCE = 'https://secretmanager.googleapis.com/';

export async function startFakeGcpSecretManager(): Promise<FakeGcpSecretManager> {
  const dir = mkdtempSync(join(tmpdir(), 'vstest-gsm-'));
  const ca = createCa(dir, 'gsm-ca');
  const leaf = issueCertificate(ca, dir, 'gsm-server', 'server');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const accountKey = publicKey;

  const project = 'fake-project-4711';
  const projectNumber = '123456789012';
  const clientEmail = `vaultscan-reader@${project}.iam.gserviceaccount.com`;
  const privateKeyId = randomBytes(20).toString('hex');
  const secrets = new Map<string, FakeVersion[]>();
  const tokens = new Map<string, number>();
  const switches: GcpSwitches = {};
  const counts = { reads: 0, tokens: 0, lists: 0, apiRequests: 0 };
  let endpoint = '';
  let tokenUri = '';

  const oauthError = (res: ServerResponse, status: number, error: string, description: string) =>
    json(res, status, { error, error_description: description });

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counts.tokens++;
    // Counted on arrival, answered after the delay: a timed-out request still counts as made.
    if (switches.delayMs) await new Promise((r) => setTimeout(r, switches.delayMs));
    const form = new URLSearchParams(await readBody(req));
    if (switches.tokenUnavailable) return oauthError(res, 503, 'internal_failure', 'Backend Error');
    if (switches.tokenHtml) {
      res.writeHead(200, { 'content-type': 'text/html' });
      return void res.end('<html><body>Proxy login</body></html>');
    }
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return oauthError(res, 400, 'unsupported_grant_type', 'Invalid grant_type: ' + (form.get('grant_type') ?? ''));
    const assertion = form.get('assertion') ?? '';
    const unverified = decodePart(assertion.split('.')[1]);
    if (!unverified) return oauthError(res, 400, 'invalid_grant', 'Invalid JWT: not a JWT.');
    if (unverified.iss !== clientEmail || switches.accountGone)
      return oauthError(res, 400, 'invalid_grant', 'Invalid grant: account not found');
    const claims = verifiedClaims(assertion, accountKey);
    if (typeof claims === 'string') return oauthError(res, 400, 'invalid_grant', claims);
    if (typeof claims.aud !== 'string' || ![tokenUri, ...GOOGLE_AUDIENCES].includes(claims.aud))
      return oauthError(
        res,
        400,
        'invalid_grant',
        'Invalid JWT: Failed audience check. The right audience is https://oauth2.googleapis.com/token',
      );
    const now = Date.now() / 1000;
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > 3600 || exp < now || iat > now + 300)
      return oauthError(
        res,
        400,
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    if (typeof claims.scope !== 'string' || !claims.scope.split(' ').includes(CLOUD_PLATFORM))
      return oauthError(res, 400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const accessToken = `ya29.fake-${randomBytes(24).toString('base64url')}`;
    tokens.set(accessToken, Date.now() + 3599_000);
    json(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
  }

  /** Whether the bearer is a token we issued or a self-signed JWT of the service account. */
  function authenticated(req: IncomingMessage): boolean {
    const auth = req.headers.authorization ?? '';
    if (!/^Bearer /i.test(auth) || switches.unauthenticated) return false;
    const bearer = auth.slice(7).trim();
    const expires = tokens.get(bearer);
    if (expires !== undefined) return expires > Date.now();
    const claims = verifiedClaims(bearer, accountKey);
    if (typeof claims === 'string' || claims.iss !== clientEmail || claims.sub !== clientEmail) return false;
    if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now()) return false;
    const scoped = typeof claims.scope === 'string' && claims.scope.split(' ').includes(CLOUD_PLATFORM);
    return scoped || claims.aud === API_AUDIENCE;
  }

  const versionsOf = (p: string, location: string, secret: string) => {
    if (p !== project && p !== projectNumber) return undefined;
    return secrets.get(`${location}/${secret}`);
  };
  const resourceName = (location: string, secret: string) =>
    `projects/${projectNumber}${location ? `/locations/${location}` : ''}/secrets/${secret}`;

  async function api(req: IncomingMessage, res: ServerResponse, u: URL): Promise<void> {
    counts.apiRequests++;
    // Counted on arrival, answered after the delay: a timed-out request still counts as made.
    if (switches.delayMs) await new Promise((r) => setTimeout(r, switches.delayMs));
    if (!authenticated(req))
      return googleError(
        res,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
        [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'ACCESS_TOKEN_TYPE_UNSUPPORTED',
            metadata: {
              service: 'secretmanager.googleapis.com',
              method: 'google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion',
            },
          },
        ],
        { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      );
    if (switches.throttle && switches.throttle.times > 0) {
      switches.throttle.times--;
      return googleError(
        res,
        'RESOURCE_EXHAUSTED',
        `Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project per region' of service 'secretmanager.googleapis.com' for consumer 'project_number:${projectNumber}'.`,
        [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'RATE_LIMIT_EXCEEDED',
            domain: 'googleapis.com',
            metadata: { service: 'secretmanager.googleapis.com', consumer: `projects/${projectNumber}` },
          },
        ],
        switches.throttle.retryAfterSeconds !== undefined
          ? { 'retry-after': String(switches.throttle.retryAfterSeconds) }
          : {},
      );
    }
    if (switches.unavailable) return googleError(res, 'UNAVAILABLE', 'The service is currently unavailable.');
    if (switches.internal) return googleError(res, 'INTERNAL', 'Internal error encountered.');
    if (switches.html) {
      res.writeHead(200, { 'content-type': 'text/html; charset=UTF-8' });
      return void res.end('<!DOCTYPE html><html><body>Error 502 (Server Error)</body></html>');
    }
    const numericEnums = (u.searchParams.get('$alt') ?? '').includes('enum-encoding=int');
    let m = /^\/v1\/projects\/([^/]+)(?:\/locations\/([^/]+))?\/secrets\/([^/]+)\/versions\/([^/:]+):access$/.exec(
      u.pathname,
    );
    if (req.method === 'GET' && m) {
      const [, p, location = '', secret, version] = m.map((x) => (x === undefined ? x : decodeURIComponent(x)));
      const name = `${resourceName(location, secret!)}/versions/${version!}`;
      if (switches.permissionDenied || (p !== project && p !== projectNumber))
        return googleError(
          res,
          'PERMISSION_DENIED',
          `Permission 'secretmanager.versions.access' denied for resource 'projects/${p!}/secrets/${secret!}/versions/${version!}' (or it may not exist).`,
        );
      if (version !== 'latest' && !/^[1-9][0-9]*$/.test(version!))
        return googleError(res, 'INVALID_ARGUMENT', `Invalid resource field value in the request.`);
      const versions = versionsOf(p!, location, secret!);
      if (!versions || versions.length === 0)
        return googleError(
          res,
          'NOT_FOUND',
          `Secret [${resourceName(location, secret!)}] not found or has no versions.`,
        );
      const found = version === 'latest' ? versions.at(-1)! : versions.find((v) => v.number === Number(version));
      if (!found) return googleError(res, 'NOT_FOUND', `Secret Version [${name}] not found.`);
      const actual = `${resourceName(location, secret!)}/versions/${found.number}`;
      if (found.state !== 'ENABLED')
        return googleError(res, 'FAILED_PRECONDITION', `Secret Version [${actual}] is in ${found.state} state.`);
      counts.reads++;
      const crc = (crc32c(found.data) + (switches.badCrc ? 1 : 0)) >>> 0;
      return json(res, 200, {
        name: actual,
        ...(!switches.noPayload && {
          payload: { data: found.data.toString('base64'), ...(!switches.omitCrc && { dataCrc32c: String(crc) }) },
        }),
      });
    }
    m = /^\/v1\/projects\/([^/]+)(?:\/locations\/([^/]+))?\/secrets\/([^/]+)\/versions$/.exec(u.pathname);
    if (req.method === 'GET' && m) {
      counts.lists++;
      const [, p, location = '', secret] = m.map((x) => (x === undefined ? x : decodeURIComponent(x)));
      if (switches.permissionDenied || (p !== project && p !== projectNumber))
        return googleError(
          res,
          'PERMISSION_DENIED',
          `Permission 'secretmanager.versions.list' denied for resource 'projects/${p!}/secrets/${secret!}' (or it may not exist).`,
        );
      const versions = versionsOf(p!, location, secret!);
      if (!versions) return googleError(res, 'NOT_FOUND', `Secret [${resourceName(location, secret!)}] not found.`);
      const filter = (u.searchParams.get('filter') ?? '').trim();
      const stateFilter = /^state\s*[:=]\s*(ENABLED|DISABLED|DESTROYED)$/i.exec(filter)?.[1]?.toUpperCase();
      if (filter && !stateFilter) return googleError(res, 'INVALID_ARGUMENT', `Invalid filter: ${filter}`);
      // Newest first, as the service lists them.
      const matching = [...versions].reverse().filter((v) => !stateFilter || v.state === stateFilter);
      const pageSize = Math.min(Number(u.searchParams.get('pageSize')) || 25, 25_000);
      const offset = Number(Buffer.from(u.searchParams.get('pageToken') ?? '', 'base64url').toString() || 0);
      const page = matching.slice(offset, offset + pageSize);
      const next =
        offset + pageSize < matching.length ? Buffer.from(String(offset + pageSize)).toString('base64url') : '';
      return json(res, 200, {
        ...(page.length > 0 && {
          versions: page.map((v) => ({
            name: `${resourceName(location, secret!)}/versions/${v.number}`,
            createTime: v.createTime,
            ...(v.state === 'DESTROYED' && { destroyTime: v.createTime }),
            state: numericEnums ? STATE_NUMBER[v.state] : v.state,
            replicationStatus: { automatic: {} },
            etag: `"${randomBytes(6).toString('hex')}"`,
          })),
        }),
        ...(next && { nextPageToken: next }),
        totalSize: matching.length,
      });
    }
    m = /^\/v1\/projects\/([^/]+)\/secrets$/.exec(u.pathname);
    if (req.method === 'GET' && m) {
      const p = decodeURIComponent(m[1]!);
      if (switches.permissionDenied || (p !== project && p !== projectNumber))
        return googleError(
          res,
          'PERMISSION_DENIED',
          `Permission 'secretmanager.secrets.list' denied for resource 'projects/${p}' (or it may not exist).`,
        );
      const names = [...secrets.keys()].filter((k) => k.startsWith('/')).map((k) => k.slice(1));
      const pageSize = Math.min(Number(u.searchParams.get('pageSize')) || 25, 25_000);
      return json(res, 200, {
        ...(names.length > 0 && {
          secrets: names.slice(0, pageSize).map((n) => ({
            name: resourceName('', n),
            replication: { automatic: {} },
            createTime: secrets.get(`/${n}`)![0]!.createTime,
            etag: `"${randomBytes(6).toString('hex')}"`,
          })),
        }),
        ...(names.length > pageSize && { nextPageToken: Buffer.from(String(pageSize)).toString('base64url') }),
        totalSize: names.length,
      });
    }
    googleError(res, 'NOT_FOUND', `The requested URL ${u.pathname} was not found on this server.`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'https://fake');
    if (req.method === 'POST' && u.pathname === '/token') return token(req, res);
    if (u.pathname.startsWith('/v1/')) return api(req, res, u);
    googleError(res, 'NOT_FOUND', `The requested URL ${u.pathname} was not found on this server.`);
  }

  const server: Server = createServer(
    { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) },
    (req, res) => void handle(req, res).catch(() => googleError(res, 'INTERNAL', 'fake failed')),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  endpoint = `https://127.0.0.1:${port}`;
  tokenUri = `${endpoint}/token`;

  return {
    endpoint,
    port,
    tokenUri,
    project,
    projectNumber,
    clientEmail,
    privateKeyId,
    privateKey: privateKeyPem,
    keyFile: {
      type: 'service_account',
      project_id: project,
      private_key_id: privateKeyId,
      private_key: privateKeyPem,
      client_email: clientEmail,
      client_id: '104729148521230987654',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: tokenUri,
    },
    caCert: readFileSync(ca.cert, 'utf8'),
    caFile: ca.cert,
    switches,
    counts,
    addVersion(secret, data, state = 'ENABLED', location = '') {
      const list = secrets.get(`${location}/${secret}`) ?? [];
      const number = list.length + 1;
      list.push({ number, data: Buffer.from(data), state, createTime: new Date().toISOString() });
      secrets.set(`${location}/${secret}`, list);
      return number;
    },
    setState(secret, version, state) {
      const v = secrets.get(`/${secret}`)?.find((x) => x.number === version);
      if (v) v.state = state;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
