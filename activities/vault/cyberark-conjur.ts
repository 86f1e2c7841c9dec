// CyberArk Conjur: authn with the scanner's API key for a short-lived (8 min) access token, then
// one variable read, or one batch read when several fields are asked for. A token that expired
// on the way is renewed once, silently. Conjur's own code (CONJ00076E…, else error.code) is kept
// as the vendor code. Conjur tokens cannot be revoked, so there is nothing to log out from; they
// simply expire. Nothing is lent, so there is nothing to release.
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { SECRET_FIELD_NAMES, type SecretField } from '../../domain/secret-fields.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import type { FetchedCredential, VaultAccessRequest, VaultAdapter, VaultFetchRequest } from './adapter.js';
import { vaultHttp, withThrottleRetries, type VaultHttpResponse, type VaultTls } from './http.js';

interface ConjurConfig {
  url: string;
  account: string;
  login: string;
  caCert?: string;
  clientCert?: string;
  timeoutMs?: number;
}

interface ConjurLocator {
  path?: string;
  version?: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface ConjurError {
  vendorCode?: string;
  message?: string;
}

/** Conjur's error body: {"error":{"code":"not_found","message":"CONJ00076E Variable … is empty or not found."}}. */
function conjurError(res: VaultHttpResponse): ConjurError {
  const error = isObject(res.json) ? res.json.error : undefined;
  if (!isObject(error)) return {};
  const message = typeof error.message === 'string' ? error.message.replace(/\s+/g, ' ').trim() : undefined;
  const code = typeof error.code === 'string' ? error.code : undefined;
  const conj = message ? /\bCONJ\d{5}[EWI]\b/.exec(message)?.[0] : undefined;
  return { vendorCode: conj ?? code, ...(message && { message }) };
}

function classify(status: number): ErrorCode {
  if (status === 401) return 'VAULT_AUTH_FAILED';
  if (status === 403) return 'VAULT_PERMISSION_DENIED';
  if (status === 404) return 'VAULT_SECRET_NOT_FOUND';
  if (status === 429) return 'VAULT_RATE_LIMITED';
  if (status >= 500 || status === 408) return 'VAULT_UNAVAILABLE';
  return 'VAULT_BAD_RESPONSE';
}

function explain(status: number): string {
  switch (status) {
    case 401:
      return "Conjur did not accept the scanner's identity (wrong login or API key, or the token expired)";
    case 403:
      return 'the scanner may see the variable but lacks the execute privilege on it';
    case 404:
      return "the variable does not exist, has no value (or no such version), or the scanner's identity has no privilege on it at all (Conjur answers 404 then too)";
    case 406:
      return 'the value is binary and was asked for without base64 encoding';
    case 422:
      return 'Conjur refused a request parameter (e.g. the version)';
    case 429:
      return 'Conjur (or a proxy in front of it) throttled the request';
    default:
      return `HTTP ${status}`;
  }
}

function failure(res: VaultHttpResponse, what: string): ScanError {
  const err = conjurError(res);
  const detail = [explain(res.status), err.message].filter(Boolean).join(': ');
  return new ScanError(classify(res.status), `${what} failed: ${detail}`, err.vendorCode, res.status, res.retryAfterMs);
}

/** A 200 that is a proxy's or login page's HTML, not Conjur. */
const isHtml = (res: VaultHttpResponse) =>
  /text\/html/i.test(String(res.headers['content-type'] ?? '')) || /^\s*<(!doctype|html)/i.test(res.text);

/**
 * The access token from authenticate, ready for the Authorization header (base64, one line).
 * With Accept-Encoding: base64 Conjur sends it encoded (Content-Encoding: base64); otherwise the
 * token's JSON, v5 {protected,payload,signature} (v4 {data,timestamp,signature,key} is accepted).
 */
export function headerToken(res: VaultHttpResponse): string | undefined {
  const body = res.text.trim();
  const encoded = /base64/i.test(String(res.headers['content-encoding'] ?? '')) || !body.startsWith('{');
  const json = encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
  let token: unknown;
  try {
    token = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!isObject(token) || typeof token.signature !== 'string') return undefined;
  if (typeof token.payload !== 'string' && token.data === undefined) return undefined;
  return Buffer.from(json, 'utf8').toString('base64');
}

/** The full variable id a field names: "acct:variable:id" as is, else relative to the locator's path. */
export function variableId(config: ConjurConfig, locator: ConjurLocator, name: string): string {
  const full = /^([^:]+):variable:(.+)$/.exec(name);
  if (full) {
    if (full[1] !== config.account)
      throw new ScanError(
        'CONFIG_INVALID',
        `the field "${name}" names a variable of account "${full[1]}", but the vault record's account is "${config.account}"`,
      );
    return full[2] ?? '';
  }
  const path = locator.path?.replace(/^\/+|\/+$/g, '');
  return path ? `${path}/${name.replace(/^\/+/, '')}` : name;
}

class ConjurClient {
  private readonly base: string;
  private readonly tls: VaultTls;
  private readonly deadline: number;
  private token?: string;
  constructor(
    private readonly config: ConjurConfig,
    private readonly access: Record<string, unknown>,
    private readonly signal?: AbortSignal,
  ) {
    this.base = config.url.replace(/\/+$/, '');
    this.tls = {
      caCert: config.caCert,
      clientCert: config.clientCert,
      clientKey: typeof access.clientKey === 'string' ? access.clientKey : undefined,
      clientKeyPassphrase: typeof access.clientKeyPassphrase === 'string' ? access.clientKeyPassphrase : undefined,
    };
    this.deadline = Date.now() + (config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS);
  }

  /** One call; a 429 is waited out (Retry-After) while the call's time allows. */
  private call(method: 'GET' | 'POST', path: string, headers: Record<string, string>, text?: string) {
    const once = async () => {
      const res = await vaultHttp({
        method,
        url: `${this.base}${path}`,
        headers,
        ...(text !== undefined && { text }),
        tls: this.tls,
        timeoutMs: Math.max(1, this.deadline - Date.now()),
        signal: this.signal,
      });
      if (res.status === 429) throw failure(res, `${method} ${path.split('?')[0]}`);
      return res;
    };
    return withThrottleRetries(once, { deadline: this.deadline, signal: this.signal });
  }

  async authenticate(): Promise<string> {
    const login = encodeURIComponent(this.config.login);
    const res = await this.call(
      'POST',
      `/authn/${encodeURIComponent(this.config.account)}/${login}/authenticate`,
      { accept: '*/*', 'accept-encoding': 'base64' },
      String(this.access.apiKey ?? ''),
    );
    if (res.status !== 200) throw failure(res, `authenticating to Conjur as ${this.config.login}`);
    const token = isHtml(res) ? undefined : headerToken(res);
    if (!token)
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `authenticating to Conjur as ${this.config.login} returned no access token (${isHtml(res) ? 'an HTML page: is the URL Conjur?' : 'an unreadable body'})`,
        undefined,
        res.status,
      );
    this.token = token;
    return token;
  }

  /** A read with the token; a 401 (the token expired) gets one new token and one more try. */
  async read(path: string, headers: Record<string, string> = {}): Promise<VaultHttpResponse> {
    const send = async () =>
      this.call('GET', path, {
        accept: '*/*',
        ...headers,
        authorization: `Token token="${this.token ?? (await this.authenticate())}"`,
      });
    const res = await send();
    if (res.status !== 401) return res;
    await this.authenticate();
    return send();
  }
}

const decodeBatchValue = (value: string, base64: boolean) => Buffer.from(value, base64 ? 'base64' : 'utf8');

async function readOne(client: ConjurClient, config: ConjurConfig, id: string, version?: number): Promise<Buffer> {
  const path = `/secrets/${encodeURIComponent(config.account)}/variable/${encodeURIComponent(id)}${version ? `?version=${version}` : ''}`;
  const what = `reading variable ${id}${version ? ` version ${version}` : ''}`;
  const res = await client.read(path);
  if (res.status !== 200) throw failure(res, what);
  if (isHtml(res))
    throw new ScanError(
      'VAULT_BAD_RESPONSE',
      `${what} returned an HTML page, not a value: is the URL Conjur?`,
      undefined,
      res.status,
    );
  return Buffer.from(res.text, 'utf8');
}

async function readBatch(client: ConjurClient, config: ConjurConfig, ids: string[]): Promise<Map<string, Buffer>> {
  const full = ids.map((id) => `${config.account}:variable:${id}`);
  const what = `reading variables ${ids.join(', ')}`;
  const res = await client.read(`/secrets?variable_ids=${encodeURIComponent(full.join(','))}`, {
    accept: 'application/json',
    'accept-encoding': 'base64',
  });
  if (res.status !== 200) throw failure(res, what);
  if (!isObject(res.json))
    throw new ScanError(
      'VAULT_BAD_RESPONSE',
      `${what} returned ${isHtml(res) ? 'an HTML page: is the URL Conjur?' : 'a body that is not a JSON object'}`,
      undefined,
      res.status,
    );
  const base64 = /base64/i.test(String(res.headers['content-encoding'] ?? ''));
  const out = new Map<string, Buffer>();
  for (const [i, key] of full.entries()) {
    const value = res.json[key];
    const id = ids[i] ?? key;
    if (value === undefined)
      throw new ScanError('VAULT_BAD_RESPONSE', `${what} returned no value for ${id}`, undefined, res.status);
    if (typeof value !== 'string')
      throw new ScanError('VAULT_BAD_RESPONSE', `${what} returned a value for ${id} that is not a string`);
    out.set(id, decodeBatchValue(value, base64));
  }
  return out;
}

export const cyberarkConjurVault: VaultAdapter = {
  type: 'cyberark-conjur',

  /** Authenticates, and asks Conjur who the token belongs to. Nothing is read. */
  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const config = request.config as unknown as ConjurConfig;
    const client = new ConjurClient(config, request.access, request.signal);
    await client.authenticate();
    const res = await client.read('/whoami', { accept: 'application/json' });
    // Servers older than /whoami answer 404: authenticate succeeding is the check then.
    if (res.status !== 200 && res.status !== 404) throw failure(res, 'checking the Conjur token');
  },

  async fetch(request: VaultFetchRequest) {
    const kinds = SECRET_FIELD_NAMES.filter((f) => request.fields[f]);
    if (kinds.length === 0)
      throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
    const config = request.config as unknown as ConjurConfig;
    const locator = request.locator as unknown as ConjurLocator;
    const idOf = new Map<SecretField, string>(
      kinds.map((k) => [k, variableId(config, locator, request.fields[k] ?? '')] as const),
    );
    const ids = [...new Set(idOf.values())];
    const client = new ConjurClient(config, request.access, request.signal);
    await client.authenticate();
    const values = new Map<string, Buffer>();
    // The batch call reads the latest values only, and splits its list on commas.
    if (ids.length > 1 && !locator.version && !ids.some((id) => id.includes(',')))
      for (const [id, value] of await readBatch(client, config, ids)) values.set(id, value);
    else for (const id of ids) values.set(id, await readOne(client, config, id, locator.version));
    const credential: FetchedCredential = {};
    // Each field its own copy (two fields may name one variable), so each can be wiped on its own.
    for (const [kind, id] of idOf) {
      const value = values.get(id);
      if (value) credential[kind] = Buffer.from(value);
    }
    for (const value of values.values()) value.fill(0);
    return { credential };
  },
};
