// Delinea (formerly Thycotic) Secret Server: an OAuth2 password grant (POST /oauth2/token, form),
// then the REST API with the token as Bearer. A secret is read by id, by folder path
// (GET /secrets/0?secretPath=…) or by its exact name (a search that must match one secret);
// its fields by slug, file fields (SSH keys) through /secrets/{id}/fields/{slug}. A secret that
// wants a comment gets the scan's reason; one that must be checked out is checked out, and the
// check-in is handed back as release. Secret Server throttles with 403, not 429: a 403 is tried
// once more after a pause before it counts as a refusal. The token is expired when we are done.
// Failures keep Secret Server's errorCode (API_AccessDenied…) or OAuth error as vendorCode.
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { SECRET_FIELD_NAMES } from '../../domain/secret-fields.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import type {
  CredentialFields,
  FetchedCredential,
  VaultAccessRequest,
  VaultAdapter,
  VaultFetchRequest,
  VaultRead,
} from './adapter.js';
import { vaultHttp, withThrottleRetries, type VaultHttpResponse, type VaultTls } from './http.js';

interface DelineaConfig {
  url: string;
  username: string;
  domain?: string;
  caCert?: string;
  timeoutMs?: number;
}

interface DelineaLocator {
  secretId?: number;
  secretName?: string;
  secretPath?: string;
  folderId?: number;
}

/** How long a check-out lasts when the secret does not say (Secret Server's default interval). */
export const DEFAULT_CHECKOUT_MINUTES = 30;
/** The pause before the one retry of a 403 that may be throttling, when no Retry-After came with it. */
export const THROTTLE_PAUSE_MS = 1000;
/** How many search results to look at: enough to count an ambiguous name. */
const SEARCH_TAKE = 25;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A field by its camelCase name, or PascalCase (older servers), or any other case. */
function pick(obj: Json, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) if (key.toLowerCase() === lower) return obj[key];
  return undefined;
}
const pickString = (obj: Json, name: string) => {
  const v = pick(obj, name);
  return typeof v === 'string' ? v : undefined;
};

/** Secret Server's own words: errorCode (or an OAuth error) and message. */
function vendorOf(res: VaultHttpResponse): { code?: string; message: string } {
  if (!isObject(res.json)) return { message: `HTTP ${res.status}` };
  const code = pickString(res.json, 'errorCode') ?? pickString(res.json, 'error');
  const message =
    pickString(res.json, 'message') ?? pickString(res.json, 'error_description') ?? code ?? `HTTP ${res.status}`;
  const plain = message.replace(/\s+/g, ' ').trim();
  return { code, message: plain.length > 300 ? `${plain.slice(0, 300)}…` : plain };
}

const failure = (code: ErrorCode, what: string, res: VaultHttpResponse) => {
  const v = vendorOf(res);
  return new ScanError(code, `${what}: ${v.message}`, v.code ?? v.message, res.status, res.retryAfterMs);
};

const looksThrottled = (res: VaultHttpResponse) =>
  res.status === 429 || /too many requests|rate.?limit|throttl/i.test(res.text.slice(0, 2000));
const commentRequired = (v: { code?: string; message: string }) =>
  /CommentRequired/i.test(v.code ?? '') || /requires? a comment|comment is required/i.test(v.message);
const checkedOutByOther = (v: { code?: string; message: string }) =>
  /checked ?out by (another|other|a different)|already checked ?out/i.test(v.message) ||
  /CheckedOutByAnother|AlreadyCheckedOut/i.test(v.code ?? '');
const checkOutRequired = (v: { code?: string; message: string }) =>
  !checkedOutByOther(v) &&
  (/CheckOutRequired|RequiresCheckOut/i.test(v.code ?? '') ||
    /requires? (a )?check.?out|must be checked.?out/i.test(v.message));

/** A 4xx on a secret call: a refusal (access, approval, double lock…), a missing secret, or our mistake. */
function secretFailure(res: VaultHttpResponse, what: string): ScanError {
  const v = vendorOf(res);
  if (res.status === 404) return failure('VAULT_SECRET_NOT_FOUND', `${what} does not exist`, res);
  if (/AccessDenied/i.test(v.code ?? '') || /access denied/i.test(v.message))
    return failure(
      'VAULT_PERMISSION_DENIED',
      `Secret Server denied access to ${what} (it also says so for a secret id that does not exist)`,
      res,
    );
  if (checkedOutByOther(v)) return failure('VAULT_PERMISSION_DENIED', `${what} is checked out by another user`, res);
  if (
    /approv|double ?lock|check.?out|comment|ticket|restricted|not allowed|permission/i.test(
      `${v.code ?? ''} ${v.message}`,
    )
  )
    return failure('VAULT_PERMISSION_DENIED', `Secret Server will not show ${what}`, res);
  if (res.status >= 500) return failure('VAULT_UNAVAILABLE', `Secret Server failed reading ${what}`, res);
  return failure('VAULT_BAD_RESPONSE', `Secret Server refused the request for ${what}`, res);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

interface ApiCall {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** The answer is a field's content (a file, or a value), not a JSON document. */
  raw?: boolean;
}

const looksLikeHtml = (res: VaultHttpResponse) =>
  /text\/html/i.test(res.headers['content-type'] ?? '') || /^\s*<(!doctype|html)/i.test(res.text.slice(0, 200));

class DelineaClient {
  private readonly base: string;
  private readonly tls: VaultTls;
  private readonly deadline: number;
  private token: string | undefined;

  constructor(
    private readonly config: DelineaConfig,
    private readonly password: string,
    private readonly signal?: AbortSignal,
  ) {
    this.base = config.url.replace(/\/+$/, '');
    this.tls = { caCert: config.caCert };
    this.deadline = Date.now() + (config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS);
  }

  private async send(method: 'GET' | 'POST', url: string, extra: { body?: unknown; form?: Record<string, string> }) {
    const once = async () => {
      const res = await vaultHttp({
        method,
        url,
        headers: this.token && !extra.form ? { authorization: `Bearer ${this.token}` } : {},
        ...extra,
        tls: this.tls,
        timeoutMs: Math.max(1, this.deadline - Date.now()),
        signal: this.signal,
      });
      if (res.status === 429) throw failure('VAULT_RATE_LIMITED', `Secret Server throttled ${method}`, res);
      return res;
    };
    return withThrottleRetries(once, { deadline: this.deadline, signal: this.signal });
  }

  /** The one pause-and-retry a 403 gets (Secret Server throttles with 403), if the time allows. */
  private async pauseFor403(res: VaultHttpResponse): Promise<boolean> {
    const wait = res.retryAfterMs ?? THROTTLE_PAUSE_MS;
    if (Date.now() + wait >= this.deadline) return false;
    await sleep(wait, this.signal);
    if (this.signal?.aborted) {
      // As vaultHttp has it: the caller's deadline is a timeout, anything else a cancellation.
      if ((this.signal.reason as Error | undefined)?.name === 'TimeoutError')
        throw new ScanError('VAULT_TIMEOUT', 'Secret Server did not answer in time');
      throw new Error('the vault request was cancelled');
    }
    return true;
  }

  /** The password grant. A refusal is VAULT_AUTH_FAILED with the OAuth error as vendor code. */
  async login(): Promise<void> {
    const form: Record<string, string> = {
      grant_type: 'password',
      username: this.config.username,
      password: this.password,
      ...(this.config.domain && { domain: this.config.domain }),
    };
    const url = `${this.base}/oauth2/token`;
    let res = await this.send('POST', url, { form });
    if (res.status === 403 && (await this.pauseFor403(res))) res = await this.send('POST', url, { form });
    if (res.status === 403 && looksThrottled(res))
      throw failure('VAULT_RATE_LIMITED', 'Secret Server throttled the login', res);
    if (res.status === 400 || res.status === 401 || res.status === 403)
      throw failure('VAULT_AUTH_FAILED', `Secret Server refused the login of ${this.config.username}`, res);
    if (res.status >= 500) throw failure('VAULT_UNAVAILABLE', 'Secret Server failed the login', res);
    if (res.status !== 200) throw failure('VAULT_BAD_RESPONSE', 'Secret Server answered the login unexpectedly', res);
    if (!isObject(res.json))
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        'Secret Server answered the login with a body that is not JSON (an HTML page?)',
        undefined,
        res.status,
      );
    const token = pickString(res.json, 'access_token');
    if (!token)
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        'Secret Server answered the login without access_token',
        undefined,
        200,
      );
    this.token = token;
  }

  /** Expires the token (POST /api/v1/oauth-expiration); a failure here changes nothing for the caller. */
  async logout(): Promise<void> {
    if (!this.token) return;
    try {
      await this.send('POST', `${this.base}/api/v1/oauth-expiration`, {});
    } catch {
      // The token expires by itself.
    } finally {
      this.token = undefined;
    }
  }

  /**
   * One REST call. A 401 (the token expired) logs in again once; a 403 is paused and tried once
   * more, then it is throttling (when its body says so) or a refusal; 5xx is unavailability.
   * Anything else goes back to the caller to read.
   */
  async api(call: ApiCall, what: string): Promise<VaultHttpResponse> {
    const url = new URL(`${this.base}/api/v1/${call.path}`);
    for (const [k, v] of Object.entries(call.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    let relogged = false;
    let paused = false;
    for (;;) {
      const res = await this.send(call.method, url.href, call.body === undefined ? {} : { body: call.body });
      if (res.status === 401) {
        if (relogged) throw failure('VAULT_AUTH_FAILED', `Secret Server rejected the scanner's token (${what})`, res);
        relogged = true;
        await this.login();
        continue;
      }
      if (res.status === 403) {
        if (!paused && (await this.pauseFor403(res))) {
          paused = true;
          continue;
        }
        if (looksThrottled(res)) throw failure('VAULT_RATE_LIMITED', `Secret Server throttled ${what}`, res);
        throw failure('VAULT_PERMISSION_DENIED', `Secret Server refused ${what} (403, also after a pause)`, res);
      }
      if (res.status >= 500) throw failure('VAULT_UNAVAILABLE', `Secret Server failed ${what}`, res);
      // A field's content may be anything but a web page; every other answer is JSON.
      if (res.status === 200 && (call.raw ? looksLikeHtml(res) : res.json === undefined))
        throw new ScanError(
          'VAULT_BAD_RESPONSE',
          `Secret Server answered ${what} with ${looksLikeHtml(res) ? 'an HTML page' : 'a body that is not JSON'}`,
          undefined,
          res.status,
        );
      return res;
    }
  }
}

/** Where a secret is: by id, or (until its id is known) by folder path with id 0. */
type SecretRef = { id: number; path?: string };
const refPath = (ref: SecretRef, suffix = '') => `secrets/${ref.id}${suffix}`;
const refQuery = (ref: SecretRef) => (ref.id === 0 && ref.path ? { secretPath: ref.path } : {});

/** \Folder\Sub\Name, as python-tss-sdk writes it: either slash, one leading backslash. */
export function normaliseSecretPath(path: string): string {
  return `\\${path.replace(/[\\/]+/g, '\\').replace(/^\\+|\\+$/g, '')}`;
}

function describe(locator: DelineaLocator): string {
  if (locator.secretId !== undefined) return `secret ${locator.secretId}`;
  if (locator.secretPath !== undefined) return `secret ${normaliseSecretPath(locator.secretPath)}`;
  return `secret "${locator.secretName}"${locator.folderId !== undefined ? ` in folder ${locator.folderId}` : ''}`;
}

/** A name search that must find exactly one secret. */
async function findByName(client: DelineaClient, name: string, folderId: number | undefined): Promise<number> {
  const where = `secret "${name}"${folderId !== undefined ? ` in folder ${folderId}` : ''}`;
  const res = await client.api(
    {
      method: 'GET',
      path: 'secrets',
      query: {
        'filter.searchText': name,
        'filter.isExactMatch': 'true',
        'filter.includeRestricted': 'true',
        'filter.folderId': folderId === undefined ? undefined : String(folderId),
        take: String(SEARCH_TAKE),
      },
    },
    `the search for ${where}`,
  );
  if (res.status !== 200) throw secretFailure(res, `the search for ${where}`);
  const records = isObject(res.json) ? pick(res.json, 'records') : undefined;
  if (!Array.isArray(records))
    throw new ScanError('VAULT_BAD_RESPONSE', `the search for ${where} answered without records`, undefined, 200);
  // An exact match covers field values too: only the secrets with that very name count.
  const named = records.filter(
    (r): r is Json => isObject(r) && String(pick(r, 'name') ?? '').toLowerCase() === name.toLowerCase(),
  );
  if (named.length === 0) throw new ScanError('VAULT_SECRET_NOT_FOUND', `no ${where} was found`, undefined, 200);
  if (named.length > 1) {
    const total = pick(res.json as Json, 'total');
    const more = records.length < (typeof total === 'number' ? total : 0) ? 'at least ' : '';
    throw new ScanError(
      'VAULT_SECRET_NOT_FOUND',
      `the name is ambiguous: ${more}${named.length} secrets match ${where}; use secretId or secretPath`,
      'ambiguous',
      200,
    );
  }
  const id = pick(named[0] as Json, 'id');
  if (typeof id !== 'number')
    throw new ScanError('VAULT_BAD_RESPONSE', `the search for ${where} answered without a numeric id`, undefined, 200);
  return id;
}

interface SecretRead {
  ref: SecretRef;
  secret: Json;
  /** The comment the secret demanded (the scan's reason), to send with every later read. */
  comment?: string;
  checkedOut: boolean;
}

const restrictedBody = (comment: string | undefined) => ({
  comment: comment ?? null,
  doubleLockPassword: null,
  forceCheckIn: false,
  includeInactive: false,
  newPassword: null,
  // We check out ourselves, so that we know to check in.
  noAutoCheckout: true,
  ticketNumber: null,
  ticketSystemId: null,
});

/**
 * Reads the secret: GET, and when Secret Server asks for a comment, the restricted read with the
 * scan's reason; when it asks for a check-out (or the secret has check-out enabled), a check-out
 * first. `onCheckOut` hears of a check-out at once, so a later failure can still check in.
 */
async function readSecret(
  client: DelineaClient,
  start: SecretRef,
  what: string,
  reason: string,
  onCheckOut: (ref: SecretRef) => void,
): Promise<SecretRead> {
  let ref = start;
  let comment: string | undefined;
  let checkedOut = false;
  const read = () =>
    comment === undefined
      ? client.api({ method: 'GET', path: refPath(ref), query: refQuery(ref) }, `reading ${what}`)
      : client.api(
          { method: 'POST', path: refPath(ref, '/restricted'), query: refQuery(ref), body: restrictedBody(comment) },
          `reading ${what}`,
        );
  const checkOut = async () => {
    const res = await client.api(
      { method: 'POST', path: refPath(ref, '/check-out'), query: refQuery(ref) },
      `checking out ${what}`,
    );
    if (res.status !== 200) {
      const v = vendorOf(res);
      if (checkedOutByOther(v)) throw failure('VAULT_PERMISSION_DENIED', `${what} is checked out by another user`, res);
      throw secretFailure(res, what);
    }
    checkedOut = true;
    onCheckOut(ref);
  };

  let res = await read();
  for (let round = 0; round < 4; round++) {
    if (res.status === 200) {
      if (!isObject(res.json))
        throw new ScanError('VAULT_BAD_RESPONSE', `reading ${what} returned a body that is not JSON`, undefined, 200);
      const secret = res.json;
      const id = pick(secret, 'id');
      if (typeof id === 'number' && id > 0 && ref.id === 0) ref = { id };
      if (!checkedOut && pick(secret, 'checkOutEnabled') === true) {
        await checkOut();
      }
      if (ref.id === 0)
        throw new ScanError('VAULT_BAD_RESPONSE', `reading ${what} returned no numeric id`, undefined, 200);
      return { ref, secret, comment, checkedOut };
    }
    const v = vendorOf(res);
    if (commentRequired(v) && comment === undefined) {
      comment = reason;
    } else if (checkOutRequired(v) && !checkedOut) {
      await checkOut();
    } else {
      throw secretFailure(res, what);
    }
    res = await read();
  }
  throw secretFailure(res, what);
}

/** A file field's content, or a text field read alone: raw, or one layer of JSON string quoting. */
function fieldBody(res: VaultHttpResponse): string {
  const json = /json/i.test(res.headers['content-type'] ?? '');
  return json && typeof res.json === 'string' ? res.json : res.text;
}

async function readFields(
  client: DelineaClient,
  read: SecretRead,
  fields: CredentialFields,
  what: string,
): Promise<FetchedCredential> {
  const items = pick(read.secret, 'items');
  if (!Array.isArray(items))
    throw new ScanError('VAULT_BAD_RESPONSE', `reading ${what} returned no items`, undefined, 200);
  const out: FetchedCredential = {};
  for (const kind of SECRET_FIELD_NAMES) {
    const name = fields[kind];
    if (!name) continue;
    const wanted = name.toLowerCase();
    const item = items.find(
      (i): i is Json =>
        isObject(i) &&
        (String(pick(i, 'slug') ?? '').toLowerCase() === wanted ||
          String(pick(i, 'fieldName') ?? '').toLowerCase() === wanted),
    );
    if (!item) throw new ScanError('VAULT_SECRET_NOT_FOUND', `${what} has no field "${name}"`, undefined, 200);
    const slug = pickString(item, 'slug');
    const isFile = pick(item, 'isFile') === true || typeof pick(item, 'fileAttachmentId') === 'number';
    let value: unknown;
    if (isFile) {
      if (!slug)
        throw new ScanError('VAULT_BAD_RESPONSE', `${what} field "${name}" is a file without a slug`, undefined, 200);
      const path = encodeURIComponent(slug);
      const res =
        read.comment === undefined
          ? await client.api(
              { method: 'GET', path: refPath(read.ref, `/fields/${path}`), raw: true },
              `reading field "${name}" of ${what}`,
            )
          : await client.api(
              {
                method: 'POST',
                path: refPath(read.ref, `/restricted/fields/${path}`),
                body: restrictedBody(read.comment),
                raw: true,
              },
              `reading field "${name}" of ${what}`,
            );
      if (res.status !== 200) throw secretFailure(res, `field "${name}" of ${what}`);
      value = fieldBody(res);
    } else {
      value = pick(item, 'itemValue');
    }
    if (value === null || value === undefined || value === '')
      throw new ScanError('VAULT_SECRET_NOT_FOUND', `${what} field "${name}" is empty`, undefined, 200);
    if (typeof value !== 'string')
      throw new ScanError('VAULT_BAD_RESPONSE', `${what} field "${name}" is not a string`, undefined, 200);
    out[kind] = Buffer.from(value, 'utf8');
  }
  return out;
}

async function checkIn(client: DelineaClient, ref: SecretRef, reason: string): Promise<void> {
  const what = ref.id === 0 ? `secret ${ref.path}` : `secret ${ref.id}`;
  const res = await client.api(
    {
      method: 'POST',
      path: refPath(ref, '/check-in'),
      query: refQuery(ref),
      body: { comment: reason, forceCheckIn: false, noAutoCheckout: true },
    },
    `checking in ${what}`,
  );
  if (res.status !== 200) throw secretFailure(res, `the check-in of ${what}`);
}

function passwordOf(access: Record<string, unknown>): string {
  const password = access.password;
  if (typeof password !== 'string' || !password)
    throw new ScanError('CONFIG_INVALID', 'the Delinea vault record has no access.password');
  return password;
}

export const delineaVault: VaultAdapter = {
  type: 'delinea',

  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const config = request.config as unknown as DelineaConfig;
    const client = new DelineaClient(config, passwordOf(request.access), request.signal);
    await client.login();
    try {
      const res = await client.api({ method: 'GET', path: 'users/current' }, 'looking up the current user');
      if (res.status !== 200) throw secretFailure(res, 'the current user');
    } finally {
      await client.logout();
    }
  },

  async fetch(request: VaultFetchRequest): Promise<VaultRead> {
    if (!SECRET_FIELD_NAMES.some((f) => request.fields[f]))
      throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
    const config = request.config as unknown as DelineaConfig;
    const locator = request.locator as unknown as DelineaLocator;
    const password = passwordOf(request.access);
    const what = describe(locator);
    const client = new DelineaClient(config, password, request.signal);
    await client.login();
    let lent: SecretRef | undefined;
    try {
      const start: SecretRef =
        locator.secretId !== undefined
          ? { id: locator.secretId }
          : locator.secretPath !== undefined
            ? { id: 0, path: normaliseSecretPath(locator.secretPath) }
            : { id: await findByName(client, locator.secretName ?? '', locator.folderId) };
      const read = await readSecret(client, start, what, request.reason, (ref) => (lent = ref));
      lent = read.checkedOut ? read.ref : undefined;
      const credential = await readFields(client, read, request.fields, what);
      if (!read.checkedOut) return { credential };
      const ref = read.ref;
      lent = undefined; // from here on, release checks in
      const interval = pick(read.secret, 'checkOutIntervalMinutes');
      const minutes = typeof interval === 'number' && interval > 0 ? interval : DEFAULT_CHECKOUT_MINUTES;
      let released = false;
      return {
        credential,
        lentUntil: new Date(Date.now() + minutes * 60_000),
        release: async () => {
          if (released) return;
          released = true;
          const again = new DelineaClient(config, password);
          await again.login();
          try {
            await checkIn(again, ref, request.reason);
          } finally {
            await again.logout();
          }
        },
      };
    } catch (err) {
      // A check-out made before the failure is given back now: nobody will call release.
      const ref = lent as SecretRef | undefined;
      if (ref) await checkIn(client, ref, request.reason).catch(() => undefined);
      throw err;
    } finally {
      await client.logout();
    }
  },
};
