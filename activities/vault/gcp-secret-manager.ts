// Google Cloud Secret Manager: a service-account JWT (RS256, node:crypto) exchanged at the
// token URI for an access token (urn:ietf:params:oauth:grant-type:jwt-bearer), then
// GET /v1/projects/<p>/secrets/<s>/versions/<v>:access. The payload's CRC32C is checked.
// "latest" is Google's alias and can name a disabled or destroyed version; "latest-enabled"
// lists the enabled versions and reads the newest. Failures keep Google's error.status (or
// the OAuth `error`) as the vendor code. Service-account access tokens are not revocable:
// nothing to sign out of, and the token is dropped after the read.
import { createPrivateKey, sign } from 'node:crypto';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import { DEFAULT_GCP_ENDPOINT, DEFAULT_GCP_TOKEN_URI } from '../../vault-types/gcp-secret-manager.js';
import type { VaultAccessRequest, VaultAdapter, VaultFetchRequest } from './adapter.js';
import { vaultHttp, withThrottleRetries, type VaultHttpResponse, type VaultTls } from './http.js';
import { readValueFields, requireSomeField } from './value-fields.js';

interface GcpConfig {
  clientEmail: string;
  privateKeyId?: string;
  tokenUri?: string;
  endpoint?: string;
  caCert?: string;
  timeoutMs?: number;
}

interface GcpLocator {
  project: string;
  location?: string;
  secret: string;
  version?: string;
}

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** At most this many pages of versions are walked looking for the newest enabled one. */
const MAX_VERSION_PAGES = 20;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), as Secret Manager computes payload.dataCrc32c. */
export function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Google's error: error.status (UNAUTHENTICATED, PERMISSION_DENIED…) and its message. */
function googleError(res: VaultHttpResponse) {
  const error = isObject(res.json) && isObject(res.json.error) ? res.json.error : {};
  const status = text(error.status);
  const message = (text(error.message) ?? '').slice(0, 300);
  return { status, message: message || status || `HTTP ${res.status}`, vendorCode: status ?? `HTTP ${res.status}` };
}

const CODE_BY_STATUS: Record<string, ErrorCode> = {
  UNAUTHENTICATED: 'VAULT_AUTH_FAILED',
  PERMISSION_DENIED: 'VAULT_PERMISSION_DENIED',
  NOT_FOUND: 'VAULT_SECRET_NOT_FOUND',
  RESOURCE_EXHAUSTED: 'VAULT_RATE_LIMITED',
  UNAVAILABLE: 'VAULT_UNAVAILABLE',
  INTERNAL: 'VAULT_UNAVAILABLE',
  DEADLINE_EXCEEDED: 'VAULT_UNAVAILABLE',
};
const CODE_BY_HTTP: Record<number, ErrorCode> = {
  401: 'VAULT_AUTH_FAILED',
  403: 'VAULT_PERMISSION_DENIED',
  404: 'VAULT_SECRET_NOT_FOUND',
  429: 'VAULT_RATE_LIMITED',
};

function failure(res: VaultHttpResponse, what: string): ScanError {
  const e = googleError(res);
  const make = (code: ErrorCode, message: string) =>
    new ScanError(code, message, e.vendorCode, res.status, res.retryAfterMs);
  if (e.status === 'FAILED_PRECONDITION')
    return make(
      'VAULT_SECRET_NOT_FOUND',
      `${what} is disabled or destroyed: ${e.message} (locator version "latest-enabled" reads the newest enabled version)`,
    );
  const code =
    (e.status ? CODE_BY_STATUS[e.status] : undefined) ??
    CODE_BY_HTTP[res.status] ??
    (res.status >= 500 ? 'VAULT_UNAVAILABLE' : 'VAULT_BAD_RESPONSE');
  const lead: Partial<Record<ErrorCode, string>> = {
    VAULT_AUTH_FAILED: "Secret Manager refused the scanner's token",
    VAULT_PERMISSION_DENIED: `the service account may not read ${what}`,
    VAULT_SECRET_NOT_FOUND: `${what} was not found`,
    VAULT_RATE_LIMITED: 'Secret Manager throttled the scanner',
    VAULT_UNAVAILABLE: `Secret Manager failed reading ${what}`,
  };
  return make(code, `${lead[code] ?? `Secret Manager answered HTTP ${res.status} for ${what}`}: ${e.message}`);
}

class GcpClient {
  private readonly tls: VaultTls;
  private readonly deadline: number;
  private readonly endpoint: string;
  private readonly tokenUri: string;
  constructor(
    private readonly config: GcpConfig,
    private readonly access: Record<string, unknown>,
    private readonly signal?: AbortSignal,
  ) {
    this.tls = { caCert: config.caCert };
    this.deadline = Date.now() + (config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS);
    this.endpoint = (config.endpoint ?? DEFAULT_GCP_ENDPOINT).replace(/\/+$/, '');
    this.tokenUri = config.tokenUri ?? DEFAULT_GCP_TOKEN_URI;
  }

  private send(
    method: 'GET' | 'POST',
    url: string,
    extra: { headers?: Record<string, string>; form?: Record<string, string> },
  ) {
    return vaultHttp({
      method,
      url,
      ...extra,
      tls: this.tls,
      timeoutMs: Math.max(1, this.deadline - Date.now()),
      signal: this.signal,
    });
  }

  /** The signed JWT the token URI exchanges (RFC 7523): iss the service account, aud the token URI. */
  private assertion(): string {
    let key;
    try {
      key = createPrivateKey(String(this.access.privateKey ?? ''));
    } catch {
      throw new ScanError('CONFIG_INVALID', "the service account's private key does not parse");
    }
    const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', ...(this.config.privateKeyId && { kid: this.config.privateKeyId }) };
    const claims = {
      iss: this.config.clientEmail,
      scope: CLOUD_PLATFORM_SCOPE,
      aud: this.tokenUri,
      iat: now,
      exp: now + 3600,
    };
    const input = `${b64url(header)}.${b64url(claims)}`;
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  }

  async token(): Promise<string> {
    const form = { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: this.assertion() };
    const res = await withThrottleRetries(
      async () => {
        const r = await this.send('POST', this.tokenUri, { form });
        if (r.status === 429)
          throw new ScanError(
            'VAULT_RATE_LIMITED',
            'the token endpoint throttled the scanner',
            oauthCode(r),
            429,
            r.retryAfterMs,
          );
        return r;
      },
      { deadline: this.deadline, signal: this.signal },
    );
    if (res.status !== 200) {
      const vendorCode = oauthCode(res);
      const description = isObject(res.json) ? (text(res.json.error_description) ?? '').slice(0, 300) : '';
      if (res.status >= 500)
        throw new ScanError(
          'VAULT_UNAVAILABLE',
          `the token endpoint failed: HTTP ${res.status}`,
          vendorCode,
          res.status,
          res.retryAfterMs,
        );
      if (
        (res.status === 400 || res.status === 401 || res.status === 403) &&
        isObject(res.json) &&
        text(res.json.error)
      )
        throw new ScanError(
          'VAULT_AUTH_FAILED',
          `Google refused the service account's key: ${vendorCode}${description ? `: ${description}` : ''}`,
          vendorCode,
          res.status,
        );
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `the token endpoint ${this.tokenUri} answered HTTP ${res.status} without an OAuth error (is tokenUri right?)`,
        vendorCode,
        res.status,
      );
    }
    const token = isObject(res.json) ? text(res.json.access_token) : undefined;
    if (!token)
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `the token endpoint ${this.tokenUri} answered without an access_token${isObject(res.json) ? '' : ' (not JSON)'}`,
        undefined,
        res.status,
      );
    return token;
  }

  /** GET an API path; a 429 is waited out (Retry-After, else a short backoff) while the call's time allows. */
  get(path: string, token: string, what: string): Promise<VaultHttpResponse> {
    return withThrottleRetries(
      async () => {
        const res = await this.send('GET', `${this.endpoint}/v1/${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        if (res.status === 429) throw failure(res, what);
        return res;
      },
      { deadline: this.deadline, signal: this.signal },
    );
  }
}

const oauthCode = (res: VaultHttpResponse) => (isObject(res.json) && text(res.json.error)) || `HTTP ${res.status}`;

/** The project a service account belongs to, from its e-mail (<name>@<project>.iam.gserviceaccount.com). */
export function ownProject(clientEmail: string): string | undefined {
  return /@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(clientEmail)?.[1];
}

function secretPath(l: GcpLocator): string {
  const e = encodeURIComponent;
  return `projects/${e(l.project)}${l.location ? `/locations/${e(l.location)}` : ''}/secrets/${e(l.secret)}`;
}

/** The newest enabled version's number, walking the list's pages. */
async function newestEnabled(client: GcpClient, l: GcpLocator, token: string, what: string): Promise<string> {
  let best: bigint | undefined;
  let pageToken: string | undefined;
  for (let page = 0; page < MAX_VERSION_PAGES; page++) {
    const query = new URLSearchParams({ filter: 'state:ENABLED', pageSize: '100', ...(pageToken && { pageToken }) });
    const res = await client.get(`${secretPath(l)}/versions?${query.toString()}`, token, what);
    if (res.status !== 200) throw failure(res, what);
    if (!isObject(res.json))
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `listing the versions of ${what} returned a body that is not JSON`,
        undefined,
        res.status,
      );
    const versions = res.json.versions ?? [];
    if (!Array.isArray(versions))
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `listing the versions of ${what} returned no versions list`,
        undefined,
        res.status,
      );
    for (const v of versions) {
      const state = isObject(v) ? v.state : undefined;
      // Over REST the state is a name; with enum-encoding=int it is 1.
      if (state !== undefined && state !== 'ENABLED' && state !== 1) continue;
      const number = /\/versions\/([0-9]+)$/.exec((isObject(v) && text(v.name)) || '')?.[1];
      if (number && (best === undefined || BigInt(number) > best)) best = BigInt(number);
    }
    pageToken = text(res.json.nextPageToken) || undefined;
    if (!pageToken) break;
  }
  if (best === undefined)
    throw new ScanError('VAULT_SECRET_NOT_FOUND', `${what} has no enabled version`, 'NO_ENABLED_VERSION', 200);
  return best.toString();
}

export const gcpSecretManager: VaultAdapter = {
  type: 'gcp-secret-manager',

  /**
   * The token exchange proves the service account and its key; then a list of one secret in
   * the account's own project proves the API endpoint takes the token. Nothing is read: a 403
   * (no list permission) or 404 still shows a working login.
   */
  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const config = request.config as unknown as GcpConfig;
    const client = new GcpClient(config, request.access, request.signal);
    const token = await client.token();
    const project = ownProject(config.clientEmail);
    if (!project) return;
    const res = await client.get(`projects/${encodeURIComponent(project)}/secrets?pageSize=1`, token, 'the API');
    if (res.status === 200 || res.status === 403 || res.status === 404) return;
    throw failure(res, `the secrets of project ${project}`);
  },

  async fetch(request: VaultFetchRequest) {
    requireSomeField(request.fields);
    const config = request.config as unknown as GcpConfig;
    const locator = request.locator as unknown as GcpLocator;
    const client = new GcpClient(config, request.access, request.signal);
    const token = await client.token();
    const asked = locator.version ?? 'latest';
    const base = `secret ${locator.project}/${locator.secret}`;
    const version = asked === 'latest-enabled' ? await newestEnabled(client, locator, token, base) : asked;
    const what = `${base} version ${version}`;
    const res = await client.get(`${secretPath(locator)}/versions/${encodeURIComponent(version)}:access`, token, what);
    if (res.status !== 200) throw failure(res, what);
    if (!isObject(res.json))
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `reading ${what} returned a body that is not JSON`,
        undefined,
        res.status,
      );
    const payload = isObject(res.json.payload) ? res.json.payload : undefined;
    const data = payload ? payload.data : undefined;
    if (typeof data !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(data))
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `reading ${what} returned no base64 payload.data`,
        undefined,
        res.status,
      );
    const bytes = Buffer.from(data, 'base64');
    try {
      const expected = payload?.dataCrc32c;
      if (expected !== undefined) {
        const given = typeof expected === 'string' || typeof expected === 'number' ? String(expected) : '';
        if (!/^[0-9]+$/.test(given) || BigInt(given) !== BigInt(crc32c(bytes)))
          throw new ScanError(
            'VAULT_BAD_RESPONSE',
            `reading ${what}: the payload does not match its dataCrc32c (corrupted in transit?)`,
            'DATA_CRC32C_MISMATCH',
            res.status,
          );
      }
      return { credential: readValueFields(bytes.toString('utf8'), request.fields, what) };
    } finally {
      bytes.fill(0);
    }
  },
};
