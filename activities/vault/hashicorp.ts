// HashiCorp Vault and OpenBao: token or AppRole login, KV v2 or v1, optional namespace.
// Failures keep Vault's own error text (vendor code) and HTTP status beside our code.
import { X509Certificate } from 'node:crypto';
import type { ErrorCode } from '../../domain/errors.js';
import { ScanError } from '../../domain/scan-error.js';
import type {
  CredentialFields,
  FetchedCredential,
  ValidationProblem,
  VaultAdapter,
  VaultFetchRequest,
} from './adapter.js';
import { vaultHttp, type VaultHttpResponse } from './http.js';
import { checkVaultUrl, isPlainHttpUrl } from './validation.js';

interface HashicorpConfig {
  url: string;
  authMethod: 'token' | 'approle';
  namespace?: string;
  approleMount?: string;
  roleId?: string;
  caCert?: string;
  allowInsecureHttp?: boolean;
  timeoutMs?: number;
}

interface HashicorpLocator {
  mount?: string;
  path: string;
  kvVersion?: 1 | 2;
  version?: number;
}

function isPemCertificate(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    new X509Certificate(value);
    return true;
  } catch {
    return false;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const nonEmpty = (v: unknown) => typeof v === 'string' && v.trim().length > 0;
const pathChars = /^[A-Za-z0-9._\-/]+$/;
/** A path of plain segments: no "." or "..", which would walk the URL out of where it belongs. */
const segment = {
  test: (value: string) => pathChars.test(value) && !value.split('/').some((part) => part === '.' || part === '..'),
};

function vendorError(res: VaultHttpResponse): string {
  const errors = isObject(res.json) && Array.isArray(res.json.errors) ? res.json.errors : [];
  if (errors.length === 0) return `HTTP ${res.status}`;
  // Vault wraps some errors as "1 error occurred:\n\t* permission denied\n\n": keep the message.
  return String(errors[0])
    .replace(/^\d+ errors? occurred:\s*/, '')
    .replace(/^\s*\*\s*/gm, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Status → catalogue code, for calls other than login (which has its own rule). */
function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'VAULT_SECRET_NOT_FOUND';
  if (status === 429) return 'VAULT_RATE_LIMITED';
  if (status >= 500 || status === 412) return 'VAULT_UNAVAILABLE';
  return 'VAULT_BAD_RESPONSE';
}

class HashicorpClient {
  private readonly base: string;
  constructor(
    private readonly config: HashicorpConfig,
    private readonly signal?: AbortSignal,
  ) {
    this.base = config.url.replace(/\/+$/, '');
  }

  call(method: 'GET' | 'POST', path: string, token?: string, body?: unknown) {
    const headers: Record<string, string> = { 'X-Vault-Request': 'true' };
    if (token) headers['X-Vault-Token'] = token;
    if (this.config.namespace) headers['X-Vault-Namespace'] = this.config.namespace;
    return vaultHttp({
      method,
      url: `${this.base}/v1/${path}`,
      headers,
      body,
      caCert: this.config.caCert,
      timeoutMs: this.config.timeoutMs ?? 10_000,
      signal: this.signal,
    });
  }

  async loginAppRole(secretId: string): Promise<string> {
    const mount = this.config.approleMount ?? 'approle';
    const res = await this.call('POST', `auth/${mount}/login`, undefined, {
      role_id: this.config.roleId,
      secret_id: secretId,
    });
    if (res.status === 400 || res.status === 401 || res.status === 403) {
      throw new ScanError(
        'VAULT_AUTH_FAILED',
        `AppRole login refused: ${vendorError(res)}`,
        vendorError(res),
        res.status,
      );
    }
    if (res.status !== 200)
      throw new ScanError(
        codeForStatus(res.status),
        `AppRole login failed: ${vendorError(res)}`,
        vendorError(res),
        res.status,
      );
    const token = isObject(res.json) && isObject(res.json.auth) ? res.json.auth.client_token : undefined;
    if (typeof token !== 'string' || !token)
      throw new ScanError(
        'VAULT_BAD_RESPONSE',
        'AppRole login answered without auth.client_token',
        undefined,
        res.status,
      );
    return token;
  }

  /** A 403 on a read means either a bad token or a missing policy: lookup-self tells which. */
  async classifyForbidden(token: string, res: VaultHttpResponse, what: string): Promise<ScanError> {
    const probe = await this.call('GET', 'auth/token/lookup-self', token);
    if (probe.status === 200)
      return new ScanError(
        'VAULT_PERMISSION_DENIED',
        `the vault token may not read ${what}: ${vendorError(res)}`,
        vendorError(res),
        403,
      );
    if (probe.status === 403)
      return new ScanError(
        'VAULT_AUTH_FAILED',
        `the vault rejected the scanner's token: ${vendorError(res)}`,
        vendorError(res),
        403,
      );
    // The probe itself failed (sealed, overloaded…): say that, not a verdict on the token.
    return new ScanError(
      codeForStatus(probe.status),
      `checking the vault token after a 403 failed: ${vendorError(probe)}`,
      vendorError(probe),
      probe.status,
    );
  }
}

function readFields(data: Record<string, unknown>, fields: CredentialFields, what: string): FetchedCredential {
  const out: FetchedCredential = {};
  for (const kind of ['password', 'privateKey', 'passphrase'] as const) {
    const name = fields[kind];
    if (!name) continue;
    if (!(name in data)) throw new ScanError('VAULT_SECRET_NOT_FOUND', `${what} has no field "${name}"`);
    const value = data[name];
    if (typeof value !== 'string') throw new ScanError('VAULT_BAD_RESPONSE', `${what} field "${name}" is not a string`);
    out[kind] = Buffer.from(value, 'utf8');
  }
  return out;
}

/** Where the token or AppRole secret id goes: any change needs the access secret again. */
const DESTINATION_FIELDS = ['url', 'allowInsecureHttp', 'caCert', 'authMethod', 'approleMount', 'namespace'] as const;

export const hashicorpVault: VaultAdapter = {
  type: 'hashicorp',
  destinationFields: DESTINATION_FIELDS,
  usesPlainHttp: (config) => isPlainHttpUrl(config.url),

  validateConfig(config: unknown): ValidationProblem[] {
    if (!isObject(config)) return [{ field: 'config', reason: 'must be an object' }];
    const problems: ValidationProblem[] = [];
    if (config.allowInsecureHttp !== undefined && typeof config.allowInsecureHttp !== 'boolean')
      problems.push({ field: 'config.allowInsecureHttp', reason: 'must be true or false' });
    problems.push(...checkVaultUrl(config.url, config.allowInsecureHttp === true, 'https://vault.example.com:8200'));
    if (config.authMethod !== 'token' && config.authMethod !== 'approle')
      problems.push({ field: 'config.authMethod', reason: 'must be "token" or "approle"' });
    if (config.authMethod === 'approle' && !nonEmpty(config.roleId))
      problems.push({ field: 'config.roleId', reason: 'is required for AppRole login' });
    if (config.namespace !== undefined && !(nonEmpty(config.namespace) && segment.test(String(config.namespace))))
      problems.push({ field: 'config.namespace', reason: 'must be a namespace path such as ns1/ns2' });
    if (
      config.approleMount !== undefined &&
      !(nonEmpty(config.approleMount) && segment.test(String(config.approleMount)))
    )
      problems.push({ field: 'config.approleMount', reason: 'must be a mount path such as approle' });
    if (config.caCert !== undefined && !isPemCertificate(config.caCert))
      problems.push({ field: 'config.caCert', reason: 'must be a PEM certificate (-----BEGIN CERTIFICATE----- …)' });
    if (
      config.timeoutMs !== undefined &&
      !(Number.isInteger(config.timeoutMs) && Number(config.timeoutMs) >= 100 && Number(config.timeoutMs) <= 600_000)
    )
      problems.push({ field: 'config.timeoutMs', reason: 'must be an integer from 100 to 600000' });
    const known = new Set([...DESTINATION_FIELDS, 'roleId', 'timeoutMs']);
    for (const key of Object.keys(config))
      if (!known.has(key))
        problems.push({ field: `config.${key}`, reason: 'is not a known setting of a HashiCorp Vault record' });
    return problems;
  },

  validateAccess(access: unknown, config: Record<string, unknown>): ValidationProblem[] {
    if (!isObject(access)) return [{ field: 'access', reason: 'must be an object' }];
    if (config.authMethod === 'approle')
      return nonEmpty(access.secretId) ? [] : [{ field: 'access.secretId', reason: 'is required for AppRole login' }];
    return nonEmpty(access.token) ? [] : [{ field: 'access.token', reason: 'is required for token login' }];
  },

  validateLocator(locator: unknown): ValidationProblem[] {
    if (!isObject(locator)) return [{ field: 'locator', reason: 'must be an object' }];
    const problems: ValidationProblem[] = [];
    if (
      !nonEmpty(locator.path) ||
      !segment.test(String(locator.path)) ||
      String(locator.path).split('/').includes('..')
    )
      problems.push({ field: 'locator.path', reason: 'must be a secret path such as servers/web01' });
    if (locator.mount !== undefined && !(nonEmpty(locator.mount) && segment.test(String(locator.mount))))
      problems.push({ field: 'locator.mount', reason: 'must be a mount path such as secret' });
    if (locator.kvVersion !== undefined && locator.kvVersion !== 1 && locator.kvVersion !== 2)
      problems.push({ field: 'locator.kvVersion', reason: 'must be 1 or 2' });
    if (locator.version !== undefined && !(Number.isInteger(locator.version) && Number(locator.version) >= 0))
      problems.push({ field: 'locator.version', reason: 'must be a non-negative integer' });
    return problems;
  },

  async fetch(request: VaultFetchRequest): Promise<FetchedCredential> {
    if (!request.fields.password && !request.fields.privateKey && !request.fields.passphrase) {
      throw new ScanError('CONFIG_INVALID', 'the authentication record names no vault field to read');
    }
    const config = request.config as unknown as HashicorpConfig;
    const locator = request.locator as unknown as HashicorpLocator;
    const client = new HashicorpClient(config, request.signal);
    const approle = config.authMethod === 'approle';
    const token = approle
      ? await client.loginAppRole(String(request.access.secretId ?? ''))
      : String(request.access.token ?? '');
    try {
      const mount = (locator.mount ?? 'secret').replace(/^\/+|\/+$/g, '');
      const path = locator.path.replace(/^\/+/, '');
      const v2 = (locator.kvVersion ?? 2) === 2;
      const apiPath = v2
        ? `${mount}/data/${path}${locator.version ? `?version=${locator.version}` : ''}`
        : `${mount}/${path}`;
      const what = `secret ${mount}/${path}`;
      const res = await client.call('GET', apiPath, token);
      if (res.status === 403) throw await client.classifyForbidden(token, res, what);
      if (res.status !== 200)
        throw new ScanError(
          codeForStatus(res.status),
          `reading ${what} failed: ${vendorError(res)}`,
          vendorError(res),
          res.status,
        );
      if (!isObject(res.json))
        throw new ScanError(
          'VAULT_BAD_RESPONSE',
          `reading ${what} returned a body that is not JSON`,
          undefined,
          res.status,
        );
      const envelope = res.json.data;
      const data = v2 ? (isObject(envelope) ? envelope.data : undefined) : envelope;
      if (!isObject(data))
        throw new ScanError(
          'VAULT_BAD_RESPONSE',
          `reading ${what} returned no ${v2 ? 'data.data' : 'data'} (is the KV version right?)`,
          undefined,
          res.status,
        );
      return readFields(data, request.fields, what);
    } finally {
      // A token we minted is revoked at once rather than left to its TTL.
      if (approle) await client.call('POST', 'auth/token/revoke-self', token).catch(() => undefined);
    }
  },
};
