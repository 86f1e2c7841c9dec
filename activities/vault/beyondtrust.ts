// BeyondTrust Password Safe (BeyondInsight public API v3). A read is a loan: sign in (PS-Auth
// API key, or an OAuth client-credentials token then Bearer), find the managed account, ask for
// an access request, read its credentials; the request is checked in and the session signed
// out by `release`, or at once when anything after the request fails. The session lives in a
// cookie jar; a 401 mid-session means it expired: one fresh sign-in, then AUTH_FAILED.
import { CookieJar } from 'tough-cookie';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { SECRET_FIELD_NAMES, type SecretField } from '../../domain/secret-fields.js';
import { BEYONDTRUST_CREDENTIAL_TYPES, DEFAULT_BEYONDTRUST_DURATION_MINUTES } from '../../vault-types/beyondtrust.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import type { FetchedCredential, VaultAccessRequest, VaultAdapter, VaultFetchRequest, VaultRead } from './adapter.js';
import { vaultHttp, withThrottleRetries, type VaultHttpResponse, type VaultTls } from './http.js';

interface BeyondtrustConfig {
  url: string;
  authMethod: 'apiKey' | 'oauth';
  runAsUser?: string;
  clientId?: string;
  durationMinutes?: number;
  caCert?: string;
  clientCert?: string;
  timeoutMs?: number;
  maxConcurrentRequests?: number;
}

interface BeyondtrustAccess {
  apiKey?: string;
  runAsPassword?: string;
  clientSecret?: string;
  clientKey?: string;
  clientKeyPassphrase?: string;
}

interface BeyondtrustLocator {
  systemName?: string;
  accountName?: string;
  systemId?: number;
  accountId?: number;
}

type CredentialType = (typeof BEYONDTRUST_CREDENTIAL_TYPES)[number];
type Method = 'GET' | 'POST' | 'PUT';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCredentialType = (v: unknown): v is CredentialType =>
  typeof v === 'string' && (BEYONDTRUST_CREDENTIAL_TYPES as readonly string[]).includes(v);
const isHtml = (text: string) => /^\s*<(!doctype|html|head|body|\?xml)/i.test(text);

/**
 * Password Safe's error bodies have no fixed schema: a JSON string, a bare text, now and then
 * an object with a message. Its text, and the leading number ("4031 - …") as the vendor code
 * when there is one. Never called on a body that may hold a credential.
 */
function vendorText(res: VaultHttpResponse): { text: string; code?: string } {
  let text: string;
  if (typeof res.json === 'string') text = res.json;
  else if (isObject(res.json)) {
    const m = res.json.Message ?? res.json.message ?? res.json.error_description ?? res.json.error;
    text = typeof m === 'string' ? m : '';
  } else text = isHtml(res.text) ? '' : res.text;
  text = text.replace(/\s+/g, ' ').trim().slice(0, 300);
  if (!text) return { text: isHtml(res.text) ? `HTTP ${res.status} (an HTML page)` : `HTTP ${res.status}` };
  const numbered = /^(\d{3,6})\s*[-:]/.exec(text);
  const oauthCode = isObject(res.json) && typeof res.json.error === 'string' ? res.json.error : undefined;
  return { text, code: numbered?.[1] ?? oauthCode ?? text.slice(0, 120) };
}

/** Status → catalogue code, for calls after sign-in. 401 is handled by the session. */
function codeForStatus(status: number): ErrorCode {
  if (status === 403 || status === 409) return 'VAULT_PERMISSION_DENIED';
  if (status === 404) return 'VAULT_SECRET_NOT_FOUND';
  if (status === 429) return 'VAULT_RATE_LIMITED';
  if (status === 408 || status >= 500) return 'VAULT_UNAVAILABLE';
  if (status === 401) return 'VAULT_AUTH_FAILED';
  return 'VAULT_BAD_RESPONSE';
}

function failure(code: ErrorCode, what: string, res: VaultHttpResponse): ScanError {
  const v = vendorText(res);
  return new ScanError(code, `${what}: ${v.text} (HTTP ${res.status})`, v.code, res.status, res.retryAfterMs);
}

const badResponse = (what: string, res: VaultHttpResponse) =>
  new ScanError('VAULT_BAD_RESPONSE', what, undefined, res.status);

/** One signed-in session: its cookies, and how to sign in again when it expires. */
class BeyondtrustSession {
  private readonly base: string;
  private readonly tls: VaultTls;
  private readonly timeoutMs: number;
  private jar = new CookieJar();
  private signedIn = false;

  constructor(
    private readonly config: BeyondtrustConfig,
    private readonly access: BeyondtrustAccess,
  ) {
    this.base = config.url.replace(/\/+$/, '');
    this.tls = {
      caCert: config.caCert,
      clientCert: config.clientCert,
      clientKey: access.clientKey,
      clientKeyPassphrase: access.clientKeyPassphrase,
    };
    this.timeoutMs = config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS;
  }

  /** One HTTP exchange; a 429 is waited out (Retry-After) while `deadline` allows. */
  private send(
    method: Method,
    path: string,
    opts: {
      deadline: number;
      signal?: AbortSignal;
      headers?: Record<string, string>;
      body?: unknown;
      form?: Record<string, string>;
    },
  ): Promise<VaultHttpResponse> {
    const once = async () => {
      const res = await vaultHttp({
        method,
        url: `${this.base}/${path}`,
        headers: opts.headers,
        body: opts.body,
        form: opts.form,
        tls: this.tls,
        cookies: this.jar,
        timeoutMs: Math.max(1, Math.min(this.timeoutMs, opts.deadline - Date.now())),
        signal: opts.signal,
      });
      if (res.status === 429)
        throw failure('VAULT_RATE_LIMITED', `Password Safe throttled ${method} ${path.replace(/\?.*/, '')}`, res);
      return res;
    };
    return withThrottleRetries(once, { deadline: opts.deadline, signal: opts.signal });
  }

  /** The Authorization header SignAppin wants: PS-Auth, or Bearer with a fresh OAuth token. */
  private async authorization(deadline: number, signal?: AbortSignal): Promise<string> {
    const c = this.config;
    if (c.authMethod === 'apiKey') {
      let header = `PS-Auth key=${this.access.apiKey ?? ''};`;
      if (c.runAsUser) header += ` runas=${c.runAsUser};`;
      if (c.runAsUser && this.access.runAsPassword) header += ` pwd=[${this.access.runAsPassword}];`;
      // An HTTP header carries Latin-1 only: say which setting cannot go, rather than crash on it.
      if (/[^\t\x20-\x7e\x80-\xff]/.test(header))
        throw new ScanError(
          'CONFIG_INVALID',
          'the run-as user or password has characters an HTTP header cannot carry (Latin-1 only)',
        );
      return header;
    }
    const res = await this.send('POST', 'Auth/connect/token', {
      deadline,
      signal,
      form: {
        client_id: c.clientId ?? '',
        client_secret: this.access.clientSecret ?? '',
        grant_type: 'client_credentials',
      },
    });
    if (res.status === 400 || res.status === 401 || res.status === 403)
      throw failure('VAULT_AUTH_FAILED', 'Password Safe refused the OAuth client credentials', res);
    if (res.status !== 200) throw failure(codeForStatus(res.status), 'getting an OAuth token failed', res);
    const token = isObject(res.json) ? res.json.access_token : undefined;
    if (typeof token !== 'string' || !token)
      throw badResponse('the OAuth token endpoint answered without access_token', res);
    return `Bearer ${token}`;
  }

  async signIn(deadline: number, signal?: AbortSignal): Promise<void> {
    this.jar = new CookieJar();
    const authorization = await this.authorization(deadline, signal);
    const res = await this.send('POST', 'Auth/SignAppin', { deadline, signal, headers: { authorization } });
    if (res.status === 401 || res.status === 403)
      throw failure('VAULT_AUTH_FAILED', 'Password Safe refused the sign-in', res);
    if (res.status !== 200) throw failure(codeForStatus(res.status), 'signing in to Password Safe failed', res);
    if (!isObject(res.json)) throw badResponse('Password Safe answered the sign-in without the signed-in user', res);
    this.signedIn = true;
  }

  /**
   * A call in the session. A 401 means the session expired: one fresh sign-in, then the call
   * again; a second 401 is AUTH_FAILED.
   */
  async call(
    method: Method,
    path: string,
    opts: { deadline: number; signal?: AbortSignal; body?: unknown },
  ): Promise<VaultHttpResponse> {
    const res = await this.send(method, path, opts);
    if (res.status !== 401) return res;
    await this.signIn(opts.deadline, opts.signal);
    const again = await this.send(method, path, opts);
    if (again.status === 401)
      throw failure('VAULT_AUTH_FAILED', 'Password Safe refused the session right after a fresh sign-in', again);
    return again;
  }

  /** Signs out; never throws (the session expires by itself anyway). */
  async signOut(): Promise<void> {
    if (!this.signedIn) return;
    this.signedIn = false;
    await this.send('POST', 'Auth/Signout', { deadline: Date.now() + this.timeoutMs }).catch(() => undefined);
  }

  /** Checks an access request in. Runs on its own time: the caller's signal may be long gone. */
  async checkIn(requestId: number, reason: string): Promise<void> {
    const res = await this.call('PUT', `Requests/${requestId}/Checkin`, {
      deadline: Date.now() + this.timeoutMs,
      body: { Reason: reason.slice(0, 1000) },
    });
    if (res.status !== 204 && res.status !== 200)
      throw failure(codeForStatus(res.status), `checking in access request ${requestId} failed`, res);
  }
}

/** The managed account's SystemId and AccountId: the locator's ids, or a lookup by names. */
async function findAccount(
  session: BeyondtrustSession,
  locator: BeyondtrustLocator,
  deadline: number,
  signal?: AbortSignal,
): Promise<{ systemId: number; accountId: number }> {
  if (locator.systemId !== undefined && locator.accountId !== undefined)
    return { systemId: locator.systemId, accountId: locator.accountId };
  const what = `managed account ${locator.systemName ?? ''}/${locator.accountName ?? ''}`;
  const query = new URLSearchParams({ systemName: locator.systemName ?? '', accountName: locator.accountName ?? '' });
  const res = await session.call('GET', `ManagedAccounts?${query.toString()}`, { deadline, signal });
  if (res.status !== 200) throw failure(codeForStatus(res.status), `looking up ${what} failed`, res);
  let account: unknown = res.json;
  if (Array.isArray(res.json)) {
    if (res.json.length === 0)
      throw new ScanError(
        'VAULT_SECRET_NOT_FOUND',
        `${what} does not exist (or is not enabled for API access)`,
        undefined,
        200,
      );
    if (res.json.length > 1)
      throw new ScanError(
        'VAULT_SECRET_NOT_FOUND',
        `${what} is ambiguous: ${res.json.length} managed accounts match; use systemId and accountId`,
        undefined,
        200,
      );
    account = res.json[0];
  }
  if (!isObject(account)) throw badResponse(`looking up ${what} returned no managed account object`, res);
  const { SystemId: systemId, AccountId: accountId } = account;
  if (!Number.isSafeInteger(systemId) || !Number.isSafeInteger(accountId))
    throw badResponse(`looking up ${what} returned an account without integer SystemId and AccountId`, res);
  return { systemId: systemId as number, accountId: accountId as number };
}

/** Which credential type each requested field comes from: the field's name is the type. */
function credentialTypes(fields: VaultFetchRequest['fields']): [SecretField, CredentialType][] {
  const wanted: [SecretField, CredentialType][] = [];
  for (const kind of SECRET_FIELD_NAMES) {
    const name = fields[kind];
    if (name === undefined) continue;
    if (!isCredentialType(name))
      throw new ScanError(
        'CONFIG_INVALID',
        `the authentication record's field ${kind} names "${name}"; a BeyondTrust managed account has ${BEYONDTRUST_CREDENTIAL_TYPES.join(', ')}`,
      );
    wanted.push([kind, name]);
  }
  if (wanted.length === 0)
    throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
  return wanted;
}

async function readCredential(
  session: BeyondtrustSession,
  requestId: number,
  type: CredentialType,
  deadline: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const what = `the ${type} of access request ${requestId}`;
  const res = await session.call('GET', `Credentials/${requestId}?type=${type}`, { deadline, signal });
  if (res.status !== 200) throw failure(codeForStatus(res.status), `reading ${what} failed`, res);
  // The body is a JSON string. Its text is the secret: never put it in a message.
  if (typeof res.json !== 'string')
    throw badResponse(
      `reading ${what} returned ${isHtml(res.text) ? 'an HTML page' : res.text ? 'a body that is not a JSON string' : 'an empty body'}`,
      res,
    );
  return Buffer.from(res.json, 'utf8');
}

function parseRequestId(res: VaultHttpResponse): number {
  const id = res.json;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
    throw badResponse('Password Safe answered the access request without an integer request id', res);
  return id;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

export const beyondtrustVault: VaultAdapter = {
  type: 'beyondtrust',

  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const config = request.config as unknown as BeyondtrustConfig;
    const session = new BeyondtrustSession(config, request.access as BeyondtrustAccess);
    await session.signIn(Date.now() + (config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS), request.signal);
    await session.signOut();
  },

  async fetch(request: VaultFetchRequest): Promise<VaultRead> {
    const wanted = credentialTypes(request.fields);
    const config = request.config as unknown as BeyondtrustConfig;
    const locator = request.locator as unknown as BeyondtrustLocator;
    const { signal } = request;
    const deadline = Date.now() + (config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS);
    const duration = config.durationMinutes ?? DEFAULT_BEYONDTRUST_DURATION_MINUTES;
    const session = new BeyondtrustSession(config, request.access as BeyondtrustAccess);
    await session.signIn(deadline, signal);

    let requestId: number;
    let lentUntil: Date;
    try {
      const { systemId, accountId } = await findAccount(session, locator, deadline, signal);
      lentUntil = new Date(Date.now() + duration * 60_000);
      const res = await session.call('POST', 'Requests', {
        deadline,
        signal,
        body: {
          SystemID: systemId,
          AccountID: accountId,
          DurationMinutes: duration,
          Reason: request.reason.slice(0, 1000),
          ConflictOption: 'reuse',
        },
      });
      if (res.status !== 200 && res.status !== 201)
        throw failure(codeForStatus(res.status), `requesting access to account ${systemId}/${accountId} failed`, res);
      requestId = parseRequestId(res);
    } catch (err) {
      await session.signOut();
      throw err;
    }

    // From here on a request is out: whatever happens, it is checked in and the session ends.
    const release = once(async () => {
      try {
        await session.checkIn(requestId, `${request.reason} (done)`);
      } finally {
        await session.signOut();
      }
    });
    const credential: FetchedCredential = {};
    const read = new Map<CredentialType, Buffer>();
    try {
      for (const [kind, type] of wanted) {
        let value = read.get(type);
        if (!value) {
          value = await readCredential(session, requestId, type, deadline, signal);
          read.set(type, value);
        }
        credential[kind] = Buffer.from(value);
      }
    } catch (err) {
      for (const value of Object.values(credential)) value.fill(0);
      await release().catch(() => undefined);
      throw err;
    } finally {
      for (const value of read.values()) value.fill(0);
    }
    return { credential, release, lentUntil };
  },
};
