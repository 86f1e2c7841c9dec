// CyberArk Central Credential Provider (the AIM web service): one GET per read, no session.
// The application authenticates by its client certificate (mutual TLS) and/or by the machine
// the call comes from; the AppID names it. CCP's ErrorCode (APPAP004E…) is kept as the vendor
// code beside our own, with the HTTP status. Nothing is lent, so there is nothing to release.
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { SECRET_FIELD_NAMES } from '../../domain/secret-fields.js';
import { CCP_DEFAULT_CONNECTION_TIMEOUT_S } from '../../vault-types/cyberark-ccp.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import type { FetchedCredential, VaultAccessRequest, VaultAdapter, VaultFetchRequest } from './adapter.js';
import { vaultHttp, withThrottleRetries, type VaultHttpResponse, type VaultTls } from './http.js';

interface CcpConfig {
  url: string;
  appId: string;
  servicePath?: string;
  connectionTimeout?: number;
  failRequestOnPasswordChange?: boolean;
  caCert?: string;
  clientCert?: string;
  timeoutMs?: number;
}

interface CcpLocator {
  safe: string;
  folder?: string;
  object?: string;
  userName?: string;
  address?: string;
  database?: string;
  policyId?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A property of CCP's answer, whatever its case (UserName, Username, username…). */
function property(body: Record<string, unknown>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(body, name)) return body[name];
  const lower = name.toLowerCase();
  const key = Object.keys(body).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : body[key];
}

/** PasswordChangeInProcess comes as the string "True"/"False" from real servers, as a bool in the docs. */
function isTrue(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.trim().toLowerCase() === 'true');
}

const AUTH_CODES = new Set(['APPAP306E', 'APPAP008E']);
/** The query matched several accounts. APPAP005E, APPAP230E and APPAP251E are seen in integrations. */
const AMBIGUOUS_CODES = new Set(['APPAP227E', 'APPAP228E', 'APPAP229E', 'APPAP005E', 'APPAP230E', 'APPAP251E']);
const NOT_FOUND_CODES = new Set(['APPAP004E', 'APPAP249E', 'APPAP324E']);
/** CCP could not reach the Vault (or reports its connection trouble). */
const VAULT_DOWN_CODES = new Set(['APPAP007E', 'APPAP096W', 'APPAP289E', 'APPAP291E', 'APPAP292E', 'APPAP297E']);
/** The CPM is changing the password right now: worth asking again in a few seconds. */
const CHANGING_CODES = new Set(['APPAP282E', 'APPAP286E']);
/** Our request was malformed (query format, missing AppID, invalid characters). */
const MALFORMED_CODES = new Set(['AIMWS030E', 'AIMWS031E', 'APPAP081E', 'CASVL010E']);

interface CcpError {
  code?: string;
  message?: string;
}

/** CCP's error body: ErrorCode and ErrorMsg (some integrations read ErrorMessage). */
function ccpError(res: VaultHttpResponse): CcpError {
  if (isObject(res.json)) {
    const code = property(res.json, 'ErrorCode');
    const message = property(res.json, 'ErrorMsg') ?? property(res.json, 'ErrorMessage');
    return {
      ...(typeof code === 'string' && code && { code: code.trim() }),
      ...(typeof message === 'string' && message && { message: message.replace(/\s+/g, ' ').trim() }),
    };
  }
  // IIS refuses before CCP runs with an HTML page: "HTTP Error 403.7 - Forbidden" (certificate required).
  const iis = /\b(40[13]\.\d{1,2})\b/.exec(res.text);
  return iis ? { code: `IIS ${iis[1]}`, message: `IIS refused the request (HTTP ${iis[1]})` } : {};
}

function classify(status: number, code: string | undefined): ErrorCode {
  if (code) {
    if (AUTH_CODES.has(code)) return 'VAULT_AUTH_FAILED';
    if (AMBIGUOUS_CODES.has(code) || NOT_FOUND_CODES.has(code)) return 'VAULT_SECRET_NOT_FOUND';
    if (VAULT_DOWN_CODES.has(code) || CHANGING_CODES.has(code)) return 'VAULT_UNAVAILABLE';
    if (MALFORMED_CODES.has(code)) return 'VAULT_BAD_RESPONSE';
  }
  if (status === 401 || status === 403) return 'VAULT_AUTH_FAILED';
  if (status === 404) return 'VAULT_SECRET_NOT_FOUND';
  if (status === 429) return 'VAULT_RATE_LIMITED';
  if (status >= 500 || status === 408) return 'VAULT_UNAVAILABLE';
  return 'VAULT_BAD_RESPONSE';
}

/** Why a code is what it is, in words an operator can act on. */
function explain(code: string | undefined, status: number): string {
  if (code && AMBIGUOUS_CODES.has(code)) return 'the query matches more than one account; name the object';
  if (code === 'APPAP004E')
    return 'no such account, or the application (or the provider) is not a member of the safe: CCP says the same for both';
  if (code && CHANGING_CODES.has(code)) return 'the CPM is changing this password right now; try again shortly';
  if (code && VAULT_DOWN_CODES.has(code)) return 'the credential provider could not reach the Vault';
  if (code && AUTH_CODES.has(code))
    return "the application failed CCP's authentication (AppID, client certificate or allowed machine)";
  if (code?.startsWith('IIS ')) return 'the web server refused the request before CCP (no or wrong client certificate)';
  if (status === 401 || status === 403) return 'the application was not authenticated';
  return `HTTP ${status}`;
}

function failure(res: VaultHttpResponse, what: string): ScanError {
  const err = ccpError(res);
  const code = classify(res.status, err.code);
  const detail = [explain(err.code, res.status), err.message].filter(Boolean).join(': ');
  return new ScanError(code, `${what} failed: ${detail}`, err.code, res.status, res.retryAfterMs);
}

/** Our time for one call, and the ConnectionTimeout CCP is told, so CCP always gives up first. */
export function ccpTimeouts(config: CcpConfig): { timeoutMs: number; connectionTimeoutS: number } {
  if (config.connectionTimeout !== undefined) {
    const timeoutMs = config.timeoutMs ?? Math.max(DEFAULT_VAULT_TIMEOUT_MS, (config.connectionTimeout + 10) * 1000);
    return { timeoutMs, connectionTimeoutS: config.connectionTimeout };
  }
  const timeoutMs = config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS;
  // Two seconds (or half the time, if shorter) are left for CCP's own answer to reach us.
  const margin = Math.min(2000, timeoutMs / 2);
  const connectionTimeoutS = Math.max(
    1,
    Math.min(CCP_DEFAULT_CONNECTION_TIMEOUT_S, Math.floor((timeoutMs - margin) / 1000)),
  );
  return { timeoutMs, connectionTimeoutS };
}

/** The account query, in CCP's parameter names, each value percent-encoded (no '+' for spaces). */
export function ccpQuery(
  config: CcpConfig,
  locator: CcpLocator,
  extra: Record<string, string | undefined> = {},
): string {
  const params: [string, string | undefined][] = [
    ['AppID', config.appId],
    ['Safe', locator.safe],
    ['Folder', locator.folder ?? 'Root'],
    ['Object', locator.object],
    ['UserName', locator.userName],
    ['Address', locator.address],
    ['Database', locator.database],
    ['PolicyID', locator.policyId],
    ...Object.entries(extra),
  ];
  return params
    .filter((p): p is [string, string] => p[1] !== undefined && p[1] !== '')
    .map(([k, v]) => `${k}=${encodeURIComponent(v)}`)
    .join('&');
}

/** The Reason CCP writes to its audit log: printable, without the characters CCP refuses in a URL. */
const auditReason = (reason: string) =>
  reason
    .replace(/[\u0000-\u001f\u007f;%&+]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 256);

async function getAccount(
  config: CcpConfig,
  access: Record<string, unknown>,
  query: string,
  signal: AbortSignal | undefined,
): Promise<VaultHttpResponse> {
  const { timeoutMs } = ccpTimeouts(config);
  const deadline = Date.now() + timeoutMs;
  const tls: VaultTls = {
    caCert: config.caCert,
    clientCert: config.clientCert,
    clientKey: typeof access.clientKey === 'string' ? access.clientKey : undefined,
    clientKeyPassphrase: typeof access.clientKeyPassphrase === 'string' ? access.clientKeyPassphrase : undefined,
  };
  const base = config.url.replace(/\/+$/, '');
  const service = (config.servicePath ?? 'AIMWebService').replace(/^\/+|\/+$/g, '');
  const once = async () => {
    const res = await vaultHttp({
      method: 'GET',
      url: `${base}/${service}/api/Accounts?${query}`,
      tls,
      timeoutMs: Math.max(1, deadline - Date.now()),
      signal,
    });
    // CCP documents no throttling; a proxy or WAF in front of it may still answer 429.
    if (res.status === 429) throw failure(res, 'the credential provider throttled the request');
    return res;
  };
  return withThrottleRetries(once, { deadline, signal });
}

function readFields(
  body: Record<string, unknown>,
  fields: VaultFetchRequest['fields'],
  what: string,
  status: number,
): FetchedCredential {
  const out: FetchedCredential = {};
  for (const kind of SECRET_FIELD_NAMES) {
    const name = fields[kind];
    if (!name) continue;
    const value = property(body, name);
    if (value === undefined || value === null)
      throw new ScanError(
        'VAULT_SECRET_NOT_FOUND',
        `${what} has no property "${name}" (CCP returns only the properties the account defines)`,
        undefined,
        status,
      );
    if (typeof value !== 'string')
      throw new ScanError('VAULT_BAD_RESPONSE', `${what} property "${name}" is not a string`, undefined, status);
    out[kind] = Buffer.from(value, 'utf8');
  }
  return out;
}

export const cyberarkCcpVault: VaultAdapter = {
  type: 'cyberark-ccp',

  /**
   * CCP has no login: the check asks for an account that cannot exist. An authentication
   * failure (APPAP306E, APPAP008E, IIS) fails the check; "not found" (APPAP004E) means the
   * application got past authentication. Nothing is read.
   */
  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const config = request.config as unknown as CcpConfig;
    const { connectionTimeoutS } = ccpTimeouts(config);
    const query = ccpQuery(
      config,
      { safe: 'vaultscan-access-check', object: 'vaultscan-access-check' },
      { ConnectionTimeout: String(connectionTimeoutS), Reason: 'vaultscan access check' },
    );
    const res = await getAccount(config, request.access, query, request.signal);
    if (res.status === 200) return;
    const err = failure(res, 'checking access to the credential provider');
    if (err.code === 'VAULT_SECRET_NOT_FOUND') return;
    throw err;
  },

  async fetch(request: VaultFetchRequest) {
    if (!SECRET_FIELD_NAMES.some((f) => request.fields[f])) {
      throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
    }
    const config = request.config as unknown as CcpConfig;
    const locator = request.locator as unknown as CcpLocator;
    const failOnChange = config.failRequestOnPasswordChange ?? true;
    const { connectionTimeoutS } = ccpTimeouts(config);
    const reason = auditReason(request.reason);
    const query = ccpQuery(config, locator, {
      ConnectionTimeout: String(connectionTimeoutS),
      ...(failOnChange && { FailRequestOnPasswordChange: 'true' }),
      ...(reason && { Reason: reason }),
    });
    const what = `account ${locator.object ? `"${locator.object}"` : `with UserName "${locator.userName ?? ''}"`} in safe "${locator.safe}"`;
    const res = await getAccount(config, request.access, query, request.signal);
    if (res.status !== 200) throw failure(res, `reading the ${what}`);
    if (!isObject(res.json))
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `reading the ${what} returned a body that is not JSON (${/^\s*</.test(res.text) ? 'an HTML page: is the URL the credential provider?' : 'unreadable'})`,
        undefined,
        res.status,
      );
    const body = res.json;
    if (typeof property(body, 'Content') !== 'string')
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `reading the ${what} returned no Content (the secret)`,
        undefined,
        res.status,
      );
    // A server that ignores FailRequestOnPasswordChange still flags the change in progress.
    if (failOnChange && isTrue(property(body, 'PasswordChangeInProcess')))
      throw new ScanError(
        'VAULT_UNAVAILABLE',
        `the CPM is changing the password of the ${what} right now; try again shortly`,
        'PasswordChangeInProcess',
        res.status,
      );
    return { credential: readFields(body, request.fields, `the ${what}`, res.status) };
  },
};
