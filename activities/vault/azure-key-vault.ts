// Azure Key Vault: an Entra ID client-credentials token (client secret, or an RS256 assertion
// signed with the app certificate's key), then GET <vault>/secrets/<name>[/<version>].
// Failures keep Entra's `error` (with its AADSTS code) or Key Vault's error.code and
// innererror.code as the vendor code. Client-credential tokens cannot be revoked: nothing to
// sign out of, and no token is kept after the read.
import {
  constants,
  createHash,
  createPrivateKey,
  randomUUID,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import { DEFAULT_VAULT_TIMEOUT_MS } from '../../vault-types/spec.js';
import { DEFAULT_AUTHORITY_HOST } from '../../vault-types/azure-key-vault.js';
import type { VaultAccessRequest, VaultAdapter, VaultFetchRequest } from './adapter.js';
import { vaultHttp, withThrottleRetries, type VaultHttpResponse, type VaultTls } from './http.js';
import { readValueFields, requireSomeField } from './value-fields.js';

interface AzureConfig {
  vaultUrl: string;
  authorityHost?: string;
  tenantId: string;
  clientId: string;
  authMethod?: 'clientSecret' | 'clientCertificate';
  clientCertificate?: string;
  caCert?: string;
  timeoutMs?: number;
}

interface AzureLocator {
  secretName: string;
  version?: string;
}

export const AZURE_API_VERSION = '7.4';
/** How long to wait before the one retry of a 403 (Microsoft: a fresh grant takes a moment to apply). */
export const FORBIDDEN_RETRY_MS = 1_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** The audience of Key Vault's tokens, by cloud: the vault host's suffix tells which. */
const VAULT_SCOPES: [suffix: string, scope: string][] = [
  ['.vault.azure.cn', 'https://vault.azure.cn/.default'],
  ['.vault.usgovcloudapi.net', 'https://vault.usgovcloudapi.net/.default'],
  ['.vault.microsoftazure.de', 'https://vault.microsoftazure.de/.default'],
];
export function vaultScope(vaultUrl: string): string {
  const host = new URL(vaultUrl).hostname.toLowerCase();
  return VAULT_SCOPES.find(([suffix]) => host.endsWith(suffix))?.[1] ?? 'https://vault.azure.net/.default';
}

export function tokenEndpoint(config: AzureConfig): string {
  const host = (config.authorityHost ?? DEFAULT_AUTHORITY_HOST).replace(/^https:\/\//i, '').replace(/\/+$/, '');
  return `https://${host}/${encodeURIComponent(config.tenantId)}/oauth2/v2.0/token`;
}

/** Entra's error: `error` plus the AADSTS code (from error_codes, else the description). */
function entraError(res: VaultHttpResponse, secret: string | undefined) {
  const body = isObject(res.json) ? res.json : {};
  const error = text(body.error);
  const description = (text(body.error_description) ?? '').split(/\r?\n/)[0]!.slice(0, 300);
  const codes = Array.isArray(body.error_codes) ? body.error_codes.filter((c) => typeof c === 'number') : [];
  const aadsts = codes.length > 0 ? `AADSTS${codes[0]}` : /\b(AADSTS\d+)\b/.exec(description)?.[1];
  const vendorCode = error ? (aadsts ? `${error} (${aadsts})` : error) : `HTTP ${res.status}`;
  // Entra never echoes the secret; should a proxy ever do so, it still goes no further.
  const detail = secret ? description.split(secret).join('***') : description;
  return { vendorCode, detail: detail || vendorCode, known: error !== undefined };
}

/** Key Vault's error: error.code, and innererror.code when there is one ("Forbidden/ForbiddenByRbac"). */
function vaultError(res: VaultHttpResponse) {
  const error = isObject(res.json) && isObject(res.json.error) ? res.json.error : {};
  const code = text(error.code);
  const inner = isObject(error.innererror) ? text(error.innererror.code) : undefined;
  const message = (text(error.message) ?? '').slice(0, 300);
  const vendorCode = code ? (inner ? `${code}/${inner}` : code) : `HTTP ${res.status}`;
  return { code, inner, message: message || vendorCode, vendorCode };
}

class AzureClient {
  private readonly tls: VaultTls;
  private readonly deadline: number;
  private readonly base: string;
  constructor(
    private readonly config: AzureConfig,
    private readonly access: Record<string, unknown>,
    private readonly signal?: AbortSignal,
  ) {
    this.tls = { caCert: config.caCert };
    this.deadline = Date.now() + (config.timeoutMs ?? DEFAULT_VAULT_TIMEOUT_MS);
    this.base = config.vaultUrl.replace(/\/+$/, '');
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

  private throttled<T>(call: () => Promise<T>) {
    return withThrottleRetries(call, { deadline: this.deadline, signal: this.signal });
  }

  /**
   * The signed JWT Entra takes in place of a client secret: PS256, with the certificate's
   * SHA-256 thumbprint as x5t#S256 (what Entra documents today, and what MSAL sends).
   */
  private assertion(audience: string): string {
    let cert: X509Certificate;
    let key: KeyObject;
    try {
      cert = new X509Certificate(String(this.config.clientCertificate ?? ''));
    } catch {
      throw new ScanError('CONFIG_INVALID', "the app's certificate (config.clientCertificate) does not parse");
    }
    try {
      key = createPrivateKey({
        key: String(this.access.clientCertificateKey ?? ''),
        ...(typeof this.access.clientCertificateKeyPassphrase === 'string' && {
          passphrase: this.access.clientCertificateKeyPassphrase,
        }),
      });
    } catch {
      throw new ScanError('CONFIG_INVALID', "the app certificate's private key does not open");
    }
    const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'PS256', typ: 'JWT', 'x5t#S256': createHash('sha256').update(cert.raw).digest('base64url') };
    const claims = {
      aud: audience,
      iss: this.config.clientId,
      sub: this.config.clientId,
      jti: randomUUID(),
      nbf: now,
      iat: now,
      exp: now + 600,
    };
    const signingInput = `${b64url(header)}.${b64url(claims)}`;
    return `${signingInput}.${sign('sha256', Buffer.from(signingInput), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }).toString('base64url')}`;
  }

  /** An access token for the vault's audience. */
  async token(): Promise<string> {
    const url = tokenEndpoint(this.config);
    const secret = text(this.access.clientSecret);
    const credential: Record<string, string> =
      this.config.authMethod === 'clientCertificate'
        ? {
            client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
            client_assertion: this.assertion(url),
          }
        : { client_secret: secret ?? '' };
    const form = {
      grant_type: 'client_credentials',
      client_id: this.config.clientId,
      scope: vaultScope(this.config.vaultUrl),
      ...credential,
    };
    const res = await this.throttled(async () => {
      const r = await this.send('POST', url, { form });
      if (r.status === 429) {
        const e = entraError(r, secret);
        throw new ScanError(
          'VAULT_RATE_LIMITED',
          `Entra ID throttled the token request: ${e.detail}`,
          e.vendorCode,
          429,
          r.retryAfterMs,
        );
      }
      return r;
    });
    if (res.status !== 200) {
      const e = entraError(res, secret);
      if (res.status >= 500)
        throw new ScanError(
          'VAULT_UNAVAILABLE',
          `Entra ID failed to issue a token: ${e.detail}`,
          e.vendorCode,
          res.status,
          res.retryAfterMs,
        );
      if ((res.status === 400 || res.status === 401 || res.status === 403) && e.known)
        throw new ScanError(
          'VAULT_AUTH_FAILED',
          `Entra ID refused the app's credentials: ${e.detail}`,
          e.vendorCode,
          res.status,
        );
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `the token endpoint ${url} answered HTTP ${res.status} without an OAuth error (is authorityHost right?)`,
        e.vendorCode,
        res.status,
      );
    }
    const token = isObject(res.json) ? text(res.json.access_token) : undefined;
    if (!token)
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `the token endpoint ${url} answered without an access_token${isObject(res.json) ? '' : ' (not JSON)'}`,
        undefined,
        res.status,
      );
    return token;
  }

  /** GET a data-plane path; a 429 is waited out (Retry-After) while the call's time allows. */
  get(path: string, token: string): Promise<VaultHttpResponse> {
    const url = `${this.base}/${path}${path.includes('?') ? '&' : '?'}api-version=${AZURE_API_VERSION}`;
    return this.throttled(async () => {
      const res = await this.send('GET', url, { headers: { authorization: `Bearer ${token}` } });
      if (res.status === 429) {
        const e = vaultError(res);
        throw new ScanError(
          'VAULT_RATE_LIMITED',
          `Key Vault throttled the scanner: ${e.message}`,
          e.vendorCode,
          429,
          res.retryAfterMs,
        );
      }
      return res;
    });
  }

  /** A 403 is retried once after a short pause (a grant just made takes a moment to apply), time allowing. */
  async getRetryingForbidden(path: string, token: string): Promise<VaultHttpResponse> {
    const res = await this.get(path, token);
    if (
      res.status !== 403 ||
      isDisabled(res) ||
      isFirewall(res) ||
      Date.now() + FORBIDDEN_RETRY_MS * 2 >= this.deadline
    )
      return res;
    await new Promise((r) => setTimeout(r, FORBIDDEN_RETRY_MS));
    return this.signal?.aborted ? res : this.get(path, token);
  }
}

const isDisabled = (res: VaultHttpResponse) => {
  const e = vaultError(res);
  return e.inner === 'SecretDisabled' || /disabled secret/i.test(e.message);
};
const isFirewall = (res: VaultHttpResponse) => vaultError(res).inner === 'ForbiddenByFirewall';

function failure(res: VaultHttpResponse, what: string): ScanError {
  const e = vaultError(res);
  const make = (code: ErrorCode, message: string) =>
    new ScanError(code, message, e.vendorCode, res.status, res.retryAfterMs);
  if (res.status === 401) return make('VAULT_AUTH_FAILED', `Key Vault refused the scanner's token: ${e.message}`);
  if (res.status === 403) {
    if (isDisabled(res)) return make('VAULT_SECRET_NOT_FOUND', `${what} is disabled: ${e.message}`);
    return make('VAULT_PERMISSION_DENIED', `the scanner may not read ${what}: ${e.message}`);
  }
  if (res.status === 404) return make('VAULT_SECRET_NOT_FOUND', `${what} was not found: ${e.message}`);
  if (res.status >= 500) return make('VAULT_UNAVAILABLE', `Key Vault failed reading ${what}: ${e.message}`);
  return make('VAULT_BAD_RESPONSE', `Key Vault answered HTTP ${res.status} reading ${what}: ${e.message}`);
}

/** The name checkAccess asks for: a 404 for it proves the token works and the vault answers. */
export const ACCESS_PROBE_SECRET = 'vaultscan-access-check';

export const azureKeyVault: VaultAdapter = {
  type: 'azure-key-vault',

  async checkAccess(request: VaultAccessRequest): Promise<void> {
    const client = new AzureClient(request.config as unknown as AzureConfig, request.access, request.signal);
    const token = await client.token();
    const res = await client.get(`secrets/${ACCESS_PROBE_SECRET}`, token);
    // 404 (or 200): the token works. A 403 other than the firewall's still means it works:
    // the scanner may hold rights on single secrets only.
    if (res.status === 200 || res.status === 404) return;
    if (res.status === 403 && !isFirewall(res)) return;
    throw failure(res, 'the vault');
  },

  async fetch(request: VaultFetchRequest) {
    requireSomeField(request.fields);
    const config = request.config as unknown as AzureConfig;
    const locator = request.locator as unknown as AzureLocator;
    const client = new AzureClient(config, request.access, request.signal);
    const token = await client.token();
    const path = `secrets/${encodeURIComponent(locator.secretName)}${locator.version ? `/${encodeURIComponent(locator.version)}` : ''}`;
    const what = `secret ${locator.secretName}${locator.version ? ` version ${locator.version}` : ''}`;
    const res = await client.getRetryingForbidden(path, token);
    if (res.status !== 200) throw failure(res, what);
    if (!isObject(res.json))
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        `reading ${what} returned a body that is not JSON`,
        undefined,
        res.status,
      );
    const value = res.json.value;
    if (typeof value !== 'string')
      throw new ScanError('VAULT_BAD_RESPONSE', `reading ${what} returned no string "value"`, undefined, res.status);
    return { credential: readValueFields(value, request.fields, what) };
  },
};
